// Directory sync (issue 4): directory_state (cursor, last run, counts, errors, conflicts per
// configured directory) and directory_entry (local copy of directory users and groups: DN,
// login names, address-book attributes). Generated with `npm run migration:generate`.
import type { MigrationInterface, QueryRunner } from 'typeorm';

const sqlite = [
    "CREATE TABLE \"directory_state\" (\"directoryId\" varchar(64) PRIMARY KEY NOT NULL, \"cursor\" varchar(256), \"lastRunAt\" bigint, \"lastSuccessAt\" bigint, \"lastFullAt\" bigint, \"lastIdScanAt\" bigint, \"lastError\" text, \"counts\" text NOT NULL DEFAULT ('{}'), \"conflicts\" text NOT NULL DEFAULT ('[]'), \"updatedAt\" bigint NOT NULL)",
    "CREATE TABLE \"directory_entry\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"directoryId\" varchar(64) NOT NULL, \"externalId\" varchar(256) NOT NULL, \"kind\" varchar(8) NOT NULL, \"dn\" text NOT NULL, \"dnKey\" varchar(1024) NOT NULL, \"login\" varchar(256), \"upn\" varchar(320), \"mail\" varchar(320), \"accountId\" integer, \"groupId\" integer, \"disabled\" boolean NOT NULL DEFAULT (0), \"attributes\" text NOT NULL DEFAULT ('{}'), \"members\" text NOT NULL DEFAULT ('{}'), \"deletedAt\" bigint, \"updatedAt\" bigint NOT NULL)",
    "CREATE INDEX \"IDX_c57c2ce11957213ef41c000ed3\" ON \"directory_entry\" (\"upn\") ",
    "CREATE INDEX \"IDX_d4ee527c8fdd9a3eb01b77fd02\" ON \"directory_entry\" (\"accountId\") ",
    "CREATE INDEX \"directory_entry_login\" ON \"directory_entry\" (\"directoryId\", \"login\") ",
    "CREATE INDEX \"directory_entry_dn\" ON \"directory_entry\" (\"directoryId\", \"dnKey\") ",
    "CREATE UNIQUE INDEX \"directory_entry_external\" ON \"directory_entry\" (\"directoryId\", \"externalId\") ",
];

const postgres = [
    "CREATE TABLE \"directory_state\" (\"directoryId\" character varying(64) NOT NULL, \"cursor\" character varying(256), \"lastRunAt\" bigint, \"lastSuccessAt\" bigint, \"lastFullAt\" bigint, \"lastIdScanAt\" bigint, \"lastError\" text, \"counts\" text NOT NULL DEFAULT '{}', \"conflicts\" text NOT NULL DEFAULT '[]', \"updatedAt\" bigint NOT NULL, CONSTRAINT \"PK_318bbbe7cbfb605d023a5a127f9\" PRIMARY KEY (\"directoryId\"))",
    "CREATE TABLE \"directory_entry\" (\"id\" SERIAL NOT NULL, \"directoryId\" character varying(64) NOT NULL, \"externalId\" character varying(256) NOT NULL, \"kind\" character varying(8) NOT NULL, \"dn\" text NOT NULL, \"dnKey\" character varying(1024) NOT NULL, \"login\" character varying(256), \"upn\" character varying(320), \"mail\" character varying(320), \"accountId\" integer, \"groupId\" integer, \"disabled\" boolean NOT NULL DEFAULT false, \"attributes\" text NOT NULL DEFAULT '{}', \"members\" text NOT NULL DEFAULT '{}', \"deletedAt\" bigint, \"updatedAt\" bigint NOT NULL, CONSTRAINT \"PK_f3c0989289c2606c32389bf8502\" PRIMARY KEY (\"id\"))",
    "CREATE INDEX \"IDX_c57c2ce11957213ef41c000ed3\" ON \"directory_entry\"  (\"upn\") ",
    "CREATE INDEX \"IDX_d4ee527c8fdd9a3eb01b77fd02\" ON \"directory_entry\"  (\"accountId\") ",
    "CREATE INDEX \"directory_entry_login\" ON \"directory_entry\"  (\"directoryId\", \"login\") ",
    "CREATE INDEX \"directory_entry_dn\" ON \"directory_entry\"  (\"directoryId\", \"dnKey\") ",
    "CREATE UNIQUE INDEX \"directory_entry_external\" ON \"directory_entry\"  (\"directoryId\", \"externalId\") ",
];

export class Directory1764500000000 implements MigrationInterface {
  name = 'Directory1764500000000';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of q.connection.options.type === 'postgres' ? postgres : sqlite) await q.query(sql);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['directory_entry', 'directory_state']) await q.query(`DROP TABLE "${t}"`);
  }
}
