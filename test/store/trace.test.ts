// Message trace on both databases: recorded events are flushed in batches and found again by
// queue id, Message-ID (with or without angle brackets), sender, recipient and time.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TraceEventEntity } from '../../schemas/entities/index.js';
import type { App } from '../../src/instance/app.js';
import { newQueueId } from '../../src/services/trace.service.js';
import { backends, openTestApp, type TestApp } from '../helpers/store-matrix.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const backend of backends) {
  describe(backend.name, { skip: backend.skip }, () => {
    let t: TestApp;
    let app: App;
    const q1 = newQueueId();
    const q2 = newQueueId();
    let q3 = '';
    let between = 0;

    before(async () => {
      t = await openTestApp(backend);
      app = t.app;
      app.trace.record('smtp.message.received', { queueId: q1, messageId: '<one@remote.test>', sender: 'Alice@Remote.Test', size: 10 });
      app.trace.record('delivery.local.stored', { queueId: q1, messageId: '<one@remote.test>', sender: 'Alice@Remote.Test',
        recipient: 'bob@example.test', uid: 1 });
      await sleep(5); // search orders messages by their first event's millisecond: keep them apart
      app.trace.record('queue.message.queued', { queueId: q2, messageId: '<two@remote.test>', sender: 'carol@remote.test',
        recipient: 'dan@far.example' });
      await app.trace.flush();
      await sleep(15);
      between = Date.now();
      await sleep(5);
      q3 = newQueueId();
      app.trace.record('smtp.message.received', { queueId: q3, messageId: null, sender: '', recipient: 'bob@example.test' });
    });
    after(async () => { await t?.cleanup(); });

    test('queue ids are time ordered and unique', () => {
      assert.match(q1, /^[0-9A-Z]{19}$/);
      assert.notEqual(q1, q2);
      assert.ok(q1.slice(0, 9) <= q3.slice(0, 9));
    });

    test('flush writes the rows, with the extra fields as JSON detail', async () => {
      await app.trace.flush();
      const rows = await app.store.em.find(TraceEventEntity, { where: { queueId: q1 }, order: { id: 'ASC' } });
      assert.deepEqual(rows.map((r) => r.event), ['smtp.message.received', 'delivery.local.stored']);
      assert.deepEqual(JSON.parse(rows[0]!.detail), { size: 10 });
      assert.deepEqual(JSON.parse(rows[1]!.detail), { uid: 1 });
      assert.equal(rows[0]!.recipient, null);
      assert.equal(typeof rows[0]!.at, 'number');
      assert.ok(rows[0]!.at <= rows[1]!.at);
    });

    test('search finds unflushed events too (search flushes first)', async () => {
      const q = newQueueId();
      app.trace.record('smtp.message.received', { queueId: q, sender: 'late@remote.test' });
      const res = await app.trace.search({ queueId: q });
      assert.deepEqual(res.map((r) => [r.queueId, r.events.length]), [[q, 1]]);
    });

    test('by Message-ID, with and without angle brackets', async () => {
      for (const id of ['<one@remote.test>', 'one@remote.test', '  <one@remote.test> ']) {
        const res = await app.trace.search({ messageId: id });
        assert.deepEqual(res.map((r) => r.queueId), [q1], id);
        assert.deepEqual(res[0]!.events.map((e) => e.event), ['smtp.message.received', 'delivery.local.stored'], 'all events of the message');
      }
      assert.deepEqual(await app.trace.search({ messageId: 'unknown@remote.test' }), []);
    });

    test('by sender and recipient, case-insensitively', async () => {
      assert.deepEqual((await app.trace.search({ from: 'alice@remote.test' })).map((r) => r.queueId), [q1]);
      assert.deepEqual((await app.trace.search({ from: 'ALICE@REMOTE.TEST' })).map((r) => r.queueId), [q1]);
      assert.deepEqual((await app.trace.search({ to: 'dan@far.example' })).map((r) => r.queueId), [q2]);
      assert.deepEqual((await app.trace.search({ to: 'Bob@Example.Test' })).map((r) => r.queueId).sort(), [q1, q3].sort());
      assert.deepEqual((await app.trace.search({ from: 'carol@remote.test', to: 'bob@example.test' })), []);
    });

    test('since limits to messages with an event at or after that time, oldest first', async () => {
      assert.deepEqual((await app.trace.search({ to: 'bob@example.test', since: between })).map((r) => r.queueId), [q3]);
      const all = await app.trace.search({ since: 1 });
      const order = all.map((r) => r.queueId).filter((q) => [q1, q2, q3].includes(q));
      assert.deepEqual(order, [q1, q2, q3]);
      assert.deepEqual(await app.trace.search({ since: Date.now() + 60_000 }), []);
    });

    test('a delivery leaves a trace that is found by its Message-ID', async () => {
      await app.accounts.addDomain('example.test');
      await app.accounts.addAccount({ address: 'bob@example.test', password: null });
      const queueId = newQueueId();
      const raw = Buffer.from('From: x@remote.test\r\nTo: bob@example.test\r\nMessage-ID: <traced@remote.test>\r\nSubject: t\r\n\r\nbody\r\n');
      await app.delivery.deliver({ queueId, sender: 'x@remote.test', recipients: ['bob@example.test'], raw });
      const res = await app.trace.search({ messageId: 'traced@remote.test' });
      assert.equal(res.length, 1);
      assert.equal(res[0]!.queueId, queueId);
      const stored = res[0]!.events.find((e) => e.event === 'delivery.local.stored');
      assert.ok(stored);
      assert.equal(stored.recipient, 'bob@example.test');
      assert.equal(stored.sender, 'x@remote.test');
      assert.equal(JSON.parse(stored.detail).uid, 1);
    });
  });
}
