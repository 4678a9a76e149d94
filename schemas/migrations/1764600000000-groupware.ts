// Groupware (CalDAV/CardDAV/WebDAV) tables: collections, objects with their occurrence range,
// the RFC 6578 change log and sharing grants. Generated with `node dist-*/src/store/generate-migration.js`
// and trimmed to the dav_* statements.
import type { MigrationInterface, QueryRunner } from 'typeorm';

const sqlite = [
    "CREATE TABLE \"dav_collection\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"ownerId\" integer NOT NULL, \"home\" varchar(16) NOT NULL, \"path\" varchar(1024) NOT NULL, \"kind\" varchar(16) NOT NULL, \"displayName\" varchar(512) NOT NULL DEFAULT (''), \"description\" text NOT NULL DEFAULT (''), \"components\" varchar(128) NOT NULL DEFAULT (''), \"timezone\" text, \"color\" varchar(32), \"sortOrder\" integer, \"deadProps\" text NOT NULL DEFAULT ('{}'), \"syncToken\" bigint NOT NULL DEFAULT (0), \"publishToken\" varchar(64), \"createdAt\" bigint NOT NULL, \"updatedAt\" bigint NOT NULL)",
    "CREATE UNIQUE INDEX \"IDX_5dc612593777c05a4e5a2c6e50\" ON \"dav_collection\" (\"publishToken\") ",
    "CREATE UNIQUE INDEX \"dav_collection_owner_path\" ON \"dav_collection\" (\"ownerId\", \"home\", \"path\") ",
    "CREATE TABLE \"dav_object\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"collectionId\" integer NOT NULL, \"name\" varchar(512) NOT NULL, \"uid\" varchar(512), \"contentType\" varchar(128) NOT NULL, \"etag\" varchar(80) NOT NULL, \"data\" text NOT NULL, \"size\" integer NOT NULL, \"componentType\" varchar(16), \"firstStart\" bigint, \"lastEnd\" bigint, \"recurring\" boolean NOT NULL DEFAULT (0), \"deadProps\" text NOT NULL DEFAULT ('{}'), \"modToken\" bigint NOT NULL DEFAULT (0), \"createdAt\" bigint NOT NULL, \"updatedAt\" bigint NOT NULL)",
    "CREATE INDEX \"dav_object_collection_range\" ON \"dav_object\" (\"collectionId\", \"firstStart\", \"lastEnd\") ",
    "CREATE INDEX \"dav_object_collection_uid\" ON \"dav_object\" (\"collectionId\", \"uid\") ",
    "CREATE UNIQUE INDEX \"dav_object_collection_name\" ON \"dav_object\" (\"collectionId\", \"name\") ",
    "CREATE TABLE \"dav_change\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"collectionId\" integer NOT NULL, \"token\" bigint NOT NULL, \"name\" varchar(512) NOT NULL, \"deleted\" boolean NOT NULL DEFAULT (0))",
    "CREATE INDEX \"dav_change_collection_token\" ON \"dav_change\" (\"collectionId\", \"token\") ",
    "CREATE TABLE \"dav_share\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"collectionId\" integer NOT NULL, \"granteeAccountId\" integer, \"granteeGroupId\" integer, \"access\" varchar(16) NOT NULL, \"createdAt\" bigint NOT NULL)",
    "CREATE INDEX \"dav_share_group\" ON \"dav_share\" (\"granteeGroupId\") ",
    "CREATE INDEX \"dav_share_account\" ON \"dav_share\" (\"granteeAccountId\") ",
    "CREATE INDEX \"dav_share_collection\" ON \"dav_share\" (\"collectionId\") ",
];

