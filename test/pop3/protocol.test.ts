// POP3 protocol behaviour over real sockets against a real instance: states, limits, auth
// policy, locking, pipelining, byte-stuffing, STLS, and messages expunged under a session.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { App } from '../../src/instance/app.js';
import { AuthThrottle } from '../../src/services/auth-throttle.js';
import { newQueueId } from '../../src/services/trace.service.js';
import { createPop3Server } from '../../src/sessions/pop3/pop3-listener.js';
import { startInstance, TEST_DOMAIN, type TestInstance } from '../helpers/instance.js';
import { RawPop3 } from './pop3-client.js';

let inst: TestInstance;
const USER = `pat@${TEST_DOMAIN}`;
const PASSWORD = 'pat secret 1'; // spaces: PASS takes the rest of the line
const OTHER = `quinn@${TEST_DOMAIN}`;
const extraServers: net.Server[] = [];

before(async () => {
  // High free-failure count: this file fails logins on purpose; the throttle has its own test below.
  inst = await startInstance({ config: { limits: { authFailuresBeforeDelay: 50 } } });
  await inst.app.accounts.addAccount({ address: USER, password: PASSWORD });
  await inst.app.accounts.addAccount({ address: OTHER, password: 'quinn-pw-1' });
});
after(async () => {
  for (const s of extraServers) await new Promise<void>((r) => s.close(() => r()));
  await inst.stop();
});

const plain = () => RawPop3.open(inst.ports.pop3!);
const secure = () => RawPop3.open(inst.ports.pop3s!, { tls: true });

async function deliver(to: string, raw: string): Promise<void> {
  const r = await inst.app.delivery.deliver({ queueId: newQueueId(), sender: 'sender@remote.test', recipients: [to], raw: Buffer.from(raw) });
  assert.equal(r.stored.length, 1);
}

async function stored(address: string) {
  const acc = await inst.app.accounts.getAccount(address);
  const box = await inst.app.mailStore.inbox(acc!.id);
  return { accountId: acc!.id, box, msgs: await inst.app.mailStore.listMessages(box.id) };
}

async function login(c: RawPop3, user = USER, password = PASSWORD): Promise<string> {
  assert.match(await c.cmd(`USER ${user}`), /^\+OK/);
  return c.cmd(`PASS ${password}`);
}

/** Starts an extra POP3 listener on the instance's app (optionally with changed deps) on a free port. */
async function extraListener(app: App, opts: { implicitTls?: boolean; timeouts?: { preAuthMs?: number } } = {}): Promise<number> {
  const tls = {
    key: readFileSync(path.resolve(inst.dataDir, inst.app.config.tls.key)),
    cert: readFileSync(path.resolve(inst.dataDir, inst.app.config.tls.cert)),
  };
  const srv = createPop3Server(app, { implicitTls: opts.implicitTls ?? false, tls, timeouts: opts.timeouts });
  extraServers.push(srv);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return (srv.address() as net.AddressInfo).port;
}

test('before TLS: CAPA offers STLS but neither USER nor SASL; plaintext logins are refused with [AUTH]', async () => {
  const c = await plain();
  const capa = await c.multi('CAPA');
  assert.equal(capa.status.slice(0, 3), '+OK');
  assert.ok(capa.lines.includes('STLS'));
  assert.ok(capa.lines.includes('RESP-CODES'));
  assert.ok(!capa.lines.includes('USER'));
  assert.ok(!capa.lines.some((l) => l.startsWith('SASL')));
  assert.match(await c.cmd(`USER ${USER}`), /^-ERR \[AUTH\] .*STLS/);
  assert.match(await c.cmd(`PASS ${PASSWORD}`), /^-ERR \[AUTH\]/);
  const plainIr = Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64');
  assert.match(await c.cmd(`AUTH PLAIN ${plainIr}`), /^-ERR \[AUTH\]/);
  assert.match(await c.cmd('STAT'), /^-ERR/, 'still not logged in');
  // STLS upgrades; now USER/SASL are offered, STLS is not, and the login works.
  assert.match(await c.stls(), /^\+OK/);
  const capa2 = await c.multi('CAPA');
  assert.ok(capa2.lines.includes('USER'));
  assert.ok(capa2.lines.includes('SASL PLAIN'));
  assert.ok(!capa2.lines.includes('STLS'));
  assert.match(await c.cmd('STLS'), /^-ERR/);
  assert.match(await login(c), /^\+OK/);
  assert.match(await c.cmd('STAT'), /^\+OK \d+ \d+$/);
  assert.match(await c.cmd('QUIT'), /^\+OK/);
  await c.waitClosed();
});

