// Submission (587 role with STARTTLS, 465 role with implicit TLS): AUTH only over TLS, PLAIN
// and LOGIN against the account model, and an authenticated user may send only as an address
// they own (primary, alias, or a group that lets members send as it).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import nodemailer from 'nodemailer';
import { TEST_DOMAIN, startInstance, type TestInstance } from '../helpers/instance.js';
import { inboxMatching, makeMessage, RawSmtp } from '../helpers/raw-smtp.js';

const D = TEST_DOMAIN;
const ALICE = `alice@${D}`;
const BOB = `bob@${D}`;
const PW = 'correct horse 1';
const BOB_PW = 'bobs password 2';

let inst: TestInstance;

before(async () => {
  inst = await startInstance();
  const a = inst.app.accounts;
  await a.addAccount({ address: ALICE, password: PW });
  await a.addAccount({ address: BOB, password: BOB_PW });
  await a.addAlias(`sales@${D}`, [ALICE]);
  await a.addGroup(`team@${D}`, { membersMaySendAs: true, members: [ALICE, BOB] });
  await a.addGroup(`board@${D}`, { membersMaySendAs: false, members: [ALICE] });
});
after(async () => { await inst?.stop(); });

const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString('base64');

/** Connected to the submission port, STARTTLS done, EHLO again; returns the client. */
async function tlsSession(): Promise<RawSmtp> {
  const { c, greeting } = await RawSmtp.connect(inst.ports.submission!);
  assert.equal(greeting.code, 220);
  assert.equal((await c.cmd('EHLO client.test')).code, 250);
  assert.equal((await c.starttls()).code, 220);
  assert.equal((await c.cmd('EHLO client.test')).code, 250);
  return c;
}

async function authedSession(user = ALICE, pass = PW): Promise<RawSmtp> {
  const c = await tlsSession();
  const r = await c.cmd(`AUTH PLAIN ${plain(user, pass)}`);
  assert.equal(r.code, 235, r.text);
  return c;
}

function transport(o: { secure: boolean; method?: 'PLAIN' | 'LOGIN'; user?: string; pass?: string }) {
  return nodemailer.createTransport({
    host: '127.0.0.1', port: o.secure ? inst.ports.submissions : inst.ports.submission, secure: o.secure, requireTLS: !o.secure,
    auth: { user: o.user ?? ALICE, pass: o.pass ?? PW }, authMethod: o.method ?? 'PLAIN', tls: { rejectUnauthorized: false },
  });
}

describe('port 587 role: STARTTLS before AUTH', () => {
  test('plaintext EHLO offers STARTTLS; AUTH before STARTTLS is refused with 538', async () => {
    const { c } = await RawSmtp.connect(inst.ports.submission!);
    try {
      const ehlo = await c.cmd('EHLO client.test');
      assert.match(ehlo.text, /^STARTTLS$/m);
      const r = await c.cmd(`AUTH PLAIN ${plain(ALICE, PW)}`);
      assert.equal(r.code, 538);
      assert.match(r.lines[0]!, /^538 5\.7\.\d+ .*STARTTLS/);
      const l = await c.cmd('AUTH LOGIN');
      assert.equal(l.code, 538);
      // still not authenticated: mail is refused
      assert.equal((await c.cmd(`MAIL FROM:<${ALICE}>`)).code, 530);
    } finally {
      await c.quit();
    }
  });

  test('MAIL before AUTH (over TLS) gets 530', async () => {
    const c = await tlsSession();
    try {
      const r = await c.cmd(`MAIL FROM:<${ALICE}>`);
      assert.equal(r.code, 530);
      assert.match(r.lines[0]!, /^530 5\.7\.0 /);
      assert.equal((await c.cmd(`RCPT TO:<${BOB}>`)).code, 530);
    } finally {
      await c.quit();
    }
  });

  test('AUTH PLAIN and AUTH LOGIN work after STARTTLS (raw)', async () => {
    const c = await tlsSession();
    try {
      assert.equal((await c.cmd(`AUTH PLAIN ${plain(ALICE, PW)}`)).code, 235);
    } finally {
      await c.quit();
    }
    const l = await tlsSession();
    try {
      assert.equal((await l.cmd('AUTH LOGIN')).code, 334);
      assert.equal((await l.cmd(Buffer.from(BOB).toString('base64'))).code, 334);
      const r = await l.cmd(Buffer.from(BOB_PW).toString('base64'));
      assert.equal(r.code, 235);
      assert.match(r.lines[0]!, /^235 2\.7\.0 /);
    } finally {
      await l.quit();
    }
  });

  test('a wrong password gets 535 5.7.8', async () => {
    const c = await tlsSession();
    try {
      const r = await c.cmd(`AUTH PLAIN ${plain(BOB, 'nope')}`);
      assert.equal(r.code, 535);
      assert.match(r.lines[0]!, /^535 5\.7\.8 /);
    } finally {
      await c.quit();
    }
  });

  for (const method of ['PLAIN', 'LOGIN'] as const) {
    test(`nodemailer with AUTH ${method} over STARTTLS delivers to a local user`, async () => {
      const mid = `<sub-${method}.${Date.now()}@${D}>`;
      const t = transport({ secure: false, method });
      try {
        const info = await t.sendMail({ from: ALICE, to: BOB, subject: `via ${method}`, text: 'hi bob\n', messageId: mid });
        assert.match(info.response, /^250 2\.6\.0 Ok: queued as /);
      } finally {
        t.close();
      }
      const [stored] = await inboxMatching(inst.app, BOB, mid);
      assert.ok(stored);
      assert.match(stored.toString('latin1'), /^Return-Path: <alice@example\.test>\r\nReceived: from .*\r\n\tby mail\.example\.test \(Pochtamt\) with ESMTPSA id /);
    });
  }
});

