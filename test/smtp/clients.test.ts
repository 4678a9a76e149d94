// Real SMTP clients (nodemailer, Debian's swaks) sending to the MX listener: local users, an
// alias (two accounts and an external forward), a nested group, postmaster@ and user+tag@.
// The stored copy must be the sent message byte for byte, behind Return-Path and Received.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { ADMIN, TEST_DOMAIN, startInstance, type TestInstance } from '../helpers/instance.js';
import { inboxMatching, makeMessage } from '../helpers/raw-smtp.js';

const run = promisify(execFile);
const SWAKS = ['/usr/bin/swaks', '/usr/local/bin/swaks'].find((p) => existsSync(p)) ?? null;

const D = TEST_DOMAIN;
const ALICE = `alice@${D}`;
const BOB = `bob@${D}`;
const CAROL = `carol@${D}`;
const DAVE = `dave@${D}`;
const SENDER = 'sender@remote.test';
const FORWARD = 'friend@elsewhere.test';

let inst: TestInstance;
let tmp: string;

before(async () => {
  inst = await startInstance();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'pochtamt-swaks-'));
  const a = inst.app.accounts;
  for (const addr of [ALICE, BOB, CAROL, DAVE]) await a.addAccount({ address: addr });
  await a.addAlias(`team@${D}`, [ALICE, BOB, FORWARD]);
  await a.addGroup(`inner@${D}`, { members: [DAVE] });
  await a.addGroup(`everyone@${D}`, { members: [CAROL, `inner@${D}`] });
});
after(async () => {
  await inst?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** Recipient → the accounts that must get exactly one copy. */
const TARGETS: Array<{ name: string; to: string; accounts: string[]; forwards?: string[] }> = [
  { name: 'local user', to: ALICE, accounts: [ALICE] },
  { name: 'alias (two accounts + external forward)', to: `team@${D}`, accounts: [ALICE, BOB], forwards: [FORWARD] },
  { name: 'nested group', to: `everyone@${D}`, accounts: [CAROL, DAVE] },
  { name: 'postmaster@', to: `postmaster@${D}`, accounts: [ADMIN] },
  { name: 'user+tag@', to: `bob+lists@${D}`, accounts: [BOB] },
];

// A body with the things that go wrong in transit: a leading dot, a lone dot-line lookalike,
// trailing spaces, a tab, 8-bit UTF-8, and a line just under the 998 limit.
function body(tag: string): string {
  return [`Hello ${tag},`, '.leading dot', '..two dots', '. ', 'trailing spaces   ', '\tindented', 'Grüße, Алиса ✓',
    'x'.repeat(900), '', '-- ', 'end', ''].join('\r\n');
}

async function sendNodemailer(to: string, raw: Buffer): Promise<string> {
  const t = nodemailer.createTransport({ host: '127.0.0.1', port: inst.ports.smtp, secure: false, ignoreTLS: true });
  try {
    const info = await t.sendMail({ envelope: { from: SENDER, to: [to] }, raw });
    return info.response;
  } finally {
    t.close();
  }
}

async function sendSwaks(to: string, raw: Buffer): Promise<string> {
  const file = path.join(tmp, `${Math.random().toString(36).slice(2)}.eml`);
  // swaks ends DATA with CRLF "." CRLF after the file's content, so the file leaves out the last CRLF.
  assert.ok(raw.subarray(-2).equals(Buffer.from('\r\n')));
  await writeFile(file, raw.subarray(0, -2));
  const { stdout } = await run(SWAKS!, ['--server', '127.0.0.1', '--port', String(inst.ports.smtp), '--from', SENDER,
    '--to', to, '--helo', 'swaks.client.test', '--data', `@${file}`, '--hide-informational', '--hide-send'], { timeout: 20_000 });
  return stdout;
}

async function checkDelivered(t: (typeof TARGETS)[number], raw: Buffer, messageId: string): Promise<void> {
  for (const acc of t.accounts) {
    const got = await inboxMatching(inst.app, acc, messageId);
    assert.equal(got.length, 1, `${acc} must have exactly one copy of ${messageId}`);
    const stored = got[0]!;
    const s = stored.toString('latin1');
    assert.ok(s.startsWith(`Return-Path: <${SENDER}>\r\nReceived: from `), `trace headers first: ${s.slice(0, 200)}`);
    assert.ok(stored.subarray(stored.length - raw.length).equals(raw), `${acc}: the sent message must be stored byte for byte`);
    // exactly: Return-Path, one Received (folded), then the message as sent
    const prefix = s.slice(0, stored.length - raw.length);
    assert.match(prefix, /^Return-Path: <[^>]*>\r\nReceived: from \S+ \(\[127\.0\.0\.1\]\)\r\n\tby mail\.example\.test \(Pochtamt\) with ESMTP id [0-9A-Z]+(\r\n\t[^\r\n]*)*;\r\n\t[^\r\n]+\r\n$/);
  }
  if (t.forwards) {
    const queued = await inst.app.queue.list({ all: true });
    const entry = queued.find((q) => q.message.messageIdHeader === messageId);
    assert.ok(entry, `forward of ${messageId} must be in the outbound queue`);
    assert.deepEqual(entry.recipients.map((r) => r.recipient).sort(), [...t.forwards].sort());
    assert.equal(entry.message.sender, SENDER);
    const queuedBytes = await inst.app.store.blobs.get(entry.message.blobHash);
    assert.ok(queuedBytes.subarray(queuedBytes.length - raw.length).equals(raw), 'forwarded copy is byte-identical too');
    assert.ok(!queuedBytes.toString('latin1').startsWith('Return-Path:'), 'no Return-Path on a relayed copy');
  }
}

describe('nodemailer', () => {
  for (const t of TARGETS) {
    test(`to ${t.name}`, async () => {
      const mid = `<nm.${Math.random().toString(36).slice(2)}@client.test>`;
      const raw = makeMessage({ from: SENDER, to: t.to, subject: `nodemailer to ${t.name}`, body: body(t.name), messageId: mid });
      const resp = await sendNodemailer(t.to, raw);
      assert.match(resp, /^250 2\.6\.0 Ok: queued as [0-9A-Z]+$/);
      await checkDelivered(t, raw, mid);
    });
  }

  test('Message-ID and Date are added when the client sent none; the body is untouched', async () => {
    const raw = makeMessage({ from: SENDER, to: ALICE, subject: 'bare', body: body('bare'), messageId: null, date: null });
    const resp = await sendNodemailer(ALICE, raw);
    const qid = /queued as ([0-9A-Z]+)/.exec(resp)![1]!;
    const got = await inboxMatching(inst.app, ALICE, 'Subject: bare\r\n');
    assert.equal(got.length, 1);
    const s = got[0]!.toString('utf8');
    const head = s.slice(0, s.indexOf('\r\n\r\n') + 2);
    assert.match(head, new RegExp(`^Message-ID: <${qid}\\.[0-9a-f]+@mail\\.example\\.test>\\r$`, 'm'));
    assert.match(head, /^Date: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000\r$/m);
    assert.match(head, /^Return-Path: <sender@remote\.test>\r\nReceived: from /);
    assert.ok(s.endsWith(`\r\n\r\n${body('bare')}`), 'body byte-identical');
    assert.equal(head.match(/^Message-ID:/gim)?.length, 1);
  });

  test('STARTTLS is offered on the MX; the session stays unauthenticated', async () => {
    // To the alias, so a copy is queued for the external forward: the queue row must not name an
    // account (smtp-server sets session.user = false after STARTTLS, which once passed for one).
    const mid = `<tls.${Date.now()}@client.test>`;
    const raw = makeMessage({ from: SENDER, to: `team@${D}`, subject: 'over tls', body: 'secret\r\n', messageId: mid });
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: inst.ports.smtp, secure: false, requireTLS: true,
      tls: { rejectUnauthorized: false } });
    try {
      await t.sendMail({ envelope: { from: SENDER, to: [`team@${D}`] }, raw });
    } finally {
      t.close();
    }
    const [stored] = await inboxMatching(inst.app, ALICE, mid);
    assert.ok(stored);
    // ESMTPS, not ESMTPSA. (The TLS comment's space comes out as '?': prepare-message's sanitize() allows none.)
    assert.match(stored.toString('latin1'), /with ESMTPS id [0-9A-Z]+\r\n\t\(TLSv1\.[23].[\w-]+\)/);
    const entry = (await inst.app.queue.list({ all: true })).find((q) => q.message.messageIdHeader === mid);
    assert.ok(entry);
    assert.equal(entry.message.accountId, null);
  });
});

