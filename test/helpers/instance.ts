// Starts a real Pochtamt instance for a test: a temporary data folder, `pochtamt init`, every
// listener on 127.0.0.1 with a port the system picks, and (with { postgres: true }) its own
// schema in TEST_DATABASE_URL. Returns the ports and the app; stop() shuts it down and cleans up.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import YAML from 'yaml';
import { parseConfig, CONFIG_FILE, type Config } from '../../src/config/config.js';
import { initInstance } from '../../src/instance/init.js';
import { startServer, type RunningServer } from '../../src/instance/server.js';
import { silentLogger, createLogger } from '../../src/observability/logger.js';

export const TEST_DOMAIN = 'example.test';
export const ADMIN = `admin@${TEST_DOMAIN}`;
export const ADMIN_PASSWORD = 'admin-secret-1';

export interface TestInstance {
  dataDir: string;
  server: RunningServer;
  ports: Record<string, number>;
  app: RunningServer['app'];
  schema?: string;
  stop(opts?: { keepData?: boolean }): Promise<void>;
}

export interface InstanceOptions {
  postgres?: boolean;
  /** Deep-merged into the YAML config before start. */
  config?: Record<string, unknown>;
  dataDir?: string;
  domain?: string;
}

export const postgresUrl = process.env.TEST_DATABASE_URL;

export async function createPgSchema(url: string): Promise<string> {
  const schema = `t_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`CREATE SCHEMA ${schema}`);
  await c.end();
  return schema;
}

export async function dropPgSchema(url: string, schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await c.end();
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(b)) {
    if (v && typeof v === 'object' && !Array.isArray(v) && a[k] && typeof a[k] === 'object') merge(a[k] as Record<string, unknown>, v as Record<string, unknown>);
    else a[k] = v;
  }
  return a;
}

/** Creates (or reuses) a data folder configured for tests and returns its config. */
export async function prepareDataDir(o: InstanceOptions & { schema?: string }): Promise<{ dataDir: string; config: Config }> {
  const dataDir = o.dataDir ?? await mkdtemp(path.join(os.tmpdir(), 'pochtamt-test-'));
  const domain = o.domain ?? TEST_DOMAIN;
  const cfgPath = path.join(dataDir, CONFIG_FILE);
  let existing: string | null = null;
  try {
    existing = await readFile(cfgPath, 'utf8');
  } catch { /* new */ }
  if (!existing) {
    const listeners = Object.fromEntries(['smtp', 'submission', 'submissions', 'pop3', 'pop3s', 'imap', 'imaps', 'http', 'https']
      .map((k) => [k, { port: 0, host: '127.0.0.1' }]));
    const doc = merge({
      hostname: `mail.${domain}`, logLevel: 'silent',
      database: o.postgres ? { url: postgresUrl, schema: o.schema } : { url: null },
      // The queue worker runs in every test instance: its DNS points at a closed loopback port, so
      // mail queued for a remote domain stays deferred instead of reaching out of the machine.
      // Outbound tests (test/outbound) override dnsServers with their own fake DNS server.
      listeners, delivery: { retryMinutes: [0.02], dnsServers: ['127.0.0.1:1'] },
    }, o.config ?? {});
    await writeFile(cfgPath, YAML.stringify(doc));
  }
  await initInstance({ dataDir, domain, adminPassword: ADMIN_PASSWORD });
  const config = parseConfig(await readFile(cfgPath, 'utf8'), {});
  return { dataDir, config };
}

export async function startInstance(o: InstanceOptions = {}): Promise<TestInstance> {
  if (o.postgres && !postgresUrl) throw new Error('TEST_DATABASE_URL not set');
  const schema = o.postgres ? await createPgSchema(postgresUrl!) : undefined;
  const { dataDir, config } = await prepareDataDir({ ...o, schema });
  const log = process.env.TEST_LOG ? createLogger('debug') : silentLogger;
  const server = await startServer({ dataDir, config, log });
  return {
    dataDir, server, ports: server.ports, app: server.app, schema,
    async stop(opts = {}) {
      await server.stop();
      if (schema && !opts.keepData) await dropPgSchema(postgresUrl!, schema);
      if (!opts.keepData && !o.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
