// Security baseline (issue 6): greylisting, IP bans, rate-limit token buckets, quarantine and
// sender allow/deny lists (schemas/entities/security.entity.ts). Generated with
// src/store/generate-migration.ts; only the security tables are here, other migrations own theirs.
import type { MigrationInterface, QueryRunner } from 'typeorm';

const sqlite = [
  "CREATE TABLE \"greylist\" (\"key\" varchar(700) PRIMARY KEY NOT NULL, \"firstSeen\" bigint NOT NULL, \"lastSeen\" bigint NOT NULL, \"passedAt\" bigint)",
  "CREATE INDEX \"IDX_78218b3a26be4ebffea52db961\" ON \"greylist\" (\"lastSeen\") ",
  "CREATE TABLE \"security_ban\" (\"ip\" varchar(64) PRIMARY KEY NOT NULL, \"reason\" varchar(255) NOT NULL, \"failures\" integer NOT NULL DEFAULT (0), \"createdAt\" bigint NOT NULL, \"expiresAt\" bigint NOT NULL)",
  "CREATE INDEX \"IDX_3048d52666538c041d93eb0466\" ON \"security_ban\" (\"expiresAt\") ",
  "CREATE TABLE \"rate_bucket\" (\"key\" varchar(400) PRIMARY KEY NOT NULL, \"tokens\" double precision NOT NULL, \"updatedAt\" bigint NOT NULL)",
  "CREATE INDEX \"IDX_529ab847cb7624ff135253c1b1\" ON \"rate_bucket\" (\"updatedAt\") ",
  "CREATE TABLE \"quarantine\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"queueId\" varchar(32) NOT NULL, \"sender\" varchar(320) NOT NULL, \"recipients\" text NOT NULL, \"step\" varchar(64) NOT NULL, \"reason\" varchar(1000) NOT NULL, \"subject\" varchar(998), \"size\" integer NOT NULL, \"rawBase64\" text NOT NULL, \"createdAt\" bigint NOT NULL)",
  "CREATE INDEX \"IDX_2353e9ca1056d7d4d5fb934aaf\" ON \"quarantine\" (\"queueId\") ",
  "CREATE INDEX \"IDX_f16d751d6bed3b05d50549f519\" ON \"quarantine\" (\"createdAt\") ",
  "CREATE TABLE \"sender_list\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"owner\" varchar(320) NOT NULL, \"pattern\" varchar(320) NOT NULL, \"kind\" varchar(8) NOT NULL, \"createdAt\" bigint NOT NULL)",
  "CREATE UNIQUE INDEX \"sender_list_owner_pattern\" ON \"sender_list\" (\"owner\", \"pattern\") ",
];

const postgres = [
  "CREATE TABLE \"greylist\" (\"key\" character varying(700) NOT NULL, \"firstSeen\" bigint NOT NULL, \"lastSeen\" bigint NOT NULL, \"passedAt\" bigint, CONSTRAINT \"PK_571bb93d27a7832e270d1f15585\" PRIMARY KEY (\"key\"))",
  "CREATE INDEX \"IDX_78218b3a26be4ebffea52db961\" ON \"greylist\"  (\"lastSeen\") ",
  "CREATE TABLE \"security_ban\" (\"ip\" character varying(64) NOT NULL, \"reason\" character varying(255) NOT NULL, \"failures\" integer NOT NULL DEFAULT '0', \"createdAt\" bigint NOT NULL, \"expiresAt\" bigint NOT NULL, CONSTRAINT \"PK_b934a276ed50e2cc6989560a20e\" PRIMARY KEY (\"ip\"))",
  "CREATE INDEX \"IDX_3048d52666538c041d93eb0466\" ON \"security_ban\"  (\"expiresAt\") ",
  "CREATE TABLE \"rate_bucket\" (\"key\" character varying(400) NOT NULL, \"tokens\" double precision NOT NULL, \"updatedAt\" bigint NOT NULL, CONSTRAINT \"PK_978a5d802c55672454c037a6f6e\" PRIMARY KEY (\"key\"))",
  "CREATE INDEX \"IDX_529ab847cb7624ff135253c1b1\" ON \"rate_bucket\"  (\"updatedAt\") ",
  "CREATE TABLE \"quarantine\" (\"id\" SERIAL NOT NULL, \"queueId\" character varying(32) NOT NULL, \"sender\" character varying(320) NOT NULL, \"recipients\" text NOT NULL, \"step\" character varying(64) NOT NULL, \"reason\" character varying(1000) NOT NULL, \"subject\" character varying(998), \"size\" integer NOT NULL, \"rawBase64\" text NOT NULL, \"createdAt\" bigint NOT NULL, CONSTRAINT \"PK_c1cbd36649a09294e417ae639fa\" PRIMARY KEY (\"id\"))",
  "CREATE INDEX \"IDX_2353e9ca1056d7d4d5fb934aaf\" ON \"quarantine\"  (\"queueId\") ",
  "CREATE INDEX \"IDX_f16d751d6bed3b05d50549f519\" ON \"quarantine\"  (\"createdAt\") ",
  "CREATE TABLE \"sender_list\" (\"id\" SERIAL NOT NULL, \"owner\" character varying(320) NOT NULL, \"pattern\" character varying(320) NOT NULL, \"kind\" character varying(8) NOT NULL, \"createdAt\" bigint NOT NULL, CONSTRAINT \"PK_ad13eec84d7d185b84244d82482\" PRIMARY KEY (\"id\"))",
  "CREATE UNIQUE INDEX \"sender_list_owner_pattern\" ON \"sender_list\"  (\"owner\", \"pattern\") ",
];

export class Security1764700000000 implements MigrationInterface {
  name = 'Security1764700000000';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of q.connection.options.type === 'postgres' ? postgres : sqlite) await q.query(sql);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['sender_list', 'quarantine', 'rate_bucket', 'security_ban', 'greylist']) await q.query(`DROP TABLE "${t}"`);
  }
}