describe('swaks', { skip: SWAKS ? false : 'swaks is not installed (apt-get install swaks; .ci/run installs it)' }, () => {
  for (const t of TARGETS) {
    test(`to ${t.name}`, async () => {
      const mid = `<sw.${Math.random().toString(36).slice(2)}@client.test>`;
      const raw = makeMessage({ from: SENDER, to: t.to, subject: `swaks to ${t.name}`, body: body(t.name), messageId: mid });
      const out = await sendSwaks(t.to, raw);
      assert.match(out, /<- {2}250 2\.6\.0 Ok: queued as [0-9A-Z]+/);
      await checkDelivered(t, raw, mid);
    });
  }

  test('a message without Message-ID and Date gets both', async () => {
    const raw = makeMessage({ from: SENDER, to: CAROL, subject: 'swaks bare', body: 'plain\r\n', messageId: null, date: null });
    await sendSwaks(CAROL, raw);
    const got = await inboxMatching(inst.app, CAROL, 'Subject: swaks bare\r\n');
    assert.equal(got.length, 1);
    const head = got[0]!.toString('latin1').split('\r\n\r\n')[0]!;
    assert.match(head, /^Message-ID: <[0-9A-Z]+\.[0-9a-f]+@mail\.example\.test>$/m);
    assert.match(head, /^Date: .+ \+0000$/m);
    assert.ok(got[0]!.toString('latin1').endsWith('\r\n\r\nplain\r\n'));
  });
});
