// Pochtamt instances for the benchmarks: a fresh instance in <work>/pochtamt (SQLite store)
// whose config turns on only the listeners asked for (on 127.0.0.1), accounts, and the server as
// a separate `pochtamt serve` process (or bench/common/serve.js when the CLI does not come up),
// optionally under a raised open-files limit.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { loadConfig } from '../../src/config/config.js';
import { openApp, type App } from '../../src/instance/app.js';
import { initInstance } from '../../src/instance/init.js';
import { silentLogger } from '../../src/observability/logger.js';
import { onCleanup } from './cleanup.js';
import { run, spawnLogged, stopChild, tail, type Child } from './process.js';

/** dist root: this file is <root>/bench/common/pochtamt-instance.js once compiled. */
export const distRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cliMain = path.join(distRoot, 'src', 'cli', 'main.js');
const fallbackServe = path.join(distRoot, 'bench', 'common', 'serve.js');
const ADMIN_PASSWORD = 'bench-admin-password';

/** Environment for Pochtamt processes: no override may point the instance elsewhere (e.g. DATABASE_URL). */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('POCHTAMT_') && k !== 'DATABASE_URL') env[k] = v;
  return env;
}

/** `pochtamt init` / `account add` through the CLI (the library if that fails), or the library only. */
export type SetupVia = 'cli' | 'library';

export interface InstanceOptions {
  /** Work folder: the data folder is <dir>/pochtamt. */
  dir: string;
  domain: string;
  /** Harness name for the config's header ("# written by bench/<bench>"). */
  bench: string;
  /** Listeners turned on, on 127.0.0.1: name -> port. Every other listener is off. */
  listeners: Record<string, number>;
  limits?: { maxConnections: number; maxConnectionsPerIp: number };
  /** Further config changes (auth, directories...). */
  edit?: (cfg: Record<string, unknown>) => void;
  via: SetupVia;
}

const lastLine = (s: string) => s.trim().split('\n').slice(-1)[0];

/** Creates the instance and writes its config (quiet logs, the listeners, limits); returns the data folder. */
export async function createInstance(o: InstanceOptions, log: (s: string) => void): Promise<string> {
  const dataDir = path.join(o.dir, 'pochtamt');
  let inited = false;
  if (o.via === 'cli' && existsSync(cliMain)) {
    const r = run(process.execPath, [cliMain, 'init', '--data', dataDir, '--domain', o.domain, '--admin-password', ADMIN_PASSWORD, '--ports', 'dev'],
      { allowFail: true, env: cleanEnv() });
    inited = r.code === 0;
    if (!inited) log(`  'pochtamt init' failed (exit ${r.code}), using initInstance() instead: ${lastLine(r.out)}`);
  }
  if (!inited) await initInstance({ dataDir, domain: o.domain, adminPassword: ADMIN_PASSWORD, ports: 'dev' });

  const cfgFile = path.join(dataDir, 'pochtamt.yaml');
  const cfg = (YAML.parse(readFileSync(cfgFile, 'utf8')) ?? {}) as Record<string, unknown>;
  const listeners: Record<string, unknown> = {};
  for (const n of Object.keys(loadConfig(dataDir, {}).listeners)) listeners[n] = { port: 0, host: '127.0.0.1', enabled: false };
  for (const [n, port] of Object.entries(o.listeners)) listeners[n] = { port, host: '127.0.0.1', enabled: true };
  cfg.listeners = listeners;
  cfg.logLevel = 'warn';
  if (o.limits) cfg.limits = { ...((cfg.limits as object) ?? {}), ...o.limits };
  o.edit?.(cfg);
  writeFileSync(cfgFile, `# written by bench/${o.bench}\n${YAML.stringify(cfg)}`);
  return dataDir;
}

/** The instance's library API (close it before serving). */
export function openInstance(dataDir: string): Promise<App> {
  return openApp({ dataDir, config: loadConfig(dataDir, {}), log: silentLogger });
}

