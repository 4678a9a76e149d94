// Per-domain DKIM key rotation (issue 6): the key `pochtamt domain dkim-rotate` replaced is kept
// beside the new one until it is retired (schemas/entities/domain.entity.ts). Three nullable
// columns; on SQLite plain ADD COLUMN (what TypeORM would do by copying the table, without the copy).
import type { MigrationInterface, QueryRunner } from 'typeorm';

const sqlite = [
  'ALTER TABLE "domain" ADD COLUMN "dkimPreviousSelector" varchar(63)',
  'ALTER TABLE "domain" ADD COLUMN "dkimPreviousPrivateKey" text',
  'ALTER TABLE "domain" ADD COLUMN "dkimRotatedAt" bigint',
];

const postgres = [
  'ALTER TABLE "domain" ADD "dkimPreviousSelector" character varying(63)',
  'ALTER TABLE "domain" ADD "dkimPreviousPrivateKey" text',
  'ALTER TABLE "domain" ADD "dkimRotatedAt" bigint',
];

export class DkimRotation1764950000000 implements MigrationInterface {
  name = 'DkimRotation1764950000000';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of q.connection.options.type === 'postgres' ? postgres : sqlite) await q.query(sql);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const c of ['dkimRotatedAt', 'dkimPreviousPrivateKey', 'dkimPreviousSelector']) await q.query(`ALTER TABLE "domain" DROP COLUMN "${c}"`);
  }
}
