// Directory, second step: an alias may point at a distribution list (alias_target.groupId), so
// a directory group's secondary addresses deliver to its members
// (schemas/entities/alias.entity.ts). One nullable column and its index; on SQLite a plain ADD
// COLUMN (what TypeORM would do by copying the table, without the copy).
import type { MigrationInterface, QueryRunner } from 'typeorm';

const sqlite = [
  'ALTER TABLE "alias_target" ADD COLUMN "groupId" integer',
  'CREATE INDEX "IDX_aa0c0324f9377552ca28b9bb04" ON "alias_target" ("groupId") ',
];

const postgres = [
  'ALTER TABLE "alias_target" ADD "groupId" integer',
  'CREATE INDEX "IDX_aa0c0324f9377552ca28b9bb04" ON "alias_target"  ("groupId") ',
];

export class Directory21765300000000 implements MigrationInterface {
  name = 'Directory21765300000000';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of q.connection.options.type === 'postgres' ? postgres : sqlite) await q.query(sql);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX "IDX_aa0c0324f9377552ca28b9bb04"');
    await q.query('ALTER TABLE "alias_target" DROP COLUMN "groupId"');
  }
}
