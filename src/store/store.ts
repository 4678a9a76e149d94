// The store: one TypeORM DataSource plus the content-addressed blob store. Services get a
// Store and are the only code that touches either.
//
// Writes go through `write()`. On PostgreSQL each runs in its own transaction, concurrently,
// relying on row locks (and retried on deadlock). On SQLite one connection serves the whole
// process and SQLite has a single writer, so writes queue here and are committed in groups:
// every write waiting when a transaction starts joins it, each inside its own SAVEPOINT (a
// failing write rolls back alone), and one fsync of the WAL makes the whole group durable.
// Under load that turns N commits and N fsyncs into one (group commit, as databases do for
// their log). After a write commits, its `afterCommit` callbacks run (events) — never before,
// so nobody hears of an uncommitted change.
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

type Hook = () => void | Promise<void>;

interface QueuedWrite {
  fn: (ctx: WriteContext) => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** Most writes one SQLite transaction takes: bounds how long one commit can keep others waiting. */
const MAX_GROUP = 64;

export class Store {
  readonly isPostgres: boolean;
  private readonly queue: QueuedWrite[] = [];
  private draining = false;

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

  /** Placeholder for the i-th (1-based) parameter of a plain SQL statement on this driver. */
  param(i: number): string {
    return this.isPostgres ? `$${i}` : '?';
  }

  /** Placeholders for `n` parameters from the `first` (1-based), comma-separated: the inside of an IN (…) list. */
  params(first: number, n: number): string {
    return Array.from({ length: n }, (_, i) => this.param(first + i)).join(', ');
  }

  /** Rows of a plain `… RETURNING` statement on either driver (node-postgres answers UPDATE with [rows, count]). */
  async returning<T>(em: EntityManager, sql: string, params: unknown[]): Promise<T[]> {
    const res = await em.query(sql, params);
    if (Array.isArray(res) && res.length === 2 && Array.isArray(res[0]) && typeof res[1] === 'number') return res[0] as T[];
    return res as T[];
  }

  /** Runs `fn` in one transaction; resolves only after the commit is on disk. */
  async write<T>(fn: (ctx: WriteContext) => Promise<T>): Promise<T> {
    if (!this.isPostgres) {
      return new Promise<T>((resolve, reject) => {
        this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
        if (!this.draining) {
          // Start on the next turn of the event loop, after pending socket reads: writes those
          // reads cause (other sessions' deliveries) then join this group instead of the next.
          this.draining = true;
          setImmediate(() => void this.drain());
        }
      });
    }
    let hooks: Hook[] = [];
    const result = await withRetry(() => {
      hooks = []; // a retried transaction starts again with no pending hooks
      return this.db.transaction((em) => fn({ em, afterCommit: (h) => hooks.push(h) }));
    });
    await runHooks(hooks);
    return result;
  }

  /** SQLite: commits the queued writes in groups until none is left. */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length) {
        const group = this.queue.splice(0, MAX_GROUP);
        const outcomes: Array<{ ok: true; value: unknown; hooks: Hook[] } | { ok: false; error: unknown }> = [];
        try {
          await this.db.transaction(async (em) => {
            for (const w of group) {
              const hooks: Hook[] = [];
              await em.query('SAVEPOINT pochtamt_write');
              try {
                const value = await w.fn({ em, afterCommit: (h) => hooks.push(h) });
                await em.query('RELEASE pochtamt_write');
                outcomes.push({ ok: true, value, hooks });
              } catch (error) {
                await em.query('ROLLBACK TO pochtamt_write');
                await em.query('RELEASE pochtamt_write');
                outcomes.push({ ok: false, error });
              }
            }
          });
        } catch (e) {
          // The commit itself failed (disk full, I/O error): nothing of the group is durable.
          for (const w of group) w.reject(e);
          continue;
        }
        for (const [i, o] of outcomes.entries()) {
          if (o.ok) {
            await runHooks(o.hooks);
            group[i]!.resolve(o.value);
          } else group[i]!.reject(o.error);
        }
        // Let socket reads run before the next group, so it fills up too.
        if (this.queue.length) await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      this.draining = false;
    }
  }
}

async function runHooks(hooks: Hook[]): Promise<void> {
  for (const h of hooks) {
    try {
      await h();
    } catch {
      // after-commit work is best effort (events); the commit stands
    }
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