/** Adds one account (CLI `account add`, falling back to the library, or the library only). */
export async function addAccount(dataDir: string, address: string, password: string, via: SetupVia, log: (s: string) => void): Promise<void> {
  if (via === 'cli' && existsSync(cliMain)) {
    const r = run(process.execPath, [cliMain, '--data', dataDir, 'account', 'add', address, '--password', password], { allowFail: true, env: cleanEnv() });
    if (r.code === 0) return;
    log(`  'pochtamt account add' failed (exit ${r.code}), using the library instead: ${lastLine(r.out)}`);
  }
  const app = await openInstance(dataDir);
  try {
    await app.accounts.addAccount({ address, password });
  } finally {
    await app.close();
  }
}

export interface ServeOptions {
  dataDir: string;
  logFile: string;
  /** Resolves once the server answers; isDead() turns true when the process exited. */
  ready(isDead: () => boolean): Promise<void>;
  /** Open-files limit of the server (set through `shell -c ulimit -n`); none: started directly. */
  maxFds?: number;
  shell?: 'sh' | 'bash';
  /** Try bench/common/serve.js when `pochtamt serve` does not come up. */
  fallback: boolean;
  /** Name of the cleanup step (default 'pochtamt server'). */
  cleanupName?: string;
  /** SIGKILL after this long when stopping (default 30 s). */
  stopGraceMs?: number;
}

export interface Served {
  child: Child;
  pid: number;
  logFile: string;
  /** How it was started: 'pochtamt serve' or 'bench/common/serve.js (startServer)'. */
  via: string;
  alive(): boolean;
  stop(): Promise<void>;
}

/** Starts the server as a child process; BENCH_SERVER_NODE_OPTIONS applies to it only. */
export async function serveInstance(o: ServeOptions, log: (s: string) => void): Promise<Served> {
  const base = cleanEnv();
  const env = process.env.BENCH_SERVER_NODE_OPTIONS ? { ...base, NODE_OPTIONS: process.env.BENCH_SERVER_NODE_OPTIONS } : base;
  const grace = o.stopGraceMs ?? 30_000;
  let unregister = () => {};
  const start = async (script: string, args: string[]): Promise<Child> => {
    const child = o.maxFds !== undefined
      ? spawnLogged(o.shell ?? 'sh', ['-c', `ulimit -n ${o.maxFds} 2>/dev/null; exec "$0" "$@"`, process.execPath, script, ...args], o.logFile, { env })
      : spawnLogged(process.execPath, [script, ...args], o.logFile, { env });
    unregister = onCleanup(o.cleanupName ?? 'pochtamt server', () => stopChild(child, grace));
    try {
      await o.ready(() => child.exitCode !== undefined);
      return child;
    } catch (e) {
      unregister();
      await stopChild(child);
      throw e;
    }
  };
  let child: Child;
  let via = 'pochtamt serve';
  try {
    if (!existsSync(cliMain)) throw new Error(`${cliMain} not found${o.fallback ? '' : ': build first (npm run build)'}`);
    child = await start(cliMain, ['serve', '--data', o.dataDir]);
  } catch (e) {
    if (!o.fallback) throw new Error(`Pochtamt did not start: ${(e as Error).message}\n--- ${o.logFile}\n${tail(o.logFile)}`);
    log(`  'pochtamt serve' did not come up (${(e as Error).message.split('\n')[0]}); trying bench/common/serve.js`);
    try {
      child = await start(fallbackServe, [o.dataDir]);
      via = 'bench/common/serve.js (startServer)';
    } catch (e2) {
      throw new Error(`Pochtamt did not start: ${(e2 as Error).message}\n--- ${o.logFile}\n${tail(o.logFile)}`);
    }
  }
  const c = child;
  return {
    child: c,
    pid: c.proc.pid!,
    logFile: o.logFile,
    via,
    alive: () => c.exitCode === undefined,
    stop: async () => { unregister(); await stopChild(c, grace); },
  };
}