test('STLS: commands pipelined behind STLS in plaintext are discarded, not run over TLS', async () => {
  const c = await RawPop3.open(inst.ports.pop3!);
  // The client "injects" USER and CAPA in the same packet as STLS (CVE-2011-0411 pattern).
  c.send(`STLS\r\nUSER ${USER}\r\nCAPA\r\n`);
  // RawPop3.stls() sends STLS itself; emulate by reading +OK then upgrading by hand.
  const status = await c.line();
  assert.match(status, /^\+OK/);
  const tls = await import('node:tls');
  const sock = (c as unknown as { sock: net.Socket }).sock;
  sock.removeAllListeners('data');
  sock.removeAllListeners('close');
  const s = tls.connect({ socket: sock, rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => { s.once('secureConnect', () => resolve()); s.once('error', reject); });
  let got = '';
  s.on('data', (d: Buffer) => { got += d.toString(); });
  s.write(`PASS ${PASSWORD}\r\nQUIT\r\n`);
  await new Promise<void>((r) => s.once('close', () => r()));
  // The pipelined USER was dropped, so PASS has no USER; no CAPA listing ever arrived.
  assert.match(got, /^-ERR Send USER first\r\n\+OK .*signing off\r\n$/);
});

test('commands out of state, unknown commands and bad arguments get -ERR and the session keeps serving', async () => {
  const c = await secure();
  assert.match(await c.cmd('STAT'), /^-ERR .*not valid in this state/);
  assert.match(await c.cmd('RETR 1'), /^-ERR/);
  assert.match(await c.cmd('PASS nothing'), /^-ERR Send USER first/);
  assert.match(await c.cmd('XYZZY'), /^-ERR Unknown command/);
  assert.match(await c.cmd('APOP user 0123456789abcdef0123456789abcdef'), /^-ERR/);
  assert.match(await c.cmd(''), /^-ERR/);
  assert.match(await c.cmd('USER'), /^-ERR Wrong number of arguments/);
  assert.match(await login(c), /^\+OK/);
  assert.match(await c.cmd('USER again'), /^-ERR .*not valid in this state/);
  assert.match(await c.cmd('STLS'), /^-ERR/);
  assert.match(await c.cmd('RETR 0'), /^-ERR Invalid message number/);
  assert.match(await c.cmd('RETR 999'), /^-ERR No such message/);
  assert.match(await c.cmd('TOP 1 -1'), /^-ERR/);
  assert.match(await c.cmd('LIST 1 2'), /^-ERR Wrong number/);
  assert.match(await c.cmd('NOOP'), /^\+OK/);
  assert.match(await c.cmd('QUIT'), /^\+OK/);
  await c.waitClosed();
});

test('a 10 KiB line gets one -ERR, is discarded to its CRLF, and the next command works', async () => {
  const c = await secure();
  c.send(`${'X'.repeat(10 * 1024)}\r\nCAPA\r\n`);
  assert.match(await c.line(), /^-ERR Line too long/);
  assert.match(await c.line(), /^\+OK Capability/);
  await c.multiRaw();
  // Also when the long line arrives in pieces and its end comes much later.
  c.send(Buffer.alloc(4000, 0x41));
  assert.match(await c.line(), /^-ERR Line too long/);
  c.send(Buffer.alloc(4000, 0x41));
  c.send('tail\r\nQUIT\r\n');
  assert.match(await c.line(), /^\+OK .*signing off/);
  await c.waitClosed();
});

test('wrong password: -ERR [AUTH], and a new USER/PASS then succeeds', async () => {
  const c = await secure();
  assert.match(await login(c, USER, 'wrong'), /^-ERR \[AUTH\] Authentication failed/);
  assert.match(await c.cmd('PASS again'), /^-ERR Send USER first/, 'a failed PASS needs a new USER');
  assert.match(await login(c, 'nobody@example.test', 'x'), /^-ERR \[AUTH\]/);
  assert.match(await login(c), /^\+OK/);
  assert.match(await c.cmd('QUIT'), /^\+OK/);
});

test('AUTH PLAIN with an initial response, with a continuation, cancelled, and malformed', async () => {
  const ir = Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64');
  const a = await secure();
  const mechs = await a.multi('AUTH');
  assert.deepEqual(mechs.lines, ['PLAIN']);
  assert.match(await a.cmd('AUTH CRAM-MD5'), /^-ERR Unsupported/);
  assert.match(await a.cmd('AUTH PLAIN'), /^\+ $/);
  assert.match(await a.cmd('*'), /^-ERR Authentication cancelled/);
  assert.match(await a.cmd('AUTH PLAIN !!!'), /^-ERR Invalid SASL/);
  assert.match(await a.cmd(`AUTH PLAIN ${Buffer.from(`${OTHER}\0${USER}\0${PASSWORD}`).toString('base64')}`), /^-ERR \[AUTH\] Authorization identity/);
  assert.match(await a.cmd(`AUTH PLAIN ${ir}`), /^\+OK Logged in/);
  assert.match(await a.cmd('QUIT'), /^\+OK/);
  await a.waitClosed();

  const b = await secure();
  assert.match(await b.cmd('AUTH PLAIN'), /^\+ $/);
  assert.match(await b.cmd(ir), /^\+OK Logged in/);
  assert.match(await b.cmd('STAT'), /^\+OK/);
  assert.match(await b.cmd('QUIT'), /^\+OK/);
});

test('a second session for the same maildrop gets [IN-USE]; the lock goes with QUIT or a dropped connection', async () => {
  const a = await secure();
  assert.match(await login(a), /^\+OK/);
  const b = await plain();
  await b.stls();
  assert.match(await login(b), /^-ERR \[IN-USE\]/);
  // Another account is not affected.
  const o = await secure();
  assert.match(await login(o, OTHER, 'quinn-pw-1'), /^\+OK/);
  assert.match(await o.cmd('QUIT'), /^\+OK/);
  assert.match(await a.cmd('QUIT'), /^\+OK/);
  await a.waitClosed();
  assert.match(await login(b), /^\+OK/, 'free after QUIT');
  b.destroy(); // dropped without QUIT
  let reply = '';
  for (let i = 0; i < 50; i++) {
    const c = await secure();
    reply = await login(c);
    c.destroy();
    if (reply.startsWith('+OK')) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.match(reply, /^\+OK/, 'free after the connection dropped');
});

test('pipelined commands in one packet are answered in order', async () => {
  await deliver(OTHER, 'Subject: p1\r\n\r\none\r\n');
  await deliver(OTHER, 'Subject: p2\r\n\r\ntwo\r\n');
  const { msgs, box } = await stored(OTHER);
  const c = await secure();
  c.send(`USER ${OTHER}\r\nPASS quinn-pw-1\r\nSTAT\r\nLIST\r\nUIDL 2\r\nNOOP\r\nRETR 1\r\nBOGUS\r\nQUIT\r\n`);
  assert.match(await c.line(), /^\+OK/);
  assert.match(await c.line(), /^\+OK Logged in, 2 messages/);
  assert.equal(await c.line(), `+OK 2 ${msgs[0]!.size + msgs[1]!.size}`);
  assert.match(await c.line(), /^\+OK 2 messages/);
  assert.equal((await c.multiRaw()).toString(), `1 ${msgs[0]!.size}\r\n2 ${msgs[1]!.size}\r\n.\r\n`);
  assert.equal(await c.line(), `+OK 2 ${box.uidValidity}.${msgs[1]!.uid}`);
  assert.equal(await c.line(), '+OK');
  assert.equal(await c.line(), `+OK ${msgs[0]!.size} octets`);
  const body = await c.multiRaw();
  const bytes = await inst.app.mailStore.getMessageBytes(msgs[0]!.blobHash);
  assert.deepEqual(body, Buffer.concat([bytes, Buffer.from('.\r\n')]));
  assert.match(await c.line(), /^-ERR Unknown command/);
  assert.match(await c.line(), /^\+OK .*signing off \(2 messages left\)/);
  await c.waitClosed();
});

test('lines that begin with "." come back byte-stuffed; RETR marks \\Seen, TOP does not', async () => {
  const before = (await stored(USER)).msgs.length;
  await deliver(USER, 'Subject: dots\r\n\r\n.\r\n..two\r\n.leading dot\r\nnot . leading\r\n.');
  const { msgs, box, accountId } = await stored(USER);
  assert.equal(msgs.length, before + 1);
  const m = msgs[msgs.length - 1]!;
  const bytes = await inst.app.mailStore.getMessageBytes(m.blobHash);
  const c = await secure();
  assert.match(await login(c), /^\+OK/);
  const n = msgs.length;
  assert.match(await c.cmd(`TOP ${n} 2`), /^\+OK/);
  const topRaw = (await c.multiRaw()).toString('latin1');
  assert.ok(topRaw.endsWith('\r\n\r\n..\r\n...two\r\n.\r\n'), JSON.stringify(topRaw.slice(-40)));
  assert.ok(!(await inst.app.mailStore.getMessage(box.id, m.uid))!.flags.includes('\\Seen'));
  assert.equal(await c.cmd(`RETR ${n}`), `+OK ${m.size} octets`);
  const wire = (await c.multiRaw()).toString('latin1');
  const text = bytes.toString('latin1');
  // Expected: every line starting with '.' doubled; the stored message lacks a final CRLF, so one is added.
  const expected = `${text.split('\r\n').map((l) => (l.startsWith('.') ? `.${l}` : l)).join('\r\n')}\r\n.\r\n`;
  assert.equal(wire, expected);
  assert.ok(wire.includes('\r\n..\r\n...two\r\n..leading dot\r\nnot . leading\r\n..\r\n.\r\n'));
  assert.ok((await inst.app.mailStore.getMessage(box.id, m.uid))!.flags.includes('\\Seen'));
  assert.ok(accountId > 0);
  assert.match(await c.cmd('QUIT'), /^\+OK/);
});

test('a message expunged by another path after login: RETR/TOP get -ERR, the rest keeps working', async () => {
  await deliver(USER, 'Subject: doomed\r\n\r\ngoing away\r\n');
  await deliver(USER, 'Subject: survivor\r\n\r\nstays\r\n');
  const c = await secure();
  assert.match(await login(c), /^\+OK/);
  const stat = await c.cmd('STAT');
  const { msgs, box, accountId } = await stored(USER);
  const count = msgs.length;
  const doomed = msgs[count - 2]!;
  assert.deepEqual(await inst.app.mailStore.expunge(accountId, box.id, [doomed.uid]), [doomed.uid]);
  assert.match(await c.cmd(`RETR ${count - 1}`), /^-ERR Message was removed/);
  assert.match(await c.cmd(`TOP ${count - 1} 0`), /^-ERR Message was removed/);
  assert.equal(await c.cmd('STAT'), stat, 'the snapshot does not change within the session');
  assert.match(await c.cmd(`RETR ${count}`), /^\+OK/);
  assert.match((await c.multiRaw()).toString(), /stays\r\n\.\r\n$/);
  // DELE of the vanished one is harmless at QUIT.
  assert.match(await c.cmd(`DELE ${count - 1}`), /^\+OK/);
  assert.match(await c.cmd('QUIT'), /^\+OK/);
  await c.waitClosed();
  assert.equal((await stored(USER)).msgs.length, count - 1);
});

test('DELE, RSET, deleted messages are hidden; QUIT expunges, a dropped connection does not', async () => {
  await deliver(USER, 'Subject: d1\r\n\r\nx\r\n');
  const n0 = (await stored(USER)).msgs.length;
  const c = await secure();
  assert.match(await login(c), /^\+OK/);
  assert.match(await c.cmd(`DELE ${n0}`), /^\+OK/);
  assert.match(await c.cmd(`DELE ${n0}`), /^-ERR Message already deleted/);
  assert.match(await c.cmd(`RETR ${n0}`), /^-ERR Message already deleted/);
  assert.match(await c.cmd(`LIST ${n0}`), /^-ERR/);
  const list = await c.multi('LIST');
  assert.equal(list.lines.length, n0 - 1);
  assert.match(await c.cmd('RSET'), new RegExp(`^\\+OK Maildrop has ${n0} messages`));
  assert.match(await c.cmd(`DELE ${n0}`), /^\+OK/);
  c.destroy();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal((await stored(USER)).msgs.length, n0, 'dropped: nothing deleted');
});

test('a client that half-closes after pipelining still gets every reply', async () => {
  const c = await secure();
  c.send(`USER ${OTHER}\r\nPASS quinn-pw-1\r\nSTAT\r\nQUIT\r\n`);
  c.end();
  assert.match(await c.line(), /^\+OK/);
  assert.match(await c.line(), /^\+OK Logged in/);
  assert.match(await c.line(), /^\+OK \d+ \d+$/);
  assert.match(await c.line(), /^\+OK .*signing off/);
  await c.waitClosed();
});

test('with auth.allowPlaintextWithoutTls, USER/PASS work without TLS and CAPA lists them', async () => {
  const app = { ...inst.app, config: { ...inst.app.config, auth: { allowPlaintextWithoutTls: true } } };
  const c = await RawPop3.open(await extraListener(app));
  const capa = await c.multi('CAPA');
  for (const cap of ['USER', 'SASL PLAIN', 'STLS']) assert.ok(capa.lines.includes(cap), cap);
  assert.match(await login(c, OTHER, 'quinn-pw-1'), /^\+OK Logged in/);
  assert.match(await c.cmd('QUIT'), /^\+OK/);
});

test('too many bad commands close the connection', async () => {
  const c = await secure();
  c.send('BAD\r\n'.repeat(25));
  let last = '';
  for (;;) {
    const l = await c.line().catch(() => null);
    if (l === null) break;
    last = l;
  }
  assert.match(last, /^-ERR Too many bad commands/);
  assert.ok(c.closed);
});

test('idle timeout before login closes the connection (shortened for the test)', async () => {
  const port = await extraListener(inst.app, { timeouts: { preAuthMs: 200 } });
  const c = await RawPop3.open(port);
  const t0 = Date.now();
  assert.match(await c.line(3000), /^-ERR Idle timeout/);
  await c.waitClosed();
  assert.ok(Date.now() - t0 >= 150);
});

test('per-IP connection cap answers -ERR [SYS/TEMP] and closes', async () => {
  const app = { ...inst.app, config: { ...inst.app.config, limits: { ...inst.app.config.limits, maxConnectionsPerIp: 2 } } };
  const port = await extraListener(app);
  const a = await RawPop3.open(port);
  const b = await RawPop3.open(port);
  const c = await RawPop3.connect(port);
  assert.equal(await c.line(), '-ERR [SYS/TEMP] Too many connections, try again later');
  await c.waitClosed();
  a.destroy();
  await new Promise((r) => setTimeout(r, 100));
  const d = await RawPop3.open(port);
  assert.match(await d.cmd('CAPA'), /^\+OK/);
  b.destroy();
  d.destroy();
});

test('the throttle holds the reply after repeated failures', async () => {
  const throttle = new AuthThrottle({ freeFailures: 2, maxDelayMs: 1000, resetAfterMs: 60_000 });
  const port = await extraListener({ ...inst.app, throttle }, { implicitTls: true });
  const c = await RawPop3.open(port, { tls: true });
  for (let i = 0; i < 2; i++) assert.match(await login(c, OTHER, 'wrong'), /^-ERR \[AUTH\]/);
  const t0 = Date.now();
  assert.match(await login(c, OTHER, 'wrong'), /^-ERR \[AUTH\]/);
  assert.ok(Date.now() - t0 >= 950, `third failure answered after ${Date.now() - t0} ms`);
  c.destroy();
});

test('clients that vanish mid-RETR, mid-AUTH, during the throttle delay or mid-TLS never break the server', async () => {
  await deliver(OTHER, `Subject: large\r\n\r\n${'y'.repeat(78).concat('\r\n').repeat(20_000)}`);
  // Mid-RETR: ask for the 1.6 MB message and vanish before reading it.
  const a = await secure();
  assert.match(await login(a, OTHER, 'quinn-pw-1'), /^\+OK/);
  a.send('RETR 3\r\nRETR 3\r\nRETR 3\r\n');
  await a.line();
  a.destroy();
  // Mid-AUTH continuation.
  const b = await secure();
  assert.match(await b.cmd('AUTH PLAIN'), /^\+ /);
  b.destroy();
  // During the throttle delay.
  const throttle = new AuthThrottle({ freeFailures: 0, maxDelayMs: 300, resetAfterMs: 60_000 });
  throttle.failure('127.0.0.1', OTHER);
  const port = await extraListener({ ...inst.app, throttle });
  const c = await RawPop3.open(port);
  await c.stls();
  c.send(`USER ${OTHER}\r\nPASS quinn-pw-1\r\n`);
  await c.line();
  c.destroy();
  // Plaintext to the implicit-TLS port (a failed handshake).
  const { connect } = await import('node:net');
  const d = connect({ host: '127.0.0.1', port: inst.ports.pop3s! });
  d.on('error', () => undefined);
  d.write('USER nobody\r\n');
  await new Promise((r) => setTimeout(r, 400)); // past the throttle delay: the login finished on a closed socket
  d.destroy();
  // The lock of the session that logged in after its client left is not held.
  const e = await secure();
  assert.match(await login(e, OTHER, 'quinn-pw-1'), /^\+OK Logged in, 3 messages/);
  assert.match(await e.cmd('QUIT'), /^\+OK/);
});

test('the server still serves new clients after all of the above', async () => {
  const c = await secure();
  assert.match(await login(c, OTHER, 'quinn-pw-1'), /^\+OK/);
  assert.match(await c.cmd('STAT'), /^\+OK \d+ \d+$/);
  assert.match(await c.cmd('QUIT'), /^\+OK/);
  // Left logged in on purpose: stopping the instance (after()) must drop it, not wait for it.
  const idle = await secure();
  assert.match(await login(idle), /^\+OK/);
});
