// One SMTP transaction with one host (RFC 5321): connect, EHLO, STARTTLS when offered, optional
// AUTH (smarthost, RFC 4954), MAIL/RCPT/DATA, and a per-recipient verdict. The wire protocol is
// nodemailer's SMTPConnection; this module only maps its callbacks and errors to typed results.
// Must not throw for anything a remote server can do (refuse, time out, 4xx, 5xx, hang up) and
// must not decide about retries or other hosts: that is the caller's job (smtp-outbound.connector).
// Reply codes: RFC 5321 §4.2; enhanced status codes: RFC 3463 / RFC 2034.
// BUGS: 8-bit content goes out as is to servers without 8BITMIME (no RFC 6152 downgrade); a
// non-ASCII address at a server without SMTPUTF8 (RFC 6531) is deferred until it expires.
import SMTPConnection from 'nodemailer/lib/smtp-connection';

export interface SmtpTransactionRequest {
  /** Address (or name) to connect to. */
  host: string;
  /** Name for TLS SNI, when `host` is an address. */
  servername?: string;
  port: number;
  /** Implicit TLS from the first byte (port 465). */
  secure?: boolean;
  /**
   * opportunistic: STARTTLS when offered, certificate not verified (RFC 7435: encryption without
   * authentication still beats plaintext, and MX certificates are commonly self-signed);
   * required: fail unless TLS is in place, with the certificate verified; none: never STARTTLS.
   */
  tls: 'opportunistic' | 'required' | 'none';
  /** Our name in EHLO/HELO (config.hostname). */
  heloName: string;
  /** Envelope sender; '' is the null reverse-path of a bounce. */
  sender: string;
  recipients: string[];
  raw: Buffer;
  connectTimeoutMs: number;
  auth?: { user: string; pass: string } | null;
  signal?: AbortSignal;
}

export type RecipientOutcome = 'delivered' | 'deferred' | 'failed';

export interface RecipientReply {
  recipient: string;
  outcome: RecipientOutcome;
  /** The server's reply ("550 5.1.1 <x>: no such user"), or what went wrong when there was none. */
  reply: string;
  /** RFC 3463 status: the reply's enhanced code, else derived from the reply class. */
  status: string;
}

export type SmtpTransactionResult =
  /** Nothing was accepted or refused for a recipient: no connection, no greeting, TLS or AUTH failed. Try another host. */
  | { kind: 'unreachable'; reply: string; status: string; tlsFailed: boolean }
  /** MAIL FROM was reached: every recipient has a verdict from this host. */
  | { kind: 'session'; recipients: RecipientReply[] };

/** Inactivity limit once connected; RFC 5321 §4.5.3.2 asks for 5 minutes for most replies. */
const SOCKET_TIMEOUT_MS = 5 * 60_000;
/** How long to wait for the reply to QUIT before dropping the connection. */
const QUIT_GRACE_MS = 5000;
/** Longest reply text kept (it ends up in the queue table and in DSNs). */
const MAX_REPLY_CHARS = 1000;

type SmtpError = SMTPConnection.SMTPError & { rejectedErrors?: SMTPConnection.SMTPError[] };

