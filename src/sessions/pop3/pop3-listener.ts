// The POP3 listeners: port 110 with STLS (RFC 2595) and port 995 with implicit TLS (RFC 8314).
// Applies the connection caps (total per listener, per client IP) and hands each accepted
// connection to a Pop3Session. Must not implement protocol behaviour itself.
// The returned server also has closeAllConnections(), which server.ts calls on shutdown so
// idle POP3 clients cannot hold stop() open (their marked deletions are dropped, RFC 1939).
import net from 'node:net';
import tls from 'node:tls';
import type { App } from '../../instance/app.js';
import { errLine } from '../../protocols/pop3/response.js';
import { ConnectionLimiter } from '../connection-limiter.js';
import { MaildropLocks } from './maildrop.js';
import { AUTHENTICATED_IDLE_MS, PREAUTH_IDLE_MS, Pop3Session } from './pop3-session.js';
import type { Pop3Deps } from './types.js';

export interface Pop3ListenerOptions {
  implicitTls: boolean;
  tls: { key: Buffer; cert: Buffer };
  /** Idle limits; defaults 60 s before login and 10 min after (tests shorten them). */
  timeouts?: { preAuthMs?: number; authenticatedMs?: number };
}

/** How long a TLS client may take to finish its handshake. */
const TLS_HANDSHAKE_TIMEOUT_MS = 30_000;

/** One lock table per instance, shared by its pop3 and pop3s listeners (one maildrop, one lock). */
const locksByApp = new WeakMap<App, MaildropLocks>();

export function createPop3Server(app: App, opts: Pop3ListenerOptions): net.Server {
  const name = opts.implicitTls ? 'pop3s' : 'pop3';
  const log = app.log.child({ proto: 'pop3', listener: name });
  const limits = app.config.limits;
  const limiter = new ConnectionLimiter(limits.maxConnectionsPerIp);
  let locks = locksByApp.get(app);
  if (!locks) locksByApp.set(app, (locks = new MaildropLocks()));
  const deps: Pop3Deps = {
    accounts: app.accounts, mailStore: app.mailStore, throttle: app.throttle, log, locks,
    allowPlaintextWithoutTls: app.config.auth.allowPlaintextWithoutTls, maxAuthDelayMs: limits.authMaxDelaySeconds * 1000,
  };
  const timeouts = {
    preAuthMs: opts.timeouts?.preAuthMs ?? PREAUTH_IDLE_MS,
    authenticatedMs: opts.timeouts?.authenticatedMs ?? AUTHENTICATED_IDLE_MS,
  };
  const stlsContext = opts.implicitTls ? null : tls.createSecureContext({ key: opts.tls.key, cert: opts.tls.cert });
  const sessions = new Set<Pop3Session>();

  const refuse = (socket: net.Socket, ip: string, reason: string, text = 'Too many connections, try again later',
    code: 'SYS/TEMP' | 'SYS/PERM' = 'SYS/TEMP') => {
    log.warn({ event: 'pop3.connection.refused', ip, reason }, 'connection refused');
    socket.end(errLine(text, code));
    setTimeout(() => socket.destroy(), 5_000).unref();
  };

  const onConnection = (socket: net.Socket) => {
    socket.on('error', (e) => log.debug({ event: 'pop3.connection.error', err: e.message }, 'socket error'));
    const ip = socket.remoteAddress ?? 'unknown';
    // Security baseline (src/policy/guard.ts): access list, IP ban, connection rate.
    void app.guard.admit(name, ip, { checkBan: true }).then((a) => {
      if (socket.destroyed) return;
      if (!a.ok) return refuse(socket, ip, a.reason, a.text, a.reason === 'access' ? 'SYS/PERM' : 'SYS/TEMP');
      startSession(socket, ip);
    });
  };

  const startSession = (socket: net.Socket, ip: string) => {
    if (sessions.size >= limits.maxConnections) return refuse(socket, ip, 'listener full');
    if (!limiter.acquire(ip)) return refuse(socket, ip, 'per-ip limit');
    const session = new Pop3Session(socket, deps, {
      remoteAddress: ip, secure: opts.implicitTls, stlsContext, timeouts,
      onClose: () => {
        sessions.delete(session);
        limiter.release(ip);
      },
    });
    sessions.add(session);
    log.debug({ event: 'pop3.connection.open', ip }, 'connection');
    session.start();
  };

  const server = opts.implicitTls
    ? tls.createServer({ key: opts.tls.key, cert: opts.tls.cert, handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS, allowHalfOpen: true }, onConnection)
    : net.createServer({ allowHalfOpen: true }, onConnection); // half-open: see Pop3Session.onEnd
  if (server instanceof tls.Server) {
    server.on('tlsClientError', (e, socket) => {
      log.debug({ event: 'pop3.tls.failed', ip: socket.remoteAddress, err: e.message }, 'TLS handshake failed');
      socket.destroy();
    });
  }
  // Every TCP connection, including TLS ones still in their handshake (not sessions yet), so
  // shutdown can drop them all and the TLS listener has a hard cap before any session exists.
  const conns = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    if (opts.implicitTls && conns.size >= limits.maxConnections) {
      log.warn({ event: 'pop3.connection.refused', ip: socket.remoteAddress, reason: 'listener full' }, 'connection refused');
      socket.destroy(); // nothing can be said before the handshake
      return;
    }
    conns.add(socket);
    socket.once('close', () => conns.delete(socket));
  });
  server.on('error', (e) => log.warn({ event: 'pop3.server.error', err: e.message }, 'pop3 server error'));
  return Object.assign(server, {
    closeAllConnections(): void {
      for (const s of sessions) s.destroy();
      for (const s of conns) s.destroy();
    },
  });
}
