// Raw protocol suite: exact responses over a real socket, including pipelined commands,
// literals split across packets, LITERAL+, [TOOBIG], BAD for malformed input, NO with
// response codes, commands in the wrong state, STARTTLS/LOGINDISABLED.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { createImapServer } from '../../src/sessions/imap/imap-listener.js';
import type { TestInstance } from '../helpers/instance.js';
import { ADMIN, ADMIN_PASSWORD, delay, imapInstance, loggedIn, RawClient, simpleMessage } from './helpers.js';

let inst: TestInstance;
let port: number;
before(async () => {
  inst = await imapInstance({ config: { limits: { maxMessageSize: 4096 } } });
  port = inst.ports.imap!;
});
after(async () => { await inst.stop(); });

const lines = (s: string) => s.trimEnd().split('\r\n');

describe('not authenticated', () => {
  test('greeting, CAPABILITY, wrong state and unknown commands', async () => {
    const c = await RawClient.connect(port);
    const cap = lines(await c.cmd('a1', 'CAPABILITY'));
    assert.match(cap[0]!, /^\* CAPABILITY IMAP4rev1 IMAP4rev2 STARTTLS AUTH=PLAIN SASL-IR ID ENABLE IDLE LITERAL\+ /);
    assert.equal(cap[1], 'a1 OK CAPABILITY completed');
    assert.equal(await c.cmd('a2', 'SELECT INBOX'), 'a2 BAD SELECT not allowed before login\r\n');
    assert.equal(await c.cmd('a3', 'FROBNICATE'), 'a3 BAD Unknown command FROBNICATE\r\n');
    assert.equal(await c.cmd('a4', 'LOGIN nobody@example.test wrong'), 'a4 NO [AUTHENTICATIONFAILED] Invalid credentials\r\n');
    assert.equal(await c.cmd('a5', 'AUTHENTICATE CRAM-MD5'), 'a5 NO [CANNOT] Unsupported mechanism CRAM-MD5\r\n');
    c.close();
  });

  test('AUTHENTICATE PLAIN with SASL-IR and with a continuation', async () => {
    const ir = Buffer.from(`\0${ADMIN}\0${ADMIN_PASSWORD}`).toString('base64');
    const c = await RawClient.connect(port);
    assert.match(await c.cmd('a1', `AUTHENTICATE PLAIN ${ir}`), /^a1 OK \[CAPABILITY IMAP4rev1 IMAP4rev2 ID .*\] Logged in\r\n$/);
    assert.equal(await c.cmd('a2', 'LOGIN x y'), 'a2 BAD LOGIN not allowed after login\r\n');
    c.close();
    const d = await RawClient.connect(port);
    d.send('b1 AUTHENTICATE PLAIN\r\n');
    assert.equal(await d.readLine(), '+ \r\n');
    d.send(`${ir}\r\n`);
    assert.match(await d.readTagged('b1'), /^b1 OK \[CAPABILITY /);
    d.close();
    const e = await RawClient.connect(port);
    e.send('c1 AUTHENTICATE PLAIN\r\n');
    await e.readLine();
    e.send('*\r\n');
    assert.equal(await e.readTagged('c1'), 'c1 BAD Authentication cancelled\r\n');
    e.close();
  });

  test('LOGINDISABLED before TLS, then STARTTLS enables LOGIN', async () => {
    const tlsOpts = {
      key: readFileSync(path.join(inst.dataDir, 'tls/key.pem')), cert: readFileSync(path.join(inst.dataDir, 'tls/cert.pem')),
    };
    const srv = createImapServer(inst.app, { implicitTls: false, tls: tlsOpts, allowPlaintextAuth: false, loopbackIsSecure: false });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const p = (srv.address() as net.AddressInfo).port;
    try {
      const c = await RawClient.connect(p);
      const cap = await c.cmd('a1', 'CAPABILITY');
      assert.match(cap, /STARTTLS LOGINDISABLED/);
      assert.doesNotMatch(cap, /AUTH=PLAIN/);
      assert.equal(await c.cmd('a2', `LOGIN ${ADMIN} ${ADMIN_PASSWORD}`), 'a2 NO [PRIVACYREQUIRED] Use STARTTLS first\r\n');
      // A command pipelined after STARTTLS must be discarded, not run after the handshake.
      c.send('a3 STARTTLS\r\na4 NOOP\r\n');
      assert.equal(await c.readTagged('a3'), 'a3 OK Begin TLS negotiation now\r\n');
      const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
        c.socket.removeAllListeners('data');
        const t = tls.connect({ socket: c.socket, rejectUnauthorized: false }, () => resolve(t));
        t.once('error', reject);
      });
      const got = await new Promise<string>((resolve) => {
        let acc = '';
        secure.on('data', (d: Buffer) => {
          acc += d.toString();
          if (acc.includes('b1 ')) resolve(acc);
        });
        secure.write('b1 CAPABILITY\r\n');
      });
      assert.doesNotMatch(got, /a4/);
      assert.match(got, /AUTH=PLAIN/);
      assert.doesNotMatch(got, /STARTTLS|LOGINDISABLED/);
      secure.destroy();
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });

  test('implicit TLS listener', async () => {
    const c = await RawClient.connect(inst.ports.imaps!, true);
    assert.match(await c.cmd('a1', `LOGIN ${ADMIN} ${ADMIN_PASSWORD}`), /^a1 OK /);
    c.close();
  });
});

