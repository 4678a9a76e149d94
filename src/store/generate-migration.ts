// Prints the SQL that brings an empty SQLite and an empty PostgreSQL database (or the
// current migrated ones) up to the entities: paste it into a new migration in
// schemas/migrations. Usage: npm run migration:generate [-- postgres://…]
import 'reflect-metadata';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createDataSource } from '../../ormconfig.js';

async function pending(url?: string): Promise<string[]> {
  const schema = url ? `gen_${process.pid}` : undefined;
  if (url) {
    const admin = createDataSource({ dataDir: '', databaseUrl: url });
    await admin.initialize();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.destroy();
  }
  const ds = createDataSource({ dataDir: mkdtempSync(path.join(os.tmpdir(), 'pochtamt-gen-')), databaseUrl: url, schema });
  await ds.initialize();
  try {
    await ds.runMigrations();
    const sql = await ds.driver.createSchemaBuilder().log();
    return sql.upQueries.map((q) => q.query);
  } finally {
    if (url) await ds.query(`DROP SCHEMA ${schema} CASCADE`);
    await ds.destroy();
  }
}

const url = process.argv[2] ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
console.log('// sqlite');
for (const q of await pending()) console.log(JSON.stringify(q) + ',');
console.log('// postgres');
for (const q of await pending(url)) console.log(JSON.stringify(q) + ',');
