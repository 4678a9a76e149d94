// Shared by the security tests: a line-level POP3 client that can bind its local address
// (127.0.0.x plays a different client IP), a DNS port that never answers, private spamd and
// clamd daemons on loopback ports, a stored-only zip writer and trace lookups. The SMTP client
// and the fake DNS server live in test/helpers/ (raw-smtp.ts, fake-dns.ts). Must never listen
// beyond 127.0.0.1.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import dgram from 'node:dgram';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import type { App } from '../../src/instance/app.js';
import { spamdCheck } from '../../src/policy/spamd.client.js';

/** A POP3 client for login tests. */
export class Pop3 {
  private buf = '';
  private lines: string[] = [];
  private waiters: Array<(l: string | null) => void> = [];
  closed = false;
  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      let nl: number;
      while ((nl = this.buf.indexOf('\r\n')) !== -1) {
        const l = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 2);
        const w = this.waiters.shift();
        if (w) w(l);
        else this.lines.push(l);
      }
    });
    const close = () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w(null);
    };
    socket.on('close', close);
    socket.on('error', close);
  }

  static async connect(port: number, localAddress = '127.0.0.1'): Promise<{ c: Pop3; greeting: string | null }> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port, localAddress }, () => resolve(s));
      s.once('error', reject);
    });
    const c = new Pop3(socket);
    return { c, greeting: await c.line() };
  }

  line(timeoutMs = 20_000): Promise<string | null> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out waiting for a POP3 line')), timeoutMs);
      this.waiters.push((x) => { clearTimeout(t); resolve(x); });
    });
  }

  async cmd(line: string): Promise<string | null> {
    if (this.closed) return null;
    this.socket.write(`${line}\r\n`);
    return this.line();
  }

  async login(user: string, password: string): Promise<string | null> {
    const u = await this.cmd(`USER ${user}`);
    if (!u?.startsWith('+OK')) return u;
    return this.cmd(`PASS ${password}`);
  }

  close(): void {
    this.socket.destroy();
  }
}

// ---- DNS ------------------------------------------------------------------------------------

/** A UDP port that swallows queries and never answers (a DNS server that times out). */
export async function startBlackhole(): Promise<{ server: string; stop(): Promise<void> }> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return { server: `127.0.0.1:${s.address().port}`, stop: () => new Promise((r) => s.close(() => r())) };
}

/** A TCP port nothing listens on. */
export async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

// ---- daemons --------------------------------------------------------------------------------

export interface Daemon { port: number; /** spamd: its unix socket as well */ socket?: string; stop(): Promise<void> }

function which(bin: string): boolean {
  return ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((d) => existsSync(path.join(d, bin)));
}

async function waitPort(port: number, child: ChildProcess, ms: number, out: () => string): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`daemon exited: ${out().slice(-500)}`);
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => { s.destroy(); r(true); });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`daemon did not listen on ${port}: ${out().slice(-500)}`);
}

/** Starts `bin` in the foreground and waits for its port; a skip reason if it does not come up. */
async function runDaemon(bin: string, args: string[], port: number, dir: string): Promise<Daemon | string> {
  let out = '';
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  try {
    await waitPort(port, child, 30_000, () => out);
  } catch (e) {
    await stopChild(child, dir)();
    return `${bin} did not start: ${(e as Error).message}`;
  }
  return { port, stop: stopChild(child, dir) };
}