describe('authenticated', () => {
  test('pipelined commands in one packet are answered in order', async () => {
    const c = await loggedIn(port);
    c.send('p1 NOOP\r\np2 NAMESPACE\r\np3 ID NIL\r\np4 ENABLE CONDSTORE\r\n');
    const out = await c.readTagged('p4');
    assert.equal(out, 'p1 OK NOOP completed\r\n* NAMESPACE (("" "/")) (("Other Users/" "/")) (("Shared Folders/" "/"))\r\np2 OK NAMESPACE completed\r\n'
      + '* ID ("name" "Pochtamt" "vendor" "Pochtamt" "support-url" "https://pochtamt.org")\r\np3 OK ID completed\r\n'
      + '* ENABLED CONDSTORE\r\np4 OK ENABLE completed\r\n');
    c.close();
  });

  test('mailbox management: CREATE, LIST, RENAME, DELETE with response codes', async () => {
    const c = await loggedIn(port);
    assert.equal(await c.cmd('c1', 'CREATE "Projects/2025"'), 'c1 OK CREATE completed\r\n');
    assert.equal(await c.cmd('c2', 'CREATE Projects/2025'), 'c2 NO [ALREADYEXISTS] Mailbox already exists\r\n');
    assert.equal(await c.cmd('c3', 'CREATE inbox'), 'c3 NO [ALREADYEXISTS] INBOX always exists\r\n');
    assert.equal(await c.cmd('c4', 'LIST "" "Projects*"'),
      '* LIST (\\Noselect \\HasChildren) "/" "Projects"\r\n* LIST (\\HasNoChildren) "/" "Projects/2025"\r\nc4 OK LIST completed\r\n');
    assert.equal(await c.cmd('c5', 'LIST "" %'), [
      '* LIST (\\HasNoChildren) "/" "INBOX"', '* LIST (\\HasNoChildren \\Archive) "/" "Archive"', '* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"',
      '* LIST (\\HasNoChildren \\Junk) "/" "Junk"', '* LIST (\\Noselect \\HasChildren) "/" "Projects"', '* LIST (\\HasNoChildren \\Sent) "/" "Sent"',
      '* LIST (\\HasNoChildren \\Trash) "/" "Trash"', 'c5 OK LIST completed', ''].join('\r\n'));
    assert.equal(await c.cmd('c6', 'CREATE "Entw&APw-rfe" (USE (\\Drafts))'), 'c6 OK CREATE completed\r\n');
    assert.equal(await c.cmd('c7', 'LIST (SPECIAL-USE) "" "Entw*" RETURN (STATUS (MESSAGES UIDNEXT SIZE))'),
      '* LIST (\\HasNoChildren \\Drafts) "/" "Entw&APw-rfe"\r\n* STATUS "Entw&APw-rfe" (MESSAGES 0 UIDNEXT 1 SIZE 0)\r\nc7 OK LIST completed\r\n');
    assert.equal(await c.cmd('c8', 'CREATE "bad&name"'), 'c8 BAD Invalid mailbox name: unterminated "&" in mailbox name\r\n');
    assert.equal(await c.cmd('c9', 'RENAME Projects/2025 Projects/2026'), 'c9 OK RENAME completed\r\n');
    assert.equal(await c.cmd('c10', 'RENAME Nope Other'), 'c10 NO [NONEXISTENT] No such mailbox\r\n');
    assert.equal(await c.cmd('c11', 'RENAME Projects/2026 Sent'), 'c11 NO [ALREADYEXISTS] mailbox Sent exists\r\n');
    assert.equal(await c.cmd('c12', 'DELETE Projects/2026'), 'c12 OK DELETE completed\r\n');
    assert.equal(await c.cmd('c13', 'DELETE Projects/2026'), 'c13 NO [NONEXISTENT] No such mailbox\r\n');
    assert.equal(await c.cmd('c14', 'DELETE INBOX'), 'c14 NO [CANNOT] INBOX cannot be deleted\r\n');
    assert.equal(await c.cmd('c15', 'SELECT Nope'), 'c15 NO [NONEXISTENT] No such mailbox\r\n');
    assert.equal(await c.cmd('c16', 'STATUS Nope (MESSAGES)'), 'c16 NO [NONEXISTENT] No such mailbox\r\n');
    assert.equal(await c.cmd('c17', 'STATUS INBOX (MESSAGES BOGUS)'), 'c17 BAD Unknown status item BOGUS\r\n');
    assert.equal(await c.cmd('c18', 'FETCH 1 FLAGS'), 'c18 BAD FETCH not allowed without a selected mailbox\r\n');
    c.close();
  });

  test('APPEND: literal split across packets, LITERAL+, MULTIAPPEND, TRYCREATE and TOOBIG', async () => {
    const c = await loggedIn(port);
    await c.cmd('x0', 'CREATE Appends');
    const m1 = simpleMessage('split');
    c.send(`a1 APPEND Appends (\\Seen) "07-Feb-1994 21:52:25 -0800" {${m1.length}}\r\n`);
    assert.equal(await c.readLine(), '+ Ready for literal data\r\n');
    c.send(m1.subarray(0, 10));
    await delay(30);
    c.send(m1.subarray(10, 40));
    await delay(30);
    c.send(Buffer.concat([m1.subarray(40), Buffer.from('\r\n')]));
    assert.match(await c.readTagged('a1'), /^a1 OK \[APPENDUID \d+ 1\] APPEND completed\r\n$/);
    const m2 = simpleMessage('plus');
    c.send(Buffer.concat([Buffer.from(`a2 APPEND Appends {${m2.length}+}\r\n`), m2, Buffer.from(` {${m2.length}+}\r\n`), m2, Buffer.from('\r\n')]));
    assert.match(await c.readTagged('a2'), /^a2 OK \[APPENDUID \d+ 2:3\] APPEND completed\r\n$/);
    assert.equal(await c.cmd('a3', 'APPEND Missing {3+}\r\nabc'), 'a3 NO [TRYCREATE] No such mailbox\r\n');
    assert.equal(await c.cmd('a4', 'APPEND Appends {5000}'), 'a4 NO [TOOBIG] Message too large (limit 4096 bytes)\r\n');
    // The refused non-synchronising literal is read and thrown away; the session continues.
    c.send(`a5 APPEND Appends {5000+}\r\n${'x'.repeat(5000)}\r\na6 NOOP\r\n`);
    assert.equal(await c.readTagged('a6'), 'a5 NO [TOOBIG] Message too large (limit 4096 bytes)\r\na6 OK NOOP completed\r\n');
    assert.equal(await c.cmd('a7', 'STATUS Appends (MESSAGES UIDNEXT UNSEEN)'), '* STATUS "Appends" (MESSAGES 3 UIDNEXT 4 UNSEEN 2)\r\na7 OK STATUS completed\r\n');
    c.close();
  });

  test('malformed input: BAD, and the connection survives', async () => {
    const c = await loggedIn(port);
    assert.equal(await c.cmd('m1', 'LIST "" ("a"'), 'm1 BAD Unbalanced parentheses: missing ")"\r\n');
    assert.equal(await c.cmd('m2', 'STATUS INBOX MESSAGES)'), 'm2 BAD Unbalanced parentheses: unexpected ")"\r\n');
    assert.equal(await c.cmd('m3', 'CREATE "abc'), 'm3 BAD Unterminated quoted string\r\n');
    assert.equal(await c.cmd('m4', 'CREATE'), 'm4 BAD Missing mailbox name\r\n');
    assert.equal(await c.cmd('m5', 'NOOP extra'), 'm5 BAD Too many arguments\r\n');
    c.send('\r\n');
    c.send(`${'t'.repeat(200)} NOOP\r\n`);
    assert.equal(await c.readLine(), '* BAD Tag too long\r\n');
    assert.equal(await c.cmd('m6', 'SELECT INBOX').then((r) => r.split('\r\n').at(-2)), 'm6 OK [READ-WRITE] SELECT completed');
    assert.equal(await c.cmd('m7', 'FETCH 99 FLAGS'), 'm7 BAD Invalid message sequence number\r\n');
    assert.equal(await c.cmd('m8', 'FETCH 1:* (BODY[0])'), 'm8 BAD Invalid section 0\r\n');
    assert.equal(await c.cmd('m9', 'SEARCH CHARSET KOI8-R TEXT x'), 'm9 NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset KOI8-R\r\n');
    assert.equal(await c.cmd('m10', 'STORE 1 +FLAGS (\\Bogus)'), 'm10 BAD Invalid flag \\Bogus\r\n');
    assert.equal(await c.cmd('m11', 'COPY 1:* Nowhere'), 'm11 NO [TRYCREATE] No such mailbox\r\n');
    assert.equal(await c.cmd('m12', 'LOGOUT'), '* BYE Logging out\r\nm12 OK LOGOUT completed\r\n');
    c.close();
  });
});

