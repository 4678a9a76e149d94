// config.delivery.smarthost: every remote message goes to the one configured relay, without
// any MX lookup (the instance's DNS here is a closed loopback port). Loopback only.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startInstance, type TestInstance } from '../helpers/instance.js';
import { freePort, startScriptedMx, type ScriptedMx } from './scripted-mx.js';
import { submit, traceEvents, waitFor } from './util.js';

const RELAY_HOST = '127.0.0.7';
let relay: ScriptedMx;
let inst: TestInstance;

before(async () => {
  relay = await startScriptedMx(RELAY_HOST, await freePort(RELAY_HOST));
  inst = await startInstance({ config: { delivery: { smarthost: { host: RELAY_HOST, port: relay.port } } } });
});

after(async () => {
  await inst?.stop();
  await relay?.stop();
});

test('with a smarthost, mail for any domain is handed to it in one transaction per domain', async () => {
  const queueId = await submit(inst, { to: ['a@one.example', 'b@one.example', 'c@two.example'], subject: 'via relay' });
  await waitFor('both transactions at the relay', async () =>
    relay.received.filter((r) => r.raw.toString().includes('Subject: via relay')).length === 2);
  const got = relay.received.filter((r) => r.raw.toString().includes('Subject: via relay'));
  assert.deepEqual(got.map((r) => r.to.sort().join(',')).sort(), ['a@one.example,b@one.example', 'c@two.example']);
  assert.ok(got.every((r) => r.from === 'admin@example.test'));
  assert.ok(got.every((r) => /^DKIM-Signature: /.test(r.raw.toString())));
  await waitFor('the queue entry to complete', async () => (await inst.app.queue.get(queueId))?.message.completedAt);
  const delivered = (await traceEvents(inst, queueId)).filter((e) => e.event === 'queue.attempt.delivered');
  assert.equal(delivered.length, 3);
  assert.ok(delivered.every((e) => e.detail.host === `${RELAY_HOST}:${relay.port}`));
});
