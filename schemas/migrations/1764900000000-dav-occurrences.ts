// Stored VEVENT instances for time-range queries (dav_object.occurrences, issue 5 benchmark):
// a plain VEVENT time-range calendar-query decides from them without parsing iCalendar.
// Generated with src/store/generate-migration.ts; only the dav_object change is here. Existing
// rows keep NULL and are filled lazily by calendar-query (src/dav/reports/calendar-query.ts);
// until then they are evaluated by parsing, as before.
import type { MigrationInterface, QueryRunner } from 'typeorm';

const sqlite = [
  "DROP INDEX \"dav_object_collection_name\"",
  "DROP INDEX \"dav_object_collection_uid\"",
  "DROP INDEX \"dav_object_collection_range\"",
  "CREATE TABLE \"temporary_dav_object\" (\"id\" integer PRIMARY KEY AUTOINCREMENT NOT NULL, \"collectionId\" integer NOT NULL, \"name\" varchar(512) NOT NULL, \"uid\" varchar(512), \"contentType\" varchar(128) NOT NULL, \"etag\" varchar(80) NOT NULL, \"data\" text NOT NULL, \"size\" integer NOT NULL, \"componentType\" varchar(16), \"firstStart\" bigint, \"lastEnd\" bigint, \"recurring\" boolean NOT NULL DEFAULT (0), \"deadProps\" text NOT NULL DEFAULT ('{}'), \"modToken\" bigint NOT NULL DEFAULT (0), \"createdAt\" bigint NOT NULL, \"updatedAt\" bigint NOT NULL, \"occurrences\" text)",
  "INSERT INTO \"temporary_dav_object\"(\"id\", \"collectionId\", \"name\", \"uid\", \"contentType\", \"etag\", \"data\", \"size\", \"componentType\", \"firstStart\", \"lastEnd\", \"recurring\", \"deadProps\", \"modToken\", \"createdAt\", \"updatedAt\") SELECT \"id\", \"collectionId\", \"name\", \"uid\", \"contentType\", \"etag\", \"data\", \"size\", \"componentType\", \"firstStart\", \"lastEnd\", \"recurring\", \"deadProps\", \"modToken\", \"createdAt\", \"updatedAt\" FROM \"dav_object\"",
  "DROP TABLE \"dav_object\"",
  "ALTER TABLE \"temporary_dav_object\" RENAME TO \"dav_object\"",
  "CREATE UNIQUE INDEX \"dav_object_collection_name\" ON \"dav_object\" (\"collectionId\", \"name\") ",
  "CREATE INDEX \"dav_object_collection_uid\" ON \"dav_object\" (\"collectionId\", \"uid\") ",
  "CREATE INDEX \"dav_object_collection_range\" ON \"dav_object\" (\"collectionId\", \"firstStart\", \"lastEnd\") ",
];

const postgres = [
  "ALTER TABLE \"dav_object\" ADD \"occurrences\" text",
];

export class DavOccurrences1764900000000 implements MigrationInterface {
  name = 'DavOccurrences1764900000000';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of q.connection.options.type === 'postgres' ? postgres : sqlite) await q.query(sql);
  }

  async down(q: QueryRunner): Promise<void> {
    // SQLite >= 3.35 drops columns in place; the indexes do not involve the column.
    await q.query('ALTER TABLE "dav_object" DROP COLUMN "occurrences"');
  }
}
