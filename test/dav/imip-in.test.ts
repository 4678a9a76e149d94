// The iMIP trust rules (src/protocols/dav/imip-in.ts) on header blocks, and the iTIP part
// finder on real MIME structures: which From address a received message proves, and why not.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseMessageMetadata } from '../../src/mime/message-metadata.js';
import { authenticatedSender, findItip, type SenderFacts } from '../../src/protocols/dav/imip-in.js';

const HOST = 'mail.example.test';
const facts = (headers: string[], o: Partial<SenderFacts> = {}): SenderFacts => ({
  header: Buffer.from(`${headers.join('\r\n')}\r\n`), envelopeSender: 'org@remote.test', accountId: null, hostname: HOST,
  isLocalDomain: (d) => d === 'example.test', ...o,
});
const ar = (results: string) => `Authentication-Results: ${HOST}; ${results}`;

describe('authenticatedSender', () => {
  test('DMARC pass, aligned DKIM or aligned SPF prove the From address', async () => {
    assert.deepEqual(await authenticatedSender(facts(['From: Org <Org@Remote.test>', ar('spf=none; dkim=none; dmarc=pass header.from=remote.test')])),
      { ok: true, sender: 'org@remote.test', how: 'dmarc=pass' });
    assert.equal((await authenticatedSender(facts(['From: org@remote.test', ar('dkim=pass header.d=mail.remote.test header.s=s1; dmarc=none')]))).ok, true);
    assert.equal((await authenticatedSender(facts(['From: org@remote.test', `${ar('spf=pass (sender allowed)')}\r\n smtp.mailfrom=bounce@remote.test; dmarc=none`]))).ok, true);
  });

  test('unaligned or failed results, foreign authserv-ids and DMARC fail prove nothing', async () => {
    const no = async (h: string[], o: Partial<SenderFacts> = {}) => {
      const v = await authenticatedSender(facts(h, o));
      assert.equal(v.ok, false, JSON.stringify(v));
      return v.ok ? '' : v.reason;
    };
    await no(['From: org@remote.test', ar('dkim=pass header.d=other.test; spf=pass smtp.mailfrom=x@other.test; dmarc=none')]);
    assert.match(await no(['From: org@remote.test', ar('dkim=pass header.d=remote.test; dmarc=fail header.from=remote.test')]), /DMARC fail/);
    // Somebody else's Authentication-Results (or a forged one for another host) does not count, and
    // its presence means our check did not run: the trusted-relay rule applies (aligned envelope).
    assert.equal((await authenticatedSender(facts(['From: org@remote.test', 'Authentication-Results: evil.test; dmarc=pass'], { envelopeSender: 'x@evil.test' }))).ok, false);
    assert.match(await no(['From: a@remote.test, b@remote.test', ar('dmarc=pass')]), /exactly one mailbox/);
    assert.match(await no(['From: a@remote.test', 'From: b@remote.test', ar('dmarc=pass')]), /exactly one From/);
    // No check of ours: our own domain is never believed; others need an aligned envelope.
    assert.match(await no(['From: boss@example.test'], { envelopeSender: 'boss@example.test' }), /our own domain/);
    assert.equal((await authenticatedSender(facts(['From: org@remote.test'], { envelopeSender: 'bounces@mail.remote.test' }))).ok, true);
  });

  test('an authenticated submission proves its From (checked against the account at submission)', async () => {
    assert.deepEqual(await authenticatedSender(facts(['From: boss@example.test'], { accountId: 7, envelopeSender: 'boss@example.test' })),
      { ok: true, sender: 'boss@example.test', how: 'authenticated submission' });
  });
});

describe('findItip', () => {
  const mime = (calendarPart: string) => Buffer.from([
    'From: org@remote.test', 'To: bob@example.test', 'Subject: x', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b1"', '',
    '--b1', 'Content-Type: text/plain', '', 'hello', '--b1', calendarPart, '--b1--', ''].join('\r\n'));
  const ical = (method: string) => `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:${method}\r\nBEGIN:VEVENT\r\nUID:u1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`;

  test('finds a base64 text/calendar REPLY and checks the method parameter against METHOD', () => {
    const raw = mime(`Content-Type: text/calendar; charset=utf-8; method=REPLY\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(ical('REPLY')).toString('base64')}`);
    const found = findItip(raw, parseMessageMetadata(raw).root);
    assert.equal(found?.method, 'REPLY');
    assert.match(found!.text, /UID:u1/);
    const mismatch = mime(`Content-Type: text/calendar; method=REQUEST\r\n\r\n${ical('CANCEL')}`);
    assert.equal(findItip(mismatch, parseMessageMetadata(mismatch).root), null);
    const publish = mime(`Content-Type: text/calendar; method=PUBLISH\r\n\r\n${ical('PUBLISH')}`);
    assert.equal(findItip(publish, parseMessageMetadata(publish).root), null);
  });

  test('an invitation inside a forwarded message is not the forwarder\'s', () => {
    const inner = ['Content-Type: message/rfc822', '', 'From: org@remote.test', 'Content-Type: text/calendar; method=REQUEST', '', ical('REQUEST')].join('\r\n');
    const raw = mime(inner);
    assert.equal(findItip(raw, parseMessageMetadata(raw).root), null);
  });
});
