// QUOTA (RFC 9208): capability, GETQUOTAROOT / GETQUOTA with STORAGE (KiB) and MESSAGE from the
// account's limits, no quota root without limits, and [OVERQUOTA] on APPEND and COPY.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TestInstance } from '../helpers/instance.js';
import { imapInstance, loggedIn, simpleMessage } from './helpers.js';

let inst: TestInstance;
let port: number;
const USER = 'quota@example.test';
const FREE = 'free@example.test';
const PASSWORD = 'quota-secret-1';

before(async () => {
  inst = await imapInstance();
  port = inst.ports.imap!;
  await inst.app.accounts.addAccount({ address: USER, password: PASSWORD, quotaBytes: 10 * 1024, quotaMessages: 3 });
  await inst.app.accounts.addAccount({ address: FREE, password: PASSWORD });
});
after(async () => { await inst.stop(); });

const lines = (s: string) => s.trimEnd().split('\r\n');
const append = (m: Buffer, box = 'INBOX') => `APPEND ${box} {${m.length}+}\r\n${m.toString('latin1')}`;

describe('QUOTA', () => {
  test('capability lists QUOTA and its resources', async () => {
    const c = await loggedIn(port, USER, PASSWORD);
    const cap = lines(await c.cmd('a1', 'CAPABILITY'))[0]!;
    assert.match(cap, / QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE(?: |$)/);
    c.close();
  });

  test('GETQUOTAROOT and GETQUOTA report usage and limits', async () => {
    const c = await loggedIn(port, USER, PASSWORD);
    assert.deepEqual(lines(await c.cmd('a1', 'GETQUOTAROOT INBOX')), [
      '* QUOTAROOT "INBOX" ""', '* QUOTA "" (STORAGE 0 10 MESSAGE 0 3)', 'a1 OK GETQUOTAROOT completed']);
    const m = simpleMessage('quota one', 'x'.repeat(1500));
    assert.match(await c.cmd('a2', append(m)), /^a2 OK \[APPENDUID \d+ 1\]/);
    const kib = Math.ceil(m.length / 1024);
    assert.deepEqual(lines(await c.cmd('a3', 'GETQUOTA ""')), [`* QUOTA "" (STORAGE ${kib} 10 MESSAGE 1 3)`, 'a3 OK GETQUOTA completed']);
    assert.equal(await c.cmd('a4', 'GETQUOTA "other"'), 'a4 NO [NONEXISTENT] No such quota root\r\n');
    assert.equal(await c.cmd('a5', 'GETQUOTAROOT Missing'), 'a5 NO [NONEXISTENT] No such mailbox\r\n');
    assert.equal(await c.cmd('a6', 'GETQUOTA'), 'a6 BAD Missing quota root\r\n');
    c.close();
  });

  test('an account without limits has no quota root', async () => {
    const c = await loggedIn(port, FREE, PASSWORD);
    assert.deepEqual(lines(await c.cmd('a1', 'GETQUOTAROOT INBOX')), ['* QUOTAROOT "INBOX"', 'a1 OK GETQUOTAROOT completed']);
    assert.equal(await c.cmd('a2', 'GETQUOTA ""'), 'a2 NO [NONEXISTENT] No such quota root\r\n');
    c.close();
  });

  test('[OVERQUOTA] on APPEND and COPY; nothing is stored', async () => {
    const c = await loggedIn(port, USER, PASSWORD);
    // Storage: 10 KiB limit.
    assert.match(await c.cmd('b1', append(simpleMessage('too big', 'y'.repeat(12 * 1024)))), /^b1 NO \[OVERQUOTA\] /);
    // Messages: 3 at most (one is there from the test above).
    assert.match(await c.cmd('b2', append(simpleMessage('two'))), /^b2 OK /);
    assert.match(await c.cmd('b3', 'SELECT INBOX'), /^b3 OK /m);
    assert.match(await c.cmd('b4', 'COPY 1:2 INBOX'), /^b4 NO \[OVERQUOTA\] /m);
    assert.match(await c.cmd('b5', 'COPY 2 INBOX'), /^b5 OK /m);
    assert.match(await c.cmd('b6', append(simpleMessage('four'))), /^b6 NO \[OVERQUOTA\] /);
    assert.match(await c.cmd('b7', 'GETQUOTA ""'), /^\* QUOTA "" \(STORAGE \d+ 10 MESSAGE 3 3\)\r\n/);
    c.close();
  });
});
