// MX listener policy: who may receive, relaying, quota at RCPT, SIZE, and RCPT replies that do
// not tell an address harvester which local addresses exist.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TEST_DOMAIN, startInstance, type TestInstance } from '../helpers/instance.js';
import { inboxMessages, makeMessage, median, openTransaction, RawSmtp } from '../helpers/raw-smtp.js';

const D = TEST_DOMAIN;
const ALICE = `alice@${D}`;
const FULL = `full@${D}`;
const MAX_SIZE = 20_000;

let inst: TestInstance;

before(async () => {
  inst = await startInstance({ config: { limits: { maxMessageSize: MAX_SIZE } } });
  await inst.app.accounts.addAccount({ address: ALICE });
  await inst.app.accounts.addAccount({ address: FULL, quotaMessages: 1 });
});
after(async () => { await inst?.stop(); });

test('an unknown local user gets 550 5.1.1', async () => {
  const { c, replies } = await openTransaction(inst.ports.smtp!, 'x@remote.test', [`nobody@${D}`, `NOBODY+tag@${D}`]);
  try {
    assert.deepEqual(replies.slice(0, 2).map((r) => r.code), [250, 250]);
    for (const r of replies.slice(2)) assert.match(r.lines[0]!, /^550 5\.1\.1 /);
    assert.equal((await c.cmd(`RCPT TO:<${ALICE}>`)).code, 250, 'the transaction goes on');
  } finally {
    await c.quit();
  }
});

test('relaying to a remote domain without authentication gets 554 5.7.1', async () => {
  const { c, replies } = await openTransaction(inst.ports.smtp!, `${ALICE}`, ['victim@remote.test', 'victim@[127.0.0.1]']);
  try {
    assert.match(replies[2]!.lines[0]!, /^554 5\.7\.1 /);
    assert.equal(replies[3]!.code >= 500, true, `address literal: ${replies[3]!.lines[0]}`);
    // a relay attempt with only refused recipients cannot reach DATA
    assert.equal((await c.cmd('DATA')).code, 503);
  } finally {
    await c.quit();
  }
  assert.equal((await inst.app.queue.list({ all: true })).length, 0, 'nothing queued');
});

test('an account over quota gets 452 4.2.2 at RCPT', async () => {
  // first message fills the one-message quota
  const first = await openTransaction(inst.ports.smtp!, 'x@remote.test', [FULL]);
  try {
    assert.equal(first.replies[2]!.code, 250);
    assert.equal((await first.c.data(makeMessage({ from: 'x@remote.test', to: FULL, subject: 'fill', body: 'x\r\n' }))).code, 250);
    const r = await first.c.cmd('MAIL FROM:<y@remote.test>');
    assert.equal(r.code, 250);
    const full = await first.c.cmd(`RCPT TO:<${FULL}>`);
    assert.equal(full.code, 452);
    assert.match(full.lines[0]!, /^452 4\.2\.2 /);
  } finally {
    await first.c.quit();
  }
  assert.equal((await inboxMessages(inst.app, FULL)).length, 1);
});

test('SIZE= over the limit in MAIL FROM is refused with 552', async () => {
  const { c } = await RawSmtp.connect(inst.ports.smtp!);
  try {
    const ehlo = await c.cmd('EHLO client.test');
    assert.match(ehlo.text, new RegExp(`^SIZE ${MAX_SIZE}$`, 'm'));
    const r = await c.cmd(`MAIL FROM:<x@remote.test> SIZE=${MAX_SIZE + 1}`);
    assert.equal(r.code, 552);
    assert.match(r.lines[0]!, /^552 5\.3\.4 /);
    assert.equal((await c.cmd(`MAIL FROM:<x@remote.test> SIZE=${MAX_SIZE - 100}`)).code, 250);
  } finally {
    await c.quit();
  }
});

test('an oversize DATA gets 552 5.3.4, nothing is stored, and the connection keeps working', async () => {
  const before = (await inboxMessages(inst.app, ALICE)).length;
  const { c, replies } = await openTransaction(inst.ports.smtp!, 'x@remote.test', [ALICE]);
  try {
    assert.equal(replies[2]!.code, 250);
    const big = makeMessage({ from: 'x@remote.test', to: ALICE, subject: 'big', body: `${'y'.repeat(76)}\r\n`.repeat(400) });
    assert.ok(big.length > MAX_SIZE + 5000);
    const r = await c.data(big);
    assert.equal(r.code, 552);
    assert.match(r.lines[0]!, /^552 5\.3\.4 /);
    // same connection, a message that fits
    assert.equal((await c.cmd('MAIL FROM:<x@remote.test>')).code, 250);
    assert.equal((await c.cmd(`RCPT TO:<${ALICE}>`)).code, 250);
    const small = await c.data(makeMessage({ from: 'x@remote.test', to: ALICE, subject: 'small after big', body: 'ok\r\n' }));
    assert.equal(small.code, 250);
  } finally {
    await c.quit();
  }
  const after = await inboxMessages(inst.app, ALICE);
  assert.equal(after.length, before + 1);
  assert.ok(after.every((m) => !m.includes('Subject: big\r\n')));
  const blobs: string[] = [];
  for await (const b of inst.app.store.blobs.list()) blobs.push(b.hash);
  for (const h of blobs) assert.ok((await inst.app.store.blobs.get(h)).length < MAX_SIZE, 'no blob of the oversize message');
});

test('an unknown recipient is not answered measurably faster than a known one', async () => {
  const { c, replies } = await openTransaction(inst.ports.smtp!, 'harvester@remote.test', []);
  const known: number[] = [];
  const unknown: number[] = [];
  try {
    assert.equal(replies[1]!.code, 250);
    for (let i = 0; i < 20; i++) {
      // interleaved so drift in machine load hits both alike
      let t = performance.now();
      assert.equal((await c.cmd(`RCPT TO:<${ALICE}>`)).code, 250);
      known.push(performance.now() - t);
      t = performance.now();
      assert.equal((await c.cmd(`RCPT TO:<ghost${i}@${D}>`)).code, 550);
      unknown.push(performance.now() - t);
    }
  } finally {
    await c.quit();
  }
  const k = median(known);
  const u = median(unknown);
  assert.ok(k >= 2.5 && u >= 2.5, `both replies are held to the floor (known ${k.toFixed(2)} ms, unknown ${u.toFixed(2)} ms)`);
  assert.ok(u >= 0.5 * k, `unknown median ${u.toFixed(2)} ms vs known ${k.toFixed(2)} ms`);
});
