// A deliberately dumb SMTP client for tests: it writes exactly the bytes it is given (so tests
// can send what real clients would never send) and parses replies (multi-line aware) into a
// queue, each stamped with `ms`, the time since the last write (tarpit checks). It can bind its
// local address (127.0.0.x plays a different client IP) and connect with implicit TLS.
// Also a few helpers shared by the SMTP, security and outbound test files.
import net from 'node:net';
import tls from 'node:tls';

export interface Reply { code: number; text: string; lines: string[]; ms: number }

export interface ConnectOptions {
  /** Implicit TLS (port 465 style); the certificate is not checked. */
  tls?: boolean;
  /** How long to wait for the greeting (default 10 s). */
  timeoutMs?: number;
  /** Local address to bind, e.g. '127.0.0.2' to play another client. */
  localAddress?: string;
  /**
   * Once the connection is gone, read()/cmd() resolve with a code-0 "closed" reply instead of
   * rejecting, the default reply timeout is 20 s instead of 10 s and quit() waits 0.5 s, not 2 s.
   */
  lenient?: boolean;
}

export class RawSmtp {
  socket: net.Socket;
  closed = false;
  private buf = '';
  private replies: Reply[] = [];
  private waiters: Array<{ resolve: (r: Reply | null) => void; reject: (e: Error) => void }> = [];
  private current: string[] = [];
  private sentAt = Date.now();
  private readonly lenient: boolean;

  private constructor(socket: net.Socket, lenient: boolean) {
    this.socket = socket;
    this.lenient = lenient;
    this.attach(socket);
  }

  private attach(s: net.Socket): void {
    s.on('data', (d: Buffer) => this.onData(d));
    s.on('close', () => this.onClose());
    s.on('error', () => this.onClose());
  }