export async function smtpTransaction(r: SmtpTransactionRequest): Promise<SmtpTransactionResult> {
  if (r.signal?.aborted) return { kind: 'unreachable', reply: 'delivery aborted (shutting down)', status: '4.3.2', tlsFailed: false };
  const conn = new SMTPConnection({
    host: r.host,
    port: r.port,
    secure: r.secure ?? false,
    servername: r.servername,
    name: r.heloName,
    ignoreTLS: r.tls === 'none',
    requireTLS: r.tls === 'required',
    opportunisticTLS: r.tls === 'opportunistic',
    tls: { rejectUnauthorized: r.tls === 'required', servername: r.servername },
    connectionTimeout: r.connectTimeoutMs,
    greetingTimeout: r.connectTimeoutMs,
    socketTimeout: SOCKET_TIMEOUT_MS,
    // MX hosts are addresses we resolved ourselves, loopback included in tests; no second lookup.
    allowInternalNetworkInterfaces: true,
    logger: false,
  });
  // SMTPConnection emits 'error' besides calling back; an unheard 'error' would crash the process.
  let lastError: SmtpError | null = null;
  let quitting = false;
  conn.on('error', (e: SmtpError) => { lastError = e; });
  const onAbort = () => conn.close();
  r.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const connectErr = await new Promise<SmtpError | null>((resolve) => {
      const done = settleOnce(resolve);
      conn.once('error', (e: SmtpError) => done(e));
      conn.once('end', () => done(lastError ?? Object.assign(new Error('Connection closed'), { code: 'ECONNECTION' })));
      conn.connect((e) => done((e as SmtpError | undefined) ?? null));
    });
    if (connectErr) return unreachable(connectErr);

    if (r.auth) {
      const authErr = await new Promise<SmtpError | null>((resolve) => {
        const done = settleOnce(resolve);
        conn.once('end', () => done(lastError ?? Object.assign(new Error('Connection closed'), { code: 'ECONNECTION' })));
        conn.login({ user: r.auth!.user, pass: r.auth!.pass }, (e) => done(e ?? null));
      });
      // A smarthost refusing our credentials is a configuration problem, not the sender's: defer.
      if (authErr) return unreachable(authErr);
    }

    const sent = await new Promise<{ err: SmtpError | null; info: SMTPConnection.SentMessageInfo | null }>((resolve) => {
      const done = settleOnce(resolve);
      conn.once('end', () => done({ err: lastError ?? Object.assign(new Error('Connection closed'), { code: 'ECONNECTION' }), info: null }));
      conn.send({
        from: r.sender || false,
        to: r.recipients,
        size: r.raw.length,
        use8BitMime: r.raw.some((b) => b > 0x7f),
      }, r.raw, (e, info) => done({ err: (e as SmtpError | null) ?? null, info: info ?? null }));
    });
    if (!lastError && !conn.destroyed) {
      // Refused recipients or a refused DATA leave the session usable: end it politely.
      quitting = true;
      conn.quit();
      // A server that never answers QUIT must not hold the socket until the inactivity timeout.
      setTimeout(() => conn.close(), QUIT_GRACE_MS).unref();
    }
    return { kind: 'session', recipients: verdicts(r.recipients, sent.err, sent.info) };
  } finally {
    r.signal?.removeEventListener('abort', onAbort);
    // quit() closes after the 221; otherwise drop the connection now.
    if (!quitting || r.signal?.aborted) conn.close();
  }
}

function settleOnce<T>(resolve: (v: T) => void): (v: T) => void {
  let settled = false;
  return (v) => {
    if (settled) return;
    settled = true;
    resolve(v);
  };
}

function unreachable(e: SmtpError): SmtpTransactionResult {
  const reply = e.response ? cleanReply(e.response) : describe(e);
  const status = e.responseCode ? statusFromReply(reply, e.responseCode) : '4.4.1';
  return { kind: 'unreachable', reply, status, tlsFailed: e.code === 'ETLS' };
}

/** Per-recipient verdicts from nodemailer's send() outcome. */
function verdicts(recipients: string[], err: SmtpError | null, info: SMTPConnection.SentMessageInfo | null): RecipientReply[] {
  const own = new Map<string, SmtpError>();
  for (const re of [...(info?.rejectedErrors ?? []), ...(err?.rejectedErrors ?? [])] as SmtpError[]) {
    if (re.recipient) own.set(re.recipient, re);
  }
  return recipients.map((recipient) => {
    const re = own.get(recipient);
    if (re) return fromError(recipient, re);
    if (!err && info) return { recipient, outcome: 'delivered', reply: cleanReply(info.response), status: statusFromReply(info.response, 250) };
    // MAIL FROM refused, DATA refused, or the connection went away: the same verdict for everyone.
    return fromError(recipient, err ?? Object.assign(new Error('no reply'), { code: 'EPROTOCOL' }));
  });
}

function fromError(recipient: string, e: SmtpError): RecipientReply {
  if (!e.responseCode) return { recipient, outcome: 'deferred', reply: describe(e), status: '4.4.2' };
  const reply = cleanReply(e.response ?? String(e.responseCode));
  // 5yz is permanent except 503 (bad sequence: our side or the session, not the message) — RFC 5321 §4.2.1.
  const permanent = e.responseCode >= 500 && e.responseCode !== 503;
  return { recipient, outcome: permanent ? 'failed' : 'deferred', reply, status: statusFromReply(reply, permanent ? 550 : 450) };
}

/** A connection-level failure in words, without nodemailer's prefix noise. */
function describe(e: SmtpError): string {
  const errno = (e as { originalCode?: string }).originalCode;
  return `${errno ? `${errno}: ` : ''}${e.message}`.replace(/\s+/g, ' ').slice(0, MAX_REPLY_CHARS);
}

function cleanReply(s: string): string {
  return s.replace(/\r?\n/g, ' ').replace(/[^\x20-\x7e]/g, '?').trim().slice(0, MAX_REPLY_CHARS);
}

/** "550 5.1.1 ..." → "5.1.1"; without an enhanced code, the reply class with .0.0 (RFC 3463 §3.1). */
export function statusFromReply(reply: string, code: number): string {
  const m = /^([245])\d\d[ -]([245]\.\d{1,3}\.\d{1,3})(?!\d)/.exec(reply.trim());
  if (m && m[1] === m[2]![0]) return m[2]!;
  const cls = Math.floor(code / 100);
  return `${cls === 2 || cls === 4 || cls === 5 ? cls : 4}.0.0`;
}