describe('selected', () => {
  test('SELECT, FETCH, STORE, SEARCH, COPY, MOVE, EXPUNGE with exact responses', async () => {
    const c = await loggedIn(port);
    await c.cmd('s0', 'CREATE Work');
    for (const [i, subj] of ['one', 'two', 'three'].entries()) {
      const m = simpleMessage(subj, `body number ${i + 1}`);
      await c.cmd(`s0${i}`, `APPEND Work {${m.length}+}\r\n${m.toString('latin1')}`);
    }
    const sel = await c.cmd('s1', 'SELECT Work');
    const uv = /UIDVALIDITY (\d+)/.exec(sel)![1];
    assert.equal(sel, [
      '* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded $MDNSent $Junk $NotJunk $Phishing)',
      '* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted',
      '* 3 EXISTS', '* 0 RECENT', `* OK [UIDVALIDITY ${uv}] UIDs valid`, '* OK [UIDNEXT 4] Predicted next UID',
      '* OK [HIGHESTMODSEQ 4] Highest', 's1 OK [READ-WRITE] SELECT completed', ''].join('\r\n'));
    assert.equal(await c.cmd('s2', 'FETCH 1:2 (UID FLAGS RFC822.SIZE INTERNALDATE)'), [
      `* 1 FETCH (UID 1 FLAGS () RFC822.SIZE ${simpleMessage('one', 'body number 1').length} INTERNALDATE "${/INTERNALDATE "([^"]+)"/.exec(await c.cmd('t', 'FETCH 1 INTERNALDATE'))![1]}")`,
      `* 2 FETCH (UID 2 FLAGS () RFC822.SIZE ${simpleMessage('two', 'body number 2').length} INTERNALDATE "${/INTERNALDATE "([^"]+)"/.exec(await c.cmd('t2', 'FETCH 2 INTERNALDATE'))![1]}")`,
      's2 OK FETCH completed', ''].join('\r\n'));
    assert.equal(await c.cmd('s3', 'FETCH 2 (BODY.PEEK[HEADER.FIELDS (Subject)] BODY.PEEK[TEXT]<5.6>)'),
      '* 2 FETCH (BODY[HEADER.FIELDS (Subject)] {16}\r\nSubject: two\r\n\r\n BODY[TEXT]<5> {6}\r\nnumber)\r\ns3 OK FETCH completed\r\n');
    assert.equal(await c.cmd('s4', 'FETCH 3 BODY[1]'), '* 3 FETCH (BODY[1] {15}\r\nbody number 3\r\n FLAGS (\\Seen))\r\ns4 OK FETCH completed\r\n');
    assert.equal(await c.cmd('s5', 'STORE 1:2 +FLAGS (\\Flagged $Label1)'),
      '* 1 FETCH (FLAGS (\\Flagged $Label1))\r\n* 2 FETCH (FLAGS (\\Flagged $Label1))\r\ns5 OK STORE completed\r\n');
    assert.equal(await c.cmd('s6', 'UID STORE 2 -FLAGS.SILENT (\\Flagged)'), 's6 OK UID STORE completed\r\n');
    assert.equal(await c.cmd('s7', 'SEARCH FLAGGED'), '* SEARCH 1\r\ns7 OK SEARCH completed\r\n');
    assert.equal(await c.cmd('s8', 'UID SEARCH OR SUBJECT two BODY "NUMBER 3"'), '* SEARCH 2 3\r\ns8 OK UID SEARCH completed\r\n');
    assert.equal(await c.cmd('s9', 'SEARCH RETURN (MIN MAX COUNT) KEYWORD $Label1'), '* ESEARCH (TAG "s9") MIN 1 MAX 2 COUNT 2\r\ns9 OK SEARCH completed\r\n');
    assert.equal(await c.cmd('s10', 'SEARCH NOT SEEN SINCE 1-Jan-2000 LARGER 10 HEADER Message-ID one'), '* SEARCH 1\r\ns10 OK SEARCH completed\r\n');
    assert.equal(await c.cmd('s11', 'UID SEARCH RETURN (SAVE) SEEN'), 's11 OK UID SEARCH completed\r\n');
    assert.equal(await c.cmd('s12', 'UID FETCH $ (FLAGS)'), '* 3 FETCH (UID 3 FLAGS (\\Seen))\r\ns12 OK UID FETCH completed\r\n');
    const copied = await c.cmd('s13', 'COPY 1:2 Archive');
    assert.match(copied, /^s13 OK \[COPYUID \d+ 1:2 \d+:\d+\] COPY completed\r\n$/);
    const moved = await c.cmd('s14', 'UID MOVE 2 Trash');
    assert.match(moved, /^\* OK \[COPYUID \d+ 2 \d+\] Moved\r\n\* 2 EXPUNGE\r\ns14 OK UID MOVE completed\r\n$/);
    assert.equal(await c.cmd('s15', 'STORE 1 +FLAGS.SILENT (\\Deleted)'), 's15 OK STORE completed\r\n');
    assert.equal(await c.cmd('s16', 'EXPUNGE'), '* 1 EXPUNGE\r\ns16 OK EXPUNGE completed\r\n');
    assert.equal(await c.cmd('s17', 'FETCH 1:* UID'), '* 1 FETCH (UID 3)\r\ns17 OK FETCH completed\r\n');
    assert.equal(await c.cmd('s18', 'UNSELECT'), 's18 OK UNSELECT completed\r\n');
    c.close();
  });

  test('CONDSTORE/QRESYNC: MODSEQ, UNCHANGEDSINCE, CHANGEDSINCE, VANISHED', async () => {
    const c = await loggedIn(port);
    await c.cmd('q0', 'CREATE Sync');
    for (const s of ['a', 'b', 'c']) {
      const m = simpleMessage(s);
      await c.cmd(`q0${s}`, `APPEND Sync {${m.length}+}\r\n${m.toString('latin1')}`);
    }
    assert.equal(await c.cmd('q1', 'ENABLE QRESYNC'), '* ENABLED QRESYNC CONDSTORE\r\nq1 OK ENABLE completed\r\n');
    const sel = await c.cmd('q2', 'SELECT Sync');
    const uv = Number(/UIDVALIDITY (\d+)/.exec(sel)![1]);
    const hms = Number(/HIGHESTMODSEQ (\d+)/.exec(sel)![1]);
    assert.equal(await c.cmd('q3', `STORE 1 (UNCHANGEDSINCE ${hms}) +FLAGS (\\Seen)`),
      `* 1 FETCH (FLAGS (\\Seen) MODSEQ (${hms + 1}))\r\nq3 OK STORE completed\r\n`);
    assert.equal(await c.cmd('q4', `STORE 1,2 (UNCHANGEDSINCE ${hms}) +FLAGS (\\Answered)`),
      `* 2 FETCH (FLAGS (\\Answered) MODSEQ (${hms + 2}))\r\nq4 OK [MODIFIED 1] Some messages were modified\r\n`);
    assert.equal(await c.cmd('q5', `UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${hms + 1})`),
      `* 2 FETCH (UID 2 FLAGS (\\Answered) MODSEQ (${hms + 2}))\r\nq5 OK UID FETCH completed\r\n`);
    await c.cmd('q6', 'UID STORE 3 +FLAGS.SILENT (\\Deleted)');
    assert.equal(await c.cmd('q7', 'UID EXPUNGE 3'), '* VANISHED 3\r\nq7 OK UID EXPUNGE completed\r\n');
    assert.equal(await c.cmd('q8', `UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${hms} VANISHED)`),
      `* VANISHED (EARLIER) 3\r\n* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ (${hms + 1}))\r\n* 2 FETCH (UID 2 FLAGS (\\Answered) MODSEQ (${hms + 2}))\r\nq8 OK UID FETCH completed\r\n`);
    const re = await c.cmd('q9', `SELECT Sync (QRESYNC (${uv} ${hms}))`);
    assert.match(re, /^\* OK \[CLOSED\] Previous mailbox closed\r\n/);
    assert.match(re, /\* VANISHED \(EARLIER\) 3\r\n/);
    assert.match(re, new RegExp(`\\* 1 FETCH \\(UID 1 FLAGS \\(\\\\Seen\\) MODSEQ \\(${hms + 1}\\)\\)\r\n`));
    assert.equal(await c.cmd('q10', 'SEARCH MODSEQ 1'), `* SEARCH 1 2 (MODSEQ ${hms + 3})\r\nq10 OK SEARCH completed\r\n`.replace(`${hms + 3}`, `${hms + 2}`));
    c.close();
  });

  test('EXAMINE is read-only', async () => {
    const c = await loggedIn(port);
    const r = await c.cmd('e1', 'EXAMINE INBOX');
    assert.match(r, /\* OK \[PERMANENTFLAGS \(\)\] Read-only mailbox\r\n/);
    assert.match(r, /e1 OK \[READ-ONLY\] EXAMINE completed\r\n$/);
    assert.equal(await c.cmd('e2', 'STORE 1:* +FLAGS (\\Seen)').catch(() => ''), 'e2 NO [READ-ONLY] Mailbox is read-only\r\n');
    assert.equal(await c.cmd('e3', 'EXPUNGE'), 'e3 NO [READ-ONLY] Mailbox is read-only\r\n');
    c.close();
  });
});
