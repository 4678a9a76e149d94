// Test helpers for the IMAP suites: a raw protocol client over a real socket (exact bytes in,
// exact bytes out), a small corpus of messages, and an instance with an account.
import { execFile } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import { ADMIN, ADMIN_PASSWORD, startInstance, type InstanceOptions, type TestInstance } from '../helpers/instance.js';

export { ADMIN, ADMIN_PASSWORD };

/**
 * IMAP_TEST_POSTGRES=1 (with TEST_DATABASE_URL) runs the suites on PostgreSQL instead of SQLite.
 * The raw suites speak plaintext on loopback, so the instance allows plaintext LOGIN (the
 * default refuses it; the LOGINDISABLED test checks that with its own listener).
 */
export async function imapInstance(o: InstanceOptions = {}): Promise<TestInstance> {
  return startInstance({ postgres: !!process.env.IMAP_TEST_POSTGRES, ...o, config: { auth: { allowPlaintextWithoutTls: true }, ...o.config } });
}

export class RawClient {
  private buf = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => undefined);
  }

  static async connect(port: number, secure = false): Promise<RawClient> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = secure
        ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => resolve(s))
        : net.connect({ port, host: '127.0.0.1' }, () => resolve(s));
      s.once('error', reject);
    });
    const c = new RawClient(socket);
    await c.readLine(); // greeting
    return c;
  }

  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Waits until `pred` finds its end in the buffer, then takes that many bytes. */
  private async take(find: (b: Buffer) => number, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = find(this.buf);
      if (end >= 0) {
        const out = this.buf.subarray(0, end).toString('latin1');
        this.buf = this.buf.subarray(end);
        return out;
      }
      if (this.closed) throw new Error(`connection closed; buffered: ${this.buf.toString('latin1')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout; buffered: ${this.buf.toString('latin1').slice(0, 2000)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          this.waiter = null;
          resolve();
        };
      });
    }
  }

  readLine(timeoutMs?: number): Promise<string> {
    return this.take((b) => {
      const i = b.indexOf('\r\n');
      return i === -1 ? -1 : i + 2;
    }, timeoutMs);
  }

  /** Everything up to and including the tagged response line for `tag`. */
  readTagged(tag: string, timeoutMs?: number): Promise<string> {
    return this.take((b) => {
      const s = b.toString('latin1');
      const at = s.startsWith(`${tag} `) ? 0 : s.indexOf(`\r\n${tag} `);
      if (at === -1) return -1;
      const eol = s.indexOf('\r\n', at === 0 ? 0 : at + 2);
      return eol === -1 ? -1 : eol + 2;
    }, timeoutMs);
  }

  async cmd(tag: string, text: string): Promise<string> {
    this.send(`${tag} ${text}\r\n`);
    return this.readTagged(tag);
  }

  close(): void {
    this.socket.destroy();
  }
}

export async function loggedIn(port: number, user = ADMIN, pass = ADMIN_PASSWORD): Promise<RawClient> {
  const c = await RawClient.connect(port);
  const r = await c.cmd('L', `LOGIN "${user}" "${pass}"`);
  if (!/^L OK/m.test(r)) throw new Error(`login failed: ${r}`);
  return c;
}

/** A message with CRLF line ends. */
export function msg(lines: string[]): Buffer {
  return Buffer.from(lines.join('\r\n'), 'utf8');
}

export const simpleMessage = (subject: string, body = 'Hello world') => msg([
  'From: Alice <alice@example.test>',
  'To: Bob <bob@example.test>',
  `Subject: ${subject}`,
  'Date: Mon, 7 Feb 1994 21:52:25 -0800',
  'Message-ID: <' + subject.replace(/\W/g, '') + '@example.test>',
  'MIME-Version: 1.0',
  'Content-Type: text/plain; charset=us-ascii',
  '',
  body,
  '',
]);

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Debian's python3, which the imaplib tests drive. */
export const PYTHON = '/usr/bin/python3';

/**
 * Runs a program to its end and collects its output. Asynchronous: the server under test runs in
 * this process and must keep answering meanwhile.
 */
export function runProcess(file: string, args: string[], timeout = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }));
  });
}
