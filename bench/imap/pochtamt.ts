// The Pochtamt side of the IMAP benchmark: a fresh instance in the temporary folder (SQLite
// store), loaded through the library before the server starts (corpus through
// app.delivery.deliver, the 100,000-message mailbox through mailStore.append in big
// transactions), then run as a separate `pochtamt serve` process with only the IMAP and MX
// listeners on loopback ports.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { loadConfig } from '../../src/config/config.js';
import { openApp, type App } from '../../src/instance/app.js';
import { initInstance } from '../../src/instance/init.js';
import { parseMessageMetadata } from '../../src/mime/message-metadata.js';
import { silentLogger } from '../../src/observability/logger.js';
import { onCleanup, spawnLogged, stopChild, tail, type Child } from '../smtp/util.js';
import type { BenchData, Server } from './common.js';
import { waitForImap } from './common.js';
import { CORPUS_SENDER } from './corpus.js';

/** dist root: this file is <root>/bench/imap/pochtamt.js once compiled. */
const distRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cliMain = path.join(distRoot, 'src', 'cli', 'main.js');
const fallbackServe = path.join(distRoot, 'bench', 'smtp', 'serve.js');

/** Environment for Pochtamt processes: no override may point the instance elsewhere (e.g. DATABASE_URL). */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('POCHTAMT_') && k !== 'DATABASE_URL') env[k] = v;
  return env;
}

export interface PochtamtOptions {
  dir: string;
  imapPort: number;
  smtpPort: number;
  maxConnections: number;
  maxFds: number;
}

export async function setupPochtamt(o: PochtamtOptions, data: BenchData, say: (s: string) => void): Promise<Server> {
  const dataDir = path.join(o.dir, 'pochtamt');
  const t0 = Date.now();
  await initInstance({ dataDir, domain: data.domain, adminPassword: 'bench-admin-password', ports: 'dev' });

  // Config: IMAP + MX on loopback, every other listener off, limits for the IDLE test, quiet logs.
  const cfgFile = path.join(dataDir, 'pochtamt.yaml');
  const cfg = (YAML.parse(readFileSync(cfgFile, 'utf8')) ?? {}) as Record<string, unknown>;
  const names = Object.keys(loadConfig(dataDir, {}).listeners);
  const listeners: Record<string, unknown> = {};
  for (const n of names) listeners[n] = { port: 0, host: '127.0.0.1', enabled: false };
  listeners.imap = { port: o.imapPort, host: '127.0.0.1', enabled: true };
  listeners.smtp = { port: o.smtpPort, host: '127.0.0.1', enabled: true };
  cfg.listeners = listeners;
  cfg.logLevel = 'warn';
  cfg.limits = { ...((cfg.limits as object) ?? {}), maxConnections: o.maxConnections, maxConnectionsPerIp: o.maxConnections };
  writeFileSync(cfgFile, `# written by bench/imap\n${YAML.stringify(cfg)}`);

  const app = await openApp({ dataDir, config: loadConfig(dataDir, {}), log: silentLogger });
  try {
    for (const u of data.allUsers()) await app.accounts.addAccount({ address: u, password: data.password });
    say(`  Pochtamt: instance and ${data.allUsers().length} accounts ready (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    await loadCorpus(app, data, say);
    if (data.bigCount > 0) await loadBig(app, data, say);
  } finally {
    await app.close();
  }

  // Serve as a separate process, through bash to raise its open-files limit.
  const logFile = path.join(o.dir, 'pochtamt.log');
  const env = cleanEnv();
  const start = async (script: string, args: string[]): Promise<Child> => {
    const child = spawnLogged('bash', ['-c', `ulimit -n ${o.maxFds} 2>/dev/null; exec "$0" "$@"`, process.execPath, script, ...args], logFile, { env });
    const unregister = onCleanup('pochtamt server', () => stopChild(child, 20_000));
    try {
      await waitForImap(o.imapPort, 60_000, () => child.exitCode !== undefined);
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
    if (!existsSync(cliMain)) throw new Error(`${cliMain} not found`);
    child = await start(cliMain, ['serve', '--data', dataDir]);
  } catch (e) {
    say(`  'pochtamt serve' did not come up (${(e as Error).message.split('\n')[0]}); trying bench/smtp/serve.js`);
    try {
      child = await start(fallbackServe, [dataDir]);
      via = 'bench/smtp/serve.js (startServer)';
    } catch (e2) {
      throw new Error(`Pochtamt did not start: ${(e2 as Error).message}\n--- ${logFile}\n${tail(logFile)}`);
    }
  }
  say(`  Pochtamt: pid ${child.proc.pid}, IMAP 127.0.0.1:${o.imapPort}, MX 127.0.0.1:${o.smtpPort} (${via})`);
  return {
    name: 'pochtamt',
    label: 'Pochtamt',
    imapPort: o.imapPort,
    logFile,
    pids: () => [child.proc.pid!],
    alive: () => child.exitCode === undefined,
    memoryKind: 'RSS',
    deliver: { kind: 'smtp', port: o.smtpPort },
    stop: () => stopChild(child, 20_000),
  };
}

/** Every corpus message once, to all load users in one delivery (one blob, one row per user), as SMTP would. */
async function loadCorpus(app: App, data: BenchData, say: (s: string) => void): Promise<void> {
  const t0 = Date.now();
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < data.corpus.length) {
      const i = next++;
      const r = await app.delivery.deliver({ queueId: `BENCH${i}`, sender: CORPUS_SENDER, recipients: data.loadUsers, raw: data.corpus[i]! });
      if (r.failed.length) throw new Error(`corpus delivery ${i} failed: ${JSON.stringify(r.failed[0])}`);
      if (++done % 500 === 0) say(`  Pochtamt: corpus ${done}/${data.corpus.length}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  say(`  Pochtamt: ${data.corpus.length} messages delivered to ${data.loadUsers.length} mailboxes in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/** The big mailbox: a pool of distinct small messages (one blob each), appended bigCount times in batches. */
async function loadBig(app: App, data: BenchData, say: (s: string) => void): Promise<void> {
  const t0 = Date.now();
  const account = await app.accounts.getAccount(data.bigUser);
  if (!account) throw new Error(`no account ${data.bigUser}`);
  const inbox = await app.mailStore.inbox(account.id);
  const pool = await Promise.all(data.bigPool.map(async (raw) => ({ hash: await app.store.blobs.put(raw), size: raw.length, metadata: parseMessageMetadata(raw) })));
  const batch = 2000;
  const base = Date.UTC(2023, 0, 1);
  for (let start = 0; start < data.bigCount; start += batch) {
    const end = Math.min(start + batch, data.bigCount);
    await app.store.write(async (ctx) => {
      for (let i = start; i < end; i++) {
        const m = pool[i % pool.length]!;
        await app.mailStore.append(ctx, {
          accountId: account.id, mailboxId: inbox.id, blobHash: m.hash, size: m.size, metadata: m.metadata,
          internalDate: base + i * 60_000, flags: data.bigFlags(i),
        });
      }
    });
    if ((end / batch) % 10 === 0 || end === data.bigCount) say(`  Pochtamt: big mailbox ${end}/${data.bigCount}`);
  }
  say(`  Pochtamt: ${data.bigCount} messages in ${data.bigUser} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
