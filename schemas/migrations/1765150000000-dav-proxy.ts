// Calendar delegation and free/busy-only links: the dav_proxy table (calendar-proxy-read /
// calendar-proxy-write members per owner, schemas/entities/groupware.entity.ts) and the
// nullable dav_collection.freebusyToken with its unique index. On SQLite plain ADD COLUMN
// (what TypeORM would do by copying the table, without the copy).
import type { MigrationInterface, QueryRunner } from 'typeorm';

const sqlite = [
  'CREATE TABLE "dav_proxy" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "ownerId" integer NOT NULL, "delegateAccountId" integer, "delegateGroupId" integer, "access" varchar(16) NOT NULL, "createdAt" bigint NOT NULL)',
  'CREATE INDEX "dav_proxy_group" ON "dav_proxy" ("delegateGroupId") ',
  'CREATE INDEX "dav_proxy_account" ON "dav_proxy" ("delegateAccountId") ',
  'CREATE INDEX "dav_proxy_owner" ON "dav_proxy" ("ownerId") ',
  'ALTER TABLE "dav_collection" ADD COLUMN "freebusyToken" varchar(64)',
  'CREATE UNIQUE INDEX "IDX_ca8a9022886c21fc0f5d024ce3" ON "dav_collection" ("freebusyToken") ',
];

const postgres = [
  'CREATE TABLE "dav_proxy" ("id" SERIAL NOT NULL, "ownerId" integer NOT NULL, "delegateAccountId" integer, "delegateGroupId" integer, "access" character varying(16) NOT NULL, "createdAt" bigint NOT NULL, CONSTRAINT "PK_7b9a7133e2c15b6da974bccd6e4" PRIMARY KEY ("id"))',
  'CREATE INDEX "dav_proxy_group" ON "dav_proxy"  ("delegateGroupId") ',
  'CREATE INDEX "dav_proxy_account" ON "dav_proxy"  ("delegateAccountId") ',
  'CREATE INDEX "dav_proxy_owner" ON "dav_proxy"  ("ownerId") ',
  'ALTER TABLE "dav_collection" ADD "freebusyToken" character varying(64)',
  'CREATE UNIQUE INDEX "IDX_ca8a9022886c21fc0f5d024ce3" ON "dav_collection"  ("freebusyToken") ',
];

export class DavProxy1765150000000 implements MigrationInterface {
  name = 'DavProxy1765150000000';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of q.connection.options.type === 'postgres' ? postgres : sqlite) await q.query(sql);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX "IDX_ca8a9022886c21fc0f5d024ce3"');
    await q.query('ALTER TABLE "dav_collection" DROP COLUMN "freebusyToken"');
    await q.query('DROP TABLE "dav_proxy"');
  }
}
