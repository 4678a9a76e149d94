// Queue lifetime: a message whose remote never answers is retried until config.delivery
// .queueLifetimeHours has passed, then expires, and the sender gets a DSN (Action: failed).
// The "remote" is a loopback address with nothing listening. Loopback only.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ADMIN, startInstance, type TestInstance } from '../helpers/instance.js';
import { startFakeDns, type FakeDns } from '../helpers/fake-dns.js';
import { freePort } from './scripted-mx.js';
import { findDsn, submit, traceEvents, waitFor } from './util.js';

const DEAD_HOST = '127.0.0.6';
let dns: FakeDns;
let inst: TestInstance;

before(async () => {
  dns = await startFakeDns({
    'gone.test': { mx: [{ exchange: 'mx.gone.test', priority: 10 }] },
    'mx.gone.test': { a: [DEAD_HOST] },
  });
  inst = await startInstance({
    config: {
      delivery: {
        dnsServers: [dns.server], remotePort: await freePort(DEAD_HOST), connectTimeoutSeconds: 1,
        queueLifetimeHours: 0.001, // 3.6 s
        retryMinutes: [0.01], // 0.6 s
      },
    },
  });
});

after(async () => {
  await inst?.stop();
  await dns?.stop();
});

test('a message that outlives the queue lifetime expires with a DSN', async () => {
  const queueId = await submit(inst, { to: ['someone@gone.test'], subject: 'never arrives' });
  const dsn = await findDsn(inst, ADMIN, 'never arrives', 15_000);
  assert.match(dsn, /^Final-Recipient: rfc822; someone@gone\.test$/m);
  assert.match(dsn, /^Action: failed$/m);
  // The last temporary status stands (connection refused: 4.4.1 "no answer from host").
  assert.match(dsn, /^Status: 4\.4\.1$/m);
  assert.match(dsn, /message expired after/);
  assert.match(dsn, /ECONNREFUSED/);

  await waitFor('the queue entry to complete', async () => (await inst.app.queue.get(queueId))?.message.completedAt);
  const entry = (await inst.app.queue.get(queueId))!;
  assert.equal(entry.recipients[0]!.status, 'expired');
  assert.ok(entry.recipients[0]!.attempts >= 2, `retried (${entry.recipients[0]!.attempts} attempts)`);
  const events = (await traceEvents(inst, queueId)).map((e) => e.event);
  assert.ok(events.includes('queue.attempt.deferred') && events.includes('queue.recipient.expired') && events.includes('dsn.sent'), events.join());
  assert.ok(!events.includes('queue.attempt.delivered'));
});
