// Unit tests for the policy building blocks that need no daemon: config defaults, shared rate
// buckets (SQLite, and PostgreSQL when TEST_DATABASE_URL is set), greylisting with a moving
// clock, attachment inspection (extensions, content, zip contents), protocol parsers, headers.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseConfig } from '../../src/config/config.js';
import { blockedExtension, inspectAttachments } from '../../src/policy/attachments.js';
import { parseClamdResponse } from '../../src/policy/clamd.client.js';
import { clientNetwork, Greylist } from '../../src/policy/greylist.js';
import { RateLimiter } from '../../src/policy/rate-limit.js';
import { SenderLists } from '../../src/policy/sender-lists.js';
import { withPolicyHeaders } from '../../src/policy/smtp-policy.js';
import { parseSpamdResponse } from '../../src/policy/spamd.client.js';
import { attachmentsStep } from '../../src/policy/steps/20-attachments.step.js';
import { reverseIp } from '../../src/policy/steps/05-dnsbl.step.js';
import { Store } from '../../src/store/store.js';
import { createPgSchema, dropPgSchema, postgresUrl } from '../helpers/instance.js';
import { message, zip } from './helpers.js';

const defaults = parseConfig('').policy;

test('policy defaults are on and point at the Debian daemons', () => {
  assert.equal(defaults.enabled, true);
  assert.equal(defaults.senderAuth.enabled, true);
  assert.equal(defaults.senderAuth.enforceDmarc, true);
  assert.deepEqual(defaults.trustedNetworks, ['127.0.0.0/8', '::1/128']);
  assert.ok(defaults.attachments.blockedExtensions.includes('.exe'));
  assert.ok(defaults.attachments.blockedExtensions.includes('.docm'));
  assert.equal(defaults.greylist.enabled, true);
  assert.equal(defaults.bruteForce.enabled, true);
  assert.equal(defaults.spamassassin.port, 783);
  assert.equal(defaults.spamassassin.onFailure, 'accept');
  assert.equal(defaults.clamav.socket, '/var/run/clamav/clamd.ctl');
  assert.equal(defaults.clamav.onFailure, 'tempfail');
  assert.throws(() => parseConfig('policy:\n  clamav:\n    onFailure: ignore\n'), /policy\.clamav\.onFailure/);
  assert.deepEqual(defaults.dnsCache, { enabled: true, maxEntries: 10000, maxTtlSeconds: 3600, defaultTtlSeconds: 300, negativeTtlSeconds: 60 });
  assert.deepEqual([defaults.clamav.maxConnections, defaults.clamav.idleSeconds], [4, 10]);
  assert.deepEqual(defaults.arc, { trustedSealers: [] });
  assert.deepEqual(defaults.trustedProxies, [], 'no reverse proxy is trusted by default');
  assert.equal(defaults.quarantine.retentionDays, 30);
  const c = parseConfig('policy:\n  access:\n    pop3:\n      allow: [192.168.1.0/24]\n');
  assert.deepEqual(c.policy.access.pop3, { allow: ['192.168.1.0/24'], deny: [] });
});

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`rate buckets on ${backend}`, { skip: backend === 'postgres' && !postgresUrl ? 'TEST_DATABASE_URL not set' : false }, () => {
    let store: Store;
    let dir: string;
    let schema: string | undefined;
    let now = 1_000_000;
    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'pochtamt-rate-'));
      if (backend === 'postgres') schema = await createPgSchema(postgresUrl!);
      store = await Store.open({ dataDir: dir, databaseUrl: backend === 'postgres' ? postgresUrl : undefined, schema });
    });
    after(async () => {
      await store.close();
      if (schema) await dropPgSchema(postgresUrl!, schema);
      await rm(dir, { recursive: true, force: true });
    });

    test('takes until empty, refuses without consuming, refills over time, all-or-nothing across buckets', async () => {
      const rl = new RateLimiter(store, () => now);
      const spec = { key: 'msg:ip:192.0.2.1', perHour: 3, cost: 1 };
      for (let i = 0; i < 3; i++) assert.equal(await rl.take([spec]), null);
      assert.equal((await rl.take([spec]))?.key, spec.key);
      now += 20 * 60_000; // a third of an hour: one token back
      assert.equal(await rl.take([spec]), null);
      assert.equal((await rl.take([spec]))?.key, spec.key);
      // Two buckets: the second is short, so the first must not be charged either.
      const a = { key: 'rcpt:ip:192.0.2.2', perHour: 10, cost: 4 };
      const b = { key: 'rcpt:acct:7', perHour: 5, cost: 4 };
      assert.equal(await rl.take([a, b]), null);
      assert.equal((await rl.take([a, b]))?.key, b.key);
      assert.equal(await rl.take([a]), null, 'a kept its 6 tokens after the refused pair');
      assert.equal((await rl.take([{ key: 'x', perHour: 2, cost: 3 }]))?.key, 'x', 'cost above the bucket size never passes');
      assert.equal(await rl.take([{ key: 'y', perHour: 0, cost: 1 }]), null, '0 = unlimited');
      // Concurrent takers never overdraw.
      const c = { key: 'msg:acct:9', perHour: 5, cost: 1 };
      const results = await Promise.all(Array.from({ length: 12 }, () => rl.take([c])));
      assert.equal(results.filter((r) => r === null).length, 5);
    });

    test('sender lists: user over domain over *, deny over allow, any sender address, 70,000 recipients', async () => {
      const lists = new SenderLists(store);
      await lists.add('*', '@spam.test', 'deny');
      await lists.add('example.test', '@partner.test', 'allow');
      await lists.add('boss@example.test', 'pest@partner.test', 'deny');
      await lists.add('boss@example.test', '@spam.test', 'allow');
      const rcpts = ['boss@example.test', 'staff@example.test', 'x@other.test'];
      assert.deepEqual(await lists.decide(['pest@partner.test'], rcpts), ['deny', 'allow', null]);
      assert.deepEqual(await lists.decide(['a@mail.partner.test'], rcpts), ['allow', 'allow', null], 'subdomains match @domain');
      assert.deepEqual(await lists.decide(['a@spam.test'], rcpts), ['allow', 'deny', 'deny']);
      assert.deepEqual(await lists.decide(['', 'Someone@Spam.Test'], rcpts), ['allow', 'deny', 'deny'], 'From address, any case');
      assert.deepEqual(await lists.decide(['nobody@clean.test'], rcpts), [null, null, null]);
      // More owners than either driver binds in one statement (SQLite 32,766, PostgreSQL 65,535
      // parameters), as a configured maxRecipients allows: the last recipient's entry is found.
      await lists.add('u69999@big.test', '@partner.test', 'deny');
      const many = Array.from({ length: 70_000 }, (_, i) => `u${i}@big.test`);
      const d = await lists.decide(['a@partner.test'], many);
      assert.equal(d[69_999], 'deny');
      assert.equal(d.filter((x) => x !== null).length, 1);
    });

    test('greylisting: new triplet deferred, early retry deferred, later retry passes and whitelists the /24', async () => {
      const g = new Greylist(store, { enabled: true, delaySeconds: 60, retryWindowHours: 24, whitelistDays: 35, skipDomains: ['nogrey.test'] }, () => now);
      assert.deepEqual(await g.check('198.51.100.7', 's@a.test', 'r@b.test'), { pass: false, reason: 'new', retryInSeconds: 60 });
      now += 30_000;
      const early = await g.check('198.51.100.7', 's@a.test', 'r@b.test');
      assert.equal(early.pass, false);
      assert.equal(!early.pass && early.reason, 'too early');
      now += 31_000;
      assert.deepEqual(await g.check('198.51.100.7', 's@a.test', 'r@b.test'), { pass: true, reason: 'retried' });
      assert.deepEqual(await g.check('198.51.100.99', 'other@c.test', 'r2@b.test'), { pass: true, reason: 'whitelisted' });
      assert.equal((await g.check('203.0.113.1', 's@a.test', 'r@b.test')).pass, false);
      assert.ok(g.skipsDomain('x@NoGrey.test'));
    });
  });
}

