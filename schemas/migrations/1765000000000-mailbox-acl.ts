// IMAP ACL (RFC 4314) and shared folders: mailbox_acl (who may do what in a mailbox),
// mailbox_subscription (subscriptions to other accounts' mailboxes), account.kind ('user' or
// 'shared', a shared mailbox that cannot log in) and message.seenBy (per-user \Seen of the users
// a folder is shared with). On SQLite the columns are plain ADD COLUMNs (what TypeORM would do by
// copying the table, without the copy).
import type { MigrationInterface, QueryRunner } from 'typeorm';

const sqlite = [
  'CREATE TABLE "mailbox_acl" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "mailboxId" integer NOT NULL, "subjectKind" varchar(8) NOT NULL, "subjectId" integer NOT NULL, "rights" varchar(32) NOT NULL)',
  'CREATE INDEX "mailbox_acl_subject" ON "mailbox_acl" ("subjectKind", "subjectId") ',
  'CREATE UNIQUE INDEX "mailbox_acl_entry" ON "mailbox_acl" ("mailboxId", "subjectKind", "subjectId") ',
  'CREATE TABLE "mailbox_subscription" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "accountId" integer NOT NULL, "mailboxId" integer NOT NULL)',
  'CREATE INDEX "IDX_9f03833927dfd68c5a3b05f277" ON "mailbox_subscription" ("mailboxId") ',
  'CREATE UNIQUE INDEX "mailbox_subscription_entry" ON "mailbox_subscription" ("accountId", "mailboxId") ',
  'ALTER TABLE "account" ADD COLUMN "kind" varchar(16) NOT NULL DEFAULT (\'user\')',
  'ALTER TABLE "message" ADD COLUMN "seenBy" text',
];

const postgres = [
  'CREATE TABLE "mailbox_acl" ("id" SERIAL NOT NULL, "mailboxId" integer NOT NULL, "subjectKind" character varying(8) NOT NULL, "subjectId" integer NOT NULL, "rights" character varying(32) NOT NULL, CONSTRAINT "PK_7d0ff50a0c7d2fbb93b6e02b994" PRIMARY KEY ("id"))',
  'CREATE INDEX "mailbox_acl_subject" ON "mailbox_acl"  ("subjectKind", "subjectId") ',
  'CREATE UNIQUE INDEX "mailbox_acl_entry" ON "mailbox_acl"  ("mailboxId", "subjectKind", "subjectId") ',
  'CREATE TABLE "mailbox_subscription" ("id" SERIAL NOT NULL, "accountId" integer NOT NULL, "mailboxId" integer NOT NULL, CONSTRAINT "PK_2429e76c4224cfab6373a85e1c5" PRIMARY KEY ("id"))',
  'CREATE INDEX "IDX_9f03833927dfd68c5a3b05f277" ON "mailbox_subscription"  ("mailboxId") ',
  'CREATE UNIQUE INDEX "mailbox_subscription_entry" ON "mailbox_subscription"  ("accountId", "mailboxId") ',
  'ALTER TABLE "account" ADD "kind" character varying(16) NOT NULL DEFAULT \'user\'',
  'ALTER TABLE "message" ADD "seenBy" text',
];

export class MailboxAcl1765000000000 implements MigrationInterface {
  name = 'MailboxAcl1765000000000';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of q.connection.options.type === 'postgres' ? postgres : sqlite) await q.query(sql);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE "message" DROP COLUMN "seenBy"');
    await q.query('ALTER TABLE "account" DROP COLUMN "kind"');
    await q.query('DROP TABLE "mailbox_subscription"');
    await q.query('DROP TABLE "mailbox_acl"');
  }
}
