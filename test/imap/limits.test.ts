// Per-account session cap (limits.imapConnectionsPerAccount): the session over the cap is
// refused at login with NO [LIMIT] and stays unauthenticated; the count spans both listeners
// and frees up when a session ends; other accounts are not affected.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import type { TestInstance } from '../helpers/instance.js';
import { ADMIN, ADMIN_PASSWORD, delay, imapInstance, loggedIn, RawClient } from './helpers.js';

const OTHER = 'other@example.test';
const PASSWORD = 'other-secret-1';
let inst: TestInstance;
before(async () => {
  inst = await imapInstance({ config: { limits: { imapConnectionsPerAccount: 3 } } });
  await inst.app.accounts.addAccount({ address: OTHER, password: PASSWORD });
});
after(async () => { await inst.stop(); });

test('the session over the cap gets NO [LIMIT]; a slot frees when a session ends', async () => {
  const port = inst.ports.imap!;
  const a = await loggedIn(port);
  const b = await loggedIn(port);
  // The implicit-TLS listener counts against the same cap.
  const c = await RawClient.connect(inst.ports.imaps!, true);
  assert.match(await c.cmd('l', `LOGIN "${ADMIN}" "${ADMIN_PASSWORD}"`), /^l OK /m);
  assert.ok(c.socket instanceof tls.TLSSocket);
  const d = await RawClient.connect(port);
  assert.equal(await d.cmd('l1', `LOGIN "${ADMIN}" "${ADMIN_PASSWORD}"`), 'l1 NO [LIMIT] Too many connections for this account\r\n');
  const ir = Buffer.from(`\0${ADMIN}\0${ADMIN_PASSWORD}`).toString('base64');
  assert.equal(await d.cmd('l2', `AUTHENTICATE PLAIN ${ir}`), 'l2 NO [LIMIT] Too many connections for this account\r\n');
  assert.equal(await d.cmd('l3', 'SELECT INBOX'), 'l3 BAD SELECT not allowed before login\r\n');
  // Another account has its own count.
  const e = await loggedIn(port, OTHER, PASSWORD);
  // A session that logs out gives its slot back.
  assert.match(await b.cmd('o', 'LOGOUT'), /o OK LOGOUT completed/);
  let r = '';
  for (let i = 0; i < 50; i++) {
    r = await d.cmd(`r${i}`, `LOGIN "${ADMIN}" "${ADMIN_PASSWORD}"`);
    if (!r.includes('[LIMIT]')) break;
    await delay(20);
  }
  assert.match(r, /^r\d+ OK \[CAPABILITY /m);
  // A dropped connection (no LOGOUT) gives its slot back too.
  const f = await RawClient.connect(port);
  assert.match(await f.cmd('l', `LOGIN "${ADMIN}" "${ADMIN_PASSWORD}"`), /\[LIMIT\]/);
  a.close();
  for (let i = 0; i < 50; i++) {
    r = await f.cmd(`r${i}`, `LOGIN "${ADMIN}" "${ADMIN_PASSWORD}"`);
    if (!r.includes('[LIMIT]')) break;
    await delay(20);
  }
  assert.match(r, /^r\d+ OK \[CAPABILITY /m);
  for (const x of [c, d, e, f]) x.close();
});
