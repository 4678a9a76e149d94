// A ClamAV clamd client: INSTREAM (length-prefixed chunks, zero-length terminator) over TCP
// or clamd's local socket; answers clean, infected (with the signature name) or throws.
// clamdScan() is one connection per request (start-up checks, the bench's "clamd alone");
// ClamdPool keeps a few connections open in IDSESSION mode (clamd(8): each reply is
// "<id>: <reply>", NUL-terminated for z-commands) so a message costs no connect/accept and no
// new clamd client thread. One request at a time per connection (clamd wants every reply read
// before more commands), idle connections closed well before clamd's IdleTimeout (30 s by
// default), any error or unexpected reply closes the connection.
// Must not treat an unknown answer as clean (a throw is a tempfail or accept-and-tag, as
// configured) and must not retry a scan clamd answered or timed out on; the one retry is for a
// reused connection that clamd had closed (idle) before it read the request.
import net from 'node:net';

const CHUNK_BYTES = 64 * 1024;
const MAX_RESPONSE_BYTES = 4096;
const INSTREAM = Buffer.from('zINSTREAM\0', 'latin1');

export type ClamdResult = { infected: false } | { infected: true; signature: string };
export class ClamdError extends Error {
  /** The connection failed before clamd sent any reply to the request in flight (not a timeout). */
  unanswered = false;
}

export interface ClamdTarget { socket: string | null; host: string | null; port: number; timeoutMs: number }

export function clamdScan(o: ClamdTarget, data: Buffer): Promise<ClamdResult> {
  return new Promise((resolve, reject) => {
    const where = o.host ? `${o.host}:${o.port}` : o.socket ?? '';
    const socket = o.host ? net.connect({ host: o.host, port: o.port }) : net.connect({ path: o.socket ?? '' });
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: Error | null, r?: ClamdResult) => {
      if (done) return;
      done = true;
      socket.destroy();
      if (err) reject(err);
      else resolve(r!);
    };
    socket.setTimeout(o.timeoutMs, () => finish(new ClamdError(`clamd timed out after ${o.timeoutMs} ms`)));
    socket.on('error', (e) => finish(new ClamdError(`clamd ${where}: ${e.message}`)));
    socket.on('connect', () => {
      socket.write(instreamFrame(data));
    });
    socket.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_RESPONSE_BYTES) return finish(new ClamdError('clamd answer too long'));
      chunks.push(d);
      const text = Buffer.concat(chunks).toString('latin1');
      if (text.includes('\0') || text.includes('\n')) {
        try {
          finish(null, parseClamdResponse(text));
        } catch (e) {
          finish(e as Error);
        }
      }
    });
    socket.on('end', () => {
      try {
        finish(null, parseClamdResponse(Buffer.concat(chunks).toString('latin1')));
      } catch (e) {
        finish(e as Error);
      }
    });
  });
}

/**
 * The whole INSTREAM request in one buffer: the command, each chunk behind its 4-byte
 * big-endian length, then the zero-length terminator. One write (one syscall) instead of
 * two per chunk plus two more.
 */
export function instreamFrame(data: Buffer): Buffer {
  const chunks = Math.ceil(data.length / CHUNK_BYTES);
  const out = Buffer.allocUnsafe(INSTREAM.length + data.length + 4 * chunks + 4);
  let o = INSTREAM.copy(out, 0);
  for (let i = 0; i < data.length; i += CHUNK_BYTES) {
    const end = Math.min(i + CHUNK_BYTES, data.length);
    o = out.writeUInt32BE(end - i, o);
    o += data.copy(out, o, i, end);
  }
  out.writeUInt32BE(0, o); // end of stream
  return out;
}

export interface ClamdPoolOptions {
  /** Connections kept open at most; further scans wait for a free one. */
  maxConnections: number;
  /** An idle connection is closed after this long (keep it below clamd's IdleTimeout). */
  idleMs: number;
}

interface Waiter { resolve: (c: SessionConn) => void; reject: (e: Error) => void }

/** One clamd connection in IDSESSION mode. */
class SessionConn {
  readonly socket: net.Socket;
  private nextId = 1;
  private buf: Buffer = Buffer.alloc(0);
  private current: { id: number; resolve: (r: ClamdResult) => void; reject: (e: Error) => void; timer: NodeJS.Timeout; gotBytes: boolean } | null = null;
  served = 0;
  dead = false;
  idleTimer: NodeJS.Timeout | null = null;

  constructor(readonly target: ClamdTarget, readonly where: string, private readonly onDead: (c: SessionConn) => void) {
    this.socket = target.host ? net.connect({ host: target.host, port: target.port }) : net.connect({ path: target.socket ?? '' });
    this.socket.setNoDelay(true);
    this.socket.write(IDSESSION);
    this.socket.on('data', (d: Buffer) => this.onData(d));
    this.socket.on('error', (e) => this.kill(new ClamdError(`clamd ${where}: ${e.message}`)));
    this.socket.on('close', () => this.kill(new ClamdError(`clamd ${where} closed the connection`)));
  }

  scan(data: Buffer, timeoutMs: number): Promise<ClamdResult> {
    return new Promise((resolve, reject) => {
      if (this.dead) return reject(new ClamdError(`clamd ${this.where} closed the connection`));
      const id = this.nextId++;
      const timer = setTimeout(() => this.kill(new ClamdError(`clamd timed out after ${timeoutMs} ms`), true), timeoutMs);
      this.current = { id, resolve, reject, timer, gotBytes: false };
      this.socket.ref();
      this.socket.write(instreamFrame(data));
    });
  }