  /** Connects and waits for the greeting (returned as `greeting`; throws if the connection closes first). */
  static async connect(port: number, opts: ConnectOptions = {}): Promise<{ c: RawSmtp; greeting: Reply }> {
    // tls.connect hands localAddress on to net.connect; its typings just do not list it.
    const bind: Partial<net.TcpNetConnectOpts> = opts.localAddress ? { localAddress: opts.localAddress } : {};
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s: net.Socket = opts.tls
        ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...bind }, () => resolve(s))
        : net.connect({ host: '127.0.0.1', port, localAddress: opts.localAddress }, () => resolve(s));
      s.once('error', reject);
    });
    const c = new RawSmtp(socket, opts.lenient ?? false);
    const greeting = await c.next(opts.timeoutMs ?? c.defaultTimeout);
    if (!greeting) throw new Error('connection closed before the greeting');
    return { c, greeting };
  }

  private get defaultTimeout(): number {
    return this.lenient ? 20_000 : 10_000;
  }

  private onData(d: Buffer): void {
    this.buf += d.toString('latin1');
    let nl: number;
    while ((nl = this.buf.indexOf('\r\n')) !== -1) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 2);
      this.current.push(line);
      if (line.length < 4 || line[3] !== '-') {
        const lines = this.current;
        this.current = [];
        const reply: Reply = { code: Number(line.slice(0, 3)), text: lines.map((l) => l.slice(4)).join('\n'), lines, ms: Date.now() - this.sentAt };
        const w = this.waiters.shift();
        if (w) w.resolve(reply);
        else this.replies.push(reply);
      }
    }
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.resolve(null);
  }

  /** The next reply, or null once the connection is closed; rejects if nothing comes within timeoutMs. */
  private next(timeoutMs: number): Promise<Reply | null> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.closed) return Promise.resolve(null);
    return new Promise<Reply | null>((resolve, reject) => {
      const w = {
        resolve: (x: Reply | null) => { clearTimeout(t); resolve(x); },
        reject: (e: Error) => { clearTimeout(t); reject(e); },
      };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`no SMTP reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  private closedReply(): Reply {
    return { code: 0, text: 'closed', lines: [], ms: Date.now() - this.sentAt };
  }

  /**
   * The next reply. If the connection closes first: rejects, or (lenient) resolves with a code-0
   * "closed" reply. Rejects if nothing comes within timeoutMs.
   */
  async read(timeoutMs = this.defaultTimeout): Promise<Reply> {
    const r = await this.next(timeoutMs);
    if (r) return r;
    if (this.lenient) return this.closedReply();
    throw new Error('connection closed');
  }

  write(data: string | Buffer): void {
    this.sentAt = Date.now();
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Sends one command line (CRLF added) and returns its reply. */
  async cmd(line: string, timeoutMs?: number): Promise<Reply> {
    this.write(`${line}\r\n`);
    return this.read(timeoutMs);
  }

  /** Sends DATA, the given message (dot-stuffed here unless `raw`), the final dot; returns the final reply. */
  async data(message: Buffer | string, opts: { raw?: boolean } = {}): Promise<Reply> {
    const r = await this.cmd('DATA');
    if (r.code !== 354) return r;
    let body = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
    if (!opts.raw) body = Buffer.from(body.toString('latin1').replace(/(^|\r\n)\./g, '$1..'), 'latin1');
    const needsCrlf = body.length > 0 && !body.subarray(-2).equals(Buffer.from('\r\n'));
    this.write(Buffer.concat([body, Buffer.from(needsCrlf ? '\r\n.\r\n' : '.\r\n')]));
    return this.read();
  }

  async authPlain(user: string, password: string): Promise<Reply> {
    return this.cmd(`AUTH PLAIN ${Buffer.from(`\0${user}\0${password}`).toString('base64')}`);
  }

  /**
   * MAIL, RCPTs, DATA; returns the reply to the end of data (or the first refusal) with the stage
   * it came at. The message's line ends become CRLF, leading dots are stuffed, and a string
   * message is sent as latin1. Meant for lenient connections (a closed one reads as code 0).
   */
  async send(from: string, to: string[], message: string | Buffer): Promise<Reply & { stage: string }> {
    const m = await this.cmd(`MAIL FROM:<${from}>`);
    if (m.code !== 250) return { ...m, stage: 'mail' };
    let okRcpt = 0;
    let last: Reply | null = null;
    for (const r of to) {
      last = await this.cmd(`RCPT TO:<${r}>`);
      if (last.code === 250) okRcpt++;
    }
    if (!okRcpt) return { ...last!, stage: 'rcpt' };
    const d = await this.cmd('DATA');
    if (d.code !== 354) return { ...d, stage: 'data' };
    const body = (Buffer.isBuffer(message) ? message.toString('latin1') : message).replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
    this.write(`${body}${body.endsWith('\r\n') ? '' : '\r\n'}.\r\n`);
    const r = await this.next(60_000);
    return { ...(r ?? { code: 0, text: 'closed', lines: [], ms: 0 }), stage: 'dot' };
  }

  /** STARTTLS and switch the connection to TLS (certificate not checked: it is self-signed). */
  async starttls(): Promise<Reply> {
    const r = await this.cmd('STARTTLS');
    if (r.code !== 220) return r;
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    plain.removeAllListeners('error');
    const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ socket: plain, rejectUnauthorized: false }, () => resolve(s));
      s.once('error', reject);
    });
    this.socket = secure;
    this.attach(secure);
    return r;
  }

  /** Waits until the server closes the connection (or timeoutMs passes; returns whether it closed). */
  waitClosed(timeoutMs = 5000): Promise<boolean> {
    if (this.closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      this.socket.once('close', () => { clearTimeout(t); resolve(true); });
    });
  }

  /**
   * QUIT if still open, then wait (up to waitMs: 2 s, lenient 0.5 s) for the close; destroys the
   * socket if it stays open.
   */
  async quit(waitMs = this.lenient ? 500 : 2000): Promise<void> {
    if (this.closed) return;
    try {
      this.write('QUIT\r\n');
    } catch { /* already gone */ }
    if (!(await this.waitClosed(waitMs))) this.socket.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Opens a connection, EHLO, MAIL FROM, RCPT TO each recipient; asserts nothing, returns the replies. */
export async function openTransaction(port: number, from: string, to: string[]): Promise<{ c: RawSmtp; replies: Reply[] }> {
  const { c } = await RawSmtp.connect(port);
  const replies = [await c.cmd('EHLO client.test'), await c.cmd(`MAIL FROM:<${from}>`)];
  for (const t of to) replies.push(await c.cmd(`RCPT TO:<${t}>`));
  return { c, replies };
}

/** A CRLF message with the given headers (Message-ID and Date included unless left out) and body. */
export function makeMessage(o: { from: string; to: string; subject: string; body: string; messageId?: string | null;
  date?: string | null; extraHeaders?: string[] }): Buffer {
  const h: string[] = [`From: ${o.from}`, `To: ${o.to}`, `Subject: ${o.subject}`];
  if (o.messageId !== null) h.push(`Message-ID: ${o.messageId ?? `<${Math.random().toString(36).slice(2)}.${Date.now()}@client.test>`}`);
  if (o.date !== null) h.push(`Date: ${o.date ?? new Date().toUTCString().replace(/GMT$/, '+0000')}`);
  h.push(...(o.extraHeaders ?? []), 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8');
  return Buffer.from(`${h.join('\r\n')}\r\n\r\n${o.body}`, 'utf8');
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Stored bytes of every message in an account's INBOX, oldest first. */
export async function inboxMessages(app: import('../../src/instance/app.js').App, address: string): Promise<Buffer[]> {
  const acc = await app.accounts.getAccount(address);
  if (!acc) throw new Error(`no account ${address}`);
  const inbox = await app.mailStore.inbox(acc.id);
  const out: Buffer[] = [];
  for (const m of await app.mailStore.listMessages(inbox.id)) out.push(await app.mailStore.getMessageBytes(m.blobHash));
  return out;
}

/** Stored messages in an account's INBOX whose bytes contain `needle`. */
export async function inboxMatching(app: import('../../src/instance/app.js').App, address: string, needle: string): Promise<Buffer[]> {
  return (await inboxMessages(app, address)).filter((b) => b.includes(needle));
}
