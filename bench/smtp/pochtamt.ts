// The Pochtamt side: a fresh instance in a temporary folder (SQLite store), MX listener on a
// loopback port, every other listener off, run as a separate `pochtamt serve` process.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import YAML from 'yaml';
import { onCleanup, run, spawnLogged, stopChild, tail, waitForGreeting, type Child } from './util.js';

// better-sqlite3 (a Pochtamt dependency) ships no types and @types/better-sqlite3 is not installed.
interface SqliteDb { open: boolean; pragma(s: string): unknown; prepare(sql: string): { get(...a: unknown[]): unknown }; close(): void }
const Database = createRequire(import.meta.url)('better-sqlite3') as new (file: string, o: { readonly: boolean; fileMustExist: boolean }) => SqliteDb;

/** dist/ (or dist-bench/) root: this file is <root>/bench/smtp/pochtamt.js once compiled. */
const distRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cliMain = path.join(distRoot, 'src', 'cli', 'main.js');
const fallbackServe = path.join(distRoot, 'bench', 'smtp', 'serve.js');

export interface Pochtamt {
  pid: number;
  port: number;
  dataDir: string;
  logFile: string;
  /** How the server was started (CLI or the bench's own serve.js). */
  via: string;
  /** Messages in the recipient's INBOX (mailbox.messageCount). */
  storedCount(): number;
  alive(): boolean;
  stop(): Promise<void>;
}

interface Options { dir: string; port: number; domain: string; user: string; password: string; maxFds: number }

/** Every listener the config schema knows (all but smtp are turned off), so new ones do not open ports. */
function listenerNames(): string[] {
  const names = new Set(['smtp', 'submission', 'submissions', 'pop3', 'pop3s', 'http']);
  for (const file of [path.join(distRoot, 'schemas', 'config.schema.json'), path.join(distRoot, '..', 'schemas', 'config.schema.json')]) {
    try {
      const schema = JSON.parse(readFileSync(file, 'utf8')) as { properties?: { listeners?: { properties?: Record<string, unknown> } } };
      for (const k of Object.keys(schema.properties?.listeners?.properties ?? {})) names.add(k);
      break;
    } catch { /* try the next one */ }
  }
  return [...names];
}

async function initViaLibrary(dataDir: string, domain: string): Promise<void> {
  const init = await import(path.join(distRoot, 'src', 'instance', 'init.js')) as {
    initInstance(o: { dataDir: string; domain: string; adminPassword?: string; ports?: string }): Promise<unknown>;
  };
  await init.initInstance({ dataDir, domain, adminPassword: 'bench-admin-password', ports: 'dev' });
}

async function addAccountViaLibrary(dataDir: string, address: string, password: string): Promise<void> {
  const { loadConfig } = await import(path.join(distRoot, 'src', 'config', 'config.js')) as { loadConfig(d: string): unknown };
  const { openApp } = await import(path.join(distRoot, 'src', 'instance', 'app.js')) as {
    openApp(o: { dataDir: string; config: unknown; log?: unknown }): Promise<{ accounts: { addAccount(a: { address: string; password: string }): Promise<unknown> }; close(): Promise<void> }>;
  };
  const { silentLogger } = await import(path.join(distRoot, 'src', 'observability', 'logger.js')) as { silentLogger: unknown };
  const app = await openApp({ dataDir, config: loadConfig(dataDir), log: silentLogger });
  try {
    await app.accounts.addAccount({ address, password });
  } finally {
    await app.close();
  }
}

