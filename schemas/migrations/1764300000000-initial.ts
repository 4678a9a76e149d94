// Initial schema. Generated with `npm run migration:generate` (SQLite and PostgreSQL differ in
// DDL, so each driver has its own statements); test/store/migrations.test.ts checks that the
// migrated schema matches the entities on both.
import type { MigrationInterface, QueryRunner } from 'typeorm';

const sqlite = [
    "CREATE TABLE \"account\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"address\" varchar(320) NOT NULL, \"domainId\" integer NOT NULL, \"displayName\" varchar(256) NOT NULL DEFAULT (''), \"passwordHash\" varchar(256), \"source\" varchar(16) NOT NULL DEFAULT ('local'), \"directoryId\" varchar(64), \"externalId\" varchar(256), \"enabled\" boolean NOT NULL DEFAULT (1), \"isAdmin\" boolean NOT NULL DEFAULT (0), \"quotaBytes\" bigint NOT NULL DEFAULT (0), \"quotaMessages\" integer NOT NULL DEFAULT (0), \"usedBytes\" bigint NOT NULL DEFAULT (0), \"usedMessages\" integer NOT NULL DEFAULT (0), \"createdAt\" bigint NOT NULL, \"updatedAt\" bigint NOT NULL, \"deletedAt\" bigint, CONSTRAINT \"UQ_83603c168bc00b20544539fbea6\" UNIQUE (\"address\"))",
    "CREATE INDEX \"IDX_7993d2452a58d10de14df8987f\" ON \"account\" (\"domainId\") ",
    "CREATE UNIQUE INDEX \"account_external\" ON \"account\" (\"directoryId\", \"externalId\") ",
    "CREATE TABLE \"alias\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"address\" varchar(320) NOT NULL, \"domainId\" integer NOT NULL, \"source\" varchar(16) NOT NULL DEFAULT ('local'), \"createdAt\" bigint NOT NULL, CONSTRAINT \"UQ_fb6cc5f518c73a96730df47e489\" UNIQUE (\"address\"))",
    "CREATE INDEX \"IDX_b821f505eb5590979f2a15a47a\" ON \"alias\" (\"domainId\") ",
    "CREATE TABLE \"alias_target\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"aliasId\" integer NOT NULL, \"accountId\" integer, \"forwardTo\" varchar(320))",
    "CREATE INDEX \"IDX_c951d6d6eeedbadc0d58362ad7\" ON \"alias_target\" (\"aliasId\") ",
    "CREATE INDEX \"IDX_e53a650d99f03e711d427b92fd\" ON \"alias_target\" (\"accountId\") ",
    "CREATE UNIQUE INDEX \"alias_target_unique\" ON \"alias_target\" (\"aliasId\", \"accountId\", \"forwardTo\") ",
    "CREATE TABLE \"blob\" (\"hash\" varchar(64) PRIMARY KEY NOT NULL, \"size\" bigint NOT NULL, \"refCount\" integer NOT NULL DEFAULT (0), \"createdAt\" bigint NOT NULL)",
    "CREATE TABLE \"domain\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"name\" varchar(253) NOT NULL, \"unicodeName\" varchar(253) NOT NULL, \"dkimSelector\" varchar(63), \"dkimPrivateKey\" text, \"createdAt\" bigint NOT NULL, CONSTRAINT \"UQ_26a07113f90df161f919c7d5a65\" UNIQUE (\"name\"))",
    "CREATE TABLE \"mail_group\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"address\" varchar(320) NOT NULL, \"domainId\" integer NOT NULL, \"displayName\" varchar(256) NOT NULL DEFAULT (''), \"membersMaySendAs\" boolean NOT NULL DEFAULT (0), \"source\" varchar(16) NOT NULL DEFAULT ('local'), \"directoryId\" varchar(64), \"externalId\" varchar(256), \"createdAt\" bigint NOT NULL, CONSTRAINT \"UQ_5f7a51684f3112298d2a9a98ae8\" UNIQUE (\"address\"))",
    "CREATE INDEX \"IDX_acb3176c3bb04e98f146068750\" ON \"mail_group\" (\"domainId\") ",
    "CREATE UNIQUE INDEX \"group_external\" ON \"mail_group\" (\"directoryId\", \"externalId\") ",
    "CREATE TABLE \"mail_group_member\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"groupId\" integer NOT NULL, \"accountId\" integer, \"memberGroupId\" integer, \"externalAddress\" varchar(320))",
    "CREATE INDEX \"IDX_e1fd4ab4d16a44a3b8d27149f3\" ON \"mail_group_member\" (\"groupId\") ",
    "CREATE INDEX \"IDX_fa8701b9954f7ece4c86f37890\" ON \"mail_group_member\" (\"accountId\") ",
    "CREATE TABLE \"mail_change\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"accountId\" integer NOT NULL, \"mailboxId\" integer NOT NULL, \"kind\" varchar(16) NOT NULL, \"uid\" integer, \"modseq\" bigint NOT NULL, \"at\" bigint NOT NULL)",
    "CREATE INDEX \"IDX_98fd8751b83ffdad5892e51c3d\" ON \"mail_change\" (\"accountId\") ",
    "CREATE INDEX \"mail_change_mailbox_modseq\" ON \"mail_change\" (\"mailboxId\", \"modseq\") ",
    "CREATE TABLE \"mailbox\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"accountId\" integer NOT NULL, \"name\" varchar(1024) NOT NULL, \"specialUse\" varchar(16), \"uidValidity\" bigint NOT NULL, \"uidNext\" integer NOT NULL DEFAULT (1), \"highestModseq\" bigint NOT NULL DEFAULT (1), \"messageCount\" integer NOT NULL DEFAULT (0), \"totalBytes\" bigint NOT NULL DEFAULT (0), \"subscribed\" boolean NOT NULL DEFAULT (1), \"createdAt\" bigint NOT NULL)",
    "CREATE UNIQUE INDEX \"mailbox_account_name\" ON \"mailbox\" (\"accountId\", \"name\") ",
    "CREATE TABLE \"message\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"mailboxId\" integer NOT NULL, \"accountId\" integer NOT NULL, \"uid\" integer NOT NULL, \"modseq\" bigint NOT NULL, \"flags\" varchar(2048) NOT NULL DEFAULT (''), \"internalDate\" bigint NOT NULL, \"size\" integer NOT NULL, \"blobHash\" varchar(64) NOT NULL, \"queueId\" varchar(32), \"messageIdHeader\" varchar(998), \"subject\" text NOT NULL DEFAULT (''), \"envelope\" text NOT NULL, \"bodyStructure\" text NOT NULL)",
    "CREATE INDEX \"IDX_8ea758e9411d29efc893bc3b8e\" ON \"message\" (\"accountId\") ",
    "CREATE INDEX \"IDX_9eeea70ce829a054afd185697d\" ON \"message\" (\"messageIdHeader\") ",
    "CREATE INDEX \"message_mailbox_modseq\" ON \"message\" (\"mailboxId\", \"modseq\") ",
    "CREATE UNIQUE INDEX \"message_mailbox_uid\" ON \"message\" (\"mailboxId\", \"uid\") ",
    "CREATE TABLE \"queue_message\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"queueId\" varchar(32) NOT NULL, \"sender\" varchar(320) NOT NULL, \"blobHash\" varchar(64) NOT NULL, \"size\" bigint NOT NULL, \"messageIdHeader\" varchar(998), \"accountId\" integer, \"isBounce\" boolean NOT NULL DEFAULT (0), \"createdAt\" bigint NOT NULL, \"expiresAt\" bigint NOT NULL, \"completedAt\" bigint, CONSTRAINT \"UQ_01d722d2cce048927e1dc2c8bd3\" UNIQUE (\"queueId\"))",
    "CREATE TABLE \"queue_recipient\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"queueMessageId\" integer NOT NULL, \"recipient\" varchar(320) NOT NULL, \"domain\" varchar(253) NOT NULL, \"status\" varchar(16) NOT NULL DEFAULT ('pending'), \"attempts\" integer NOT NULL DEFAULT (0), \"nextAttemptAt\" bigint NOT NULL, \"lastReply\" text, \"lastHost\" varchar(255), \"updatedAt\" bigint NOT NULL)",
    "CREATE INDEX \"IDX_5aa1df12c487a1e081f3c2f55c\" ON \"queue_recipient\" (\"queueMessageId\") ",
    "CREATE INDEX \"queue_recipient_due\" ON \"queue_recipient\" (\"status\", \"nextAttemptAt\") ",
    "CREATE TABLE \"trace_event\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"queueId\" varchar(32) NOT NULL, \"at\" bigint NOT NULL, \"event\" varchar(64) NOT NULL, \"messageIdHeader\" varchar(998), \"sender\" varchar(320), \"recipient\" varchar(320), \"detail\" text NOT NULL DEFAULT (''))",
    "CREATE INDEX \"IDX_fde5e8ca1a0f75538ba067fa2f\" ON \"trace_event\" (\"queueId\") ",
    "CREATE INDEX \"IDX_a7c2efe320815cd391d3b8cb77\" ON \"trace_event\" (\"at\") ",
    "CREATE INDEX \"IDX_7ee81d5870d1528f27dab831bc\" ON \"trace_event\" (\"messageIdHeader\") ",
    "CREATE INDEX \"IDX_eb436a1dc8920290ac462274f7\" ON \"trace_event\" (\"sender\") ",
    "CREATE INDEX \"IDX_8a0a6f71efcf1cf9912a4fb927\" ON \"trace_event\" (\"recipient\") ",
];

