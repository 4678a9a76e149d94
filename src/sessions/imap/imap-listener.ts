// The IMAP listeners: 143 with STARTTLS and 993 with implicit TLS (RFC 8314). Caps connections
// per client IP (the shared ConnectionLimiter) and in total, and builds one ImapSession per
// connection. One ChangeFeed per app serves every session of both listeners.
import net from 'node:net';
import tls from 'node:tls';
import type { App } from '../../instance/app.js';
import { MailOpsService } from '../../services/mail-ops.service.js';
import { MailboxAccessService } from '../../services/mailbox-access.service.js';
import { ConnectionLimiter } from '../connection-limiter.js';
import { ChangeFeed } from './change-feed.js';
import { ImapSession, type ImapDeps } from './session.js';

export interface ImapListenerOptions {
  implicitTls: boolean;
  tls: { key: Buffer; cert: Buffer };
  /** Overrides app.config.auth.allowPlaintextWithoutTls (tests). */
  allowPlaintextAuth?: boolean;
  /** Loopback clients count as secure for LOGIN (default false: like SMTP and POP3, only auth.allowPlaintextWithoutTls allows plaintext). */
  loopbackIsSecure?: boolean;
  timeouts?: { preAuthMs: number; authMs: number };
}

/** RFC 9051 §5.4: at least 30 minutes after login. Before login there is no reason to wait long. */
export const AUTH_TIMEOUT_MS = 30 * 60_000;
export const PRE_AUTH_TIMEOUT_MS = 60_000;

interface Shared { ops: MailOpsService; feed: ChangeFeed; access: MailboxAccessService; accountSessions: ConnectionLimiter }
const feeds = new WeakMap<App, Shared>();

function sharedFor(app: App): Shared {
  let s = feeds.get(app);
  if (!s) {
    const ops = new MailOpsService(app.store, app.mailStore);
    s = {
      ops, feed: new ChangeFeed(ops, app.mailStore, app.events), access: new MailboxAccessService(app.store, app.mailStore),
      // Sessions per account are counted over both listeners (limits.imapConnectionsPerAccount).
      accountSessions: new ConnectionLimiter(app.config.limits.imapConnectionsPerAccount),
    };
    feeds.set(app, s);
  }
  return s;
}

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

export function createImapServer(app: App, opts: ImapListenerOptions): net.Server {
  const { ops, feed, access, accountSessions } = sharedFor(app);
  const limits = app.config.limits;
  const allowPlain = opts.allowPlaintextAuth ?? app.config.auth.allowPlaintextWithoutTls;
  const loopbackOk = opts.loopbackIsSecure ?? false;
  const deps: ImapDeps = {
    app, ops, feed, access, accountSessions, log: app.log,
    secureContext: tls.createSecureContext({ key: opts.tls.key, cert: opts.tls.cert }),
    appendLimit: limits.maxMessageSize,
    plaintextAuthAllowed: (ip) => allowPlain || (loopbackOk && LOOPBACK.test(ip)),
    timeouts: opts.timeouts ?? { preAuthMs: PRE_AUTH_TIMEOUT_MS, authMs: AUTH_TIMEOUT_MS },
    starttls: !opts.implicitTls,
  };
  const limiter = new ConnectionLimiter(limits.maxConnectionsPerIp);
  const sockets = new Set<net.Socket>();

  const onConnection = (socket: net.Socket) => {
    const ip = socket.remoteAddress ?? '';
    socket.on('error', () => undefined);
    if (!app.guard.allowedBy(opts.implicitTls ? 'imaps' : 'imap', ip) || app.guard.isBanned(ip)) return void socket.end('* BYE Access denied or too many failed logins from your address\r\n'); // policy (src/policy/guard.ts)
    if (!limiter.acquire(ip)) {
      socket.end('* BYE Too many connections from your address\r\n');
      return;
    }
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      limiter.release(ip);
    });
    const session = new ImapSession(socket, deps, opts.implicitTls);
    session.start();
  };

  const server = opts.implicitTls
    ? tls.createServer({ key: opts.tls.key, cert: opts.tls.cert }, onConnection)
    : net.createServer(onConnection);
  if (opts.implicitTls) server.on('tlsClientError', () => undefined);
  server.maxConnections = limits.maxConnections;
  // server.ts's closeNetServer() calls this when present, so stop() does not wait for IDLE clients.
  (server as net.Server & { closeAllConnections?: () => void }).closeAllConnections = () => {
    for (const s of sockets) {
      s.write('* BYE Server shutting down\r\n');
      s.destroy();
    }
  };
  return server;
}
