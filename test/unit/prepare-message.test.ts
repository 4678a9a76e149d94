// Header work at reception (src/delivery/prepare-message.ts): the Received trace header, and
// Message-ID/Date added only when the submitter left them out.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  headerBlockEnd, headerNames, prepareMessage, receivedHeader, rfc5322Date, withReturnPath, type ReceivedInfo,
} from '../../src/delivery/prepare-message.js';

const DATE = new Date(Date.UTC(2025, 11, 1, 10, 5, 9));
const info: ReceivedInfo = {
  hostname: 'mail.example.test', queueId: 'Q1', protocol: 'ESMTPS', heloName: 'client.remote.test',
  remoteAddress: '192.0.2.7', remoteHost: 'mx.remote.test', tls: 'TLSv1.3 TLS_AES_256_GCM_SHA384', forRecipient: 'bob@example.test',
  date: DATE,
};

describe('receivedHeader', () => {
  test('RFC 5321 §4.4 form: from, by, with, id, tls comment, for, date; folded with CRLF TAB', () => {
    assert.equal(receivedHeader(info),
      'Received: from client.remote.test (mx.remote.test [192.0.2.7])\r\n'
      + '\tby mail.example.test (Pochtamt) with ESMTPS id Q1\r\n'
      + '\t(TLSv1.3 TLS_AES_256_GCM_SHA384)\r\n'
      + '\tfor <bob@example.test>;\r\n'
      + '\tMon, 01 Dec 2025 10:05:09 +0000\r\n');
  });

  test('without a peer (local submission) there is no from clause; the host is omitted when it equals the address', () => {
    assert.equal(receivedHeader({ hostname: 'h.test', queueId: 'Q2', protocol: 'LOCAL', date: DATE }),
      'Received: by h.test (Pochtamt) with LOCAL id Q2;\r\n\tMon, 01 Dec 2025 10:05:09 +0000\r\n');
    assert.match(receivedHeader({ ...info, remoteHost: '192.0.2.7', tls: null, forRecipient: null }),
      /^Received: from client\.remote\.test \(\[192\.0\.2\.7\]\)\r\n\tby mail\.example\.test \(Pochtamt\) with ESMTPS id Q1;\r\n\t/);
  });

  test('peer-supplied text cannot break out of the header or the comment', () => {
    const h = receivedHeader({ ...info, heloName: 'evil\r\nX-Injected: 1 (x)', remoteHost: 'a(b)c\\d', tls: null, forRecipient: null });
    assert.ok(!h.includes('X-Injected: 1\r\n'));
    assert.equal(h.split('\r\n').filter((l) => l && !l.startsWith('\t')).length, 1, 'one header field');
    assert.match(h, /^Received: from evil\?\?X-Injected:\?1\?\?x\? \(a\?b\?c\?d \[192\.0\.2\.7\]\)/);
    const long = receivedHeader({ ...info, heloName: 'x'.repeat(1000), forRecipient: null });
    assert.ok(long.split('\r\n')[0]!.length < 300);
  });

  test('rfc5322Date is in UTC with +0000', () => {
    assert.equal(rfc5322Date(DATE), 'Mon, 01 Dec 2025 10:05:09 +0000');
  });
});

describe('prepareMessage', () => {
  const complete = Buffer.from('From: a@remote.test\r\nDate: Sun, 30 Nov 2025 09:00:00 +0000\r\nMessage-ID: <m1@remote.test>\r\n'
    + 'Subject: s\r\n\r\nbody\r\n');

  test('a complete message only gains Received at the top; the rest is byte-identical', () => {
    const out = prepareMessage(complete, info, { addMissing: true });
    const rec = Buffer.from(receivedHeader(info), 'latin1');
    assert.deepEqual(out.subarray(0, rec.length), rec);
    assert.deepEqual(out.subarray(rec.length), complete);
  });

  test('Message-ID and Date are added at the end of the header block when missing', () => {
    const raw = Buffer.from('From: a@remote.test\r\nSubject: s\r\n\r\nbody\r\nMessage-ID: <not-a-header@x>\r\n');
    const out = prepareMessage(raw, info, { addMissing: true }).toString('latin1');
    const [head, ...rest] = out.split('\r\n\r\n');
    assert.equal(rest.join('\r\n\r\n'), 'body\r\nMessage-ID: <not-a-header@x>\r\n', 'body untouched');
    const lines = head!.split('\r\n');
    assert.match(lines.at(-2)!, /^Message-ID: <Q1\.[0-9a-f]{8}@mail\.example\.test>$/);
    assert.equal(lines.at(-1), 'Date: Mon, 01 Dec 2025 10:05:09 +0000');
    assert.equal(lines.filter((l) => /^message-id:/i.test(l)).length, 1);
    assert.ok(head!.startsWith('Received: '));
    assert.ok(head!.includes('\r\nFrom: a@remote.test\r\nSubject: s\r\nMessage-ID: '));
  });

  test('only the missing one is added; header names match case-insensitively', () => {
    const onlyDate = Buffer.from('message-id: <x@y>\r\nSubject: s\r\n\r\nb');
    const out1 = prepareMessage(onlyDate, info, { addMissing: true }).toString('latin1');
    assert.equal((out1.match(/^message-id:/gim) ?? []).length, 1);
    assert.equal((out1.match(/^Date:/gm) ?? []).length, 1);
    const onlyId = Buffer.from('DATE: Sun, 30 Nov 2025 09:00:00 +0000\r\n\r\nb');
    const out2 = prepareMessage(onlyId, info, { addMissing: true }).toString('latin1');
    assert.equal((out2.match(/^date:/gim) ?? []).length, 1);
    assert.equal((out2.match(/^Message-ID:/gm) ?? []).length, 1);
  });

  test('with addMissing false nothing but Received is added (relay)', () => {
    const raw = Buffer.from('Subject: s\r\n\r\nb');
    const out = prepareMessage(raw, info, { addMissing: false });
    assert.deepEqual(out, Buffer.concat([Buffer.from(receivedHeader(info), 'latin1'), raw]));
  });

  test('a message that is all header (no blank line) still gets a well-formed header block', () => {
    const out = prepareMessage(Buffer.from('Subject: s'), info, { addMissing: true }).toString('latin1');
    assert.match(out, /\r\nSubject: s\r\nMessage-ID: <[^>]+>\r\nDate: [^\r\n]+\r\n\r\n$/);
  });

  test('headerNames and headerBlockEnd look at the top-level header block only', () => {
    const raw = Buffer.from('A: 1\r\nB-C: 2\r\n folded: not a name\r\n\r\nD: body\r\n');
    assert.deepEqual([...headerNames(raw)].sort(), ['a', 'b-c']);
    assert.equal(headerBlockEnd(raw), raw.indexOf('\r\n\r\n') + 2);
    assert.equal(headerBlockEnd(Buffer.from('A: 1')), 4);
  });

  test('withReturnPath prepends the envelope sender (empty for the null reverse-path)', () => {
    assert.equal(withReturnPath(Buffer.from('X: 1\r\n\r\n'), 'a@b.test').toString(), 'Return-Path: <a@b.test>\r\nX: 1\r\n\r\n');
    assert.equal(withReturnPath(Buffer.from('X: 1\r\n\r\n'), '').toString(), 'Return-Path: <>\r\nX: 1\r\n\r\n');
  });
});