const postgres = [
    "CREATE TABLE \"account\" (\"id\" SERIAL NOT NULL, \"address\" character varying(320) NOT NULL, \"domainId\" integer NOT NULL, \"displayName\" character varying(256) NOT NULL DEFAULT '', \"passwordHash\" character varying(256), \"source\" character varying(16) NOT NULL DEFAULT 'local', \"directoryId\" character varying(64), \"externalId\" character varying(256), \"enabled\" boolean NOT NULL DEFAULT true, \"isAdmin\" boolean NOT NULL DEFAULT false, \"quotaBytes\" bigint NOT NULL DEFAULT '0', \"quotaMessages\" integer NOT NULL DEFAULT '0', \"usedBytes\" bigint NOT NULL DEFAULT '0', \"usedMessages\" integer NOT NULL DEFAULT '0', \"createdAt\" bigint NOT NULL, \"updatedAt\" bigint NOT NULL, \"deletedAt\" bigint, CONSTRAINT \"UQ_83603c168bc00b20544539fbea6\" UNIQUE (\"address\"), CONSTRAINT \"PK_54115ee388cdb6d86bb4bf5b2ea\" PRIMARY KEY (\"id\"))",
    "CREATE INDEX \"IDX_7993d2452a58d10de14df8987f\" ON \"account\"  (\"domainId\") ",
    "CREATE UNIQUE INDEX \"account_external\" ON \"account\"  (\"directoryId\", \"externalId\") ",
    "CREATE TABLE \"alias\" (\"id\" SERIAL NOT NULL, \"address\" character varying(320) NOT NULL, \"domainId\" integer NOT NULL, \"source\" character varying(16) NOT NULL DEFAULT 'local', \"createdAt\" bigint NOT NULL, CONSTRAINT \"UQ_fb6cc5f518c73a96730df47e489\" UNIQUE (\"address\"), CONSTRAINT \"PK_b1848d04b41d10a5712fc2e673c\" PRIMARY KEY (\"id\"))",
    "CREATE INDEX \"IDX_b821f505eb5590979f2a15a47a\" ON \"alias\"  (\"domainId\") ",
    "CREATE TABLE \"alias_target\" (\"id\" SERIAL NOT NULL, \"aliasId\" integer NOT NULL, \"accountId\" integer, \"forwardTo\" character varying(320), CONSTRAINT \"PK_4a417cb03bee1a157e40033cca7\" PRIMARY KEY (\"id\"))",
    "CREATE INDEX \"IDX_c951d6d6eeedbadc0d58362ad7\" ON \"alias_target\"  (\"aliasId\") ",
    "CREATE INDEX \"IDX_e53a650d99f03e711d427b92fd\" ON \"alias_target\"  (\"accountId\") ",
    "CREATE UNIQUE INDEX \"alias_target_unique\" ON \"alias_target\"  (\"aliasId\", \"accountId\", \"forwardTo\") ",
    "CREATE TABLE \"blob\" (\"hash\" character varying(64) NOT NULL, \"size\" bigint NOT NULL, \"refCount\" integer NOT NULL DEFAULT '0', \"createdAt\" bigint NOT NULL, CONSTRAINT \"PK_8dd6ecf895768c50ed394c53277\" PRIMARY KEY (\"hash\"))",
    "CREATE TABLE \"domain\" (\"id\" SERIAL NOT NULL, \"name\" character varying(253) NOT NULL, \"unicodeName\" character varying(253) NOT NULL, \"dkimSelector\" character varying(63), \"dkimPrivateKey\" text, \"createdAt\" bigint NOT NULL, CONSTRAINT \"UQ_26a07113f90df161f919c7d5a65\" UNIQUE (\"name\"), CONSTRAINT \"PK_27e3ec3ea0ae02c8c5bceab3ba9\" PRIMARY KEY (\"id\"))",
    "CREATE TABLE \"mail_group\" (\"id\" SERIAL NOT NULL, \"address\" character varying(320) NOT NULL, \"domainId\" integer NOT NULL, \"displayName\" character varying(256) NOT NULL DEFAULT '', \"membersMaySendAs\" boolean NOT NULL DEFAULT false, \"source\" character varying(16) NOT NULL DEFAULT 'local', \"directoryId\" character varying(64), \"externalId\" character varying(256), \"createdAt\" bigint NOT NULL, CONSTRAINT \"UQ_5f7a51684f3112298d2a9a98ae8\" UNIQUE (\"address\"), CONSTRAINT \"PK_0cc85c28cf832a4831a9419933f\" PRIMARY KEY (\"id\"))",
    "CREATE INDEX \"IDX_acb3176c3bb04e98f146068750\" ON \"mail_group\"  (\"domainId\") ",
    "CREATE UNIQUE INDEX \"group_external\" ON \"mail_group\"  (\"directoryId\", \"externalId\") ",
    "CREATE TABLE \"mail_group_member\" (\"id\" SERIAL NOT NULL, \"groupId\" integer NOT NULL, \"accountId\" integer, \"memberGroupId\" integer, \"externalAddress\" character varying(320), CONSTRAINT \"PK_b8355f2e11e4bab504832e420e1\" PRIMARY KEY (\"id\"))",
    "CREATE INDEX \"IDX_e1fd4ab4d16a44a3b8d27149f3\" ON \"mail_group_member\"  (\"groupId\") ",
    "CREATE INDEX \"IDX_fa8701b9954f7ece4c86f37890\" ON \"mail_group_member\"  (\"accountId\") ",
    "CREATE TABLE \"mail_change\" (\"id\" SERIAL NOT NULL, \"accountId\" integer NOT NULL, \"mailboxId\" integer NOT NULL, \"kind\" character varying(16) NOT NULL, \"uid\" integer, \"modseq\" bigint NOT NULL, \"at\" bigint NOT NULL, CONSTRAINT \"PK_f5c56600f6b6cf8f0ab184e8120\" PRIMARY KEY (\"id\"))",
    "CREATE INDEX \"IDX_98fd8751b83ffdad5892e51c3d\" ON \"mail_change\"  (\"accountId\") ",
    "CREATE INDEX \"mail_change_mailbox_modseq\" ON \"mail_change\"  (\"mailboxId\", \"modseq\") ",
    "CREATE TABLE \"mailbox\" (\"id\" SERIAL NOT NULL, \"accountId\" integer NOT NULL, \"name\" character varying(1024) NOT NULL, \"specialUse\" character varying(16), \"uidValidity\" bigint NOT NULL, \"uidNext\" integer NOT NULL DEFAULT '1', \"highestModseq\" bigint NOT NULL DEFAULT '1', \"messageCount\" integer NOT NULL DEFAULT '0', \"totalBytes\" bigint NOT NULL DEFAULT '0', \"subscribed\" boolean NOT NULL DEFAULT true, \"createdAt\" bigint NOT NULL, CONSTRAINT \"PK_f7191e7ca96ddaeebb57e58650f\" PRIMARY KEY (\"id\"))",
    "CREATE UNIQUE INDEX \"mailbox_account_name\" ON \"mailbox\"  (\"accountId\", \"name\") ",
    "CREATE TABLE \"message\" (\"id\" SERIAL NOT NULL, \"mailboxId\" integer NOT NULL, \"accountId\" integer NOT NULL, \"uid\" integer NOT NULL, \"modseq\" bigint NOT NULL, \"flags\" character varying(2048) NOT NULL DEFAULT '', \"internalDate\" bigint NOT NULL, \"size\" integer NOT NULL, \"blobHash\" character varying(64) NOT NULL, \"queueId\" character varying(32), \"messageIdHeader\" character varying(998), \"subject\" text NOT NULL DEFAULT '', \"envelope\" text NOT NULL, \"bodyStructure\" text NOT NULL, CONSTRAINT \"PK_ba01f0a3e0123651915008bc578\" PRIMARY KEY (\"id\"))",
    "CREATE INDEX \"IDX_8ea758e9411d29efc893bc3b8e\" ON \"message\"  (\"accountId\") ",
    "CREATE INDEX \"IDX_9eeea70ce829a054afd185697d\" ON \"message\"  (\"messageIdHeader\") ",
    "CREATE INDEX \"message_mailbox_modseq\" ON \"message\"  (\"mailboxId\", \"modseq\") ",
    "CREATE UNIQUE INDEX \"message_mailbox_uid\" ON \"message\"  (\"mailboxId\", \"uid\") ",
    "CREATE TABLE \"queue_message\" (\"id\" SERIAL NOT NULL, \"queueId\" character varying(32) NOT NULL, \"sender\" character varying(320) NOT NULL, \"blobHash\" character varying(64) NOT NULL, \"size\" bigint NOT NULL, \"messageIdHeader\" character varying(998), \"accountId\" integer, \"isBounce\" boolean NOT NULL DEFAULT false, \"createdAt\" bigint NOT NULL, \"expiresAt\" bigint NOT NULL, \"completedAt\" bigint, CONSTRAINT \"UQ_01d722d2cce048927e1dc2c8bd3\" UNIQUE (\"queueId\"), CONSTRAINT \"PK_732a8284f206f65fa2b68e62f12\" PRIMARY KEY (\"id\"))",
    "CREATE TABLE \"queue_recipient\" (\"id\" SERIAL NOT NULL, \"queueMessageId\" integer NOT NULL, \"recipient\" character varying(320) NOT NULL, \"domain\" character varying(253) NOT NULL, \"status\" character varying(16) NOT NULL DEFAULT 'pending', \"attempts\" integer NOT NULL DEFAULT '0', \"nextAttemptAt\" bigint NOT NULL, \"lastReply\" text, \"lastHost\" character varying(255), \"updatedAt\" bigint NOT NULL, CONSTRAINT \"PK_d8804c6946e26247a15052859c4\" PRIMARY KEY (\"id\"))",
    "CREATE INDEX \"IDX_5aa1df12c487a1e081f3c2f55c\" ON \"queue_recipient\"  (\"queueMessageId\") ",
    "CREATE INDEX \"queue_recipient_due\" ON \"queue_recipient\"  (\"status\", \"nextAttemptAt\") ",
    "CREATE TABLE \"trace_event\" (\"id\" SERIAL NOT NULL, \"queueId\" character varying(32) NOT NULL, \"at\" bigint NOT NULL, \"event\" character varying(64) NOT NULL, \"messageIdHeader\" character varying(998), \"sender\" character varying(320), \"recipient\" character varying(320), \"detail\" text NOT NULL DEFAULT '', CONSTRAINT \"PK_69810b611f8982ac162ca9caea2\" PRIMARY KEY (\"id\"))",
    "CREATE INDEX \"IDX_fde5e8ca1a0f75538ba067fa2f\" ON \"trace_event\"  (\"queueId\") ",
    "CREATE INDEX \"IDX_a7c2efe320815cd391d3b8cb77\" ON \"trace_event\"  (\"at\") ",
    "CREATE INDEX \"IDX_7ee81d5870d1528f27dab831bc\" ON \"trace_event\"  (\"messageIdHeader\") ",
    "CREATE INDEX \"IDX_eb436a1dc8920290ac462274f7\" ON \"trace_event\"  (\"sender\") ",
    "CREATE INDEX \"IDX_8a0a6f71efcf1cf9912a4fb927\" ON \"trace_event\"  (\"recipient\") ",
];

export class Initial1764300000000 implements MigrationInterface {
  name = 'Initial1764300000000';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of q.connection.options.type === 'postgres' ? postgres : sqlite) await q.query(sql);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['trace_event', 'queue_recipient', 'queue_message', 'blob', 'mail_change', 'message', 'mailbox',
      'mail_group_member', 'mail_group', 'alias_target', 'alias', 'account', 'domain']) {
      await q.query(`DROP TABLE "${t}"`);
    }
  }
}
