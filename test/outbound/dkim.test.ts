// Outbound DKIM (issue 6): only what we vouch for is signed — mail our authenticated accounts
// submit and our own DSNs — never outside mail that an alias forwards to another domain; and
// per-domain key rotation (`pochtamt domain dkim-rotate`): new selector, signing switches at
// once, the old key is kept (and listed) until --retire, a second rotation within the grace
// period is refused. A scripted relay on loopback (smarthost) receives everything.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import type { QueueMessageEntity } from '../../schemas/entities/index.js';
import { OutboundWorker } from '../../src/delivery/outbound-worker.js';
import { startInstance, type TestInstance } from '../helpers/instance.js';
import { RawSmtp } from '../helpers/raw-smtp.js';
import { freePort, startScriptedMx, type ScriptedMx } from './scripted-mx.js';
import { submit, waitFor } from './util.js';

const RELAY_HOST = '127.0.0.8';
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const run = promisify(execFile);
let relay: ScriptedMx;
let inst: TestInstance;
const cli = async (...args: string[]) => (await run(process.execPath, [CLI, '--data', inst.dataDir, ...args])).stdout;

before(async () => {
  relay = await startScriptedMx(RELAY_HOST, await freePort(RELAY_HOST));
  inst = await startInstance({ config: {
    delivery: { smarthost: { host: RELAY_HOST, port: relay.port } },
    policy: { senderAuth: { enabled: false }, greylist: { enabled: false }, dnsbl: { enabled: false } },
  } });
  await inst.app.accounts.addAlias('fwd@example.test', ['someone@outside.example']);
});

after(async () => {
  await inst?.stop();
  await relay?.stop();
});

function received(subject: string): Promise<string> {
  return waitFor(`"${subject}" at the relay`, async () =>
    relay.received.map((r) => r.raw.toString('latin1')).find((m) => m.includes(`Subject: ${subject}`)));
}

/** dkimVerify against the records the domain publishes (current and previous), without DNS. */
async function verify(msg: string): Promise<Array<{ selector: string; result: string }>> {
  const d = (await inst.app.accounts.getDomain('example.test'))!;
  const records = new Map<string, string>();
  for (const r of [inst.app.accounts.dkimRecordOf(d), inst.app.accounts.dkimPreviousRecordOf(d)]) {
    if (r) records.set(/^(\S+)\. IN TXT/.exec(r)![1]!, /"(.*)"/.exec(r)![1]!);
  }
  const res = await dkimVerify(Buffer.from(msg, 'latin1'), {
    resolver: async (name: string, rr: string) => {
      const txt = rr === 'TXT' ? records.get(name) : undefined;
      if (txt) return [[txt]];
      throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    },
  });
  return res.results.map((r: { status: { result: string }; selector?: string }) => ({ selector: String(r.selector), result: r.status.result }));
}

test('mail submitted by a local account is signed with the domain key', async () => {
  await submit(inst, { to: ['x@outside.example'], subject: 'signed submission' });
  const msg = await received('signed submission');
  assert.match(msg, /^DKIM-Signature: .*d=example\.test/m);
  const d = (await inst.app.accounts.getDomain('example.test'))!;
  assert.deepEqual(await verify(msg), [{ selector: d.dkimSelector, result: 'pass' }]);
});

test('outside mail forwarded by an alias is not signed with our key, even with a local From', async () => {
  const { c, greeting } = await RawSmtp.connect(inst.ports.smtp!, { localAddress: '127.0.0.9', lenient: true });
  assert.equal(greeting.code, 220);
  await c.cmd('EHLO outsider.test');
  const r = await c.send('someone@example.test', ['fwd@example.test'],
    'From: someone@example.test\r\nTo: fwd@example.test\r\nSubject: forwarded from outside\r\nMessage-ID: <fw1@outsider.test>\r\n\r\nhello\r\n');
  assert.equal(r.code, 250, r.text);
  await c.quit();
  const msg = await received('forwarded from outside');
  assert.doesNotMatch(msg, /^DKIM-Signature:/m);
  const queued = relay.received.find((x) => x.raw.toString('latin1').includes('Subject: forwarded from outside'))!;
  assert.deepEqual(queued.to, ['someone@outside.example']);
});

