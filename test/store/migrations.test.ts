// The committed migrations must produce exactly the schema the entities describe, on SQLite and
// on PostgreSQL, and running them again must do nothing.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DataSource } from 'typeorm';
import { migrations } from '../../schemas/migrations/index.js';
import type { App } from '../../src/instance/app.js';
import { backends, createStorage, type TestStorage } from '../helpers/store-matrix.js';

async function pendingSchemaChanges(db: DataSource): Promise<string[]> {
  const log = await db.driver.createSchemaBuilder().log();
  return log.upQueries.map((q) => q.query);
}

async function appliedMigrations(db: DataSource): Promise<string[]> {
  const rows = await db.query('SELECT name FROM migrations ORDER BY id') as Array<{ name: string }>;
  return rows.map((r) => r.name);
}

for (const backend of backends) {
  describe(backend.name, { skip: backend.skip }, () => {
    let storage: TestStorage;
    let app: App | null = null;

    before(async () => { storage = await createStorage(backend); });
    after(async () => {
      await app?.close();
      await storage.destroy();
    });

    test('after runMigrations the entities need no schema change', async () => {
      app = await storage.open();
      assert.equal(app.store.db.options.type, backend.name === 'postgres' ? 'postgres' : 'better-sqlite3');
      assert.deepEqual(await pendingSchemaChanges(app.store.db), []);
      assert.deepEqual(await appliedMigrations(app.store.db), migrations.map((m) => new m().name));
      assert.equal(await app.store.db.showMigrations(), false, 'no migration pending');
    });

    if (backend.name === 'postgres') {
      test('the tables live in the test schema, not in public', async () => {
        const rows = await app!.store.db.query(
          `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`, [storage.schema]) as Array<{ table_name: string }>;
        const names = rows.map((r) => r.table_name);
        for (const t of ['account', 'alias', 'alias_target', 'blob', 'domain', 'mail_change', 'mail_group', 'mail_group_member',
          'mailbox', 'message', 'migrations', 'queue_message', 'queue_recipient', 'trace_event']) {
          assert.ok(names.includes(t), `${t} in schema ${storage.schema}`);
        }
      });
    }

    test('a second open runs no migration again and keeps the data', async () => {
      await app!.accounts.addDomain('example.test');
      await app!.close();
      app = null;
      app = await storage.open();
      assert.deepEqual(await appliedMigrations(app.store.db), migrations.map((m) => new m().name), 'each migration recorded once');
      assert.deepEqual(await pendingSchemaChanges(app.store.db), []);
      assert.ok(await app.accounts.getDomain('example.test'), 'data survives the reopen');
      // And explicitly: running them again executes nothing.
      const ran = await app.store.db.runMigrations({ transaction: 'each' });
      assert.deepEqual(ran, []);
    });

    test('the check is not vacuous: a missing index is reported as a pending change', async () => {
      await app!.store.db.query('DROP INDEX "queue_recipient_due"');
      const pending = await pendingSchemaChanges(app!.store.db);
      assert.ok(pending.some((q) => q.includes('queue_recipient_due')), pending.join('\n'));
    });
  });
}
