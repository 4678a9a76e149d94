// IMAP SORT and THREAD (RFC 5256, RFC 5957): the keys they order and link by are computed once per
// message and stored beside it (schemas/entities/message.entity.ts "sortKeys"). One nullable
// column, filled by delivery and APPEND from now on and on first use for existing rows; on SQLite
// a plain ADD COLUMN (no table copy).
import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ImapSort1765050000000 implements MigrationInterface {
  name = 'ImapSort1765050000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE "message" ADD COLUMN "sortKeys" text');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE "message" DROP COLUMN "sortKeys"');
  }
}
