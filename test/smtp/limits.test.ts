// Abuse limits: AUTH with wrong passwords is slowed down, and one client address cannot hold
// more than limits.maxConnectionsPerIp connections to a listener, while others still get in.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TEST_DOMAIN, startInstance, type TestInstance } from '../helpers/instance.js';
import { inboxMatching, makeMessage, openTransaction, RawSmtp, sleep } from '../helpers/raw-smtp.js';

const D = TEST_DOMAIN;
const ALICE = `alice@${D}`;
const PER_IP = 3;
const FREE_FAILURES = 3;

let inst: TestInstance;

before(async () => {
  inst = await startInstance({ config: { limits: {
    maxConnectionsPerIp: PER_IP, authFailuresBeforeDelay: FREE_FAILURES, authMaxDelaySeconds: 1,
  } } });
  await inst.app.accounts.addAccount({ address: ALICE, password: 'right password 9' });
});
after(async () => { await inst?.stop(); });

const plain = (user: string, pass: string) => Buffer.from(`\0${user}\0${pass}`).toString('base64');

test('AUTH with wrong passwords is throttled after the free failures', async () => {
  const { c } = await RawSmtp.connect(inst.ports.submission!);
  const times: number[] = [];
  try {
    await c.cmd('EHLO client.test');
    assert.equal((await c.starttls()).code, 220);
    await c.cmd('EHLO client.test');
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      const r = await c.cmd(`AUTH PLAIN ${plain(ALICE, `wrong ${i}`)}`);
      times.push(performance.now() - t);
      assert.match(r.lines[0]!, /^535 5\.7\.8 /);
    }
  } finally {
    await c.quit();
  }
  const fmt = times.map((t) => t.toFixed(0)).join(', ');
  // The free attempts cost one password check each; the later ones wait authMaxDelaySeconds (1 s) first.
  for (let i = 0; i < FREE_FAILURES; i++) assert.ok(times[i]! < 1000, `attempt ${i + 1} not delayed (${fmt} ms)`);
  for (let i = FREE_FAILURES; i < 5; i++) assert.ok(times[i]! >= 990, `attempt ${i + 1} held back (${fmt} ms)`);
  assert.ok(times[4]! - times[0]! >= 600, `5th failure noticeably slower than the 1st (${fmt} ms)`);
});

test('the MX listener does not offer or accept AUTH', async () => {
  const { c } = await RawSmtp.connect(inst.ports.smtp!);
  try {
    assert.doesNotMatch((await c.cmd('EHLO client.test')).text, /^AUTH/m);
    const r = await c.cmd(`AUTH PLAIN ${plain(ALICE, 'right password 9')}`);
    assert.ok(r.code >= 500, r.lines[0]);
  } finally {
    await c.quit();
  }
});

test('per-IP connection cap: the 4th connection gets 421, other addresses still get in', async () => {
  const port = inst.ports.smtp!;
  const open: RawSmtp[] = [];
  try {
    for (let i = 0; i < PER_IP; i++) {
      const { c, greeting } = await RawSmtp.connect(port);
      assert.equal(greeting.code, 220);
      open.push(c);
    }
    const refused = async () => {
      const { c, greeting } = await RawSmtp.connect(port);
      assert.equal(greeting.code, 421);
      assert.match(greeting.lines[0]!, /^421 4\.7\.0 /);
      assert.ok(await c.waitClosed(), 'refused connection is closed by the server');
      await sleep(50); // let the server run its close handling
    };
    await refused();
    // a refused connection must not free a slot it never had
    await refused();
    // another client address is not affected
    const { c: other, greeting } = await RawSmtp.connect(port, { localAddress: '127.0.0.2' });
    assert.equal(greeting.code, 220);
    await other.quit();
    // closing one frees one slot
    await open.shift()!.quit();
    await sleep(50);
    const { c: again, greeting: g2 } = await RawSmtp.connect(port);
    assert.equal(g2.code, 220);
    open.push(again);
    await refused();
  } finally {
    for (const c of open) await c.quit();
  }
  await sleep(50);
  // and with everything closed, mail flows normally
  const mid = `<after-cap.${Date.now()}@client.test>`;
  const { c, replies } = await openTransaction(port, 'x@remote.test', [ALICE]);
  try {
    assert.deepEqual(replies.map((r) => r.code), [250, 250, 250]);
    assert.equal((await c.data(makeMessage({ from: 'x@remote.test', to: ALICE, subject: 'cap', body: 'x\r\n', messageId: mid }))).code, 250);
  } finally {
    await c.quit();
  }
  assert.equal((await inboxMatching(inst.app, ALICE, mid)).length, 1);
});
