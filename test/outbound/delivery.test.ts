// Outbound delivery end to end on loopback: a Pochtamt instance (example.test) submits mail
// that its queue worker delivers via MX lookups against a fake DNS server to another Pochtamt
// instance (remote.test on 127.0.0.2) and to scripted MX servers (127.0.0.3, 127.0.0.4), with
// retries, DKIM signatures and DSNs. Every socket is on 127.0.0.0/8.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { ADMIN, startInstance, type TestInstance } from '../helpers/instance.js';
import { startFakeDns, type FakeDns } from '../helpers/fake-dns.js';
import { startScriptedMx, type ScriptedMx } from './scripted-mx.js';
import { findDsn, inbox, submit, traceEvents, waitFor } from './util.js';

let dns: FakeDns;
let remote: TestInstance;
let sender: TestInstance;
let flaky: ScriptedMx;
let strict: ScriptedMx;

before(async () => {
  dns = await startFakeDns();
  remote = await startInstance({ domain: 'remote.test', config: { listeners: { smtp: { host: '127.0.0.2' } } } });
  // Every fake MX listens on the port the remote instance got, each on its own loopback address.
  const port = remote.ports.smtp!;
  let flakyRcpts = 0;
  flaky = await startScriptedMx('127.0.0.3', port, {
    rcpt: () => (flakyRcpts++ === 0 ? { code: 451, text: '4.7.1 greylisted, try again later' } : null),
  });
  strict = await startScriptedMx('127.0.0.4', port, {
    rcpt: (addr) => (addr.startsWith('nobody@') ? { code: 550, text: '5.1.1 no such user here' } : null),
  });
  const zone = {
    'remote.test': { mx: [{ exchange: 'mx.remote.test', priority: 10 }] },
    'mx.remote.test': { a: ['127.0.0.2'] },
    'flaky.test': { mx: [{ exchange: 'mx.flaky.test', priority: 10 }] },
    'mx.flaky.test': { a: ['127.0.0.3'] },
    // No MX: the implicit MX (RFC 5321 §5.1) is the domain's own A record.
    'strict.test': { a: ['127.0.0.4'] },
    'nullmx.test': { mx: [{ exchange: '.', priority: 0 }] },
  };
  for (const [k, v] of Object.entries(zone)) dns.zone.set(k, v);
  sender = await startInstance({
    config: { delivery: { dnsServers: [dns.server], remotePort: port, retryMinutes: [0.01], connectTimeoutSeconds: 2 } },
  });
});

after(async () => {
  await sender?.stop();
  await remote?.stop();
  await flaky?.stop();
  await strict?.stop();
  await dns?.stop();
});

test('submitted mail reaches the remote instance, DKIM-signed', async () => {
  const queueId = await submit(sender, { to: ['admin@remote.test'], subject: 'to the remote instance' });
  const msg = await waitFor('the message at remote.test', async () =>
    (await inbox(remote, 'admin@remote.test')).find((m) => m.includes('Subject: to the remote instance')));
  assert.match(msg, /^DKIM-Signature: .*d=example\.test/m);
  // The signature verifies against the key published for the domain (served here without DNS).
  const domain = (await sender.app.accounts.getDomain('example.test'))!;
  const txt = /"(.*)"/.exec(sender.app.accounts.dkimRecordOf(domain)!)![1]!;
  const verified = await dkimVerify(Buffer.from(msg.replace(/^Return-Path: .*\r\n/, '')), {
    resolver: async (name: string, rr: string) => {
      if (rr === 'TXT' && name === `${domain.dkimSelector}._domainkey.example.test`) return [[txt]];
      throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    },
  });
  // On failure the message as stored at the remote end is in the report (a rare 'bad signature' was seen once).
  assert.equal(verified.results[0]?.status.result, 'pass', `${verified.results[0]?.info}\n${JSON.stringify(msg.slice(0, 4000))}`);

  await waitFor('the queue entry to complete', async () => (await sender.app.queue.get(queueId))?.message.completedAt);
  const events = await traceEvents(sender, queueId);
  const delivered = events.find((e) => e.event === 'queue.attempt.delivered');
  assert.ok(delivered, JSON.stringify(events));
  assert.equal(delivered.detail.host, 'mx.remote.test[127.0.0.2]');
  assert.match(String(delivered.detail.reply), /^250 /);
});