const postgres = [
    "CREATE TABLE \"dav_collection\" (\"id\" SERIAL NOT NULL, \"ownerId\" integer NOT NULL, \"home\" character varying(16) NOT NULL, \"path\" character varying(1024) NOT NULL, \"kind\" character varying(16) NOT NULL, \"displayName\" character varying(512) NOT NULL DEFAULT '', \"description\" text NOT NULL DEFAULT '', \"components\" character varying(128) NOT NULL DEFAULT '', \"timezone\" text, \"color\" character varying(32), \"sortOrder\" integer, \"deadProps\" text NOT NULL DEFAULT '{}', \"syncToken\" bigint NOT NULL DEFAULT '0', \"publishToken\" character varying(64), \"createdAt\" bigint NOT NULL, \"updatedAt\" bigint NOT NULL, CONSTRAINT \"PK_2c3971f1f456646211e8e2fbb48\" PRIMARY KEY (\"id\"))",
    "CREATE UNIQUE INDEX \"IDX_5dc612593777c05a4e5a2c6e50\" ON \"dav_collection\"  (\"publishToken\") ",
    "CREATE UNIQUE INDEX \"dav_collection_owner_path\" ON \"dav_collection\"  (\"ownerId\", \"home\", \"path\") ",
    "CREATE TABLE \"dav_object\" (\"id\" SERIAL NOT NULL, \"collectionId\" integer NOT NULL, \"name\" character varying(512) NOT NULL, \"uid\" character varying(512), \"contentType\" character varying(128) NOT NULL, \"etag\" character varying(80) NOT NULL, \"data\" text NOT NULL, \"size\" integer NOT NULL, \"componentType\" character varying(16), \"firstStart\" bigint, \"lastEnd\" bigint, \"recurring\" boolean NOT NULL DEFAULT false, \"deadProps\" text NOT NULL DEFAULT '{}', \"modToken\" bigint NOT NULL DEFAULT '0', \"createdAt\" bigint NOT NULL, \"updatedAt\" bigint NOT NULL, CONSTRAINT \"PK_6a9ffd4584e6b73b2b83e851fbb\" PRIMARY KEY (\"id\"))",
    "CREATE INDEX \"dav_object_collection_range\" ON \"dav_object\"  (\"collectionId\", \"firstStart\", \"lastEnd\") ",
    "CREATE INDEX \"dav_object_collection_uid\" ON \"dav_object\"  (\"collectionId\", \"uid\") ",
    "CREATE UNIQUE INDEX \"dav_object_collection_name\" ON \"dav_object\"  (\"collectionId\", \"name\") ",
    "CREATE TABLE \"dav_change\" (\"id\" SERIAL NOT NULL, \"collectionId\" integer NOT NULL, \"token\" bigint NOT NULL, \"name\" character varying(512) NOT NULL, \"deleted\" boolean NOT NULL DEFAULT false, CONSTRAINT \"PK_6372f158a7ffd192984586c6772\" PRIMARY KEY (\"id\"))",
    "CREATE INDEX \"dav_change_collection_token\" ON \"dav_change\"  (\"collectionId\", \"token\") ",
    "CREATE TABLE \"dav_share\" (\"id\" SERIAL NOT NULL, \"collectionId\" integer NOT NULL, \"granteeAccountId\" integer, \"granteeGroupId\" integer, \"access\" character varying(16) NOT NULL, \"createdAt\" bigint NOT NULL, CONSTRAINT \"PK_fe96a1a289b006f43303f67a7c4\" PRIMARY KEY (\"id\"))",
    "CREATE INDEX \"dav_share_group\" ON \"dav_share\"  (\"granteeGroupId\") ",
    "CREATE INDEX \"dav_share_account\" ON \"dav_share\"  (\"granteeAccountId\") ",
    "CREATE INDEX \"dav_share_collection\" ON \"dav_share\"  (\"collectionId\") ",
];

export class Groupware1764600000000 implements MigrationInterface {
  name = 'Groupware1764600000000';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of q.connection.options.type === 'postgres' ? postgres : sqlite) await q.query(sql);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['dav_share', 'dav_change', 'dav_object', 'dav_collection']) await q.query(`DROP TABLE "${t}"`);
  }
}
