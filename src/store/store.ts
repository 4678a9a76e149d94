// The store: one TypeORM DataSource plus the content-addressed blob store. Services get a
// Store and are the only code that touches either.
//
// Writes go through `write()`: on SQLite one connection serves the whole process, so write
// transactions are serialised here (SQLite has a single writer anyway); on PostgreSQL they
// run concurrently and rely on row locks. After a write commits, its `afterCommit` callbacks
// run (events, blob deletion) — never before, so nobody hears of an uncommitted change.
// BUGS: on SQLite a read issued while a write transaction is open in the same process uses
// the same connection and can see that transaction's rows before they commit.
import type { DataSource, EntityManager } from 'typeorm';
import { createDataSource, type StoreOptions } from '../../ormconfig.js';
import { FsBlobStore, type BlobStore } from './blob-store.js';
import path from 'node:path';

export interface WriteContext {
  em: EntityManager;
  /** Runs after a successful commit. */
  afterCommit(fn: () => void | Promise<void>): void;
}

class Mutex {
  private tail: Promise<void> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(() => undefined, () => undefined);
    return result;
  }
}

export class Store {
  readonly isPostgres: boolean;
  private readonly mutex = new Mutex();

  constructor(readonly db: DataSource, readonly blobs: BlobStore) {
    this.isPostgres = db.options.type === 'postgres';
  }

  static async open(opts: StoreOptions & { migrate?: boolean }): Promise<Store> {
    const db = createDataSource(opts);
    await db.initialize();
    if (opts.schema && db.options.type === 'postgres') await db.query(`CREATE SCHEMA IF NOT EXISTS "${opts.schema}"`);
    if (opts.migrate !== false) await db.runMigrations({ transaction: 'each' });
    return new Store(db, new FsBlobStore(path.join(opts.dataDir, 'blobs')));
  }

  async close(): Promise<void> {
    if (this.db.isInitialized) await this.db.destroy();
  }

  get em(): EntityManager {
    return this.db.manager;
  }

  /** Runs `fn` in one transaction; resolves only after the commit is on disk. */
  async write<T>(fn: (ctx: WriteContext) => Promise<T>): Promise<T> {
    let hooks: Array<() => void | Promise<void>> = [];
    const run = () => {
      hooks = []; // a retried transaction starts again with no pending hooks
      return this.db.transaction((em) => fn({ em, afterCommit: (h) => hooks.push(h) }));
    };
    const result = this.isPostgres ? await withRetry(run) : await this.mutex.run(run);
    for (const h of hooks) {
      try {
        await h();
      } catch {
        // after-commit work is best effort (events, cleanup); the commit stands
      }
    }
    return result;
  }
}

/** Retries PostgreSQL serialisation failures and deadlocks, which are expected under load. */
async function withRetry<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      const code = (e as { code?: string }).code ?? (e as { driverError?: { code?: string } }).driverError?.code;
      if (attempt < 5 && (code === '40001' || code === '40P01')) {
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * (attempt + 1)));
        continue;
      }
      throw e;
    }
  }
}
