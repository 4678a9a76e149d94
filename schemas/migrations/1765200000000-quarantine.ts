// Quarantine completeness: the submitting account of a held message (a release delivers as
// that account, e.g. DKIM-signed for remote recipients) and the release state (claim time and
// release time) that makes a release idempotent. Three nullable columns; on SQLite plain ADD
// COLUMN (what TypeORM would do by copying the table, without the copy).
import type { MigrationInterface, QueryRunner } from 'typeorm';

const sqlite = [
  'ALTER TABLE "quarantine" ADD COLUMN "accountId" integer',
  'ALTER TABLE "quarantine" ADD COLUMN "releaseStartedAt" bigint',
  'ALTER TABLE "quarantine" ADD COLUMN "releasedAt" bigint',
];

const postgres = [
  'ALTER TABLE "quarantine" ADD "accountId" integer',
  'ALTER TABLE "quarantine" ADD "releaseStartedAt" bigint',
  'ALTER TABLE "quarantine" ADD "releasedAt" bigint',
];

export class Quarantine1765200000000 implements MigrationInterface {
  name = 'Quarantine1765200000000';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of q.connection.options.type === 'postgres' ? postgres : sqlite) await q.query(sql);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const c of ['releasedAt', 'releaseStartedAt', 'accountId']) await q.query(`ALTER TABLE "quarantine" DROP COLUMN "${c}"`);
  }
}
