// SMTP sessions on smtp-server: the MX listener (mail for our domains from anyone) and the
// submission listeners (587 STARTTLS, 465 implicit TLS; authenticated users sending anywhere).
// smtp-server owns the protocol (RFC 5321 sequencing, SIZE, STARTTLS, AUTH framing); this
// module supplies the policy through its hooks and hands accepted mail to DeliveryService.
// A 250 after DATA is sent only once deliver() resolved, i.e. bytes fsynced and rows committed.
import { SMTPServer, type SMTPServerAddress, type SMTPServerAuthentication, type SMTPServerDataStream,
  type SMTPServerSession } from 'smtp-server';
import addressparser from 'nodemailer/lib/addressparser';
import type { DeliveryService } from '../../delivery/delivery.service.js';
import { prepareMessage } from '../../delivery/prepare-message.js';
import { tryNormalizeAddress } from '../../mail/address.js';
import type { Logger } from '../../observability/logger.js';
import type { AccountService, Resolution } from '../../services/account.service.js';
import type { AuthThrottle } from '../../services/auth-throttle.js';
import { ServiceError } from '../../services/errors.js';
import type { MailStoreService } from '../../services/mail-store.service.js';
import { withPolicyHeaders, type SmtpClient, type SmtpPolicy, type SmtpReply } from '../../policy/smtp-policy.js';
import { newQueueId, type TraceService } from '../../services/trace.service.js';
import { ConnectionLimiter } from '../connection-limiter.js';
import { readData } from './data-reader.js';
import { installEnhancedCodeShim, smtpError } from './enhanced-codes.js';

export type SmtpRole = 'mx' | 'submission' | 'submissions';

export interface SmtpListenerDeps {
  hostname: string;
  tls: { key: Buffer; cert: Buffer };
  limits: { maxMessageSize: number; maxRecipients: number; maxConnections: number; maxConnectionsPerIp: number;
    socketTimeoutSeconds: number; authMaxDelaySeconds: number };
  allowPlaintextAuth: boolean;
  accounts: AccountService;
  mailStore: MailStoreService;
  delivery: DeliveryService;
  trace: TraceService;
  throttle: AuthThrottle;
  log: Logger;
  /** Security baseline (src/policy/smtp-policy.ts): access lists, bans, rates, DNSBL, greylisting, harvest, filters. */
  policy?: SmtpPolicy | null;
}

/** RCPT replies on the MX are held to at least this long, so known and unknown addresses answer alike. */
const RCPT_REPLY_FLOOR_MS = 3;
/** Longest command line accepted (RFC 5321 §4.5.3.1.4 says 512; extensions and AUTH need more). */
const MAX_COMMAND_LENGTH = 4096;

/** One mail transaction: its queue id, sender, and how each accepted recipient resolved (reused by delivery). */
interface TxState { queueId: string; sender: string; resolved: Map<string, Resolution> }

