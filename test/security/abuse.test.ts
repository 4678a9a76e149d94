// Abuse limits and access control end to end on one instance, each scenario from its own
// loopback address (127.0.x.y plays a distinct client): brute force on POP3 → banned on SMTP
// submission and POP3 while another IP still logs in, `pochtamt security bans|unban`; directory
// harvest tarpit and disconnect; greylisting with retry and auto-whitelist; DNSBL and RHSBL
// at MAIL; shared rate limits per IP and per account; access lists at connect; and the
// outbound ownership rules (MAIL FROM/From ownership on submission, no relaying on the MX).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { startInstance, type TestInstance } from '../helpers/instance.js';
import { startFakeDns, type FakeDns } from '../helpers/fake-dns.js';
import { RawSmtp } from '../helpers/raw-smtp.js';
import { message, Pop3, traceSince } from './helpers.js';

const USER = 'user@example.test';
const PASS = 'user-secret-1';
const USER2 = 'user2@example.test';
const GREY = 'g@grey.test';
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('abuse limits and access lists', () => {
  let dns: FakeDns;
  let inst: TestInstance;
  const cli = async (...args: string[]) => (await run(process.execPath, [CLI, '--data', inst.dataDir, ...args])).stdout;

  before(async () => {
    dns = await startFakeDns({
      '10.0.0.127.bl.test': { a: ['127.0.0.2'] },
      'spammer.test.dbl.test': { a: ['127.0.1.2'] },
    });
    inst = await startInstance({ config: {
      auth: { allowPlaintextWithoutTls: true },
      limits: { authFailuresBeforeDelay: 3, authMaxDelaySeconds: 1 },
      policy: {
        dnsServers: [dns.server], trustedNetworks: ['127.0.0.1/32'], senderAuth: { enabled: false },
        dnsbl: { zones: ['bl.test'], domainZones: ['dbl.test'] },
        greylist: { delaySeconds: 1, skipDomains: ['example.test'] },
        bruteForce: { banAfterFailures: 6 },
        harvest: { delayAfter: 5, disconnectAfter: 20, delayMs: 20, maxDelayMs: 200 },
        rateLimits: { messagesPerHourPerIp: 3, messagesPerHourPerAccount: 2 },
        access: { pop3: { deny: ['127.0.0.66/32'] }, smtp: { deny: ['127.0.0.66/32'] } },
      },
    } });
    await inst.app.accounts.addDomain('grey.test');
    for (const address of [USER, USER2, GREY]) await inst.app.accounts.addAccount({ address, password: PASS });
  });
  after(async () => {
    await inst?.stop();
    await dns?.stop();
  });

  test('brute force on POP3 bans the IP on POP3 and SMTP submission; another IP still logs in; CLI lists and lifts the ban', async () => {
    const attacker = '127.0.0.3';
    let failures = 0;
    let started = Date.now();
    while (failures < 6) {
      const { c, greeting } = await Pop3.connect(inst.ports.pop3!, attacker);
      assert.match(greeting!, /^\+OK/);
      while (failures < 6 && !c.closed) {
        const r = await c.login(USER, `wrong-${failures}`);
        if (r === null) break;
        assert.match(r, /^-ERR \[AUTH\] Authentication failed/);
        failures++;
      }
      c.close();
    }
    assert.ok(Date.now() - started >= 2500, 'attempts 4-6 were each held back about a second');
    await sleep(50);
    const sub = await RawSmtp.connect(inst.ports.submission!, { localAddress: attacker, lenient: true });
    assert.equal(`${sub.greeting.code} ${sub.greeting.text}`, '421 4.7.0 Too many failed logins from your address, try again later');
    await sub.c.quit();
    const pop = await Pop3.connect(inst.ports.pop3!, attacker);
    assert.equal(pop.greeting, '-ERR [SYS/TEMP] Too many failed logins from your address, try again later');
    pop.c.close();

    // The account under attack still works from elsewhere (after a delay of at most authMaxDelaySeconds).
    started = Date.now();
    const good = await Pop3.connect(inst.ports.pop3!, '127.0.0.2');
    assert.match((await good.c.login(USER, PASS))!, /^\+OK Logged in/);
    good.c.close();
    const s = await RawSmtp.connect(inst.ports.submission!, { localAddress: '127.0.0.2', lenient: true });
    await s.c.cmd('EHLO client.test');
    assert.equal((await s.c.authPlain(USER, PASS)).code, 235);
    await s.c.quit();
    assert.ok(Date.now() - started < 5000);

    const bans = JSON.parse(await cli('security', 'bans', '--json')) as Array<{ ip: string; reason: string; failures: number }>;
    assert.deepEqual(bans.map((b) => b.ip), [attacker]);
    assert.match(bans[0]!.reason, /^6 failed logins \(last user user@example\.test\)$/);
    assert.equal(await cli('security', 'unban', attacker), `unbanned ${attacker} (other nodes follow within seconds)\n`);
    await sleep(1100);
    const again = await RawSmtp.connect(inst.ports.submission!, { localAddress: attacker, lenient: true });
    assert.equal(again.greeting.code, 220);
    await again.c.quit();
  });

  test('directory harvest: replies slow down after 5 unknown recipients, 421 after 20; known recipients from other IPs unaffected', async () => {
    const since = Date.now();
    const { c } = await RawSmtp.connect(inst.ports.smtp!, { localAddress: '127.0.0.4', lenient: true });
    await c.cmd('EHLO harvester.test');
    assert.equal((await c.cmd('MAIL FROM:<h@harvester.test>')).code, 250);
    const replies = [];
    for (let i = 1; i <= 30; i++) replies.push(await c.cmd(`RCPT TO:<nobody${i}@example.test>`));
    // Not tarpitted yet: well under the 100 ms the tarpit holds the 10th reply (loose, for loaded machines).
    assert.ok(replies.slice(0, 4).every((r) => r.code === 550 && r.ms < 80), replies.slice(0, 4).map((r) => r.ms).join(','));
    assert.ok(replies.slice(4, 19).every((r) => r.code === 550));
    assert.ok(replies[9]!.ms >= 100 && replies[18]!.ms >= 190, `tarpit: ${replies.map((r) => r.ms).join(',')}`);
    assert.equal(`${replies[19]!.code} ${replies[19]!.text}`, '421 4.7.0 Too many unknown recipients, closing connection');
    assert.ok(replies.slice(20).every((r) => r.code === 0), 'connection closed after the 421');
    await c.quit();
    const back = await RawSmtp.connect(inst.ports.smtp!, { localAddress: '127.0.0.4', lenient: true });
    await back.c.cmd('EHLO harvester.test');
    await back.c.cmd('MAIL FROM:<h@harvester.test>');
    assert.equal((await back.c.cmd(`RCPT TO:<${USER}>`)).code, 421, 'the harvester stays cut off');
    await back.c.quit();
    const other = await RawSmtp.connect(inst.ports.smtp!, { localAddress: '127.0.0.5', lenient: true });
    await other.c.cmd('EHLO friend.test');
    const r = await other.c.send('f@friend.test', [USER], message({ from: 'f@friend.test', to: USER, subject: 'from a friend' }));
    assert.equal(r.code, 250, r.text);
    await other.c.quit();
    const line = (await traceSince(inst.app, since)).find((l) => l.event === 'policy.step.tempfail' && l.detail.step === 'harvest')!;
    assert.equal(line.detail.reason, '20 unknown recipients from 127.0.0.4');
  });

  test('greylisting: first attempt 451, retry after the delay passes and whitelists the client network', async () => {
    const since = Date.now();
    const attempt = async (ip: string, from: string) => {
      const { c } = await RawSmtp.connect(inst.ports.smtp!, { localAddress: ip, lenient: true });
      await c.cmd('EHLO mta.test');
      const r = await c.send(from, [GREY], message({ from, to: GREY, subject: `grey ${from}` }));
      await c.quit();
      return r;
    };
    const first = await attempt('127.0.1.7', 'a@mta.test');
    assert.equal(`${first.code} ${first.text}`, '451 4.7.1 Greylisted, please try again in 1 seconds');
    assert.equal((await attempt('127.0.1.7', 'a@mta.test')).code, 451, 'too early');
    await sleep(1100);
    const retry = await attempt('127.0.1.7', 'a@mta.test');
    assert.equal(retry.code, 250, retry.text);
    assert.equal((await attempt('127.0.1.8', 'b@mta.test')).code, 250, 'same /24 is whitelisted');
    assert.equal((await attempt('127.0.2.9', 'a@mta.test')).code, 451, 'another network is not');
    const direct = await attempt('127.0.2.9', `x@other.test`);
    assert.equal(direct.code, 451);
    const ok = await RawSmtp.connect(inst.ports.smtp!, { localAddress: '127.0.2.10', lenient: true });
    await ok.c.cmd('EHLO mta.test');
    assert.equal((await ok.c.send('y@other.test', [USER], message({ from: 'y@other.test', to: USER }))).code, 250, 'opted-out domain');
    await ok.c.quit();
    const lines = await traceSince(inst.app, since);
    assert.ok(lines.some((l) => l.event === 'policy.step.tempfail' && l.detail.step === 'greylist' && l.detail.reason === 'greylisted (new)'));
    assert.ok(lines.some((l) => l.event === 'policy.step.accept' && l.detail.step === 'greylist'));
  });

  test('DNSBL and RHSBL refuse at MAIL FROM; an unlisted client passes', async () => {
    const since = Date.now();
    const listed = await RawSmtp.connect(inst.ports.smtp!, { localAddress: '127.0.0.10', lenient: true });
    await listed.c.cmd('EHLO bad.test');
    const r1 = await listed.c.cmd('MAIL FROM:<a@clean.test>');
    assert.equal(`${r1.code} ${r1.text}`, '554 5.7.1 Service unavailable; client [127.0.0.10] blocked using bl.test');
    await listed.c.quit();
    const rhs = await RawSmtp.connect(inst.ports.smtp!, { localAddress: '127.0.0.11', lenient: true });
    await rhs.c.cmd('EHLO bad.test');
    const r2 = await rhs.c.cmd('MAIL FROM:<a@spammer.test>');
    assert.equal(`${r2.code} ${r2.text}`, '554 5.7.1 Service unavailable; sender domain spammer.test blocked using dbl.test');
    assert.equal((await rhs.c.cmd('MAIL FROM:<a@clean.test>')).code, 250);
    await rhs.c.quit();
    const line = (await traceSince(inst.app, since)).find((l) => l.event === 'policy.step.reject' && l.detail.step === 'dnsbl')!;
    assert.equal(line.detail.reason, 'client [127.0.0.10] listed in bl.test (127.0.0.2)');
    assert.equal(line.detail.stage, 'mail');
  });

  test('rate limits: messages per IP and per account, shared through the store', async () => {
    const { c } = await RawSmtp.connect(inst.ports.smtp!, { localAddress: '127.0.0.13', lenient: true });
    await c.cmd('EHLO bulk.test');
    for (let i = 0; i < 3; i++) {
      assert.equal((await c.cmd('MAIL FROM:<bulk@bulk.test>')).code, 250);
      await c.cmd('RSET');
    }
    const r = await c.cmd('MAIL FROM:<bulk@bulk.test>');
    assert.equal(`${r.code} ${r.text}`, '451 4.7.1 Rate limit exceeded: too many messages, try again later');
    await c.quit();
    const s = await RawSmtp.connect(inst.ports.submission!, { localAddress: '127.0.0.14', lenient: true });
    await s.c.cmd('EHLO client.test');
    assert.equal((await s.c.authPlain(USER2, PASS)).code, 235);
    for (let i = 0; i < 2; i++) {
      assert.equal((await s.c.cmd(`MAIL FROM:<${USER2}>`)).code, 250);
      await s.c.cmd('RSET');
    }
    assert.equal((await s.c.cmd(`MAIL FROM:<${USER2}>`)).code, 451);
    await s.c.quit();
  });

  test('access lists refuse at connect, per listener', async () => {
    const p = await Pop3.connect(inst.ports.pop3!, '127.0.0.66');
    assert.equal(p.greeting, '-ERR [SYS/PERM] Access from your network is not allowed');
    p.c.close();
    const s = await RawSmtp.connect(inst.ports.smtp!, { localAddress: '127.0.0.66', lenient: true });
    assert.equal(`${s.greeting.code} ${s.greeting.text}`, '554 5.7.1 Access from your network is not allowed');
    await s.c.quit();
    const sub = await RawSmtp.connect(inst.ports.submission!, { localAddress: '127.0.0.66', lenient: true });
    assert.equal(sub.greeting.code, 220, 'submission has no list');
    await sub.c.quit();
  });

  test('outbound: no relaying on the MX, submission only for addresses the account owns', async () => {
    const mx = await RawSmtp.connect(inst.ports.smtp!, { localAddress: '127.0.0.20', lenient: true });
    await mx.c.cmd('EHLO x.test');
    await mx.c.cmd('MAIL FROM:<a@x.test>');
    const relay = await mx.c.cmd('RCPT TO:<victim@elsewhere.test>');
    assert.equal(`${relay.code} ${relay.text}`, '554 5.7.1 Relay access denied');
    await mx.c.quit();
    const { c } = await RawSmtp.connect(inst.ports.submission!, { localAddress: '127.0.0.1', lenient: true });
    await c.cmd('EHLO client.test');
    assert.equal((await c.authPlain(USER, PASS)).code, 235);
    const notMine = await c.cmd('MAIL FROM:<boss@elsewhere.test>');
    assert.equal(`${notMine.code} ${notMine.text}`, '553 5.7.1 Sender address <boss@elsewhere.test> is not yours');
    const forged = await c.send(USER, ['someone@elsewhere.test'], message({ from: USER2, to: 'someone@elsewhere.test' }));
    assert.equal(`${forged.code} ${forged.text}`, '550 5.7.1 From header names an address that is not yours');
    await c.quit();
  });
});