function stopChild(child: ChildProcess, dir: string): () => Promise<void> {
  return async () => {
    if (child.exitCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
  };
}

/** spamd from Debian's `spamd` package, local rules only (no network tests), or a skip reason. */
export async function startSpamd(): Promise<Daemon | string> {
  if (!which('spamd')) return 'spamd not installed (apt-get install spamassassin spamd)';
  if (!existsSync('/etc/spamassassin/v320.pre')) return 'SpamAssassin plugin files (/etc/spamassassin/*.pre) missing';
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pochtamt-spamd-'));
  const site = path.join(dir, 'site');
  mkdirSync(site);
  mkdirSync(path.join(dir, 'home'));
  // spamd drops root for nobody: its config and home must be readable (and home writable) by it.
  chmodSync(dir, 0o755);
  chmodSync(path.join(dir, 'home'), 0o777);
  for (const f of readdirSync('/etc/spamassassin').filter((x) => x.endsWith('.pre'))) copyFileSync(path.join('/etc/spamassassin', f), path.join(site, f));
  writeFileSync(path.join(site, 'local.cf'), 'use_bayes 0\nskip_rbl_checks 1\ndns_available no\nuse_razor2 0\nuse_pyzor 0\n');
  const port = await closedPort();
  const socket = path.join(dir, 'spamd.sock');
  const args = ['--listen', `127.0.0.1:${port}`, '--listen', socket, '-L', '-x', '--siteconfigpath', site, '--pidfile', path.join(dir, 'spamd.pid'),
    '--max-children', '1', '--min-children', '1', '-H', path.join(dir, 'home'), '--syslog=stderr'];
  if (process.getuid?.() === 0) args.push('-u', 'nobody');
  const daemon = await runDaemon('spamd', args, port, dir);
  if (typeof daemon === 'string') return daemon;
  // The first scan compiles the rules (seconds); do it now, beside the other setup work.
  await spamdCheck({ host: '127.0.0.1', port, timeoutMs: 30_000 }, Buffer.from('Subject: warm-up\r\n\r\nhello\r\n')).catch(() => undefined);
  return { ...daemon, socket };
}

export const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

/** clamd from Debian's `clamav-daemon`, with a one-signature local database (EICAR), or a skip reason. */
export async function startClamd(): Promise<Daemon | string> {
  if (!which('clamd')) return 'clamd not installed (apt-get install clamav-daemon)';
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pochtamt-clamd-'));
  const db = path.join(dir, 'db');
  mkdirSync(db);
  writeFileSync(path.join(db, 'eicar.ndb'), `Eicar-Test-Signature:0:*:${Buffer.from(EICAR).toString('hex')}\n`);
  const port = await closedPort();
  writeFileSync(path.join(dir, 'clamd.conf'), [
    `TCPSocket ${port}`, 'TCPAddr 127.0.0.1', `DatabaseDirectory ${db}`, 'Foreground yes', `LogFile ${path.join(dir, 'clamd.log')}`,
    `PidFile ${path.join(dir, 'clamd.pid')}`, 'MaxThreads 2', '',
  ].join('\n'));
  return runDaemon('clamd', ['-c', path.join(dir, 'clamd.conf')], port, dir);
}

// ---- messages, zips, traces -------------------------------------------------------------------

let seq = 0;
export function message(o: { from: string; to: string; subject?: string; body?: string; headers?: string[]; attachments?: Array<{ name: string; data: Buffer; type?: string }> }): string {
  const id = `<t${Date.now()}.${++seq}@${o.from.split('@')[1]}>`;
  const head = [`From: ${o.from}`, `To: ${o.to}`, `Subject: ${o.subject ?? 'test'}`, `Message-ID: ${id}`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`, 'MIME-Version: 1.0', ...(o.headers ?? [])];
  if (!o.attachments?.length) return `${head.join('\r\n')}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${o.body ?? 'Hello there, see you at lunch.'}\r\n`;
  const b = `b${Date.now()}${seq}`;
  const parts = [`--${b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${o.body ?? 'See attached.'}\r\n`];
  for (const a of o.attachments) {
    parts.push(`--${b}\r\nContent-Type: ${a.type ?? 'application/octet-stream'}; name="${a.name}"\r\nContent-Disposition: attachment; filename="${a.name}"\r\n`
      + `Content-Transfer-Encoding: base64\r\n\r\n${a.data.toString('base64').replace(/.{76}/g, '$&\r\n')}\r\n`);
  }
  return `${head.join('\r\n')}\r\nContent-Type: multipart/mixed; boundary="${b}"\r\n\r\n${parts.join('')}--${b}--\r\n`;
}

/** A zip archive with stored (uncompressed) entries. */
export function zip(entries: Array<{ name: string; data: Buffer }>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const crc = zlib.crc32(e.data);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(20, 4); lh.writeUInt16LE(0, 6); lh.writeUInt16LE(0, 8);
    lh.writeUInt32LE(0, 10); lh.writeUInt32LE(crc, 14); lh.writeUInt32LE(e.data.length, 18); lh.writeUInt32LE(e.data.length, 22);
    lh.writeUInt16LE(name.length, 26); lh.writeUInt16LE(0, 28);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt16LE(20, 4); ch.writeUInt16LE(20, 6); ch.writeUInt16LE(0, 8); ch.writeUInt16LE(0, 10);
    ch.writeUInt32LE(0, 12); ch.writeUInt32LE(crc, 16); ch.writeUInt32LE(e.data.length, 20); ch.writeUInt32LE(e.data.length, 24);
    ch.writeUInt16LE(name.length, 28); ch.writeUInt32LE(offset, 42);
    locals.push(lh, name, e.data);
    centrals.push(ch, name);
    offset += 30 + name.length + e.data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(entries.length, 8); end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

export interface TraceLine { queueId: string; event: string; detail: Record<string, unknown>; sender: string | null }

/** Every trace event recorded since `since` (flushes first). */
export async function traceSince(app: App, since: number): Promise<TraceLine[]> {
  const groups = await app.trace.search({ since, limit: 1000 });
  return groups.flatMap((g) => g.events.map((e) => ({ queueId: e.queueId, event: e.event, sender: e.sender,
    detail: e.detail ? JSON.parse(e.detail) as Record<string, unknown> : {} })));
}

/** Messages stored for an account, by mailbox special use ('INBOX' for the inbox). */
export async function mailOf(app: App, address: string): Promise<Array<{ box: string; raw: string }>> {
  const acc = await app.accounts.getAccount(address);
  if (!acc) throw new Error(`no account ${address}`);
  const out: Array<{ box: string; raw: string }> = [];
  for (const b of await app.mailStore.listMailboxes(acc.id)) {
    for (const m of await app.mailStore.listMessages(b.id)) {
      out.push({ box: b.specialUse ?? b.name, raw: (await app.mailStore.getMessageBytes(m.blobHash)).toString('utf8') });
    }
  }
  return out;
}