export function createSmtpServer(role: SmtpRole, d: SmtpListenerDeps): SMTPServer {
  installEnhancedCodeShim();
  const submission = role !== 'mx';
  const limiter = new ConnectionLimiter(d.limits.maxConnectionsPerIp);
  const tx = new WeakMap<SMTPServerSession, TxState>();
  // Sessions that hold a slot in the per-IP limiter. smtp-server calls onClose for every
  // connection, also for ones onConnect refused or that went away before onConnect ran.
  const counted = new WeakSet<SMTPServerSession>();
  const log = d.log.child({ proto: 'smtp', role });
  // What the policy needs to know about a client; the listener name keys the access lists.
  const listenerName = role === 'mx' ? 'smtp' : role;
  const clientOf = (session: SMTPServerSession): SmtpClient => ({
    listener: listenerName, submission, ip: session.remoteAddress, helo: session.hostNameAppearsAs ?? '',
    accountId: accountIdOf(session), tls: Boolean(session.secure),
  });

  const txOf = (session: SMTPServerSession): TxState => {
    let t = tx.get(session);
    if (!t || (t as TxState & { n?: number }).n !== session.transaction) {
      t = Object.assign({ queueId: newQueueId(), sender: '', resolved: new Map<string, Resolution>() }, { n: session.transaction });
      tx.set(session, t);
    }
    return t;
  };

  const server: SMTPServer = new SMTPServer({
    name: d.hostname,
    banner: 'Pochtamt ESMTP',
    secure: role === 'submissions',
    key: d.tls.key,
    cert: d.tls.cert,
    size: d.limits.maxMessageSize,
    maxClients: d.limits.maxConnections,
    maxRecipients: d.limits.maxRecipients,
    maxCommandLength: MAX_COMMAND_LENGTH,
    socketTimeout: d.limits.socketTimeoutSeconds * 1000,
    closeTimeout: 5000,
    disableReverseLookup: true,
    logger: false,
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: !submission,
    allowInsecureAuth: d.allowPlaintextAuth,
    disabledCommands: submission ? [] : ['AUTH'],
    hideDSN: true,
    hideENHANCEDSTATUSCODES: false,

    onConnect(session, cb) {
      const admit = () => {
        if (!limiter.acquire(session.remoteAddress)) {
          log.warn({ event: 'smtp.connection.refused', ip: session.remoteAddress }, 'too many connections from this address');
          return cb(smtpError(421, '4.7.0', 'Too many connections from your address, try again later'));
        }
        counted.add(session);
        log.info({ event: 'smtp.connection.open', ip: session.remoteAddress, id: session.id }, 'connection');
        cb();
      };
      if (!d.policy) return admit();
      d.policy.connect(session, clientOf(session)).then((refusal) => (refusal ? cb(policyError(refusal)) : admit()), (e: unknown) => {
        log.error({ event: 'smtp.policy.error', stage: 'connect', err: (e as Error).message }, 'policy check failed');
        cb(smtpError(421, '4.3.0', 'Temporary local problem, try again later'));
      });
    },

    onClose(session) {
      if (!counted.delete(session)) return;
      limiter.release(session.remoteAddress);
    },

    onAuth(auth: SMTPServerAuthentication, session, cb) {
      const user = auth.username ?? '';
      const ip = session.remoteAddress;
      // Banned while this connection was open (e.g. from failures on another protocol).
      if (d.policy?.isBanned(ip)) return cb(smtpError(421, '4.7.0', 'Too many failed logins from your address, try again later'));
      const delay = Math.min(d.throttle.delayMs(ip, user), d.limits.authMaxDelaySeconds * 1000);
      setTimeout(() => {
        d.accounts.authenticate(user, auth.password ?? '').then((acc) => {
          d.throttle.success(ip, user);
          log.info({ event: 'smtp.auth.succeeded', ip, user: acc.address }, 'auth');
          cb(null, { user: acc.id });
        }, (e: unknown) => {
          if (e instanceof ServiceError && e.code === 'TEMPORARY') return cb(smtpError(454, '4.7.0', 'Temporary authentication failure'));
          d.throttle.failure(ip, user);
          log.warn({ event: 'smtp.auth.failed', ip, user, reason: e instanceof ServiceError ? e.code : String(e) }, 'auth failed');
          cb(smtpError(535, '5.7.8', 'Authentication credentials invalid'));
        });
      }, delay);
    },

    onMailFrom(address: SMTPServerAddress, session, cb) {
      const t = txOf(session);
      const raw = address.address;
      const sender = raw === '' ? '' : tryNormalizeAddress(raw);
      if (sender === null) return cb(smtpError(553, '5.1.7', 'Bad sender address syntax'));
      const done = (err?: Error) => {
        if (!err) {
          t.sender = sender;
          d.trace.record('smtp.mail.accepted', {
            queueId: t.queueId, sender, ip: session.remoteAddress, helo: session.hostNameAppearsAs, role,
            tls: session.secure, user: accountIdOf(session) ?? undefined,
          });
        }
        cb(err);
      };
      const finish = (err?: Error) => {
        if (err || !d.policy) return done(err);
        d.policy.mailFrom(session, clientOf(session), t.queueId, sender).then((refusal) => done(refusal ? policyError(refusal) : undefined), (e: unknown) => {
          log.error({ event: 'smtp.policy.error', stage: 'mail', queueId: t.queueId, err: (e as Error).message }, 'policy check failed');
          done(smtpError(451, '4.3.0', 'Temporary local problem, try again later'));
        });
      };
      if (!submission) return finish();
      if (sender === '') return finish(smtpError(553, '5.7.1', 'Null sender not allowed for submission'));
      d.accounts.canSendAs(session.user as number, sender).then((ok) => {
        finish(ok ? undefined : smtpError(553, '5.7.1', `Sender address <${sender}> is not yours`));
      }, () => finish(smtpError(451, '4.3.0', 'Temporary error, try again')));
    },

    onRcptTo(address: SMTPServerAddress, session, cb) {
      const t = txOf(session);
      const started = Date.now();
      const rcpt = tryNormalizeAddress(address.address);
      const reply = (err?: Error & { responseCode?: number }, reason?: string) => {
        if (err) d.trace.record('smtp.rcpt.rejected', { queueId: t.queueId, sender: t.sender, recipient: rcpt ?? address.address,
          reply: `${err.responseCode} ${err.message}`, reason });
        else d.trace.record('smtp.rcpt.accepted', { queueId: t.queueId, sender: t.sender, recipient: rcpt! });
        // The harvest tarpit (policy) holds every reply to a client that probed too many unknown addresses.
        const floor = started + RCPT_REPLY_FLOOR_MS + (d.policy?.rcptDelayMs(session, clientOf(session)) ?? 0);
        const wait = submission ? 0 : Math.max(0, floor - Date.now());
        if (wait) setTimeout(() => cb(err), wait);
        else cb(err);
      };
      if (!rcpt) return reply(smtpError(501, '5.1.3', 'Bad recipient address syntax'), 'syntax');
      const blocked = d.policy?.harvestBlocked(session, clientOf(session), t.queueId);
      if (blocked) return reply(policyError(blocked), blocked.reason);
      d.accounts.resolveRecipient(rcpt).then(async (r) => {
        if (r.kind === 'remote') {
          return submission ? reply() : reply(smtpError(554, '5.7.1', 'Relay access denied'), 'relay');
        }
        if (r.kind === 'unknown') {
          const cut = d.policy?.unknownRecipient(session, clientOf(session), t.queueId);
          return cut ? reply(policyError(cut), cut.reason) : reply(smtpError(550, '5.1.1', 'No such user here'), 'unknown user');
        }
        if (d.policy && !submission) {
          const grey = await d.policy.localRecipient(session, clientOf(session), t.queueId, t.sender, rcpt);
          if (grey) return reply(policyError(grey), grey.reason);
        }
        if (r.accountIds.length === 1 && !r.forwards.length) {
          const q = await d.mailStore.checkQuota(r.accountIds[0]!, 0);
          if (!q.ok) return reply(smtpError(452, '4.2.2', 'Mailbox full'), q.reason);
        }
        t.resolved.set(rcpt, r);
        reply();
      }).catch((e: unknown) => {
        log.error({ event: 'smtp.rcpt.error', err: (e as Error).message }, 'rcpt lookup failed');
        reply(smtpError(451, '4.3.0', 'Temporary lookup failure'), 'lookup error');
      });
    },

    onData(stream: SMTPServerDataStream, session, cb) {
      const t = txOf(session);
      const recipients = session.envelope.rcptTo.map((r) => tryNormalizeAddress(r.address)!).filter(Boolean);
      const fail = (err: Error & { responseCode?: number }, reason: string) => {
        d.trace.record('smtp.data.rejected', { queueId: t.queueId, sender: t.sender, reply: `${err.responseCode} ${err.message}`, reason });
        cb(err);
      };
      readData(stream, d.limits.maxMessageSize).then(async (data) => {
        switch (data.problem?.kind) {
          case 'too-big': return fail(smtpError(552, '5.3.4', 'Message size exceeds fixed maximum message size'), 'too big');
          case 'nul': return fail(smtpError(554, '5.6.0', 'Message contains NUL characters'), 'NUL bytes');
          case 'header-line-too-long': return fail(smtpError(554, '5.6.0', 'Header line longer than 998 characters'), 'header line too long');
          case 'header-too-big': return fail(smtpError(552, '5.3.4', 'Message header too large'), 'header too large');
        }
        if (submission && !(await fromHeaderAllowed(d.accounts, session.user as number, data.raw))) {
          return fail(smtpError(550, '5.7.1', 'From header names an address that is not yours'), 'from not owned');
        }
        const secure = session.secure;
        const accountId = accountIdOf(session);
        const authed = accountId !== null;
        let raw = prepareMessage(data.raw, {
          hostname: d.hostname, queueId: t.queueId, heloName: session.hostNameAppearsAs, remoteAddress: session.remoteAddress,
          protocol: `ESMTP${secure ? 'S' : ''}${authed ? 'A' : ''}` as 'ESMTP',
          tls: secure && session.tlsOptions ? `${session.tlsOptions.version ?? 'TLS'} ${session.tlsOptions.name}` : null,
          forRecipient: recipients.length === 1 ? recipients[0] : null,
        }, { addMissing: true });
        if (data.normalizedLineEnds) d.trace.record('smtp.data.normalized', { queueId: t.queueId, reason: 'bare CR/LF converted to CRLF' });
        let folderRole: string | null = null;
        if (d.policy) {
          const outcome = await d.policy.data(session, clientOf(session), t.queueId, t.sender, recipients, raw);
          if (outcome.kind === 'refuse') return fail(policyError(outcome.reply), `policy: ${outcome.reply.reason}`);
          raw = withPolicyHeaders(raw, outcome.headers, d.hostname);
          if (outcome.kind === 'quarantine') {
            const id = await d.policy.quarantine(t.queueId, t.sender, recipients, raw, outcome.step, outcome.reason, accountId);
            d.trace.record('smtp.data.accepted', { queueId: t.queueId, sender: t.sender, size: raw.length, recipients: recipients.length, quarantined: id });
            return cb(null, `2.6.0 Ok: queued as ${t.queueId}`);
          }
          if (outcome.junk) folderRole = 'Junk';
        }
        const result = await d.delivery.deliver({
          queueId: t.queueId, sender: t.sender, recipients, raw, accountId, folderRole, resolved: t.resolved,
        });
        if (!result.stored.length && !result.queued.length) {
          const quota = result.failed.every((f) => f.status === '5.2.2');
          return fail(quota ? smtpError(452, '4.2.2', 'Mailbox full') : smtpError(550, '5.1.1', 'No deliverable recipients'), 'nothing delivered');
        }
        d.trace.record('smtp.data.accepted', { queueId: t.queueId, sender: t.sender, size: raw.length, recipients: recipients.length });
        cb(null, `2.6.0 Ok: queued as ${t.queueId}`);
      }).catch((e: unknown) => {
        log.error({ event: 'smtp.data.error', queueId: t.queueId, err: (e as Error).message }, 'delivery failed');
        fail(smtpError(451, '4.3.0', 'Local error in processing, try again later'), 'internal error');
      });
    },
  });
  server.on('error', (e) => log.warn({ event: 'smtp.server.error', err: e.message }, 'smtp server error'));
  return server;
}

/**
 * The authenticated account of a session, or null. smtp-server leaves `user` undefined before
 * AUTH but sets it to false after STARTTLS (RFC 3207 §4.2 reset), so test for the id itself.
 */
function accountIdOf(session: SMTPServerSession): number | null {
  return typeof session.user === 'number' ? session.user : null;
}

function policyError(r: SmtpReply): Error & { responseCode: number } {
  return smtpError(r.code, r.enhanced, r.text);
}

/** Submission: every From address must be one the account may send as (RFC 6409 §8.1 lets the MSA enforce this). */
async function fromHeaderAllowed(accounts: AccountService, accountId: number, raw: Buffer): Promise<boolean> {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end === -1 ? raw.length : end).toString('utf8');
  const m = /^from:[ \t]*(.*(?:\r\n[ \t].*)*)/im.exec(head);
  if (!m) return true; // no From: nothing claimed
  const list = addressparser(m[1]!.replace(/\r\n[ \t]/g, ' '), { flatten: true });
  for (const a of list) {
    if (!('address' in a) || !a.address) continue;
    if (!(await accounts.canSendAs(accountId, a.address))) return false;
  }
  return true;
}
