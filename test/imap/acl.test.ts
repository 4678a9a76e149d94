// IMAP ACL (RFC 4314) and shared folders, on SQLite and PostgreSQL: Alice shares folders with Bob,
// a (nested) group and "anyone"; every command honours the rights with exact responses (raw
// socket); revocation applies to the next command and during IDLE; group membership changes
// apply at once; a delivery to a shared INBOX reaches Bob's IDLE; a shared mailbox created with
// the CLI appears under "Shared Folders"; imapflow and Python's imaplib drive it as clients.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ImapFlow } from 'imapflow';
import type { TestInstance } from '../helpers/instance.js';
import { backends } from '../helpers/store-matrix.js';
import { imapInstance, loggedIn, RawClient, simpleMessage, PYTHON, runProcess } from './helpers.js';

const PASSWORD = 'acl-secret-1';
const ALICE = 'alice@example.test';
const BOB = 'bob@example.test';
const CAROL = 'carol@example.test';
const DAVE = 'dave@example.test';
const TEAM = 'team@example.test';
const SUBTEAM = 'subteam@example.test';
const SUPPORT = 'support@example.test';
const PROJECTS = `"Other Users/${ALICE}/Projects"`;
const CLI = path.resolve(import.meta.dirname, '../../src/cli/main.js');

const lines = (s: string) => s.trimEnd().split('\r\n');
const append = (box: string, m: Buffer, flags = '') => `APPEND ${box}${flags ? ` (${flags})` : ''} {${m.length}+}\r\n${m.toString('latin1')}`;

