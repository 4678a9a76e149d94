// The queue survives a restart: a message deferred while the remote MX is down stays in the
// database, a new server on the same data folder picks it up, and it is delivered once the
// remote comes up — no loss, and (after a clean stop) no duplicate. Loopback only.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { startInstance, type TestInstance } from '../helpers/instance.js';
import { startFakeDns, type FakeDns } from '../helpers/fake-dns.js';
import { freePort, startScriptedMx, type ScriptedMx } from './scripted-mx.js';
import { submit, traceEvents, waitFor } from './util.js';

const MX_HOST = '127.0.0.5';
let dns: FakeDns;
let port: number;
let mx: ScriptedMx | null = null;
const cleanup: Array<() => Promise<void>> = [];

before(async () => {
  dns = await startFakeDns({
    'later.test': { mx: [{ exchange: 'mx.later.test', priority: 10 }] },
    'mx.later.test': { a: [MX_HOST] },
  });
  port = await freePort(MX_HOST);
});

after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
  await mx?.stop();
  await dns?.stop();
});

test('a message pending at shutdown is delivered after a restart on the same data folder', async () => {
  const config = { delivery: { dnsServers: [dns.server], remotePort: port, retryMinutes: [0.01], connectTimeoutSeconds: 2 } };
  const first = await startInstance({ config });
  const dataDir = first.dataDir;
  cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
  let stopped = false;
  cleanup.push(async () => { if (!stopped) await first.stop(); });

  // The remote is down: the first attempt is deferred (connection refused).
  const queueId = await submit(first, { to: ['user@later.test'], subject: 'survive a restart' });
  await waitFor('a deferred attempt', async () =>
    (await traceEvents(first, queueId)).some((e) => e.event === 'queue.attempt.deferred'));
  await first.stop({ keepData: true });
  stopped = true;

  // The remote comes up while we are down; the new server finds the message in the queue.
  mx = await startScriptedMx(MX_HOST, port);
  const second: TestInstance = await startInstance({ dataDir });
  cleanup.push(() => second.stop());
  await waitFor('delivery after the restart', async () => mx!.received.length > 0);
  await waitFor('the queue entry to complete', async () => (await second.app.queue.get(queueId))?.message.completedAt);

  const entry = (await second.app.queue.get(queueId))!;
  assert.equal(entry.recipients[0]!.status, 'delivered');
  assert.ok(entry.recipients[0]!.attempts >= 2);
  // Give a stray second attempt time to show up before counting.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(mx.received.length, 1, 'delivered exactly once after a clean stop');
  assert.match(mx.received[0]!.raw.toString(), /Subject: survive a restart/);
  const events = (await traceEvents(second, queueId)).map((e) => e.event);
  assert.ok(events.includes('queue.attempt.deferred') && events.includes('queue.attempt.delivered'), events.join());
});

test('stop() waits for an attempt in flight instead of cutting it off', async () => {
  // The remote takes a moment to answer the end of DATA; stopping meanwhile must not lose the
  // verdict (which would mean a duplicate after restart).
  await mx?.stop();
  mx = await startScriptedMx(MX_HOST, port, { dataDelayMs: 1500 });
  const inst = await startInstance({
    config: { delivery: { dnsServers: [dns.server], remotePort: port, retryMinutes: [0.01], connectTimeoutSeconds: 2 } },
  });
  let stopped = false;
  cleanup.push(async () => { if (!stopped) await inst.stop(); });
  const queueId = await submit(inst, { to: ['slow@later.test'], subject: 'slow remote' });
  await waitFor('the remote to receive the data', async () => mx!.received.some((r) => r.raw.toString().includes('Subject: slow remote')), 5000);
  const t0 = Date.now();
  await inst.stop({ keepData: true });
  stopped = true;
  assert.ok(Date.now() - t0 < 10_000, 'stop is bounded');

  const again = await startInstance({ dataDir: inst.dataDir });
  cleanup.push(async () => {
    await again.stop();
    await rm(inst.dataDir, { recursive: true, force: true });
  });
  const entry = (await again.app.queue.get(queueId))!;
  assert.equal(entry.recipients[0]!.status, 'delivered', 'the verdict was recorded before shutdown');
  assert.ok(entry.message.completedAt);
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal(mx.received.filter((r) => r.raw.toString().includes('Subject: slow remote')).length, 1);
});