export async function setupPochtamt(o: Options, log: (s: string) => void): Promise<Pochtamt> {
  const dataDir = path.join(o.dir, 'pochtamt');
  const haveCli = existsSync(cliMain);
  const cliEnv = { ...process.env, POCHTAMT_DATA: undefined } as NodeJS.ProcessEnv;
  delete cliEnv.POCHTAMT_DATA;

  // 1. init (CLI if present, else the library).
  let inited = false;
  if (haveCli) {
    const r = run(process.execPath, [cliMain, 'init', '--data', dataDir, '--domain', o.domain, '--admin-password', 'bench-admin-password', '--ports', 'dev'],
      { allowFail: true, env: cliEnv });
    inited = r.code === 0;
    if (!inited) log(`  'pochtamt init' failed (exit ${r.code}), using initInstance() instead: ${r.out.trim().split('\n').slice(-1)[0]}`);
  }
  if (!inited) await initViaLibrary(dataDir, o.domain);

  // 2. config: loopback MX on a free port, everything else off, limits for the idle test, quiet logs.
  const cfgFile = path.join(dataDir, 'pochtamt.yaml');
  const cfg = (YAML.parse(readFileSync(cfgFile, 'utf8')) ?? {}) as Record<string, unknown>;
  cfg.logLevel = 'warn';
  const listeners: Record<string, unknown> = {};
  for (const name of listenerNames()) listeners[name] = { port: 0, host: '127.0.0.1', enabled: false };
  listeners.smtp = { port: o.port, host: '127.0.0.1', enabled: true };
  cfg.listeners = listeners;
  cfg.limits = { ...((cfg.limits as object) ?? {}), maxConnections: 5000, maxConnectionsPerIp: 2000 };
  writeFileSync(cfgFile, `# written by bench/smtp\n${YAML.stringify(cfg)}`);

  // 3. recipient account.
  let added = false;
  if (haveCli) {
    const r = run(process.execPath, [cliMain, '--data', dataDir, 'account', 'add', o.user, '--password', o.password], { allowFail: true, env: cliEnv });
    added = r.code === 0;
    if (!added) log(`  'pochtamt account add' failed (exit ${r.code}), using the library instead: ${r.out.trim().split('\n').slice(-1)[0]}`);
  }
  if (!added) await addAccountViaLibrary(dataDir, o.user, o.password);

  // 4. serve, as a separate process (through sh to raise the open-files limit for the idle test).
  const logFile = path.join(o.dir, 'pochtamt.log');
  const start = async (script: string, args: string[]): Promise<Child> => {
    const cmd = `ulimit -n ${o.maxFds} 2>/dev/null; exec "$0" "$@"`;
    // BENCH_SERVER_NODE_OPTIONS (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof) applies to the server only.
    const env = process.env.BENCH_SERVER_NODE_OPTIONS ? { ...cliEnv, NODE_OPTIONS: process.env.BENCH_SERVER_NODE_OPTIONS } : cliEnv;
    const child = spawnLogged('sh', ['-c', cmd, process.execPath, script, ...args], logFile, { env });
    const unregister = onCleanup('pochtamt server', () => stopChild(child));
    try {
      await waitForGreeting(o.port, 60_000, () => child.exitCode !== undefined);
      return child;
    } catch (e) {
      unregister();
      await stopChild(child);
      throw e;
    }
  };
  let child: Child;
  let via: string;
  try {
    if (!haveCli) throw new Error(`${cliMain} not found`);
    child = await start(cliMain, ['serve', '--data', dataDir]);
    via = 'pochtamt serve';
  } catch (e) {
    log(`  'pochtamt serve' did not come up (${(e as Error).message}); trying bench/smtp/serve.js`);
    try {
      child = await start(fallbackServe, [dataDir]);
      via = 'bench/smtp/serve.js (startServer)';
    } catch (e2) {
      throw new Error(`Pochtamt did not start: ${(e2 as Error).message}\n--- ${logFile}\n${tail(logFile)}`);
    }
  }

  const db = new Database(path.join(dataDir, 'pochtamt.db'), { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  const countStmt = db.prepare(
    `SELECT coalesce(sum(b."messageCount"), 0) AS n FROM mailbox b JOIN account a ON a.id = b."accountId"
      WHERE a.address = ? AND b.name = 'INBOX'`);
  const closeDb = onCleanup('pochtamt db', () => { if (db.open) db.close(); });
  const proc = child.proc;
  return {
    pid: proc.pid!,
    port: o.port,
    dataDir,
    logFile,
    via,
    storedCount: () => (countStmt.get(o.user.toLowerCase()) as { n: number }).n,
    alive: () => child.exitCode === undefined,
    async stop() {
      closeDb();
      if (db.open) db.close();
      await stopChild(child, 30_000);
    },
  };
}
