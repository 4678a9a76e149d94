// The Pochtamt side of the directory benchmark: a fresh instance (SQLite store) in the
// temporary folder with one `directories` entry (as in test/directory/openldap.test.ts) and
// only the IMAP listener on loopback; the library (openApp → app.directories.sync / 
// app.accounts.authenticate) for the sync and bind-through timings; `pochtamt serve` as a child
// process for create-to-login and IMAP LOGIN latency.
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import type { App } from '../../src/instance/app.js';
import { openStoreReadonly } from '../common/pochtamt-db.js';
import { createInstance, openInstance, serveInstance, type Served } from '../common/pochtamt-instance.js';
import { sleep } from '../common/process.js';
import { waitForImap } from '../imap/common.js';
import { q, RawImap } from '../imap/raw.js';

export interface Instance {
  dataDir: string;
  imapPort: number;
  directoryId: string;
}

/** `pochtamt init`, then the config: IMAP only on 127.0.0.1, quiet logs, the directory. */
export async function setupInstance(dir: string, domain: string, imapPort: number, directory: Record<string, unknown>): Promise<Instance> {
  const dataDir = await createInstance({
    dir, domain, bench: 'directory', via: 'library', listeners: { imap: imapPort },
    edit: (cfg) => {
      // LOGIN over the plain loopback connection: the figure is the directory bind, not IMAP's TLS.
      cfg.auth = { ...((cfg.auth as object) ?? {}), allowPlaintextWithoutTls: true };
      cfg.directories = [directory];
    },
  }, () => {});
  return { dataDir, imapPort, directoryId: String(directory.id) };
}

export function open(inst: Instance): Promise<App> {
  return openInstance(inst.dataDir);
}

/** p50/p95/max of a sample, in ms. */
export function stats(ms: number[]): { n: number; p50: number; p95: number; max: number; mean: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
  return { n: s.length, p50: at(50), p95: at(95), max: s.at(-1) ?? NaN, mean: s.reduce((a, b) => a + b, 0) / (s.length || 1) };
}

/**
 * Sequential app.accounts.authenticate calls. First, once per user that the timed part will
 * use, a first login (`first`): on AD it includes the DC's lastLogonTimestamp write, which a
 * DC does once per user in 14 days. Then `n` logins round robin over the same users (`steady`),
 * each a bind as the user on a pooled TLS connection.
 */
export async function libraryLogins(app: App, logins: string[], password: string, n: number): Promise<{ first: number[]; steady: number[] }> {
  const used = logins.slice(0, Math.max(1, Math.min(n, logins.length)));
  const first: number[] = [];
  for (const l of used) {
    const t0 = performance.now();
    await app.accounts.authenticate(l, password);
    first.push(performance.now() - t0);
  }
  const steady: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await app.accounts.authenticate(used[i % used.length]!, password);
    steady.push(performance.now() - t0);
  }
  return { first, steady };
}

// ------------------------------------------------------------------ the server

export async function serve(inst: Instance, dir: string, say: (s: string) => void): Promise<Served> {
  const server = await serveInstance({
    dataDir: inst.dataDir, logFile: path.join(dir, 'pochtamt-serve.log'), fallback: true, cleanupName: 'pochtamt serve', stopGraceMs: 20_000,
    ready: (isDead) => waitForImap(inst.imapPort, 120_000, isDead),
  }, say);
  say(`  pochtamt serve: pid ${server.pid}, IMAP 127.0.0.1:${inst.imapPort}`);
  return server;
}

/** One IMAP LOGIN on an open connection: OK or not, and the tagged reply (or the error). */
async function login(c: RawImap, user: string, password: string): Promise<{ ok: boolean; line: string }> {
  try {
    return { ok: true, line: await c.command(`LOGIN ${q(user)} ${q(password)}`) };
  } catch (e) {
    return { ok: false, line: (e as Error).message };
  }
}

/** Connect, LOGIN, LOGOUT; true when LOGIN said OK. */
export async function imapLoginOnce(port: number, user: string, password: string): Promise<{ ok: boolean; line: string }> {
  const c = new RawImap(port);
  try {
    await c.ready();
    return await login(c, user, password);
  } finally {
    await c.logout().catch(() => undefined);
    c.destroy();
  }
}

/**
 * IMAP LOGIN latency: `n` logins, each on a fresh connection (the connection and greeting are
 * not timed; LOGIN → tagged OK is), round robin over the logins.
 */
export async function imapLogins(port: number, logins: string[], password: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = new RawImap(port);
    try {
      await c.ready();
      const t0 = performance.now();
      const r = await login(c, logins[i % logins.length]!, password);
      const ms = performance.now() - t0;
      if (!r.ok) throw new Error(`IMAP LOGIN ${logins[i % logins.length]} failed: ${r.line}`);
      out.push(ms);
    } finally {
      c.write('Z LOGOUT\r\n');
      c.destroy();
    }
  }
  return out;
}

/**
 * The new user's path through a running server: `create()` (ldapadd) starts the clock; the
 * account row is watched in the store (read-only, every 25 ms, so no failed LOGIN is counted by
 * the auth throttle); then IMAP LOGIN is tried until it succeeds.
 */
export async function createToLogin(inst: Instance, address: string, password: string, create: () => Promise<void>, timeoutMs = 30_000):
Promise<{ addedMs: number; accountMs: number; loginMs: number; attempts: number }> {
  const db = openStoreReadonly(inst.dataDir);
  try {
    const stmt = db.prepare('SELECT id FROM account WHERE address = ?');
    const t0 = performance.now();
    await create();
    const addedMs = performance.now() - t0;
    let accountMs = NaN;
    while (performance.now() - t0 < timeoutMs) {
      if (stmt.get(address)) { accountMs = performance.now() - t0; break; }
      await sleep(25);
    }
    if (Number.isNaN(accountMs)) throw new Error(`no account ${address} after ${timeoutMs} ms`);
    let attempts = 0;
    for (;;) {
      attempts++;
      const r = await imapLoginOnce(inst.imapPort, address, password);
      if (r.ok) return { addedMs, accountMs, loginMs: performance.now() - t0, attempts };
      if (performance.now() - t0 > timeoutMs) throw new Error(`IMAP LOGIN ${address} still refused after ${timeoutMs} ms: ${r.line}`);
      await sleep(50);
    }
  } finally {
    db.close();
  }
}
