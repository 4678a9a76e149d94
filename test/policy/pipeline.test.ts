import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CidrList, parseCidr } from '../../src/policy/cidr.js';
import { runPipeline, type FilterStep, type MessageFacts } from '../../src/policy/pipeline.js';
import { reject, type Verdict } from '../../src/policy/verdict.js';

const facts: MessageFacts = {
  queueId: 'Q1', remoteAddress: '192.0.2.1', heloName: 'h', sender: 'a@b.test', recipients: ['c@d.test'],
  raw: Buffer.from('Subject: x\r\n\r\nbody\r\n'), accountId: null, trusted: false, tls: false,
};

const step = (name: string, v: Verdict | (() => Promise<Verdict>), timeoutMs = 200, onFailure?: Verdict): FilterStep =>
  ({ name, timeoutMs, onFailure, run: typeof v === 'function' ? v : async () => v });

test('CIDR lists match IPv4, IPv6 and IPv4-mapped addresses', () => {
  const l = new CidrList(['192.168.1.0/24', '2001:db8::/32', '10.0.0.1']);
  assert.ok(l.contains('192.168.1.77'));
  assert.ok(l.contains('::ffff:192.168.1.5'));
  assert.ok(!l.contains('192.168.2.1'));
  assert.ok(l.contains('2001:db8:1::5'));
  assert.ok(!l.contains('2001:db9::1'));
  assert.ok(l.contains('10.0.0.1'));
  assert.ok(!l.contains('10.0.0.2'));
  assert.ok(!l.contains('not-an-ip'));
  assert.ok(new CidrList(['::/0']).contains('::1'));
  assert.throws(() => parseCidr('10.0.0.0/33'));
  assert.throws(() => parseCidr('300.1.1.1'));
});

test('tags accumulate, junk is remembered, the first reject ends the chain', async () => {
  let ranAfterReject = false;
  const r = await runPipeline([
    step('a', { action: 'tag', headers: ['X-A: 1\r\n'], reason: 'a' }),
    step('b', { action: 'junk', headers: ['X-Spam: yes\r\n'], reason: 'spam' }),
    step('c', reject(550, '5.7.1', 'no')),
    step('d', async () => { ranAfterReject = true; return { action: 'accept' }; }),
  ], facts);
  assert.equal(r.final.action, 'reject');
  assert.deepEqual(r.headers, ['X-A: 1\r\n', 'X-Spam: yes\r\n']);
  assert.equal(r.junk, true);
  assert.equal(ranAfterReject, false);
  assert.deepEqual(r.steps.map((s) => s.step), ['a', 'b', 'c']);
});

test('a step that throws or hangs fails closed (tempfail) unless configured to fail open', async () => {
  const thrown = await runPipeline([step('boom', async () => { throw new Error('spamd down'); })], facts);
  assert.equal(thrown.final.action, 'tempfail');
  assert.match(thrown.steps[0]!.failed!, /spamd down/);
  const hung = await runPipeline([step('hang', () => new Promise<Verdict>(() => undefined), 50)], facts);
  assert.equal(hung.final.action, 'tempfail');
  assert.match(hung.steps[0]!.failed!, /timed out/);
  const open = await runPipeline([step('dnsbl', async () => { throw new Error('dns'); }, 50, { action: 'accept' })], facts);
  assert.equal(open.final.action, 'accept');
});

test('a step with start() begins before the earlier steps and run() gets what it started', async () => {
  const order: string[] = [];
  const early: FilterStep = {
    name: 'scan', timeoutMs: 200,
    start: () => { order.push('scan.start'); return Promise.resolve('clean'); },
    run: async (_f, _s, started) => { order.push(`scan.run:${String(await started)}`); return { action: 'accept' }; },
  };
  const first = step('auth', async () => { order.push('auth.run'); return { action: 'accept' }; });
  const r = await runPipeline([first, early], facts);
  assert.equal(r.final.action, 'accept');
  assert.deepEqual(order, ['scan.start', 'auth.run', 'scan.run:clean']);

  // The chain ends before the step: run() is not called, and the started work failing later
  // is not an unhandled rejection (node:test would report it).
  let ran = false;
  let rejectLater!: (e: Error) => void;
  const dropped: FilterStep = {
    name: 'scan', timeoutMs: 200,
    start: () => new Promise((_resolve, rej) => { rejectLater = rej; }),
    run: async () => { ran = true; return { action: 'accept' }; },
  };
  const stopped = await runPipeline([step('auth', reject(550, '5.7.1', 'forged')), dropped], facts);
  assert.equal(stopped.final.action, 'reject');
  assert.equal(ran, false);
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  rejectLater(new Error('clamd went away'));
  await new Promise((r) => setTimeout(r, 20));
  process.off('unhandledRejection', onUnhandled);
  assert.deepEqual(unhandled, []);

  // start() throwing is not fatal: run() does the work itself.
  const recovered = await runPipeline([{
    name: 'scan', timeoutMs: 200,
    start: () => { throw new Error('no pool'); },
    run: async (_f, _s, started) => (started === undefined ? { action: 'tag', headers: [], reason: 'scanned in run' } : { action: 'accept' }),
  }], facts);
  assert.equal(recovered.steps[0]!.verdict.action, 'tag');
});
