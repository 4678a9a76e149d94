// Bad input on the MX, spoken by hand over a raw socket: over-long lines, 8-bit headers, bare
// LF/CR and the SMTP smuggling sequence, NUL bytes, invalid addresses and a pipelining flood.
// Each gets the right reply, and afterwards the server still takes a normal message.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TEST_DOMAIN, startInstance, type TestInstance } from '../helpers/instance.js';
import { inboxMatching, inboxMessages, makeMessage, openTransaction, RawSmtp, sleep } from '../helpers/raw-smtp.js';

const D = TEST_DOMAIN;
const ALICE = `alice@${D}`;
const MAX_RCPT = 100;

let inst: TestInstance;

before(async () => {
  inst = await startInstance({ config: { limits: { maxRecipients: MAX_RCPT } } });
  await inst.app.accounts.addAccount({ address: ALICE });
});
after(async () => { await inst?.stop(); });

/** EHLO, MAIL, RCPT alice, DATA (354 checked); the caller writes the message and the end. */
async function inData(): Promise<RawSmtp> {
  const { c, replies } = await openTransaction(inst.ports.smtp!, 'x@remote.test', [ALICE]);
  assert.deepEqual(replies.map((r) => r.code), [250, 250, 250]);
  assert.equal((await c.cmd('DATA')).code, 354);
  return c;
}

async function normalMessageStillAccepted(tag: string): Promise<void> {
  const mid = `<normal.${tag}.${Date.now()}@client.test>`;
  const { c, replies } = await openTransaction(inst.ports.smtp!, 'x@remote.test', [ALICE]);
  try {
    assert.deepEqual(replies.map((r) => r.code), [250, 250, 250]);
    assert.equal((await c.data(makeMessage({ from: 'x@remote.test', to: ALICE, subject: tag, body: 'fine\r\n', messageId: mid }))).code, 250);
  } finally {
    await c.quit();
  }
  assert.equal((await inboxMatching(inst.app, ALICE, mid)).length, 1);
}

test('an over-long command line is refused and the connection closed; the server keeps serving', async () => {
  const { c } = await RawSmtp.connect(inst.ports.smtp!);
  try {
    assert.equal((await c.cmd('EHLO client.test')).code, 250);
    c.write(`MAIL FROM:<${'a'.repeat(10_000)}@remote.test>\r\n`);
    const r = await c.read();
    // smtp-server answers a line over maxCommandLength with "421 Error: Command line too long"
    // and closes (RFC 5321 §4.5.3.1.10 suggests 500; the connection is dropped either way).
    assert.ok(r.code === 421 || r.code >= 500, `reply ${r.lines[0]}`);
    assert.match(r.text, /too long/i);
    assert.ok(await c.waitClosed(), 'connection closed after the refusal');
  } finally {
    c.destroy();
  }
  // a long line that is not a command (no CRLF yet) must not hang the server either
  const { c: c2 } = await RawSmtp.connect(inst.ports.smtp!);
  try {
    c2.write('x'.repeat(50_000));
    const r = await c2.read();
    assert.ok(r.code === 421 || r.code >= 500, `reply ${r.lines[0]}`);
  } finally {
    c2.destroy();
  }
  await normalMessageStillAccepted('after-long-line');
});

test('8-bit UTF-8 in headers is accepted and stored byte for byte', async () => {
  const mid = `<utf8.${Date.now()}@client.test>`;
  const raw = makeMessage({ from: '"Jürgen Müller" <jm@remote.test>', to: `"Алиса" <${ALICE}>`, subject: 'Grüße aus Köln — 你好 ✓',
    body: 'Körper\r\n', messageId: mid, extraHeaders: ['X-Note: ünïcödé'] });
  const c = await inData();
  try {
    c.write(Buffer.concat([raw, Buffer.from('.\r\n')]));
    const r = await c.read();
    assert.equal(r.code, 250, r.text);
  } finally {
    await c.quit();
  }
  const [stored] = await inboxMatching(inst.app, ALICE, mid);
  assert.ok(stored);
  assert.ok(stored.subarray(stored.length - raw.length).equals(raw), 'stored bytes end with exactly what was sent');
});

