// The two store backends every store/model test runs against: the embedded SQLite file in a
// temporary data folder, and PostgreSQL in a fresh schema of TEST_DATABASE_URL. Without
// TEST_DATABASE_URL the PostgreSQL suite is reported as skipped (never silently passed).
//
//   for (const backend of backends) {
//     describe(backend.name, { skip: backend.skip }, () => {
//       let t: TestApp;
//       before(async () => { t = await openTestApp(backend); });
//       after(async () => { await t.cleanup(); });
//       …
//     });
//   }
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { parseConfig, type Config } from '../../src/config/config.js';
import { openApp, type App } from '../../src/instance/app.js';
import { silentLogger } from '../../src/observability/logger.js';
import { createPgSchema, dropPgSchema } from './instance.js';

export type BackendName = 'sqlite' | 'postgres';

export interface Backend {
  name: BackendName;
  /** A skip reason for node:test, or false when the backend is available. */
  skip: string | false;
}

const pgUrl = process.env.TEST_DATABASE_URL;

export const backends: readonly Backend[] = [
  { name: 'sqlite', skip: false },
  { name: 'postgres', skip: pgUrl ? false : 'TEST_DATABASE_URL not set' },
];

/** One place for a backend's storage: a data folder and, on PostgreSQL, a schema. Reopenable. */
export interface TestStorage {
  backend: BackendName;
  dataDir: string;
  schema: string | null;
  config: Config;
  /** Opens (and migrates) an app over this storage; may be called again after close(). */
  open(): Promise<App>;
  /** Drops the schema and removes the data folder. */
  destroy(): Promise<void>;
}

export async function createStorage(backend: Backend, extraConfig: Record<string, unknown> = {}): Promise<TestStorage> {
  if (backend.skip) throw new Error(`backend ${backend.name} is not available: ${backend.skip}`);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `pochtamt-store-${backend.name}-`));
  const schema = backend.name === 'postgres' ? await createPgSchema(pgUrl!) : null;
  const doc = {
    hostname: 'mail.example.test',
    logLevel: 'silent',
    database: backend.name === 'postgres' ? { url: pgUrl, schema } : { url: null },
    ...extraConfig,
  };
  const config = parseConfig(YAML.stringify(doc), {});
  return {
    backend: backend.name,
    dataDir,
    schema,
    config,
    open: () => openApp({ dataDir, config, log: silentLogger }),
    async destroy() {
      if (schema) await dropPgSchema(pgUrl!, schema);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface TestApp {
  app: App;
  storage: TestStorage;
  /** Closes the app and removes everything it stored. */
  cleanup(): Promise<void>;
}

export async function openTestApp(backend: Backend, extraConfig: Record<string, unknown> = {}): Promise<TestApp> {
  const storage = await createStorage(backend, extraConfig);
  let app: App;
  try {
    app = await storage.open();
  } catch (e) {
    await storage.destroy();
    throw e;
  }
  return {
    app,
    storage,
    async cleanup() {
      try {
        await app.close();
      } finally {
        await storage.destroy();
      }
    },
  };
}

/** A small CRLF message; `n` makes the bytes (and the Message-ID) unique. */
export function rawMessage(opts: { from?: string; to?: string; subject?: string; messageId?: string; body?: string } = {}): Buffer {
  const lines = [
    `From: ${opts.from ?? 'Sender <sender@remote.test>'}`,
    `To: ${opts.to ?? 'user@example.test'}`,
    `Subject: ${opts.subject ?? 'test'}`,
    `Message-ID: ${opts.messageId ?? `<${Math.random().toString(36).slice(2)}@remote.test>`}`,
    'Date: Mon, 01 Dec 2025 10:00:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    opts.body ?? 'Hello.',
    '',
  ];
  return Buffer.from(lines.join('\r\n'), 'utf8');
}
