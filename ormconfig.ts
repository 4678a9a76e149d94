// The one TypeORM DataSource. SQLite (better-sqlite3) in the data folder by default;
// DATABASE_URL=postgres://… moves the same entities and migrations to PostgreSQL.
// Schema changes only ever come from the committed migrations in schemas/migrations.
import 'reflect-metadata';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { entities } from './schemas/entities/index.js';
import { migrations } from './schemas/migrations/index.js';

export interface StoreOptions {
  /** Folder holding pochtamt.db (SQLite) and the blobs. */
  dataDir: string;
  /** postgres://… to use PostgreSQL instead of the embedded SQLite file. */
  databaseUrl?: string | undefined;
  /** PostgreSQL schema (tests isolate themselves in one). */
  schema?: string | undefined;
  logging?: boolean;
}

export function dataSourceOptions(opts: StoreOptions): DataSourceOptions {
  const common = { entities, migrations, synchronize: false, migrationsRun: false, logging: opts.logging ?? false } as const;
  if (opts.databaseUrl && /^postgres(ql)?:\/\//.test(opts.databaseUrl)) {
    return {
      ...common,
      type: 'postgres',
      url: opts.databaseUrl,
      schema: opts.schema,
      extra: { max: 20, ...(opts.schema ? { options: `-c search_path=${opts.schema}` } : {}) },
    };
  }
  if (opts.databaseUrl) throw new Error(`DATABASE_URL must start with postgres:// (got ${opts.databaseUrl.split(':')[0]}:)`);
  mkdirSync(opts.dataDir, { recursive: true });
  return {
    ...common,
    type: 'better-sqlite3',
    database: path.join(opts.dataDir, 'pochtamt.db'),
    // WAL lets readers (CLI, other sessions) run beside the writer. synchronous=FULL makes
    // every commit reach the disk before it returns: we acknowledge mail only after that.
    prepareDatabase: (db: { pragma(s: string): unknown }) => {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('busy_timeout = 10000');
      db.pragma('foreign_keys = ON');
    },
  };
}

export function createDataSource(opts: StoreOptions): DataSource {
  return new DataSource(dataSourceOptions(opts));
}

/** For the TypeORM CLI: the instance in ./data, or DATABASE_URL. */
export default createDataSource({
  dataDir: process.env.POCHTAMT_DATA ?? './data',
  databaseUrl: process.env.DATABASE_URL,
});
