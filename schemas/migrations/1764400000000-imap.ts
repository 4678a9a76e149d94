// IMAP: searchable text columns on message (see src/mime/search-text.ts and
// src/services/mail-ops.service.ts). Both nullable: existing rows are indexed lazily by the
// first SEARCH that needs them. Only the IMAP changes are here; other migrations own theirs.
import type { MigrationInterface, QueryRunner } from 'typeorm';

const sqlite = [
  'ALTER TABLE "message" ADD COLUMN "searchHeaders" text',
  'ALTER TABLE "message" ADD COLUMN "searchBody" text',
];

const postgres = [
  'ALTER TABLE "message" ADD "searchHeaders" text',
  'ALTER TABLE "message" ADD "searchBody" text',
];

export class Imap1764400000000 implements MigrationInterface {
  name = 'Imap1764400000000';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of q.connection.options.type === 'postgres' ? postgres : sqlite) await q.query(sql);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE "message" DROP COLUMN "searchBody"');
    await q.query('ALTER TABLE "message" DROP COLUMN "searchHeaders"');
  }
}