describe('port 465 role: implicit TLS', () => {
  test('AUTH and send over implicit TLS', async () => {
    const mid = `<implicit.${Date.now()}@${D}>`;
    const t = transport({ secure: true, method: 'LOGIN' });
    try {
      const info = await t.sendMail({ from: ALICE, to: BOB, subject: 'implicit', text: 'over 465\n', messageId: mid });
      assert.match(info.response, /^250 /);
    } finally {
      t.close();
    }
    assert.equal((await inboxMatching(inst.app, BOB, mid)).length, 1);
  });

  test('the raw greeting comes over TLS and STARTTLS is not offered again', async () => {
    const { c, greeting } = await RawSmtp.connect(inst.ports.submissions!, { tls: true });
    try {
      assert.equal(greeting.code, 220);
      const ehlo = await c.cmd('EHLO client.test');
      assert.doesNotMatch(ehlo.text, /^STARTTLS$/m);
      assert.match(ehlo.text, /^AUTH PLAIN LOGIN$/m);
      assert.equal((await c.cmd(`AUTH PLAIN ${plain(ALICE, PW)}`)).code, 235);
    } finally {
      await c.quit();
    }
  });
});

describe('sending rights', () => {
  test('an authenticated user may send to a remote address: it is queued', async () => {
    const mid = `<remote.${Date.now()}@${D}>`;
    const t = transport({ secure: false });
    let qid: string;
    try {
      const info = await t.sendMail({ from: ALICE, to: 'someone@remote.test', subject: 'out', text: 'bye\n', messageId: mid });
      qid = /queued as ([0-9A-Z]+)/.exec(info.response)![1]!;
    } finally {
      t.close();
    }
    const entry = (await inst.app.queue.list({ all: true })).find((q) => q.message.queueId === qid);
    assert.ok(entry, 'message must be in the outbound queue');
    assert.equal(entry.message.sender, ALICE);
    assert.equal(entry.message.messageIdHeader, mid);
    assert.equal(entry.message.accountId, (await inst.app.accounts.getAccount(ALICE))!.id);
    assert.deepEqual(entry.recipients.map((r) => r.recipient), ['someone@remote.test']);
  });

  test("MAIL FROM someone else's address gets 553 5.7.1", async () => {
    const c = await authedSession();
    try {
      const r = await c.cmd(`MAIL FROM:<${BOB}>`);
      assert.equal(r.code, 553);
      assert.match(r.lines[0]!, /^553 5\.7\.1 /);
      const ext = await c.cmd('MAIL FROM:<ceo@remote.test>');
      assert.match(ext.lines[0]!, /^553 5\.7\.1 /);
      assert.match((await c.cmd('MAIL FROM:<>')).lines[0]!, /^553 5\.7\.1 /);
    } finally {
      await c.quit();
    }
  });

  test('a From: header that is not theirs gets 550 5.7.1 after DATA and nothing is stored', async () => {
    const c = await authedSession();
    const mid = `<forged.${Date.now()}@${D}>`;
    try {
      assert.equal((await c.cmd(`MAIL FROM:<${ALICE}>`)).code, 250);
      assert.equal((await c.cmd(`RCPT TO:<${BOB}>`)).code, 250);
      const r = await c.data(makeMessage({ from: `"Bob" <${BOB}>`, to: BOB, subject: 'forged', body: 'x\r\n', messageId: mid }));
      assert.equal(r.code, 550);
      assert.match(r.lines[0]!, /^550 5\.7\.1 /);
      // one of several From addresses not owned is enough to refuse
      assert.equal((await c.cmd(`MAIL FROM:<${ALICE}>`)).code, 250);
      assert.equal((await c.cmd(`RCPT TO:<${BOB}>`)).code, 250);
      const r2 = await c.data(makeMessage({ from: `${ALICE}, ${BOB}`, to: BOB, subject: 'forged2', body: 'x\r\n', messageId: mid }));
      assert.equal(r2.code, 550);
    } finally {
      await c.quit();
    }
    assert.equal((await inboxMatching(inst.app, BOB, mid)).length, 0);
  });

  test('a user may send as their alias and as a group with membersMaySendAs, not as another group', async () => {
    for (const [from, ok] of [[`sales@${D}`, true], [`team@${D}`, true], [`alice+news@${D}`, true], [`board@${D}`, false]] as const) {
      const mid = `<as.${from.replace(/[@+]/g, '_')}.${Date.now()}@${D}>`;
      const t = transport({ secure: false });
      try {
        const send = t.sendMail({ from, to: BOB, subject: `as ${from}`, text: 'x\n', messageId: mid });
        if (ok) assert.match((await send).response, /^250 /);
        else await assert.rejects(send, (e: Error & { responseCode?: number; response?: string }) => {
          assert.equal(e.responseCode, 553);
          assert.match(e.response!, /^553 5\.7\.1 /);
          return true;
        });
      } finally {
        t.close();
      }
      assert.equal((await inboxMatching(inst.app, BOB, mid)).length, ok ? 1 : 0, from);
    }
  });

  test('bob may not send as alice\'s alias', async () => {
    const c = await authedSession(BOB, BOB_PW);
    try {
      assert.match((await c.cmd(`MAIL FROM:<sales@${D}>`)).lines[0]!, /^553 5\.7\.1 /);
      assert.equal((await c.cmd(`MAIL FROM:<team@${D}>`)).code, 250);
    } finally {
      await c.quit();
    }
  });
});