test('client networks, DNSBL names, protocol answers', () => {
  assert.equal(clientNetwork('192.0.2.77'), '192.0.2.0/24');
  assert.equal(clientNetwork('::ffff:192.0.2.77'), '192.0.2.0/24');
  assert.equal(clientNetwork('2001:db8:1:2:3::4'), '2001:db8:1:2::/64');
  assert.equal(reverseIp('192.0.2.1'), '1.2.0.192');
  assert.equal(reverseIp('2001:db8::1'), '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2');
  assert.deepEqual(parseSpamdResponse('SPAMD/1.1 0 EX_OK\r\nContent-length: 11\r\nSpam: True ; 1000.5 / 5.0\r\n\r\nGTUBE,OTHER'),
    { isSpam: true, score: 1000.5, threshold: 5, symbols: ['GTUBE', 'OTHER'] });
  assert.throws(() => parseSpamdResponse('SPAMD/1.1 76 Bad header line'), /spamd error 76/);
  assert.deepEqual(parseClamdResponse('stream: OK\0'), { infected: false });
  assert.deepEqual(parseClamdResponse('stream: Eicar-Test-Signature FOUND\0'), { infected: true, signature: 'Eicar-Test-Signature' });
  assert.throws(() => parseClamdResponse('INSTREAM size limit exceeded. ERROR\0'), /size limit/);
});

