// Lean raw-socket protocol clients for the parts of the IMAP benchmark where a full client
// library would cost more than the server it measures: thousands of IDLE connections, and a
// FETCH of 100,000 FLAGS lines. Also a minimal SMTP/LMTP sender for the IDLE wake-up delivery.
import net from 'node:net';

/** Quotes an IMAP string argument. */
export const q = (s: string) => `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;

/**
 * One IMAP connection driven line by line. Untagged lines go to `onUntagged`; commands resolve
 * with their tagged completion. Literals in responses ({n}) are skipped over (counted in bytes),
 * which is all the benchmark needs (it never looks inside message data here).
 */
export class RawImap {
  readonly socket: net.Socket;
  onUntagged: ((line: string) => void) | null = null;
  onContinuation: ((line: string) => void) | null = null;
  closed = false;
  private buf: Buffer = Buffer.alloc(0);
  private literalLeft = 0;
  private tagN = 0;
  private pending = new Map<string, { resolve: (line: string) => void; reject: (e: Error) => void }>();
  private greeting: Promise<string>;
  private greetingResolve!: (l: string) => void;
  private greetingReject!: (e: Error) => void;
  private gotGreeting = false;
  bytesIn = 0;

  constructor(port: number, host = '127.0.0.1') {
    this.greeting = new Promise((resolve, reject) => { this.greetingResolve = resolve; this.greetingReject = reject; });
    this.greeting.catch(() => undefined);
    this.socket = net.connect(port, host);
    this.socket.setNoDelay(true);
    this.socket.on('data', (d: Buffer) => this.onData(d));
    this.socket.on('error', (e) => this.fail(e));
    this.socket.on('close', () => this.fail(new Error('connection closed by server')));
  }

  private fail(e: Error): void {
    if (!this.closed) this.closed = true;
    if (!this.gotGreeting) this.greetingReject(e);
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private onData(d: Buffer): void {
    this.bytesIn += d.length;
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    let start = 0;
    for (;;) {
      if (this.literalLeft > 0) {
        const take = Math.min(this.literalLeft, this.buf.length - start);
        this.literalLeft -= take;
        start += take;
        if (this.literalLeft > 0) break;
      }
      const nl = this.buf.indexOf(10, start);
      if (nl < 0) break;
      const line = this.buf.toString('latin1', start, nl > start && this.buf[nl - 1] === 13 ? nl - 1 : nl);
      start = nl + 1;
      const lit = /\{(\d+)\+?\}$/.exec(line);
      if (lit) this.literalLeft = Number(lit[1]);
      this.onLine(line);
    }
    this.buf = start >= this.buf.length ? Buffer.alloc(0) : this.buf.subarray(start);
  }

  private onLine(line: string): void {
    if (!this.gotGreeting) {
      this.gotGreeting = true;
      if (line.startsWith('* OK') || line.startsWith('* PREAUTH')) this.greetingResolve(line);
      else this.greetingReject(new Error(`greeting: ${line}`));
      return;
    }
    if (line.startsWith('* ')) { this.onUntagged?.(line); return; }
    if (line.startsWith('+')) { this.onContinuation?.(line); return; }
    const sp = line.indexOf(' ');
    const tag = line.slice(0, sp);
    const p = this.pending.get(tag);
    if (!p) return;
    this.pending.delete(tag);
    const status = line.slice(sp + 1, sp + 3).toUpperCase();
    if (status === 'OK') p.resolve(line);
    else p.reject(new Error(line));
  }

  ready(): Promise<string> { return this.greeting; }

  /** Sends `cmd` with a fresh tag; resolves with the tagged OK line, rejects on NO/BAD/close. */
  command(cmd: string): Promise<string> {
    if (this.closed) return Promise.reject(new Error('connection closed'));
    const tag = `b${++this.tagN}`;
    return new Promise((resolve, reject) => {
      this.pending.set(tag, { resolve, reject });
      this.socket.write(`${tag} ${cmd}\r\n`);
    });
  }

  /** Starts IDLE; resolves on the "+" continuation. done() ends it and resolves with the tagged OK. */
  async idle(): Promise<{ done(): Promise<string> }> {
    const tag = `b${++this.tagN}`;
    const completion = new Promise<string>((resolve, reject) => this.pending.set(tag, { resolve, reject }));
    completion.catch(() => undefined);
    await new Promise<void>((resolve, reject) => {
      this.onContinuation = () => { this.onContinuation = null; resolve(); };
      completion.then(() => reject(new Error('IDLE completed before continuation')), reject);
      this.socket.write(`${tag} IDLE\r\n`);
    });
    return { done: () => { this.socket.write('DONE\r\n'); return completion; } };
  }

  write(s: string): void { if (!this.closed) this.socket.write(s); }

  destroy(): void { this.closed = true; this.socket.destroy(); }

  /** LOGOUT, then close (does not wait longer than timeoutMs). */
  async logout(timeoutMs = 2000): Promise<void> {
    if (this.closed) return;
    await Promise.race([this.command('LOGOUT').catch(() => undefined), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    this.destroy();
  }
}

/**
 * Sends one message over SMTP (EHLO) or LMTP (LHLO) to `recipients` and resolves when the
 * server accepted it for every recipient (LMTP answers once per recipient after the data).
 */
export function sendMail(o: { port: number; host?: string; lmtp: boolean; from: string; recipients: string[]; raw: Buffer; timeoutMs?: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(o.port, o.host ?? '127.0.0.1');
    let buf = '';
    let stage = 0; // 0 greeting, 1 ehlo, 2 mail, 3.. rcpts, then data, body
    const dataStage = 3 + o.recipients.length;
    let bodyReplies = 0;
    const timer = setTimeout(() => finish(new Error(`${o.lmtp ? 'LMTP' : 'SMTP'} delivery timed out at stage ${stage}`)), o.timeoutMs ?? 60_000);
    let done = false;
    const finish = (e?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!e) s.end('QUIT\r\n'); else s.destroy();
      if (e) reject(e); else resolve();
    };
    const reply = (line: string) => {
      const code = Number(line.slice(0, 3));
      const okCode = stage === 0 ? 220 : stage === dataStage ? 354 : 250;
      if (stage > dataStage) {
        if (code !== 250) return finish(new Error(`after DATA: ${line}`));
        if (++bodyReplies >= (o.lmtp ? o.recipients.length : 1)) finish();
        return;
      }
      if (code !== okCode) return finish(new Error(`stage ${stage}: ${line}`));
      stage++;
      if (stage === 1) s.write(`${o.lmtp ? 'LHLO' : 'EHLO'} bench.client\r\n`);
      else if (stage === 2) s.write(`MAIL FROM:<${o.from}>\r\n`);
      else if (stage < dataStage) s.write(`RCPT TO:<${o.recipients[stage - 3]}>\r\n`);
      else if (stage === dataStage) s.write('DATA\r\n');
      else {
        const body = o.raw.toString('latin1').replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
        s.write(Buffer.from(`${body}${body.endsWith('\r\n') ? '' : '\r\n'}.\r\n`, 'latin1'));
      }
    };
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        if (line[3] === '-') continue; // multi-line reply: wait for the last line
        reply(line);
      }
    });
    s.on('error', (e) => finish(e));
    s.on('close', () => finish(new Error('connection closed during delivery')));
  });
}