for (const backend of backends) {
  describe(`IMAP ACL and shared folders (${backend.name})`, { skip: backend.skip }, () => {
    let inst: TestInstance;
    let port: number;
    const login = (user: string) => loggedIn(port, user, PASSWORD);

    before(async () => {
      inst = await imapInstance({ postgres: backend.name === 'postgres' });
      port = inst.ports.imap!;
      for (const address of [ALICE, BOB, CAROL, DAVE]) await inst.app.accounts.addAccount({ address, password: PASSWORD });
      await inst.app.accounts.addGroup(SUBTEAM, { members: [CAROL] });
      await inst.app.accounts.addGroup(TEAM, { members: [SUBTEAM] });
      const a = await login(ALICE);
      assert.match(await a.cmd('c', 'CREATE Projects'), /^c OK/m);
      assert.match(await a.cmd('a1', append('Projects', simpleMessage('plan one'))), /^a1 OK \[APPENDUID \d+ 1\]/m);
      assert.match(await a.cmd('a2', append('Projects', simpleMessage('plan two'))), /^a2 OK \[APPENDUID \d+ 2\]/m);
      a.close();
    });
    after(async () => { await inst?.stop(); });

    test('CAPABILITY and NAMESPACE announce ACL and the two shared namespaces', async () => {
      const c = await login(BOB);
      assert.match(lines(await c.cmd('a1', 'CAPABILITY'))[0]!, / ACL RIGHTS=texk(?: |$)/);
      assert.deepEqual(lines(await c.cmd('a2', 'NAMESPACE')),
        ['* NAMESPACE (("" "/")) (("Other Users/" "/")) (("Shared Folders/" "/"))', 'a2 OK NAMESPACE completed']);
      c.close();
    });

    test('without rights a folder does not exist; with only "l" it is listed but refused [NOPERM]', async () => {
      const a = await login(ALICE);
      const b = await login(BOB);
      assert.doesNotMatch(await b.cmd('l1', 'LIST "" "*"'), /Other Users/);
      for (const [tag, command] of [['s1', `SELECT ${PROJECTS}`], ['s2', `EXAMINE ${PROJECTS}`], ['s3', `STATUS ${PROJECTS} (MESSAGES)`],
        ['s4', `MYRIGHTS ${PROJECTS}`], ['s5', `GETACL ${PROJECTS}`], ['s6', `SETACL ${PROJECTS} ${BOB} lr`], ['s7', `SUBSCRIBE ${PROJECTS}`],
        ['s8', append(PROJECTS, simpleMessage('nope'))], ['s9', `DELETE ${PROJECTS}`], ['s10', `GETQUOTAROOT ${PROJECTS}`]]) {
        assert.equal(await b.cmd(tag!, command!), `${tag} NO [NONEXISTENT] No such mailbox\r\n`, command);
      }
      // A namespace level or an unknown owner is no mailbox either.
      assert.equal(await b.cmd('s11', 'SELECT "Other Users/nobody@example.test/INBOX"'), 's11 NO [NONEXISTENT] No such mailbox\r\n');
      assert.equal(await b.cmd('s12', 'SELECT "Other Users"'), 's12 NO [NONEXISTENT] No such mailbox\r\n');

      assert.equal(await a.cmd('g1', `SETACL Projects ${BOB} l`), 'g1 OK SETACL completed\r\n');
      assert.deepEqual(lines(await b.cmd('l2', 'LIST "" "*"')).filter((l) => l.includes('Other Users')), [
        '* LIST (\\Noselect \\HasChildren) "/" "Other Users"',
        `* LIST (\\Noselect \\HasChildren) "/" "Other Users/${ALICE}"`,
        `* LIST (\\HasNoChildren) "/" "Other Users/${ALICE}/Projects"`,
      ]);
      assert.deepEqual(lines(await b.cmd('l3', 'LIST "" "%"')).filter((l) => l.includes('Other Users')), ['* LIST (\\Noselect \\HasChildren) "/" "Other Users"']);
      assert.deepEqual(lines(await b.cmd('m1', `MYRIGHTS ${PROJECTS}`)), [`* MYRIGHTS "Other Users/${ALICE}/Projects" l`, 'm1 OK MYRIGHTS completed']);
      assert.equal(await b.cmd('s1', `SELECT ${PROJECTS}`), 's1 NO [NOPERM] Permission denied\r\n');
      assert.equal(await b.cmd('s2', `STATUS ${PROJECTS} (MESSAGES)`), 's2 NO [NOPERM] Permission denied\r\n');
      assert.equal(await b.cmd('s3', `GETACL ${PROJECTS}`), 's3 NO [NOPERM] Permission denied\r\n');
      assert.equal(await b.cmd('s4', `SETACL ${PROJECTS} ${BOB} lrswipkxtea`), 's4 NO [NOPERM] Permission denied\r\n');
      assert.equal(await b.cmd('s5', append(PROJECTS, simpleMessage('nope'))), 's5 NO [NOPERM] Permission denied\r\n');
      // LIST-STATUS leaves out the STATUS it may not give.
      assert.deepEqual(lines(await b.cmd('s6', `LIST "" "Other Users/*" RETURN (STATUS (MESSAGES))`)).filter((l) => l.startsWith('* STATUS')), []);
      a.close();
      b.close();
    });

    test('"lr": read-only SELECT, FETCH BODY[] leaves \\Seen alone, changes refused', async () => {
      const a = await login(ALICE);
      const b = await login(BOB);
      assert.equal(await a.cmd('g1', `SETACL Projects ${BOB} lr`), 'g1 OK SETACL completed\r\n');
      const sel = lines(await b.cmd('s1', `SELECT ${PROJECTS}`));
      assert.ok(sel.includes('* 2 EXISTS'), sel.join('\n'));
      assert.ok(sel.includes('* OK [PERMANENTFLAGS ()] Read-only mailbox'), sel.join('\n'));
      assert.equal(sel.at(-1), 's1 OK [READ-ONLY] SELECT completed');
      assert.match(await b.cmd('f1', 'FETCH 1 (BODY[HEADER.FIELDS (SUBJECT)])'), /Subject: plan one/);
      assert.equal(await b.cmd('f2', 'FETCH 1 (FLAGS)'), '* 1 FETCH (FLAGS ())\r\nf2 OK FETCH completed\r\n');
      assert.equal(await b.cmd('f3', 'STORE 1 +FLAGS (\\Seen)'), 'f3 NO [READ-ONLY] Mailbox is read-only\r\n');
      assert.equal(await b.cmd('f4', 'EXPUNGE'), 'f4 NO [READ-ONLY] Mailbox is read-only\r\n');
      assert.equal(await b.cmd('f5', 'MOVE 1 INBOX'), 'f5 NO [READ-ONLY] Mailbox is read-only\r\n');
      assert.match(await b.cmd('f6', 'COPY 1 INBOX'), /^f6 OK \[COPYUID \d+ 1 1\] COPY completed\r\n$/);
      assert.match(await b.cmd('f7', 'SEARCH SUBJECT "plan two"'), /^\* SEARCH 2\r\n/);
      assert.match(await b.cmd('f8', `STATUS ${PROJECTS} (MESSAGES UNSEEN)`), new RegExp(`^\\* STATUS "Other Users/${ALICE}/Projects" \\(MESSAGES 2 UNSEEN 2\\)`));
      assert.deepEqual(lines(await b.cmd('f9', 'LIST "" "Other Users/*" RETURN (STATUS (MESSAGES))')).filter((l) => l.startsWith('* STATUS')),
        [`* STATUS "Other Users/${ALICE}/Projects" (MESSAGES 2)`]);
      // Alice's copy is untouched; Bob's copy in his own INBOX is his.
      assert.equal(await a.cmd('x1', 'STATUS Projects (UNSEEN)'), '* STATUS "Projects" (UNSEEN 2)\r\nx1 OK STATUS completed\r\n');
      assert.match(await b.cmd('x2', 'STATUS INBOX (MESSAGES)'), /\(MESSAGES 1\)/);
      a.close();
      b.close();
    });

    test('"s", "w", "t", "i", "e": each right allows exactly its part', async () => {
      const a = await login(ALICE);
      const b = await login(BOB);
      assert.equal(await a.cmd('g1', `SETACL Projects ${BOB} +s`), 'g1 OK SETACL completed\r\n');
      let sel = lines(await b.cmd('s1', `SELECT ${PROJECTS}`));
      assert.ok(sel.includes('* OK [PERMANENTFLAGS (\\Seen)] Flags permitted'), sel.join('\n'));
      assert.equal(sel.at(-1), 's1 OK [READ-WRITE] SELECT completed');
      // FETCH BODY[] sets \Seen with "s".
      assert.match(await b.cmd('f1', 'FETCH 1 (BODY[])'), /FLAGS \(\\Seen\)/);
      assert.equal(await b.cmd('f2', 'STORE 2 +FLAGS (\\Flagged)'), 'f2 NO [NOPERM] Permission denied\r\n');
      // Flags the rights do not cover are left alone; the others change.
      assert.equal(await b.cmd('f3', 'STORE 2 +FLAGS (\\Seen \\Flagged)'), '* 2 FETCH (FLAGS (\\Seen))\r\nf3 OK STORE completed\r\n');
      assert.equal(await b.cmd('f4', append(PROJECTS, simpleMessage('nope'))), 'f4 NO [NOPERM] Permission denied\r\n');

      assert.equal(await a.cmd('g2', `SETACL Projects ${BOB} +wi`), 'g2 OK SETACL completed\r\n');
      assert.equal(await b.cmd('f5', 'STORE 2 +FLAGS (\\Flagged)'), '* 2 FETCH (FLAGS (\\Seen \\Flagged))\r\nf5 OK STORE completed\r\n');
      // APPEND with "i": \Deleted needs "t", so it is dropped.
      assert.match(await b.cmd('f6', append(PROJECTS, simpleMessage('from bob'), '\\Seen \\Deleted')), /^f6 OK \[APPENDUID \d+ 3\] APPEND completed\r\n$/m);
      assert.match(await b.cmd('f7', 'FETCH 3 (FLAGS)'), /\* 3 FETCH \(FLAGS \(\\Seen\)\)/);
      assert.equal(await b.cmd('f8', 'STORE 3 +FLAGS (\\Deleted)'), 'f8 NO [NOPERM] Permission denied\r\n');

      assert.equal(await a.cmd('g3', `SETACL Projects ${BOB} +t`), 'g3 OK SETACL completed\r\n');
      assert.equal(await b.cmd('f9', 'STORE 3 +FLAGS.SILENT (\\Deleted)'), 'f9 OK STORE completed\r\n');
      assert.equal(await b.cmd('f10', 'EXPUNGE'), 'f10 NO [NOPERM] Permission denied\r\n');
      assert.equal(await b.cmd('f11', 'MOVE 1 INBOX'), 'f11 NO [NOPERM] Permission denied\r\n');
      // CLOSE without "e" expunges nothing.
      assert.equal(await b.cmd('f12', 'CLOSE'), 'f12 OK CLOSE completed\r\n');
      assert.match(await a.cmd('x1', 'STATUS Projects (MESSAGES DELETED)'), /\(MESSAGES 3 DELETED 1\)/);

      assert.equal(await a.cmd('g4', `SETACL Projects ${BOB} +e`), 'g4 OK SETACL completed\r\n');
      sel = lines(await b.cmd('s2', `SELECT ${PROJECTS}`));
      assert.ok(sel.includes('* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted'), sel.join('\n'));
      assert.equal(await b.cmd('f13', 'EXPUNGE'), '* 3 EXPUNGE\r\nf13 OK EXPUNGE completed\r\n');
      assert.match(await a.cmd('x2', 'STATUS Projects (MESSAGES)'), /\(MESSAGES 2\)/);
      // From Bob's own INBOX into Alice's folder ("i"): stored in her account, flags as the rights allow.
      assert.match(await b.cmd('f14', 'SELECT INBOX'), /f14 OK \[READ-WRITE\]/);
      assert.match(await b.cmd('f15', 'STORE 1 +FLAGS.SILENT (\\Seen $Label1)'), /^f15 OK/m);
      assert.match(await b.cmd('f16', `COPY 1 ${PROJECTS}`), /^f16 OK \[COPYUID \d+ 1 4\] COPY completed\r\n$/);
      assert.match(await a.cmd('x3', 'SELECT Projects'), /\* 3 EXISTS/);
      // Bob's \Seen came along as his own; the keyword is shared.
      assert.equal(await a.cmd('x4', 'FETCH 3 (UID FLAGS)'), '* 3 FETCH (UID 4 FLAGS ($Label1))\r\nx4 OK FETCH completed\r\n');
      assert.match(await b.cmd('x4b', `STATUS ${PROJECTS} (MESSAGES UNSEEN)`), /\(MESSAGES 3 UNSEEN 0\)/);
      assert.match(await a.cmd('x4c', 'STATUS Projects (MESSAGES UNSEEN)'), /\(MESSAGES 3 UNSEEN 3\)/);
      assert.equal(await a.cmd('g5', `SETACL Projects ${BOB} lri`), 'g5 OK SETACL completed\r\n');
      // With "i" alone the copy keeps no flags; MOVE (needs "t" and "e" on the source) from his own folder is fine.
      assert.match(await b.cmd('f17', `MOVE 1 ${PROJECTS}`), /\* OK \[COPYUID \d+ 1 5\] Moved\r\n\* 1 EXPUNGE\r\nf17 OK MOVE completed\r\n$/);
      assert.match(await a.cmd('x5', 'NOOP'), /\* 4 EXISTS/);
      assert.equal(await a.cmd('x6', 'UID FETCH 5 (FLAGS)'), '* 4 FETCH (UID 5 FLAGS ())\r\nx6 OK UID FETCH completed\r\n');
      a.close();
      b.close();
    });

    test('\\Seen is per user in a shared folder: FETCH, STORE, SEARCH, STATUS, updates and CHANGEDSINCE', async () => {
      const a = await login(ALICE);
      assert.equal(await a.cmd('c1', 'CREATE Reading'), 'c1 OK CREATE completed\r\n');
      for (const n of [1, 2]) assert.match(await a.cmd(`a${n}`, append('Reading', simpleMessage(`read ${n}`))), /OK \[APPENDUID/);
      assert.equal(await a.cmd('g1', `SETACL Reading ${BOB} lrs`), 'g1 OK SETACL completed\r\n');
      assert.equal(await a.cmd('g2', `SETACL Reading ${DAVE} lrs`), 'g2 OK SETACL completed\r\n');
      const box = `"Other Users/${ALICE}/Reading"`;
      const b = await login(BOB);
      const b2 = await login(BOB);
      const d = await login(DAVE);
      assert.match(await b.cmd('s1', `SELECT ${box}`), /s1 OK \[READ-WRITE\]/);
      const sel = await b2.cmd('s2', `SELECT ${box} (CONDSTORE)`);
      const modseq = Number(/HIGHESTMODSEQ (\d+)/.exec(sel)![1]);
      assert.match(await d.cmd('s3', `SELECT ${box}`), /s3 OK/);
      assert.match(await b.cmd('f1', 'FETCH 1 (BODY[])'), /\* 1 FETCH \(BODY\[\] \{\d+\}\r\n[\s\S]*FLAGS \(\\Seen\)\)\r\nf1 OK/);
      assert.equal(await b.cmd('f2', 'SEARCH UNSEEN'), '* SEARCH 2\r\nf2 OK SEARCH completed\r\n');
      assert.equal(await b.cmd('f3', 'SEARCH SEEN'), '* SEARCH 1\r\nf3 OK SEARCH completed\r\n');
      // Dave's view: nothing read; Alice's: nothing read either.
      // (Bob's change bumped the MODSEQ: Dave hears of message 1, with his own view of it.)
      assert.equal(await d.cmd('f4a', 'NOOP'), '* 1 FETCH (UID 1 FLAGS ())\r\nf4a OK NOOP completed\r\n');
      assert.equal(await d.cmd('f4', 'FETCH 1:2 (FLAGS)'), '* 1 FETCH (FLAGS ())\r\n* 2 FETCH (FLAGS ())\r\nf4 OK FETCH completed\r\n');
      assert.equal(await d.cmd('f5', 'SEARCH UNSEEN'), '* SEARCH 1 2\r\nf5 OK SEARCH completed\r\n');
      assert.equal(await a.cmd('f6', 'STATUS Reading (UNSEEN)'), '* STATUS "Reading" (UNSEEN 2)\r\nf6 OK STATUS completed\r\n');
      // Alice reads message 2: hers only.
      assert.match(await a.cmd('f7', 'SELECT Reading'), /f7 OK/);
      assert.match(await a.cmd('f8', 'STORE 2 +FLAGS (\\Seen \\Flagged)'), /\* 2 FETCH \(FLAGS \(\\Seen \\Flagged\)\)/);
      assert.equal(await b.cmd('f9a', 'NOOP'), '* 2 FETCH (UID 2 FLAGS (\\Flagged))\r\nf9a OK NOOP completed\r\n');
      assert.equal(await b.cmd('f9', 'FETCH 2 (FLAGS)'), '* 2 FETCH (FLAGS (\\Flagged))\r\nf9 OK FETCH completed\r\n');
      assert.equal(await b.cmd('f10', `STATUS ${box} (UNSEEN)`), `* STATUS "Other Users/${ALICE}/Reading" (UNSEEN 1)\r\nf10 OK STATUS completed\r\n`);
      // Bob marks 2 read: his other session is told (with MODSEQ), Dave still sees it unread.
      assert.equal(await b.cmd('f11', 'STORE 2 +FLAGS.SILENT (\\Seen)'), 'f11 OK STORE completed\r\n');
      assert.match(await b2.cmd('n1', 'NOOP'), /\* 2 FETCH \(UID 2 FLAGS \(\\Seen \\Flagged\) MODSEQ \(\d+\)\)/);
      const dn = await d.cmd('n2', 'NOOP');
      assert.doesNotMatch(dn, /\\Seen/);
      assert.equal(await d.cmd('n3', 'FETCH 2 (FLAGS)'), '* 2 FETCH (FLAGS (\\Flagged))\r\nn3 OK FETCH completed\r\n');
      const ch = await b2.cmd('n4', `UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${modseq})`);
      assert.match(ch, /\* 1 FETCH \(UID 1 FLAGS \(\\Seen\) MODSEQ \(\d+\)\)/);
      assert.match(ch, /\* 2 FETCH \(UID 2 FLAGS \(\\Seen \\Flagged\) MODSEQ \(\d+\)\)/);
      // Bob un-reads 1: only his \Seen goes.
      assert.equal(await b.cmd('f12', 'STORE 1 -FLAGS (\\Seen)'), '* 1 FETCH (FLAGS ())\r\nf12 OK STORE completed\r\n');
      await a.cmd('f13a', 'NOOP');
      assert.equal(await a.cmd('f13', 'FETCH 1:2 (FLAGS)'), '* 1 FETCH (FLAGS ())\r\n* 2 FETCH (FLAGS (\\Seen \\Flagged))\r\nf13 OK FETCH completed\r\n');
      for (const c of [a, b, b2, d]) c.close();
    });

    test('GETACL, LISTRIGHTS, MYRIGHTS, SETACL modifiers and DELETEACL: exact responses', async () => {
      const a = await login(ALICE);
      assert.equal(await a.cmd('g0', `SETACL Projects ${BOB} lrs`), 'g0 OK SETACL completed\r\n');
      assert.deepEqual(lines(await a.cmd('g1', 'GETACL Projects')),
        [`* ACL "Projects" "${ALICE}" lrswipkxteacd "${BOB}" lrs`, 'g1 OK GETACL completed']);
      assert.deepEqual(lines(await a.cmd('g2', `LISTRIGHTS Projects ${BOB}`)),
        [`* LISTRIGHTS "Projects" "${BOB}" "" l r s w i p k x t e a c d`, 'g2 OK LISTRIGHTS completed']);
      assert.deepEqual(lines(await a.cmd('g3', `LISTRIGHTS Projects ${ALICE}`)),
        [`* LISTRIGHTS "Projects" "${ALICE}" lrswipkxtea`, 'g3 OK LISTRIGHTS completed']);
      assert.deepEqual(lines(await a.cmd('g4', 'MYRIGHTS inbox')), ['* MYRIGHTS "INBOX" lrswipkxteacd', 'g4 OK MYRIGHTS completed']);
      assert.equal(await a.cmd('b1', `SETACL Projects ${BOB} lrz`), 'b1 BAD Invalid right z\r\n');
      assert.equal(await a.cmd('b2', `SETACL Projects ${BOB} +l9`), 'b2 BAD Invalid right 9\r\n');
      assert.equal(await a.cmd('b3', `SETACL Projects ${BOB}`), 'b3 BAD Missing rights\r\n');
      assert.equal(await a.cmd('b4', 'GETACL'), 'b4 BAD Missing mailbox name\r\n');
      assert.equal(await a.cmd('b5', `SETACL Projects "" lr`), 'b5 BAD Empty identifier\r\n');
      assert.equal(await a.cmd('n1', `SETACL Projects ${ALICE} lr`), 'n1 NO [CANNOT] The owner always has all rights\r\n');
      assert.equal(await a.cmd('n2', 'SETACL Projects nobody@example.test lr'), 'n2 NO [CANNOT] Unknown identifier nobody@example.test\r\n');
      assert.equal(await a.cmd('n3', `SETACL Projects -${BOB} r`), 'n3 NO [CANNOT] Negative rights are not supported\r\n');
      assert.equal(await a.cmd('n4', `GETACL Missing`), 'n4 NO [NONEXISTENT] No such mailbox\r\n');
      // "c" is "kx" and "d" is "et" (RFC 4314 §2.1.1); +/- add and remove.
      assert.equal(await a.cmd('m1', `SETACL Projects ${BOB} lrc`), 'm1 OK SETACL completed\r\n');
      assert.match(await a.cmd('m2', 'GETACL Projects'), new RegExp(`"${BOB}" lrkxc\\r\\n`));
      assert.equal(await a.cmd('m3', `SETACL Projects ${BOB} -x`), 'm3 OK SETACL completed\r\n');
      assert.equal(await a.cmd('m4', `SETACL Projects ${BOB} +d`), 'm4 OK SETACL completed\r\n');
      assert.match(await a.cmd('m5', 'GETACL Projects'), new RegExp(`"${BOB}" lrktecd\\r\\n`));
      assert.equal(await a.cmd('m6', `SETACL Projects anyone l`), 'm6 OK SETACL completed\r\n');
      assert.equal(await a.cmd('m7', `DELETEACL Projects ${BOB}`), 'm7 OK DELETEACL completed\r\n');
      assert.deepEqual(lines(await a.cmd('m8', 'GETACL Projects')), [`* ACL "Projects" "${ALICE}" lrswipkxteacd "anyone" l`, 'm8 OK GETACL completed']);
      assert.equal(await a.cmd('m9', 'DELETEACL Projects anyone'), 'm9 OK DELETEACL completed\r\n');
      a.close();
    });

    test('"anyone" reaches every user; "a" lets another user administer', async () => {
      const a = await login(ALICE);
      const d = await login(DAVE);
      assert.equal(await d.cmd('s1', `SELECT ${PROJECTS}`), 's1 NO [NONEXISTENT] No such mailbox\r\n');
      assert.equal(await a.cmd('g1', 'SETACL Projects anyone lr'), 'g1 OK SETACL completed\r\n');
      assert.match(await d.cmd('s2', `EXAMINE ${PROJECTS}`), /s2 OK \[READ-ONLY\] EXAMINE completed/);
      assert.equal(await d.cmd('s3', `SETACL ${PROJECTS} ${DAVE} lrswi`), 's3 NO [NOPERM] Permission denied\r\n');
      assert.equal(await a.cmd('g2', `SETACL Projects ${DAVE} la`), 'g2 OK SETACL completed\r\n');
      assert.equal(await d.cmd('s4', `SETACL ${PROJECTS} ${DAVE} +rswi`), 's4 OK SETACL completed\r\n');
      assert.deepEqual(lines(await d.cmd('s5', `MYRIGHTS ${PROJECTS}`)), [`* MYRIGHTS "Other Users/${ALICE}/Projects" lrswia`, 's5 OK MYRIGHTS completed']);
      // Another administrator cannot touch the owner's rights either.
      assert.equal(await d.cmd('s6', `SETACL ${PROJECTS} ${ALICE} l`), 's6 NO [CANNOT] The owner always has all rights\r\n');
      assert.equal(await a.cmd('g3', `DELETEACL Projects ${DAVE}`), 'g3 OK DELETEACL completed\r\n');
      assert.equal(await a.cmd('g4', 'DELETEACL Projects anyone'), 'g4 OK DELETEACL completed\r\n');
      a.close();
      d.close();
    });

    test('revocation applies to the next command, and at once during IDLE', async () => {
      const a = await login(ALICE);
      const b = await login(BOB);
      assert.equal(await a.cmd('g1', `SETACL Projects ${BOB} lrs`), 'g1 OK SETACL completed\r\n');
      assert.match(await b.cmd('s1', `SELECT ${PROJECTS}`), /s1 OK \[READ-WRITE\]/);
      // Losing "s" only: the session stays, \Seen can no longer be set (FETCH BODY[] is a PEEK now).
      assert.equal(await a.cmd('g2', `SETACL Projects ${BOB} -s`), 'g2 OK SETACL completed\r\n');
      assert.equal(await b.cmd('s2', 'STORE 2 -FLAGS (\\Seen)'), 's2 NO [NOPERM] Permission denied\r\n');
      // Losing "r": the next command ends the session.
      assert.equal(await a.cmd('g3', `DELETEACL Projects ${BOB}`), 'g3 OK DELETEACL completed\r\n');
      b.send('s3 FETCH 1 (FLAGS)\r\n');
      assert.equal(await b.readLine(), '* BYE Access to the selected mailbox was revoked\r\n');
      await new Promise((r) => b.socket.once('close', r));

      assert.equal(await a.cmd('g4', `SETACL Projects ${BOB} lr`), 'g4 OK SETACL completed\r\n');
      const b2 = await login(BOB);
      assert.match(await b2.cmd('s4', `SELECT ${PROJECTS}`), /s4 OK \[READ-ONLY\]/);
      b2.send('i1 IDLE\r\n');
      assert.equal(await b2.readLine(), '+ idling\r\n');
      assert.equal(await a.cmd('g5', `SETACL Projects ${BOB} l`), 'g5 OK SETACL completed\r\n');
      assert.equal(await b2.readLine(2000), '* BYE Access to the selected mailbox was revoked\r\n');
      assert.equal(await a.cmd('g6', `DELETEACL Projects ${BOB}`), 'g6 OK DELETEACL completed\r\n');
      a.close();
    });

    test('group grants follow membership, nested groups included', async () => {
      const a = await login(ALICE);
      assert.equal(await a.cmd('g1', `SETACL Projects ${TEAM} lr`), 'g1 OK SETACL completed\r\n');
      const c = await login(CAROL); // in subteam, which is in team
      assert.match(await c.cmd('l1', 'LIST "" "Other Users/*"'), new RegExp(`\\* LIST \\(\\\\HasNoChildren\\) "/" "Other Users/${ALICE}/Projects"`));
      assert.match(await c.cmd('s1', `EXAMINE ${PROJECTS}`), /s1 OK \[READ-ONLY\]/);
      const d = await login(DAVE);
      assert.equal(await d.cmd('s1', `EXAMINE ${PROJECTS}`), 's1 NO [NONEXISTENT] No such mailbox\r\n');
      await inst.app.accounts.setGroupMembers(SUBTEAM, [DAVE], 'add');
      assert.match(await d.cmd('s2', `EXAMINE ${PROJECTS}`), /s2 OK \[READ-ONLY\]/);
      await inst.app.accounts.setGroupMembers(SUBTEAM, [CAROL], 'remove');
      c.send('n1 NOOP\r\n');
      assert.equal(await c.readLine(), '* BYE Access to the selected mailbox was revoked\r\n');
      const c2 = await login(CAROL);
      assert.doesNotMatch(await c2.cmd('l2', 'LIST "" "*"'), /Other Users/);
      c2.close();
      // Removing the group removes its grants.
      await inst.app.accounts.removeGroup(TEAM);
      d.send('s3 NOOP\r\n');
      assert.equal(await d.readLine(), '* BYE Access to the selected mailbox was revoked\r\n');
      const d2 = await login(DAVE);
      assert.equal(await d2.cmd('s4', `EXAMINE ${PROJECTS}`), 's4 NO [NONEXISTENT] No such mailbox\r\n');
      d2.close();
      assert.deepEqual(lines(await a.cmd('g2', 'GETACL Projects')), [`* ACL "Projects" "${ALICE}" lrswipkxteacd`, 'g2 OK GETACL completed']);
      await inst.app.accounts.addGroup(TEAM, { members: [SUBTEAM] });
      a.close();
      d.close();
    });

    test('CREATE, DELETE, RENAME inside a shared folder need "k" and "x"; new folders inherit the ACL', async () => {
      const a = await login(ALICE);
      const b = await login(BOB);
      assert.equal(await a.cmd('g1', `SETACL Projects ${BOB} lr`), 'g1 OK SETACL completed\r\n');
      const sub = `"Other Users/${ALICE}/Projects/Sub"`;
      assert.equal(await b.cmd('c1', `CREATE ${sub}`), 'c1 NO [NOPERM] Permission denied\r\n');
      assert.equal(await b.cmd('c2', `CREATE "Other Users/${ALICE}/Top"`), 'c2 NO [NOPERM] Mailboxes are created inside an existing shared folder\r\n');
      assert.equal(await b.cmd('c3', 'CREATE "Other Users/x"'), 'c3 NO [NOPERM] Mailboxes are created inside another user\'s folders, not at the namespace root\r\n');
      assert.equal(await a.cmd('g2', `SETACL Projects ${BOB} +k`), 'g2 OK SETACL completed\r\n');
      assert.equal(await b.cmd('c4', `CREATE ${sub}`), 'c4 OK CREATE completed\r\n');
      assert.deepEqual(lines(await b.cmd('c5', `MYRIGHTS ${sub}`)), [`* MYRIGHTS "Other Users/${ALICE}/Projects/Sub" lrkc`, 'c5 OK MYRIGHTS completed']);
      assert.match(await a.cmd('c6', 'LIST "" "Projects/*"'), /\* LIST \(\\HasNoChildren\) "\/" "Projects\/Sub"/);
      assert.deepEqual(lines(await a.cmd('c7', 'GETACL Projects/Sub')), [`* ACL "Projects/Sub" "${ALICE}" lrswipkxteacd "${BOB}" lrkc`, 'c7 OK GETACL completed']);
      assert.equal(await b.cmd('c8', `RENAME ${sub} "Other Users/${ALICE}/Projects/Sub2"`), 'c8 NO [NOPERM] Permission denied\r\n');
      assert.equal(await b.cmd('c9', `DELETE ${sub}`), 'c9 NO [NOPERM] Permission denied\r\n');
      assert.equal(await a.cmd('g3', `SETACL Projects/Sub ${BOB} +x`), 'g3 OK SETACL completed\r\n');
      assert.equal(await b.cmd('c10', `RENAME ${sub} Mine`), 'c10 NO [CANNOT] Mailboxes cannot be renamed into another account\r\n');
      assert.equal(await b.cmd('c11', `RENAME ${sub} "Other Users/${ALICE}/Projects/Sub2"`), 'c11 OK RENAME completed\r\n');
      assert.equal(await b.cmd('c12', `DELETE "Other Users/${ALICE}/Projects/Sub2"`), 'c12 OK DELETE completed\r\n');
      assert.doesNotMatch(await a.cmd('c13', 'LIST "" "*"'), /Sub/);
      assert.equal(await b.cmd('c14', `DELETE ${PROJECTS}`), 'c14 NO [NOPERM] Permission denied\r\n');
      // The owner deletes a folder Bob has selected: his session ends as for any deleted mailbox.
      assert.equal(await a.cmd('c15', 'CREATE Temp'), 'c15 OK CREATE completed\r\n');
      assert.equal(await a.cmd('c16', `SETACL Temp ${BOB} lr`), 'c16 OK SETACL completed\r\n');
      assert.match(await b.cmd('c17', `EXAMINE "Other Users/${ALICE}/Temp"`), /c17 OK \[READ-ONLY\]/);
      assert.equal(await a.cmd('c18', 'DELETE Temp'), 'c18 OK DELETE completed\r\n');
      b.send('c19 NOOP\r\n');
      assert.equal(await b.readLine(), '* BYE Selected mailbox was deleted or renamed\r\n');
      a.close();
    });

    test('SUBSCRIBE to a shared folder is the subscriber\'s own; LSUB and LIST (SUBSCRIBED) show it', async () => {
      const a = await login(ALICE);
      const b = await login(BOB);
      assert.equal(await a.cmd('u0', 'UNSUBSCRIBE Projects'), 'u0 OK UNSUBSCRIBE completed\r\n');
      assert.equal(await b.cmd('u1', `SUBSCRIBE ${PROJECTS}`), 'u1 OK SUBSCRIBE completed\r\n');
      assert.deepEqual(lines(await b.cmd('u2', 'LSUB "" "Other Users/*"')),
        [`* LSUB () "/" "Other Users/${ALICE}/Projects"`, 'u2 OK LSUB completed']);
      assert.match(await b.cmd('u3', 'LIST (SUBSCRIBED) "" "*"'), new RegExp(`\\* LIST \\(\\\\HasChildren \\\\Subscribed\\) "/" "Other Users/${ALICE}/Projects"|\\* LIST \\(\\\\HasNoChildren \\\\Subscribed\\) "/" "Other Users/${ALICE}/Projects"`));
      assert.doesNotMatch(await a.cmd('u4', 'LSUB "" "Projects"'), /Projects"/);
      assert.equal(await b.cmd('u5', `UNSUBSCRIBE ${PROJECTS}`), 'u5 OK UNSUBSCRIBE completed\r\n');
      assert.equal(lines(await b.cmd('u6', 'LSUB "" "Other Users/*"')).length, 1);
      assert.equal(await a.cmd('u7', 'SUBSCRIBE Projects'), 'u7 OK SUBSCRIBE completed\r\n');
      a.close();
      b.close();
    });

    test('IDLE on a shared INBOX sees an SMTP delivery; CONDSTORE/QRESYNC state is the mailbox\'s', async () => {
      const a = await login(ALICE);
      const b = await login(BOB);
      assert.equal(await a.cmd('g1', `SETACL INBOX ${BOB} lr`), 'g1 OK SETACL completed\r\n');
      assert.match(await b.cmd('e1', 'ENABLE QRESYNC'), /e1 OK/);
      const sel = lines(await b.cmd('s1', `SELECT "Other Users/${ALICE}/INBOX"`));
      const exists = Number(/^\* (\d+) EXISTS$/.exec(sel.find((l) => l.endsWith(' EXISTS'))!)![1]);
      const modseq = Number(/HIGHESTMODSEQ (\d+)/.exec(sel.join('\n'))![1]);
      b.send('i1 IDLE\r\n');
      assert.equal(await b.readLine(), '+ idling\r\n');
      const { default: nodemailer } = await import('nodemailer');
      const t = nodemailer.createTransport({ host: '127.0.0.1', port: inst.ports.smtp, secure: false, ignoreTLS: true });
      const t0 = Date.now();
      await t.sendMail({ from: 'someone@remote.test', to: ALICE, subject: 'for the team', text: 'hi' });
      assert.equal(await b.readLine(1500), `* ${exists + 1} EXISTS\r\n`);
      assert.ok(Date.now() - t0 < 1500);
      b.send('DONE\r\n');
      assert.equal(await b.readLine(), 'i1 OK IDLE terminated\r\n');
      const f = await b.cmd('f1', `UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${modseq})`);
      assert.match(f, new RegExp(`\\* ${exists + 1} FETCH \\(UID \\d+ FLAGS \\(\\) MODSEQ \\(\\d+\\)\\)`));
      assert.equal(await a.cmd('g2', `DELETEACL INBOX ${BOB}`), 'g2 OK DELETEACL completed\r\n');
      a.close();
      b.close();
    });

    test('a shared mailbox (CLI): no login, mail delivered to it, reached under "Shared Folders", owner quota root', async () => {
      const cli = (...args: string[]) => runProcess(process.execPath, [CLI, '--data', inst.dataDir, ...args]);
      let r = await cli('account', 'add', SUPPORT, '--shared', '--quota', '1M');
      assert.equal(r.code, 0, r.stderr);
      r = await cli('acl', 'set', SUPPORT, 'INBOX', BOB, 'lrsi');
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `INBOX: ${BOB} lrsi\n`);
      r = await cli('acl', 'set', SUPPORT, 'INBOX', BOB, 'lrq');
      assert.equal(r.code, 2);
      assert.match(r.stderr, /Invalid right q/);
      r = await cli('acl', 'list', SUPPORT);
      assert.equal(r.stdout, `INBOX: ${BOB} lrsi\n`);
      r = await cli('account', 'passwd', SUPPORT, '--password', 'x');
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `pochtamt: ${SUPPORT} is a shared mailbox: it never logs in\n`);

      const c = await RawClient.connect(port);
      assert.equal(await c.cmd('l1', `LOGIN ${SUPPORT} ""`), 'l1 NO [AUTHENTICATIONFAILED] Invalid credentials\r\n');
      c.close();
      const { default: nodemailer } = await import('nodemailer');
      const t = nodemailer.createTransport({ host: '127.0.0.1', port: inst.ports.smtp, secure: false, ignoreTLS: true });
      await t.sendMail({ from: 'customer@remote.test', to: SUPPORT, subject: 'help please', text: 'it broke' });

      const b = await login(BOB);
      assert.deepEqual(lines(await b.cmd('l2', 'LIST "" "Shared Folders/*"')), [
        `* LIST (\\Noselect \\HasChildren) "/" "Shared Folders/${SUPPORT}"`,
        `* LIST (\\HasNoChildren) "/" "Shared Folders/${SUPPORT}/INBOX"`,
        'l2 OK LIST completed']);
      // Under "Other Users" the shared mailbox does not exist.
      assert.equal(await b.cmd('s0', `SELECT "Other Users/${SUPPORT}/INBOX"`), 's0 NO [NONEXISTENT] No such mailbox\r\n');
      assert.match(await b.cmd('s1', `SELECT "Shared Folders/${SUPPORT}/INBOX"`), /\* 1 EXISTS[\s\S]*s1 OK \[READ-WRITE\]/);
      assert.match(await b.cmd('f1', 'FETCH 1 (BODY[HEADER.FIELDS (SUBJECT)])'), /Subject: help please/);
      assert.deepEqual(lines(await b.cmd('q1', `GETQUOTAROOT "Shared Folders/${SUPPORT}/INBOX"`)).slice(0, 1),
        [`* QUOTAROOT "Shared Folders/${SUPPORT}/INBOX" "Shared Folders/${SUPPORT}"`]);
      assert.deepEqual(lines(await b.cmd('q2', `GETQUOTA "Shared Folders/${SUPPORT}"`)),
        [`* QUOTA "Shared Folders/${SUPPORT}" (STORAGE 1 1024)`, 'q2 OK GETQUOTA completed']);
      assert.equal(await b.cmd('q3', `GETQUOTA "Shared Folders/${ALICE}"`), 'q3 NO [NONEXISTENT] No such quota root\r\n');
      b.close();
      r = await cli('acl', 'delete', SUPPORT, 'INBOX', BOB);
      assert.equal(r.code, 0, r.stderr);
      const b2 = await login(BOB);
      assert.doesNotMatch(await b2.cmd('l3', 'LIST "" "*"'), /Shared Folders/);
      b2.close();
    });

    test('imapflow: Bob finds, opens and reads the folder Alice shared', async () => {
      const a = await login(ALICE);
      assert.equal(await a.cmd('g1', `SETACL Projects ${BOB} lrs`), 'g1 OK SETACL completed\r\n');
      a.close();
      const c = new ImapFlow({ host: '127.0.0.1', port, secure: false, auth: { user: BOB, pass: PASSWORD }, logger: false, tls: { rejectUnauthorized: false } });
      await c.connect();
      try {
        const ns = c.namespaces as { other: Array<{ prefix: string; delimiter: string }>; shared: Array<{ prefix: string; delimiter: string }> };
        assert.deepEqual(ns.other, [{ prefix: 'Other Users/', delimiter: '/' }]);
        assert.deepEqual(ns.shared, [{ prefix: 'Shared Folders/', delimiter: '/' }]);
        const boxes = await c.list();
        const shared = boxes.find((x) => x.path === `Other Users/${ALICE}/Projects`);
        assert.ok(shared, boxes.map((x) => x.path).join(', '));
        const lock = await c.getMailboxLock(`Other Users/${ALICE}/Projects`);
        try {
          const subjects: string[] = [];
          for await (const m of c.fetch('1:*', { envelope: true })) subjects.push(m.envelope!.subject!);
          assert.ok(subjects.includes('plan one'), subjects.join(', '));
          assert.equal(await c.messageFlagsAdd('1', ['\\Seen']), true);
          // Without "w" a keyword does not stick.
          await c.messageFlagsAdd('1', ['$Important']).catch(() => undefined);
          const one = await c.fetchOne('1', { flags: true });
          assert.ok(one && one.flags!.has('\\Seen') && !one.flags!.has('$Important'));
        } finally {
          lock.release();
        }
      } finally {
        await c.logout();
      }
    });

    test('Python imaplib: setacl, getacl, myrights, listrights, deleteacl', { skip: !existsSync(PYTHON) }, async () => {
      const script = `
import imaplib
A = imaplib.IMAP4('127.0.0.1', ${port})
A.login(${JSON.stringify(ALICE)}, ${JSON.stringify(PASSWORD)})
assert A.create('Reports')[0] == 'OK'
typ, data = A.setacl('Reports', ${JSON.stringify(BOB)}, 'lrs')
assert typ == 'OK', data
typ, data = A.getacl('Reports')
assert data == [b'"Reports" "${ALICE}" lrswipkxteacd "${BOB}" lrs'], data
# imaplib has no listrights(): the generic command path, as its own ACL methods use.
imaplib.Commands['LISTRIGHTS'] = ('AUTH', 'SELECTED')
typ, data = A._simple_command('LISTRIGHTS', 'Reports', ${JSON.stringify(BOB)})
typ, data = A._untagged_response(typ, data, 'LISTRIGHTS')
assert data == [b'"Reports" "${BOB}" "" l r s w i p k x t e a c d'], data
typ, data = A.myrights('Reports')
assert data == [b'"Reports" lrswipkxteacd'], data
try:
    A.setacl('Reports', ${JSON.stringify(BOB)}, 'lrx!')
    raise SystemExit('bad rights accepted')
except imaplib.IMAP4.error as e:
    assert 'BAD' in str(e) and 'Invalid right !' in str(e), e
B = imaplib.IMAP4('127.0.0.1', ${port})
B.login(${JSON.stringify(BOB)}, ${JSON.stringify(PASSWORD)})
typ, data = B.myrights('"Other Users/${ALICE}/Reports"')
assert data == [b'"Other Users/${ALICE}/Reports" lrs'], data
typ, data = B.select('"Other Users/${ALICE}/Reports"')
assert typ == 'OK' and data == [b'0'], data
typ, data = B.getacl('"Other Users/${ALICE}/Reports"')
assert typ == 'NO' and b'[NOPERM]' in data[0], data
typ, data = A.deleteacl('Reports', ${JSON.stringify(BOB)})
assert typ == 'OK', data
try:
    B.noop()
    raise SystemExit('session not closed')
except imaplib.IMAP4.abort:
    pass
typ, data = A.getacl('Reports')
assert data == [b'"Reports" "${ALICE}" lrswipkxteacd'], data
A.logout()
print('python-ok')
`;
      const r = await runProcess(PYTHON, ['-c', script]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /python-ok/);
    });
  });
}
