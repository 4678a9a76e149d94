// Token buckets shared by all nodes through the store: messages and recipients per client IP
// and per account. One atomic upsert per bucket per check (INSERT … ON CONFLICT DO UPDATE …
// WHERE … RETURNING, on SQLite ≥ 3.35 and PostgreSQL alike): the row is updated only when
// the refilled bucket holds enough tokens, so a returned row means "allowed" and nothing
// is consumed on a refusal. Must not read-then-write (that would race between nodes).
// BUGS: expired buckets are only removed by prune(); a bucket is keyed by exact IP (IPv6
// clients could rotate within their /64).
import type { Store } from '../store/store.js';

export interface BucketSpec {
  key: string;
  /** Tokens per hour (also the bucket size: a full hour's worth may come in one burst). */
  perHour: number;
  cost: number;
}

export class RateLimiter {
  constructor(private readonly store: Store, private readonly now: () => number = Date.now) {}

  /**
   * Takes `cost` tokens from every bucket, or from none: returns the first bucket that is
   * short, else null. Buckets with perHour 0 are unlimited and skipped.
   */
  async take(specs: BucketSpec[]): Promise<BucketSpec | null> {
    const live = specs.filter((s) => s.perHour > 0 && s.cost > 0);
    if (!live.length) return null;
    const pg = this.store.isPostgres;
    const min = pg ? 'LEAST' : 'MIN';
    const p = (i: number) => (pg ? `$${i}::${i === 1 ? 'varchar' : i === 4 ? 'bigint' : 'float8'}` : '?');
    // refilled = min(cap, tokens + elapsed * rate)
    const refilled = `${min}(${p(2)}, "rate_bucket"."tokens" + (${p(4)} - "rate_bucket"."updatedAt") * ${p(5)})`;
    const sql = `INSERT INTO "rate_bucket" ("key", "tokens", "updatedAt") VALUES (${p(1)}, ${p(2)} - ${p(3)}, ${p(4)})
      ON CONFLICT ("key") DO UPDATE SET "tokens" = ${refilled} - ${p(3)}, "updatedAt" = ${p(4)}
      WHERE ${refilled} >= ${p(3)} RETURNING "tokens"`;
    const params = (s: BucketSpec, now: number) => {
      const args = [s.key, s.perHour, s.cost, now, s.perHour / 3_600_000];
      // SQLite '?' placeholders are positional: repeat the values in textual order.
      return pg ? args : [args[0], args[1], args[2], args[3], args[1], args[3], args[4], args[2], args[3], args[1], args[3], args[4], args[2]];
    };
    return this.store.write(async ({ em }) => {
      const now = this.now();
      for (const s of live) {
        if (s.cost > s.perHour) return s;
        const rows = (await em.query(sql, params(s, now))) as unknown[];
        if (!rows.length) throw new Short(s); // roll back the buckets already taken from
      }
      return null;
    }).catch((e: unknown) => {
      if (e instanceof Short) return e.spec;
      throw e;
    });
  }

  /** Removes buckets idle for over an hour (they would be full again anyway). */
  async prune(): Promise<number> {
    const r = await this.store.write(({ em }) => em.createQueryBuilder().delete().from('rate_bucket')
      .where('"updatedAt" < :t', { t: this.now() - 3_600_000 }).execute());
    return r.affected ?? 0;
  }
}

class Short extends Error {
  constructor(readonly spec: BucketSpec) {
    super(`rate limit ${spec.key}`);
  }
}
