// The cheap paths behind FETCH (FLAGS) on large sets, search text stored at delivery, the
// shared lazy indexing of rows stored without search text, and change reads shared between the
// sessions of one mailbox (IDLE fan-out).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MailOpsService } from '../../src/services/mail-ops.service.js';
import type { TestInstance } from '../helpers/instance.js';
import { ADMIN, imapInstance, loggedIn, RawClient, simpleMessage } from './helpers.js';

let inst: TestInstance;
let port: number;
before(async () => {
  inst = await imapInstance();
  port = inst.ports.imap!;
});
after(async () => { await inst.stop(); });

const lines = (s: string) => s.trimEnd().split('\r\n');

test('FETCH (FLAGS) light path: item order, sparse and dense sets, CHANGEDSINCE, expunged UIDs', async () => {
  const c = await loggedIn(port);
  assert.match(await c.cmd('a1', 'CREATE Light'), /^a1 OK/);
  for (let i = 1; i <= 12; i++) {
    const m = simpleMessage(`light ${i}`);
    assert.match(await c.cmd(`b${i}`, `APPEND Light ${i % 3 === 0 ? '(\\Seen \\Flagged) ' : ''}{${m.length}+}\r\n${m.toString('latin1')}`), /OK/);
  }
  assert.match(await c.cmd('a2', 'SELECT Light'), /\* 12 EXISTS/);
  assert.deepEqual(lines(await c.cmd('a3', 'FETCH 2:3 (FLAGS UID)')),
    ['* 2 FETCH (FLAGS () UID 2)', '* 3 FETCH (FLAGS (\\Seen \\Flagged) UID 3)', 'a3 OK FETCH completed']);
  // Sparse UID set (IN list) and a dense one with a gap (range read, then filtered).
  assert.deepEqual(lines(await c.cmd('a4', 'UID FETCH 1,6,12 (FLAGS)')),
    ['* 1 FETCH (UID 1 FLAGS ())', '* 6 FETCH (UID 6 FLAGS (\\Seen \\Flagged))', '* 12 FETCH (UID 12 FLAGS (\\Seen \\Flagged))', 'a4 OK UID FETCH completed']);
  assert.match(await c.cmd('a5', 'STORE 4 +FLAGS.SILENT (\\Deleted)'), /^a5 OK/);
  assert.match(await c.cmd('a6', 'EXPUNGE'), /\* 4 EXPUNGE/);
  assert.deepEqual(lines(await c.cmd('a7', 'FETCH 3:5 (UID)')),
    ['* 3 FETCH (UID 3)', '* 4 FETCH (UID 5)', '* 5 FETCH (UID 6)', 'a7 OK FETCH completed']);
  assert.match(await c.cmd('a8', 'STORE 1 +FLAGS (\\Answered)'), /^a8 OK/m);
  const changed = lines(await c.cmd('a9', 'FETCH 1:* (UID FLAGS) (CHANGEDSINCE 1)'));
  assert.equal(changed.length, 12); // 11 messages + tagged line: every one changed after MODSEQ 1
  assert.match(changed[0]!, /^\* 1 FETCH \(UID 1 FLAGS \(\\Answered\) MODSEQ \(\d+\)\)$/);
  const high = Number(/MODSEQ \((\d+)\)/.exec(changed[0]!)![1]);
  assert.deepEqual(lines(await c.cmd('a10', `FETCH 1:* (FLAGS) (CHANGEDSINCE ${high})`)), ['a10 OK FETCH completed']);
  c.close();
});

test('SMTP-delivered mail carries its search text; rows without it are indexed once for concurrent searches', async () => {
  const acc = await inst.app.accounts.getAccount(ADMIN);
  const box = await inst.app.mailStore.createMailbox(acc!.id, 'Indexed');
  const r = await inst.app.delivery.deliver({ queueId: 'FASTPATH1', sender: 'alice@example.test', recipients: [ADMIN],
    raw: simpleMessage('delivered', 'The quick brown Zebra jumps'), folderRole: null });
  assert.equal(r.stored.length, 1);
  const row = await inst.app.store.em.query(`SELECT "searchBody", "searchHeaders" FROM message WHERE "mailboxId" = ${inst.app.store.param(1)} AND uid = ${inst.app.store.param(2)}`,
    [r.stored[0]!.mailboxId, r.stored[0]!.uid]) as Array<{ searchBody: string | null; searchHeaders: string | null }>;
  assert.match(row[0]!.searchBody ?? '', /quick brown zebra/);
  assert.match(row[0]!.searchHeaders ?? '', /^subject: delivered$/m);

  // Old rows: no search text. Two sessions search at once; both get the answer, each row is indexed.
  const c1 = await loggedIn(port);
  for (let i = 1; i <= 60; i++) {
    const m = simpleMessage(`old ${i}`, i % 20 === 0 ? 'needle in a haystack' : 'plain hay');
    await c1.cmd(`p${i}`, `APPEND Indexed {${m.length}+}\r\n${m.toString('latin1')}`);
  }
  await inst.app.store.write(async ({ em }) => {
    await em.query(`UPDATE message SET "searchBody" = NULL, "searchHeaders" = NULL WHERE "mailboxId" = ${inst.app.store.param(1)}`, [box.id]);
  });
  const c2 = await loggedIn(port);
  await c1.cmd('s1', 'SELECT Indexed');
  await c2.cmd('s2', 'SELECT Indexed');
  const [r1, r2] = await Promise.all([c1.cmd('q1', 'UID SEARCH BODY needle'), c2.cmd('q2', 'UID SEARCH BODY NEEDLE')]);
  assert.equal(lines(r1)[0], '* SEARCH 20 40 60');
  assert.equal(lines(r2)[0], '* SEARCH 20 40 60');
  const left = await inst.app.store.em.query(`SELECT COUNT(*) AS n FROM message WHERE "mailboxId" = ${inst.app.store.param(1)} AND "searchBody" IS NULL`, [box.id]) as Array<{ n: number | string }>;
  assert.equal(Number(left[0]!.n), 0);
  c1.close();
  c2.close();
});

test('IDLE: many sessions on one mailbox all see a change, with one shared store read', async () => {
  const acc = await inst.app.accounts.getAccount(ADMIN);
  await inst.app.mailStore.createMailbox(acc!.id, 'Fanout');
  const clients: RawClient[] = [];
  for (let i = 0; i < 8; i++) {
    const c = await loggedIn(port);
    await c.cmd(`s${i}`, 'SELECT Fanout');
    c.send(`i${i} IDLE\r\n`);
    assert.equal(await c.readLine(), '+ idling\r\n');
    clients.push(c);
  }
  // Count the change reads the sessions make (the listener's MailOpsService instance).
  const proto = MailOpsService.prototype;
  const original = proto.changesSince;
  let reads = 0;
  proto.changesSince = function (this: MailOpsService, ...args: Parameters<typeof original>) {
    reads++;
    return original.apply(this, args);
  };
  try {
    const w = await loggedIn(port);
    const m = simpleMessage('fanout');
    assert.match(await w.cmd('x', `APPEND Fanout {${m.length}+}\r\n${m.toString('latin1')}`), /OK/);
    w.close();
    for (const c of clients) assert.equal(await c.readLine(2000), '* 1 EXISTS\r\n');
  } finally {
    proto.changesSince = original;
  }
  assert.ok(reads >= 1 && reads < clients.length, `${reads} change reads for ${clients.length} sessions`);
  for (const [i, c] of clients.entries()) {
    c.send('DONE\r\n');
    assert.equal(await c.readLine(), `i${i} OK IDLE terminated\r\n`);
    c.close();
  }
});
