// The Pochtamt side of the DAV benchmark: a fresh instance in a temporary folder (SQLite store),
// only the plain-HTTP listener on a loopback port, run as a separate `pochtamt serve` process.
// Same steps as bench/smtp/pochtamt.ts (init, rewrite the config, add the account, serve).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { onCleanup, run, sleep, spawnLogged, stopChild, tail, type Child } from '../smtp/util.js';

/** dist/ (or dist-xxx/) root: this file is <root>/bench/dav/pochtamt.js once compiled. */
export const distRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cliMain = path.join(distRoot, 'src', 'cli', 'main.js');

export interface DavServer {
  name: 'pochtamt' | 'radicale';
  label: string;
  pid: number;
  baseUrl: URL;
  /** Where discovery starts (context paths to PROPFIND for current-user-principal). */
  discoveryPaths: string[];
  user: string;
  password: string;
  logFile: string;
  version: string;
  alive(): boolean;
  stop(): Promise<void>;
  /** Writes resources straight into the server's storage (untimed bulk load), if the bench knows how. */
  preload?(collectionPath: string, items: Array<{ name: string; body: string }>): Promise<void>;
}

interface Options { dir: string; port: number; domain: string; user: string; password: string }

/** Every listener the config schema knows, so that new ones are turned off too. */
function listenerNames(): string[] {
  const names = new Set(['smtp', 'submission', 'submissions', 'pop3', 'pop3s', 'imap', 'imaps', 'http', 'https']);
  for (const file of [path.join(distRoot, 'schemas', 'config.schema.json'), path.join(distRoot, '..', 'schemas', 'config.schema.json')]) {
    try {
      const schema = JSON.parse(readFileSync(file, 'utf8')) as { properties?: { listeners?: { properties?: Record<string, unknown> } } };
      for (const k of Object.keys(schema.properties?.listeners?.properties ?? {})) names.add(k);
      break;
    } catch { /* try the next one */ }
  }
  return [...names];
}

/** Waits until GET url answers (any HTTP status). */
export async function waitForHttp(url: string, timeoutMs: number, isDead?: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'timeout';
  while (Date.now() < deadline) {
    if (isDead?.()) throw new Error('process exited before it was listening');
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get(url, { agent: false, timeout: 3000 }, (res) => { res.resume(); res.on('end', () => resolve(true)); });
      req.on('timeout', () => { last = 'no answer'; req.destroy(); });
      req.on('error', (e) => { last = e.message; resolve(false); });
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing answers HTTP on ${url} (${last})`);
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(path.join(distRoot, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

export async function startPochtamt(o: Options, log: (s: string) => void): Promise<DavServer> {
  if (!existsSync(cliMain)) throw new Error(`${cliMain} not found: build first (npm run build)`);
  const dataDir = path.join(o.dir, 'pochtamt');
  const env = { ...process.env };
  delete env.POCHTAMT_DATA;
  // POCHTAMT_* overrides from the caller's environment would change the setup: drop them.
  for (const k of Object.keys(env)) if (k.startsWith('POCHTAMT_')) delete env[k];

  run(process.execPath, [cliMain, 'init', '--data', dataDir, '--domain', o.domain, '--admin-password', 'bench-admin-password', '--ports', 'dev'], { env });

  const cfgFile = path.join(dataDir, 'pochtamt.yaml');
  const cfg = (YAML.parse(readFileSync(cfgFile, 'utf8')) ?? {}) as Record<string, unknown>;
  cfg.logLevel = 'warn';
  const listeners: Record<string, unknown> = {};
  for (const name of listenerNames()) listeners[name] = { port: 0, host: '127.0.0.1', enabled: false };
  listeners.http = { port: o.port, host: '127.0.0.1', enabled: true };
  cfg.listeners = listeners;
  writeFileSync(cfgFile, `# written by bench/dav\n${YAML.stringify(cfg)}`);

  run(process.execPath, [cliMain, '--data', dataDir, 'account', 'add', o.user, '--password', o.password], { env });

  const logFile = path.join(o.dir, 'pochtamt.log');
  const child: Child = spawnLogged(process.execPath, [cliMain, 'serve', '--data', dataDir], logFile, { env });
  const unregister = onCleanup('pochtamt server', () => stopChild(child));
  try {
    await waitForHttp(`http://127.0.0.1:${o.port}/healthz`, 60_000, () => child.exitCode !== undefined);
  } catch (e) {
    unregister();
    await stopChild(child);
    throw new Error(`Pochtamt did not start: ${(e as Error).message}\n--- ${logFile}\n${tail(logFile)}`);
  }
  log(`  Pochtamt pid ${child.proc.pid}, HTTP on 127.0.0.1:${o.port}, data ${dataDir}`);
  return {
    name: 'pochtamt',
    label: 'Pochtamt',
    pid: child.proc.pid!,
    baseUrl: new URL(`http://127.0.0.1:${o.port}/`),
    // RFC 6764: /.well-known/caldav first (as clients given an address do), then the context path, then "/".
    discoveryPaths: ['/.well-known/caldav', '/dav/', '/'],
    user: o.user,
    password: o.password,
    logFile,
    version: version(),
    alive: () => child.exitCode === undefined,
    stop: async () => { unregister(); await stopChild(child, 30_000); },
  };
}
