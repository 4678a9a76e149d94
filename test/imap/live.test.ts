// Live updates and invariants: two sessions on one mailbox (one expunging while the other
// fetches), IDLE seeing a change made by another "process" (a second App on the same store,
// so no in-process event), UIDs never reused, UIDVALIDITY stable across a restart.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openApp } from '../../src/instance/app.js';
import { silentLogger } from '../../src/observability/logger.js';
import { MailOpsService } from '../../src/services/mail-ops.service.js';
import type { TestInstance } from '../helpers/instance.js';
import { ADMIN, delay, imapInstance, loggedIn, simpleMessage } from './helpers.js';

let inst: TestInstance;
before(async () => { inst = await imapInstance(); });
after(async () => { await inst.stop(); });

async function appendN(box: string, n: number, port: number): Promise<void> {
  const c = await loggedIn(port);
  for (let i = 0; i < n; i++) {
    const m = simpleMessage(`m${i}`, `body ${i}`);
    await c.cmd(`a${i}`, `APPEND ${box} {${m.length}+}\r\n${m.toString('latin1')}`);
  }
  c.close();
}

test('two sessions: one expunges while the other fetches', async () => {
  const port = inst.ports.imap!;
  const a = await loggedIn(port);
  await a.cmd('c', 'CREATE Shared');
  await appendN('Shared', 20, port);
  const b = await loggedIn(port);
  await a.cmd('s', 'SELECT Shared');
  await b.cmd('s', 'SELECT Shared');
  await a.cmd('st', 'STORE 1:10 +FLAGS.SILENT (\\Deleted)');
  // B fetches by sequence number while A expunges: B's numbers stay valid until B may hear of it.
  b.send('f1 FETCH 1:20 (UID)\r\n');
  const exp = await a.cmd('x', 'EXPUNGE');
  assert.equal(exp.split('\r\n').filter((l) => l.endsWith(' EXPUNGE')).length, 10);
  const f1 = await b.readTagged('f1');
  assert.match(f1, /f1 OK FETCH completed\r\n$/);
  // Only the answers to FETCH (UID); unsolicited FLAGS updates (A's \Deleted) may come too.
  const answers = f1.split('\r\n').map((l) => /^\* (\d+) FETCH \(UID (\d+)\)$/.exec(l)).filter((m) => m !== null);
  assert.ok(answers.length >= 10, 'every message not yet expunged is answered');
  for (const [, seq, uid] of answers) assert.equal(seq, uid, 'sequence numbers not renumbered during FETCH');
  // After FETCH (non-UID) expunges are still held back; NOOP delivers them.
  const f2 = await b.cmd('f2', 'FETCH 20 (UID)');
  assert.doesNotMatch(f2, /EXPUNGE/);
  const noop = await b.cmd('n', 'NOOP');
  assert.equal(noop.split('\r\n').filter((l) => l.endsWith(' EXPUNGE')).length, 10);
  assert.equal(await b.cmd('f3', 'FETCH 1 (UID)'), '* 1 FETCH (UID 11)\r\nf3 OK FETCH completed\r\n');
  a.close();
  b.close();
});

test('IDLE hears a change made by another process within a second', async () => {
  const c = await loggedIn(inst.ports.imap!);
  await c.cmd('s', 'SELECT INBOX');
  c.send('i IDLE\r\n');
  assert.equal(await c.readLine(), '+ idling\r\n');
  // A second App on the same data folder: its events never reach this process.
  const other = await openApp({ dataDir: inst.dataDir, config: inst.app.config, log: silentLogger });
  try {
    const acc = await other.accounts.getAccount(ADMIN);
    const inbox = await other.mailStore.inbox(acc!.id);
    const t0 = Date.now();
    await new MailOpsService(other.store, other.mailStore).appendMessages(acc!.id, inbox.id, [{ raw: simpleMessage('other'), flags: [], internalDate: Date.now() }]);
    const line = await c.readLine(1500);
    assert.match(line, /^\* \d+ EXISTS\r\n$/);
    assert.ok(Date.now() - t0 < 1000, `took ${Date.now() - t0} ms`);
  } finally {
    await other.close();
  }
  c.send('DONE\r\n');
  assert.equal(await c.readTagged('i'), 'i OK IDLE terminated\r\n');
  c.close();
});

test('UIDs are never reused and UIDVALIDITY survives a restart', async () => {
  const port = inst.ports.imap!;
  const c = await loggedIn(port);
  await c.cmd('c', 'CREATE Uids');
  await appendN('Uids', 3, port);
  const sel1 = await c.cmd('s', 'SELECT Uids');
  const uv = /UIDVALIDITY (\d+)/.exec(sel1)![1];
  await c.cmd('d', 'UID STORE 3 +FLAGS.SILENT (\\Deleted)');
  await c.cmd('x', 'EXPUNGE');
  c.close();
  const dataDir = inst.dataDir;
  await inst.stop({ keepData: true });
  inst = await imapInstance({ dataDir });
  await appendN('Uids', 1, inst.ports.imap!);
  const d = await loggedIn(inst.ports.imap!);
  const sel2 = await d.cmd('s', 'SELECT Uids');
  assert.equal(/UIDVALIDITY (\d+)/.exec(sel2)![1], uv);
  assert.equal(await d.cmd('f', 'UID FETCH 1:* (UID)'),
    '* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 2)\r\n* 3 FETCH (UID 4)\r\nf OK UID FETCH completed\r\n');
  d.close();
  await delay(10);
});