test('a 4xx answer is retried and the message delivered on the next attempt', async () => {
  const queueId = await submit(sender, { to: ['someone@flaky.test'], subject: 'retry me' });
  await waitFor('delivery after a retry', async () => flaky.received.find((r) => r.raw.toString().includes('Subject: retry me')));
  await waitFor('the queue entry to complete', async () => (await sender.app.queue.get(queueId))?.message.completedAt);
  const events = (await traceEvents(sender, queueId)).map((e) => e.event).filter((e) => e.startsWith('queue.attempt.'));
  assert.deepEqual(events, ['queue.attempt.deferred', 'queue.attempt.delivered']);
  const entry = await sender.app.queue.get(queueId);
  assert.equal(entry!.recipients[0]!.attempts, 2);
  assert.equal(entry!.recipients[0]!.status, 'delivered');
  // Opportunistic STARTTLS was used against the scripted MX's self-signed certificate.
  assert.equal(flaky.received.at(-1)!.secure, true);
  // No DSN for a message that was delivered in the end.
  assert.ok(!(await inbox(sender, ADMIN)).some((m) => m.includes('Subject: retry me')));
});

test('a 5xx answer bounces: the sender gets an RFC 3464 DSN for the failed recipient only', async () => {
  const queueId = await submit(sender, { to: ['nobody@strict.test', 'somebody@strict.test'], subject: 'half bounces' });
  const dsn = await findDsn(sender, ADMIN, 'half bounces');
  assert.match(dsn, /^Return-Path: <>\r\n/);
  assert.match(dsn, /^From: Mail Delivery System <MAILER-DAEMON@mail\.example\.test>/m);
  assert.match(dsn, /^Content-Type: multipart\/report; report-type=delivery-status;/m);
  assert.match(dsn, /^Content-Type: message\/delivery-status/m);
  assert.match(dsn, /^Content-Type: text\/rfc822-headers/m);
  assert.match(dsn, /^Reporting-MTA: dns; mail\.example\.test$/m);
  assert.match(dsn, /^Arrival-Date: /m);
  assert.match(dsn, /^Final-Recipient: rfc822; nobody@strict\.test$/m);
  assert.match(dsn, /^Action: failed$/m);
  assert.match(dsn, /^Status: 5\.1\.1$/m);
  assert.match(dsn, /^Remote-MTA: dns; strict\.test$/m);
  assert.match(dsn, /^Diagnostic-Code: smtp; 550 5\.1\.1 no such user here/m);
  assert.ok(!dsn.includes('Final-Recipient: rfc822; somebody@strict.test'), 'the delivered recipient is not reported');
  assert.ok(strict.received.some((r) => r.to.includes('somebody@strict.test')));

  await waitFor('the queue entry to complete', async () => (await sender.app.queue.get(queueId))?.message.completedAt);
  const events = (await traceEvents(sender, queueId)).map((e) => e.event);
  assert.ok(events.includes('queue.attempt.failed') && events.includes('queue.attempt.delivered') && events.includes('dsn.sent'), events.join());
});

test('a null MX fails at once with a DSN (RFC 7505)', async () => {
  await submit(sender, { to: ['x@nullmx.test'], subject: 'null mx' });
  const dsn = await findDsn(sender, ADMIN, 'null mx');
  assert.match(dsn, /^Status: 5\.1\.10$/m);
  assert.match(dsn, /^Diagnostic-Code: X-Pochtamt; Domain nullmx\.test does not accept mail/m);
});

test('a DSN is never answered with a DSN, and a bounce is sent with the null sender', async () => {
  // A bounce whose recipient fails must vanish rather than bounce again.
  const queueId = 'BOUNCETEST0001';
  await sender.app.delivery.deliver({
    queueId, sender: '', recipients: ['nobody@strict.test', 'postmaster@strict.test'], isBounce: true,
    raw: Buffer.from('From: MAILER-DAEMON@mail.example.test\r\nTo: nobody@strict.test\r\nSubject: bounce of bounce\r\n\r\nx\r\n'),
  });
  await waitFor('the bounce to complete', async () => (await sender.app.queue.get(queueId))?.message.completedAt);
  const events = (await traceEvents(sender, queueId)).map((e) => e.event);
  assert.ok(events.includes('queue.attempt.failed'));
  assert.ok(!events.includes('dsn.sent'));
  const got = strict.received.find((r) => r.raw.toString().includes('Subject: bounce of bounce'));
  assert.equal(got?.from, '', 'MAIL FROM:<>');
});

test('a local recipient over quota makes the sender a DSN (DeliveryService.onFailures)', async () => {
  await sender.app.accounts.addAccount({ address: 'full@example.test', password: 'pw-full-1', quotaBytes: 10 });
  await sender.app.accounts.addAccount({ address: 'roomy@example.test', password: 'pw-roomy-1' });
  await submit(sender, { to: ['full@example.test', 'roomy@example.test'], subject: 'quota check' });
  const dsn = await findDsn(sender, ADMIN, 'quota check');
  assert.match(dsn, /^Final-Recipient: rfc822; full@example\.test$/m);
  assert.match(dsn, /^Status: 5\.2\.2$/m);
  assert.match(dsn, /^Diagnostic-Code: X-Pochtamt; mailbox full/m);
  assert.equal((await inbox(sender, 'roomy@example.test')).length, 1);
});