test('sign(): local account and DSN yes, relayed outside mail no', async () => {
  const worker = new OutboundWorker(inst.app, { deliver: async () => [] });
  const sign = (m: Partial<QueueMessageEntity>, raw: string) =>
    (worker as unknown as { sign(m: QueueMessageEntity, raw: Buffer): Promise<Buffer> }).sign({ queueId: 'T1', ...m } as QueueMessageEntity, Buffer.from(raw))
      .then((b) => b.toString('latin1'));
  const raw = 'From: admin@example.test\r\nTo: x@outside.example\r\nSubject: s\r\n\r\nbody\r\n';
  const admin = (await inst.app.accounts.getAccount('admin@example.test'))!;
  assert.match(await sign({ sender: 'admin@example.test', accountId: admin.id, isBounce: false }, raw), /^DKIM-Signature: .*d=example\.test/);
  const dsn = 'From: Mail Delivery System <MAILER-DAEMON@example.test>\r\nTo: x@outside.example\r\nSubject: Undelivered\r\n\r\nbody\r\n';
  assert.match(await sign({ sender: '', accountId: null, isBounce: true }, dsn), /^DKIM-Signature: .*d=example\.test/);
  assert.equal(await sign({ sender: 'admin@example.test', accountId: null, isBounce: false }, raw), raw);
});

test('dkim-rotate: new selector signs at once, the old key is kept until --retire, a second rotation waits for the grace period', async () => {
  const before = (await inst.app.accounts.getDomain('example.test'))!;
  const oldSelector = before.dkimSelector!;
  const oldRecord = inst.app.accounts.dkimRecordOf(before)!;

  const out = JSON.parse(await cli('domain', 'dkim-rotate', 'example.test', '--json')) as {
    selector: string; record: string; previousSelector: string; previousRecord: string; dropped: string | null };
  assert.notEqual(out.selector, oldSelector);
  assert.match(out.selector, /^pt\d{8}(-\d+)?$/);
  assert.match(out.record, new RegExp(`^${out.selector}\\._domainkey\\.example\\.test\\. IN TXT "v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]+"$`));
  assert.equal(out.previousSelector, oldSelector);
  assert.equal(out.previousRecord, oldRecord);
  assert.equal(out.dropped, null);

  // Signing uses the newest key.
  await submit(inst, { to: ['x@outside.example'], subject: 'after rotation' });
  const msg = await received('after rotation');
  assert.match(msg, new RegExp(`^DKIM-Signature: [^]*?s=${out.selector};`, 'm'));
  assert.deepEqual(await verify(msg), [{ selector: out.selector, result: 'pass' }]);

  // Both records are listed while the old key is kept.
  const listed = JSON.parse(await cli('domain', 'dkim', 'example.test', '--json')) as { selector: string; record: string; previousRecord: string };
  assert.equal(listed.selector, out.selector);
  assert.equal(listed.record, out.record);
  assert.equal(listed.previousRecord, oldRecord);

  // A second rotation inside the grace period is refused (it would drop the old key too early) …
  await assert.rejects(cli('domain', 'dkim-rotate', 'example.test'), (e: Error & { stderr: string }) => /retire it first/.test(e.stderr));
  // … but allowed once the grace period is over: then the older key is dropped.
  const later = await inst.app.accounts.rotateDkim('example.test', { now: Date.now() + 8 * 86_400_000, selector: 'manual2' });
  assert.equal(later.dropped, oldSelector);
  assert.equal(later.domain.dkimSelector, 'manual2');
  assert.equal(later.domain.dkimPreviousSelector, out.selector);
  await assert.rejects(inst.app.accounts.rotateDkim('example.test', { selector: 'manual2', force: true }), /already used/);
  await assert.rejects(inst.app.accounts.rotateDkim('example.test', { selector: 'bad_selector!', force: true }), /invalid DKIM selector/);

  // --retire drops the previous key and says which record to remove.
  const text = await cli('domain', 'dkim-rotate', 'example.test', '--retire');
  assert.equal(text, `retired DKIM selector ${out.selector} of example.test; remove ${out.selector}._domainkey.example.test from DNS\n`);
  const after = (await inst.app.accounts.getDomain('example.test'))!;
  assert.equal(after.dkimSelector, 'manual2');
  assert.equal(after.dkimPreviousSelector, null);
  assert.equal(after.dkimPreviousPrivateKey, null);
  await assert.rejects(cli('domain', 'dkim-rotate', 'example.test', '--retire'), (e: Error & { stderr: string }) => /no previous DKIM key/.test(e.stderr));

  await submit(inst, { to: ['x@outside.example'], subject: 'after second rotation' });
  assert.deepEqual(await verify(await received('after second rotation')), [{ selector: 'manual2', result: 'pass' }]);
});