  private onData(d: Buffer): void {
    const cur = this.current;
    if (!cur) return this.kill(new ClamdError('clamd sent an unrequested reply'));
    cur.gotBytes = true;
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    if (this.buf.length > MAX_RESPONSE_BYTES) return this.kill(new ClamdError('clamd answer too long'));
    const nul = this.buf.indexOf(0);
    if (nul === -1) return;
    const line = this.buf.subarray(0, nul).toString('latin1');
    this.buf = this.buf.subarray(nul + 1);
    const m = /^(\d+): (.*)$/s.exec(line);
    if (!m || Number(m[1]) !== cur.id) return this.kill(new ClamdError(`clamd: unexpected session reply ${JSON.stringify(line.slice(0, 100))}`));
    clearTimeout(cur.timer);
    this.current = null;
    this.served++;
    try {
      cur.resolve(parseClamdResponse(m[2]!));
    } catch (e) {
      // An ERROR reply (size limit, …): clamd may close the session after it; do not reuse it.
      this.kill(null);
      cur.reject(e as Error);
    }
  }

  kill(err: Error | null, timedOut = false): void {
    if (this.dead) return;
    this.dead = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const cur = this.current;
    this.current = null;
    if (cur) {
      clearTimeout(cur.timer);
      const e = err ?? new ClamdError(`clamd ${this.where} closed the connection`);
      if (e instanceof ClamdError && !cur.gotBytes && !timedOut) e.unanswered = true;
      cur.reject(e);
    }
    this.socket.destroy();
    this.onDead(this);
  }

  /** Polite close of an idle session (END), then the socket. */
  end(): void {
    if (this.dead) return;
    this.dead = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.socket.end(END);
    this.socket.destroySoon();
    this.onDead(this);
  }
}

const IDSESSION = Buffer.from('zIDSESSION\0', 'latin1');
const END = Buffer.from('zEND\0', 'latin1');

/**
 * Scans through up to maxConnections IDSESSION connections to clamd. The target is read per
 * scan, so a reloaded config applies to the next scan (connections to the old target are closed).
 */
export class ClamdPool {
  private readonly idle: SessionConn[] = [];
  private readonly all = new Set<SessionConn>();
  private readonly waiters: Waiter[] = [];
  private where = '';
  /** Connections opened over the pool's life (tests, stats). */
  opened = 0;

  constructor(private readonly opts: ClamdPoolOptions) {}

  async scan(target: ClamdTarget, data: Buffer): Promise<ClamdResult> {
    const where = target.host ? `${target.host}:${target.port}` : target.socket ?? '';
    if (where !== this.where) {
      this.close();
      this.where = where;
    }
    const conn = await this.acquire(target);
    const reused = conn.served > 0;
    try {
      return await this.scanOn(conn, target, data);
    } catch (e) {
      // clamd closed a reused idle session just as we wrote to it: resend once on a new one.
      if (!reused || !(e instanceof ClamdError) || !e.unanswered) throw e;
      return this.scanOn(this.open(target), target, data);
    }
  }

  private async scanOn(conn: SessionConn, target: ClamdTarget, data: Buffer): Promise<ClamdResult> {
    try {
      return await conn.scan(data, target.timeoutMs);
    } finally {
      this.release(conn);
    }
  }

  /** Closes every connection (idle ones with END); scans in flight and waiting fail. */
  close(): void {
    for (const w of this.waiters.splice(0)) w.reject(new ClamdError('clamd pool closed'));
    for (const c of [...this.all]) {
      if (this.idle.includes(c)) c.end();
      else c.kill(new ClamdError('clamd pool closed'));
    }
    this.idle.length = 0;
  }

  get size(): number {
    return this.all.size;
  }

  private open(target: ClamdTarget): SessionConn {
    this.opened++;
    const c = new SessionConn(target, this.where, (dead) => {
      this.all.delete(dead);
      const i = this.idle.indexOf(dead);
      if (i !== -1) this.idle.splice(i, 1);
      // A slot came free: a waiter may open a connection of its own.
      const w = this.waiters.shift();
      if (w) w.resolve(this.open(target));
    });
    this.all.add(c);
    return c;
  }

  private acquire(target: ClamdTarget): Promise<SessionConn> {
    for (let c = this.idle.pop(); c; c = this.idle.pop()) {
      if (c.dead) continue;
      if (c.idleTimer) clearTimeout(c.idleTimer);
      c.idleTimer = null;
      return Promise.resolve(c);
    }
    if (this.all.size < this.opts.maxConnections) return Promise.resolve(this.open(target));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private release(c: SessionConn): void {
    if (c.dead) return;
    const w = this.waiters.shift();
    if (w) return w.resolve(c);
    this.idle.push(c);
    c.socket.unref(); // an idle pool does not keep the process alive
    c.idleTimer = setTimeout(() => c.end(), this.opts.idleMs);
    c.idleTimer.unref();
  }
}

export function parseClamdResponse(text: string): ClamdResult {
  const line = text.replace(/[\0\r\n]+$/, '').split(/[\0\n]/)[0]!.trim();
  if (/^stream: OK$/.test(line)) return { infected: false };
  const found = /^stream: (.+) FOUND$/.exec(line);
  if (found) return { infected: true, signature: found[1]! };
  throw new ClamdError(`clamd: ${line.slice(0, 200) || 'empty answer'}`);
}
