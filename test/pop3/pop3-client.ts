// A minimal raw POP3 client for protocol tests: sends bytes exactly as given and reads replies
// line by line (single- or multi-line), over plain TCP, implicit TLS, or after STLS.
import net from 'node:net';
import tls from 'node:tls';

export class RawPop3 {
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;

  private constructor(private sock: net.Socket) {
    this.listen(sock);
  }

  private listen(s: net.Socket): void {
    s.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    s.on('close', () => {
      this.closed = true;
      this.wake();
    });
    s.on('error', () => undefined);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  static async connect(port: number, opts: { tls?: boolean } = {}): Promise<RawPop3> {
    const sock = opts.tls
      ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false })
      : net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      sock.once(opts.tls ? 'secureConnect' : 'connect', () => resolve());
      sock.once('error', reject);
    });
    return new RawPop3(sock);
  }

  /** Connects and consumes the greeting. */
  static async open(port: number, opts: { tls?: boolean } = {}): Promise<RawPop3> {
    const c = await RawPop3.connect(port, opts);
    const g = await c.line();
    if (!g.startsWith('+OK')) throw new Error(`bad greeting ${g}`);
    return c;
  }

  send(data: string | Buffer): void {
    this.sock.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  }

  private async waitFor<T>(take: () => T | null, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = take();
      if (v !== null) return v;
      if (this.closed) throw new Error(`connection closed; pending: ${JSON.stringify(this.buf.toString('latin1'))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout; pending: ${JSON.stringify(this.buf.toString('latin1').slice(0, 200))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** One reply line without CRLF. */
  line(timeoutMs = 10_000): Promise<string> {
    return this.waitFor(() => {
      const i = this.buf.indexOf('\r\n');
      if (i === -1) return null;
      const l = this.buf.subarray(0, i).toString('utf8');
      this.buf = this.buf.subarray(i + 2);
      return l;
    }, timeoutMs);
  }

  /** The raw bytes of a multi-line body up to and including the terminating ".\r\n" (still stuffed). */
  multiRaw(timeoutMs = 10_000): Promise<Buffer> {
    return this.waitFor(() => {
      if (this.buf.subarray(0, 3).equals(Buffer.from('.\r\n'))) {
        const out = this.buf.subarray(0, 3);
        this.buf = this.buf.subarray(3);
        return out;
      }
      const i = this.buf.indexOf('\r\n.\r\n');
      if (i === -1) return null;
      const out = this.buf.subarray(0, i + 5);
      this.buf = this.buf.subarray(i + 5);
      return out;
    }, timeoutMs);
  }

  /** Sends a command and returns its status line. */
  async cmd(c: string): Promise<string> {
    this.send(`${c}\r\n`);
    return this.line();
  }

  /** Sends a command expected to answer +OK with a multi-line body; returns status and text lines (un-stuffed). */
  async multi(c: string): Promise<{ status: string; lines: string[] }> {
    const status = await this.cmd(c);
    if (!status.startsWith('+OK')) return { status, lines: [] };
    const raw = (await this.multiRaw()).toString('utf8');
    const lines = raw.slice(0, -3).split('\r\n').slice(0, -1).map((l) => (l.startsWith('.') ? l.slice(1) : l));
    return { status, lines };
  }

  /** STLS: upgrades this connection to TLS after +OK. */
  async stls(): Promise<string> {
    const r = await this.cmd('STLS');
    if (!r.startsWith('+OK')) return r;
    const old = this.sock;
    old.removeAllListeners('data');
    old.removeAllListeners('close');
    const s = tls.connect({ socket: old, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      s.once('secureConnect', () => resolve());
      s.once('error', reject);
    });
    this.sock = s;
    this.listen(s);
    return r;
  }

  /** Waits until the server closes the connection. */
  async waitClosed(timeoutMs = 10_000): Promise<void> {
    await this.waitFor(() => (this.closed ? true : null), timeoutMs).catch((e: Error) => {
      if (!this.closed) throw e;
    });
  }

  /** Whatever the server sent that was not read yet. */
  rest(): string {
    return this.buf.toString('utf8');
  }

  destroy(): void {
    this.sock.destroy();
  }

  end(): void {
    this.sock.end();
  }
}
