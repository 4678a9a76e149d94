// CalDAV scheduling and sharing completeness: Schedule-Tag on scheduling objects
// (dav_object.scheduleTag), the change-log compaction floor (dav_collection.syncFloor),
// share invitations (dav_share.status / inviteUid; existing grants stay 'accepted') and the
// queue of iMIP messages received by mail (dav_itip_inbound). SQLite takes plain ADD COLUMN
// (what TypeORM would do by copying the tables, without the copy).
import type { MigrationInterface, QueryRunner } from 'typeorm';

const sqlite = [
  'CREATE TABLE "dav_itip_inbound" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "accountId" integer NOT NULL, "queueId" varchar(64) NOT NULL, "sender" varchar(320) NOT NULL, "itip" text NOT NULL, "attempts" integer NOT NULL DEFAULT (0), "createdAt" bigint NOT NULL)',
  'CREATE INDEX "dav_itip_inbound_account" ON "dav_itip_inbound" ("accountId") ',
  'ALTER TABLE "dav_collection" ADD COLUMN "syncFloor" bigint NOT NULL DEFAULT (0)',
  'ALTER TABLE "dav_object" ADD COLUMN "scheduleTag" varchar(80)',
  'ALTER TABLE "dav_share" ADD COLUMN "status" varchar(16) NOT NULL DEFAULT (\'accepted\')',
  'ALTER TABLE "dav_share" ADD COLUMN "inviteUid" varchar(64)',
];

const postgres = [
  'CREATE TABLE "dav_itip_inbound" ("id" SERIAL NOT NULL, "accountId" integer NOT NULL, "queueId" character varying(64) NOT NULL, "sender" character varying(320) NOT NULL, "itip" text NOT NULL, "attempts" integer NOT NULL DEFAULT \'0\', "createdAt" bigint NOT NULL, CONSTRAINT "PK_d6680e5e8ba96dc080cb74b6fb8" PRIMARY KEY ("id"))',
  'CREATE INDEX "dav_itip_inbound_account" ON "dav_itip_inbound"  ("accountId") ',
  'ALTER TABLE "dav_collection" ADD "syncFloor" bigint NOT NULL DEFAULT \'0\'',
  'ALTER TABLE "dav_object" ADD "scheduleTag" character varying(80)',
  'ALTER TABLE "dav_share" ADD "status" character varying(16) NOT NULL DEFAULT \'accepted\'',
  'ALTER TABLE "dav_share" ADD "inviteUid" character varying(64)',
];

export class DavScheduling1765100000000 implements MigrationInterface {
  name = 'DavScheduling1765100000000';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of q.connection.options.type === 'postgres' ? postgres : sqlite) await q.query(sql);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE "dav_itip_inbound"');
    for (const [t, c] of [['dav_share', 'inviteUid'], ['dav_share', 'status'], ['dav_object', 'scheduleTag'], ['dav_collection', 'syncFloor']]) {
      await q.query(`ALTER TABLE "${t}" DROP COLUMN "${c}"`);
    }
  }
}