test('bare LF and bare CR inside DATA are stored as CRLF', async () => {
  const mid = `<bare.${Date.now()}@client.test>`;
  const c = await inData();
  try {
    c.write(`From: x@remote.test\nTo: ${ALICE}\r\nMessage-ID: ${mid}\rSubject: bare\r\n\r\nline1\nline2\rline3\r\r\nline4\n\r\nlast\r\n.\r\n`);
    assert.equal((await c.read()).code, 250);
  } finally {
    await c.quit();
  }
  const [stored] = await inboxMatching(inst.app, ALICE, mid);
  assert.ok(stored);
  const s = stored.toString('latin1');
  const expected = `From: x@remote.test\r\nTo: ${ALICE}\r\nMessage-ID: ${mid}\r\nSubject: bare\r\n`;
  assert.ok(s.includes(expected), s);
  assert.ok(s.endsWith('\r\n\r\nline1\r\nline2\r\nline3\r\n\r\nline4\r\n\r\nlast\r\n'), JSON.stringify(s.slice(-60)));
  assert.doesNotMatch(s, /\r(?!\n)|(?<!\r)\n/, 'no bare CR or LF anywhere in the stored message');
});

for (const [name, seq] of [['<LF>.<CR><LF>', '\n.\r\n'], ['<CR>.<CR><LF>', '\r.\r\n'], ['<LF>.<LF>', '\n.\n'], ['<CR><LF>.<LF>', '\r\n.\n']] as const) {
  test(`SMTP smuggling: ${name} in the middle of DATA does not end the message`, async () => {
    const before = (await inboxMessages(inst.app, ALICE)).length;
    const mid = `<smuggle.${Date.now()}@client.test>`;
    const smuggledMid = `<smuggled.${Date.now()}@evil.test>`;
    const c = await inData();
    try {
      // One write: the outer message, the would-be end, a complete second transaction, the real end.
      c.write(`From: x@remote.test\r\nTo: ${ALICE}\r\nMessage-ID: ${mid}\r\nSubject: outer\r\n\r\nouter body${seq}`
        + `MAIL FROM:<admin@${D}>\r\nRCPT TO:<${ALICE}>\r\nDATA\r\nFrom: admin@${D}\r\nMessage-ID: ${smuggledMid}\r\n`
        + 'Subject: smuggled\r\n\r\nsmuggled body\r\n.\r\n');
      const r = await c.read();
      assert.equal(r.code, 250, r.lines[0]);
      await sleep(200);
      // exactly one reply to the whole thing: nothing else is waiting
      assert.equal((await c.cmd('NOOP')).code, 250);
    } finally {
      await c.quit();
    }
    const msgs = await inboxMessages(inst.app, ALICE);
    assert.equal(msgs.length, before + 1, 'one message, not two');
    const s = msgs[msgs.length - 1]!.toString('latin1');
    assert.ok(s.includes(mid) && s.includes('smuggled body'), 'the text after the sequence belongs to the same message');
    assert.ok(s.endsWith('smuggled body\r\n'));
    const head = s.slice(0, s.indexOf('\r\n\r\n'));
    assert.equal(head.split('\r\n').filter((l) => /^message-id:/i.test(l)).length, 1, 'only the outer Message-ID is a header');
    assert.match(head, new RegExp(`^Message-ID: ${mid}$`, 'm'));
    assert.doesNotMatch(s, /\r(?!\n)|(?<!\r)\n/, 'stored with CRLF only');
    assert.equal((await inboxMatching(inst.app, ALICE, `Message-ID: ${smuggledMid}\r\nSubject: smuggled`)).length, 1);
  });
}

test('a NUL byte in DATA gets 554 5.6.0 and nothing is stored', async () => {
  const before = (await inboxMessages(inst.app, ALICE)).length;
  const c = await inData();
  try {
    c.write(Buffer.concat([Buffer.from('From: x@remote.test\r\nSubject: nul\r\n\r\nbefore'), Buffer.from([0]), Buffer.from('after\r\n.\r\n')]));
    const r = await c.read();
    assert.equal(r.code, 554);
    assert.match(r.lines[0]!, /^554 5\.6\.0 /);
    assert.equal((await c.cmd('RSET')).code, 250, 'the connection is still usable');
  } finally {
    await c.quit();
  }
  assert.equal((await inboxMessages(inst.app, ALICE)).length, before);
});

