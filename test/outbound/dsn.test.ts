// The DSN builder on its own (pure, no instance): RFC 3464 structure, line lengths, what is
// returned of the original, and the rules that stop bounce loops.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildDsn, parseStoredReply, sendDsn } from '../../src/delivery/dsn.js';
import type { App } from '../../src/instance/app.js';

const original = Buffer.from('Received: by x\r\nFrom: a@example.test\r\nSubject: hi\r\n\r\nsecret body\r\n');

test('a report has the three RFC 6522 parts, CRLF only, bounded lines, headers but no body of the original', () => {
  const long = `550 5.7.1 ${'policy '.repeat(200)}`.trim();
  const raw = buildDsn({
    hostname: 'mail.example.test', queueId: 'Q1', originalQueueId: 'Q0', originalSender: 'a@example.test', arrivalDate: 0,
    original, recipients: [
      { recipient: 'x@remote.test', action: 'failed', status: '5.7.1', remoteMta: 'mx.remote.test', smtpReply: long, lastAttemptAt: 1000 },
      { recipient: 'y@remote.test', action: 'failed', status: '4.4.1', explanation: 'connection refused' },
    ],
  }).toString('utf8');
  assert.ok(!/[^\r]\n/.test(raw), 'CRLF line ends only');
  assert.ok(raw.split('\r\n').every((l) => l.length <= 998), 'no line over 998 characters');
  const boundary = /boundary="([^"]+)"/.exec(raw)![1]!;
  assert.equal(raw.split(`--${boundary}\r\n`).length, 4, 'three body parts');
  assert.ok(raw.endsWith(`--${boundary}--\r\n`));
  assert.match(raw, /^To: <a@example\.test>$/m);
  assert.match(raw, /^Auto-Submitted: auto-replied$/m);
  assert.match(raw, /^X-Pochtamt-Queue-ID: Q0$/m);
  assert.match(raw, /^Diagnostic-Code: smtp; 550 5\.7\.1 policy/m);
  assert.match(raw, /^Diagnostic-Code: X-Pochtamt; connection refused$/m);
  assert.match(raw, /^Status: 4\.4\.1$/m);
  assert.match(raw, /^Subject: hi$/m);
  assert.ok(!raw.includes('secret body'), 'only the headers of the original come back');
});

test('stored replies split into remote replies and our own diagnoses', () => {
  assert.deepEqual(parseStoredReply('550 5.1.1 no such user', '5.0.0'), { status: '5.1.1', smtpReply: '550 5.1.1 no such user', explanation: null });
  assert.deepEqual(parseStoredReply('554 go away', '5.0.0'), { status: '5.0.0', smtpReply: '554 go away', explanation: null });
  assert.deepEqual(parseStoredReply('5.1.10 null MX', '5.0.0'), { status: '5.1.10', smtpReply: null, explanation: 'null MX' });
  assert.deepEqual(parseStoredReply(null, '4.4.7'), { status: '4.4.7', smtpReply: null, explanation: null });
});

test('no DSN for a null-sender message or for a bounce', async () => {
  const app = {} as App; // touching it would throw: nothing may be sent
  const base = { originalQueueId: 'Q', arrivalDate: 0, original, recipients: [{ recipient: 'x@r.test', action: 'failed' as const, status: '5.0.0' }] };
  assert.equal(await sendDsn(app, { ...base, originalSender: '', originalIsBounce: false }), null);
  assert.equal(await sendDsn(app, { ...base, originalSender: 'a@example.test', originalIsBounce: true }), null);
});
