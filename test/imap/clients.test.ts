// End to end with two independent client libraries: imapflow (npm) and Python's imaplib
// (Debian's /usr/bin/python3, run as a child process).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { ImapFlow } from 'imapflow';
import type { TestInstance } from '../helpers/instance.js';
import { corpus } from './corpus.js';
import { ADMIN, ADMIN_PASSWORD, imapInstance, simpleMessage, PYTHON, runProcess } from './helpers.js';

let inst: TestInstance;
before(async () => { inst = await imapInstance(); });
after(async () => { await inst.stop(); });

function flow(secure = false): ImapFlow {
  return new ImapFlow({
    host: '127.0.0.1', port: secure ? inst.ports.imaps! : inst.ports.imap!, secure,
    auth: { user: ADMIN, pass: ADMIN_PASSWORD }, logger: false, tls: { rejectUnauthorized: false },
  });
}

test('imapflow: list, append, fetch structure and parts, flags, search, move, expunge', async () => {
  const c = flow(true);
  await c.connect();
  try {
    const boxes = await c.list();
    const byUse = Object.fromEntries(boxes.filter((b) => b.specialUse).map((b) => [b.specialUse, b.path]));
    assert.deepEqual(byUse, { '\\Inbox': 'INBOX', '\\Archive': 'Archive', '\\Drafts': 'Drafts', '\\Junk': 'Junk', '\\Sent': 'Sent', '\\Trash': 'Trash' });
    await c.mailboxCreate('Корпус');
    for (const raw of Object.values(corpus)) await c.append('Корпус', raw, ['\\Seen']);
    const lock = await c.getMailboxLock('Корпус');
    try {
      assert.equal((c.mailbox as { exists: number }).exists, 4);
      const msgs = [];
      for await (const m of c.fetch('1:*', { uid: true, envelope: true, bodyStructure: true, flags: true, size: true })) msgs.push(m);
      assert.equal(msgs.length, 4);
      assert.equal(msgs[0]!.envelope!.subject, 'Café au lait');
      assert.equal(msgs[0]!.envelope!.from![0]!.name, 'Алексей');
      assert.equal(msgs[0]!.bodyStructure!.childNodes![1]!.dispositionParameters!.filename, 'report.pdf');
      assert.equal(msgs[1]!.envelope!.subject, '日本語');
      assert.equal(msgs[2]!.bodyStructure!.childNodes![1]!.type, 'message/rfc822');
      const part = await c.download('1', '1.1');
      const chunks: Buffer[] = [];
      for await (const ch of part.content!) chunks.push(ch as Buffer);
      assert.equal(Buffer.concat(chunks).toString('utf8'), 'Café with müsli');
      const one = await c.fetchOne('2', { source: true });
      assert.ok(one && Buffer.compare(one.source!, corpus.eightBit) === 0, 'byte-exact source');
      await c.messageFlagsAdd('1:2', ['\\Flagged']);
      assert.deepEqual(await c.search({ flagged: true }), [1, 2]);
      assert.deepEqual(await c.search({ body: 'müsli' }), [1]);
      assert.deepEqual(await c.search({ from: 'алексей' }), [1]);
      assert.deepEqual(await c.search({ subject: 'hello' }), [3]);
      const moved = await c.messageMove('4', 'Trash');
      assert.ok(moved && moved.uidMap && moved.uidMap.size === 1);
      await c.messageDelete('3');
      assert.equal((c.mailbox as { exists: number }).exists, 2);
    } finally {
      lock.release();
    }
    const st = (await c.status('Корпус', { messages: true, uidNext: true, unseen: true, highestModseq: true })) as { messages: number; uidNext: number };
    assert.equal(st.messages, 2);
    assert.equal(st.uidNext, 5);
  } finally {
    await c.logout();
  }
});

test('imapflow: IDLE sees an SMTP delivery within a second', async () => {
  const c = flow(false);
  await c.connect();
  const lock = await c.getMailboxLock('INBOX');
  try {
    const before = (c.mailbox as { exists: number }).exists;
    const seen = new Promise<number>((resolve) => c.on('exists', (d: { count: number }) => resolve(d.count)));
    void c.idle().catch(() => undefined);
    // imapflow idles on its own when nothing else is queued; give it a moment to enter IDLE.
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    const { default: nodemailer } = await import('nodemailer');
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: inst.ports.smtp, secure: false, ignoreTLS: true });
    await t.sendMail({ from: 'someone@remote.test', to: ADMIN, subject: 'pushed', text: 'hi' });
    const count = await Promise.race([seen, new Promise<number>((_, rej) => setTimeout(() => rej(new Error('no EXISTS within 1 s')), 1000))]);
    assert.equal(count, before + 1);
    assert.ok(Date.now() - t0 < 1500);
  } finally {
    lock.release();
    await c.logout();
  }
});

test('Python imaplib drives login, select, fetch, store, search, copy, expunge', { skip: !existsSync(PYTHON) }, async () => {
  const app = inst.app;
  const acc = await app.accounts.getAccount(ADMIN);
  const box = await app.mailStore.createMailbox(acc!.id, 'PyBox');
  void box;
  const script = `
import imaplib, sys
M = imaplib.IMAP4('127.0.0.1', ${inst.ports.imap})
M.starttls()
M.login(${JSON.stringify(ADMIN)}, ${JSON.stringify(ADMIN_PASSWORD)})
typ, _ = M.append('PyBox', '(\\\\Flagged)', None, ${JSON.stringify(simpleMessage('from python', 'python body').toString())}.encode())
assert typ == 'OK', typ
typ, data = M.select('PyBox')
assert typ == 'OK' and data[0] == b'1', data
typ, data = M.fetch('1', '(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])')
assert b'\\\\Flagged' in data[0][0], data
assert data[0][1] == b'Subject: from python\\r\\n\\r\\n', data
typ, data = M.search(None, 'BODY', 'python')
assert data == [b'1'], data
typ, data = M.store('1', '+FLAGS', '\\\\Deleted')
assert typ == 'OK', data
typ, data = M.copy('1', 'Archive')
assert typ == 'OK', data
typ, data = M.expunge()
assert data == [b'1'], data
typ, data = M.list(pattern='Py*')
assert data == [b'(\\\\HasNoChildren) "/" PyBox'] or data == [b'(\\\\HasNoChildren) "/" "PyBox"'], data
M.logout()
print('python-ok')
`;
  const r = await runProcess(PYTHON, ['-c', script], 20_000);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /python-ok/);
});