test('a header line over 998 characters gets 554 5.6.0; the same length in the body is fine', async () => {
  const before = (await inboxMessages(inst.app, ALICE)).length;
  const c = await inData();
  try {
    c.write(`From: x@remote.test\r\nX-Long: ${'h'.repeat(1000)}\r\nSubject: long header\r\n\r\nbody\r\n.\r\n`);
    const r = await c.read();
    assert.equal(r.code, 554);
    assert.match(r.lines[0]!, /^554 5\.6\.0 /);
    // exactly 998 in a header and a long body line are accepted
    assert.equal((await c.cmd('MAIL FROM:<x@remote.test>')).code, 250);
    assert.equal((await c.cmd(`RCPT TO:<${ALICE}>`)).code, 250);
    const ok = await c.data(`From: x@remote.test\r\nX-Edge: ${'e'.repeat(998 - 'X-Edge: '.length)}\r\nSubject: edge\r\n\r\n${'b'.repeat(5000)}\r\n`);
    assert.equal(ok.code, 250, ok.lines[0]);
  } finally {
    await c.quit();
  }
  const msgs = await inboxMessages(inst.app, ALICE);
  assert.equal(msgs.length, before + 1);
  assert.ok(msgs[msgs.length - 1]!.includes('Subject: edge'));
});

// (Not covered: `MAIL FROM:<a@b> <c@d>` is accepted, because smtp-server passes unknown MAIL
// parameters through instead of answering 555 as RFC 5321 §4.1.1.11 says; the address is a@b.)
test('invalid addresses in MAIL and RCPT get 5xx', async () => {
  const bad = ['<foo>', '<a@b@c>', '<@x>', '<foo@bar', 'foo@bar>', '<<foo@bar>>', '<foo bar@x.test>',
    '<@relay.test:foo@bar.test', '<a@>', '<@>', '<.a@x.test>', `<a@${'x'.repeat(300)}.test>`];
  const { c } = await RawSmtp.connect(inst.ports.smtp!);
  try {
    assert.equal((await c.cmd('EHLO client.test')).code, 250);
    const wrong: string[] = [];
    for (const a of bad) {
      const r = await c.cmd(`MAIL FROM:${a}`);
      if (!(r.code >= 500 && r.code < 600)) wrong.push(`MAIL FROM:${a} -> ${r.lines[0]}`);
      if (r.code === 250) await c.cmd('RSET');
    }
    assert.equal((await c.cmd('MAIL FROM:<x@remote.test>')).code, 250);
    for (const a of bad) {
      const r = await c.cmd(`RCPT TO:${a}`);
      if (!(r.code >= 500 && r.code < 600)) wrong.push(`RCPT TO:${a} -> ${r.lines[0]}`);
    }
    assert.deepEqual(wrong, []);
    assert.equal((await c.cmd(`RCPT TO:<${ALICE}>`)).code, 250);
  } finally {
    await c.quit();
  }
});

test('a pipelining flood of 500 RCPTs in one write gets every reply; past the limit they are 452 4.5.3', async () => {
  const { c, replies } = await openTransaction(inst.ports.smtp!, 'x@remote.test', []);
  try {
    assert.equal(replies[1]!.code, 250);
    let flood = '';
    for (let i = 0; i < 500; i++) flood += `RCPT TO:<alice+${i}@${D}>\r\n`;
    c.write(`${flood}NOOP\r\n`);
    const got = [];
    for (let i = 0; i < 501; i++) got.push(await c.read(15_000));
    const codes = got.slice(0, 500).map((r) => r.code);
    assert.ok(codes.slice(0, MAX_RCPT).every((x) => x === 250), 'first maxRecipients accepted');
    assert.ok(codes.slice(MAX_RCPT).every((x) => x === 452), `then 452: ${[...new Set(codes.slice(MAX_RCPT))]}`);
    assert.match(got[MAX_RCPT]!.lines[0]!, /^452 4\.5\.3 /);
    assert.equal(got[500]!.code, 250, 'the NOOP after the flood is answered too');
    const r = await c.data(makeMessage({ from: 'x@remote.test', to: ALICE, subject: 'flood', body: 'x\r\n' }));
    assert.equal(r.code, 250, 'a message for the accepted recipients goes through');
  } finally {
    await c.quit();
  }
  assert.equal((await inboxMatching(inst.app, ALICE, 'Subject: flood\r\n')).length, 1, 'one copy for one account');
});

test('after all of that, the server still accepts a normal message', async () => {
  await normalMessageStillAccepted('finally');
});