test('policy headers are prepended and forged Authentication-Results for our host removed (RFC 8601 §5)', () => {
  const raw = Buffer.from('Authentication-Results: mx.example.test; spf=pass\r\n smtp.mailfrom=x@y\r\nAuthentication-Results: other.test; dkim=pass\r\nSubject: x\r\n\r\nbody\r\n');
  const out = withPolicyHeaders(raw, ['X-Spam-Score: 1.0\r\n'], 'mx.example.test').toString();
  assert.equal(out, 'X-Spam-Score: 1.0\r\nAuthentication-Results: other.test; dkim=pass\r\nSubject: x\r\n\r\nbody\r\n');
});

describe('attachment inspection', () => {
  const mz = Buffer.concat([Buffer.from('MZ\x90\x00', 'latin1'), Buffer.alloc(60)]);
  const step = attachmentsStep(defaults.attachments);
  const run = (m: string) => step.run({ queueId: 'Q', remoteAddress: '192.0.2.1', heloName: 'h', sender: 's@a.test', recipients: ['r@b.test'],
    raw: Buffer.from(m.replace(/\r?\n/g, '\r\n'), 'latin1'), accountId: null, trusted: false, tls: false }, { final: { action: 'accept' }, headers: [], junk: false, steps: [] });
  const msg = (attachments: Array<{ name: string; data: Buffer }>) => message({ from: 's@a.test', to: 'r@b.test', attachments });

  test('extensions, executables by content, macro documents, zip contents', async () => {
    assert.equal(blockedExtension('Invoice.PDF.exe', defaults.attachments.blockedExtensions), '.exe');
    assert.equal(blockedExtension('report.exe. ', defaults.attachments.blockedExtensions), '.exe');
    assert.equal(blockedExtension('report.pdf', defaults.attachments.blockedExtensions), null);
    assert.deepEqual(await run(msg([{ name: 'report.pdf', data: Buffer.from('%PDF-1.4 hello') }])), { action: 'accept' });
    const exe = await run(msg([{ name: 'setup.exe', data: mz }]));
    assert.equal(exe.action, 'reject');
    assert.equal(exe.action === 'reject' && `${exe.code} ${exe.enhanced} ${exe.text}`, '554 5.7.1 Message rejected: attachment not allowed (setup.exe: blocked file type .exe)');
    const disguised = await run(msg([{ name: 'invoice.pdf', data: mz }]));
    assert.equal(disguised.action === 'reject' && disguised.reason, 'invoice.pdf: executable content');
    const zipped = await run(msg([{ name: 'docs.zip', data: zip([{ name: 'readme.txt', data: Buffer.from('hi') }, { name: 'run.js', data: Buffer.from('x') }]) }]));
    assert.equal(zipped.action === 'reject' && zipped.reason, 'docs.zip: archive contains a .js file');
    const nested = await run(msg([{ name: 'outer.zip', data: zip([{ name: 'inner.zip', data: zip([{ name: 'macro.xlsm', data: Buffer.from('x') }]) }]) }]));
    assert.equal(nested.action === 'reject' && nested.reason, 'outer.zip: archive contains a .xlsm file');
    const docx = await run(msg([{ name: 'letter.docx', data: zip([{ name: '[Content_Types].xml', data: Buffer.from('<x/>') }, { name: 'word/vbaProject.bin', data: Buffer.from('vba') }]) }]));
    assert.equal(docx.action === 'reject' && docx.reason, 'letter.docx: macro-enabled Office document');
    const cleanZip = await run(msg([{ name: 'photos.zip', data: zip([{ name: 'a.jpg', data: Buffer.from('jpg') }]) }]));
    assert.deepEqual(cleanZip, { action: 'accept' });
    // RFC 2231 and RFC 2047 encoded names are decoded before matching.
    const encoded = 'From: s@a.test\r\nTo: r@b.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\nhi\r\n'
      + "--zz\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.scr\r\n\r\nabc\r\n"
      + '--zz\r\nContent-Type: application/octet-stream; name="=?UTF-8?B?cmVwb3J0LmJhdA==?="\r\n\r\nabc\r\n--zz--\r\n';
    const found = await inspectAttachments(Buffer.from(encoded), { scanArchives: true });
    assert.deepEqual(found.map((f) => f.name), ['résumé.scr', 'report.bat']);
    assert.equal((await run(encoded)).action, 'reject');
  });
});
