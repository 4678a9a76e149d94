// The security baseline on the HTTP listener (CalDAV/CardDAV, autoconfig): failed Basic logins
// count in the shared brute-force throttle, so a DAV guesser gets banned and is then refused on
// DAV (403 before any password check) and on POP3 too, while another IP still works; the
// per-listener access list ('http') refuses a listed network before any route; /healthz stays open.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startInstance, type TestInstance } from '../helpers/instance.js';
import { Pop3 } from './helpers.js';

const USER = 'dav@example.test';
const PASS = 'dav-secret-1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Res { status: number; text: string; headers: http.IncomingHttpHeaders }

/** One HTTP request from a chosen loopback address (127.0.0.x plays a distinct client). */
function request(port: number, localAddress: string, method: string, path: string, auth?: [string, string]): Promise<Res> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { depth: '0', connection: 'close' };
    if (auth) headers.authorization = `Basic ${Buffer.from(`${auth[0]}:${auth[1]}`).toString('base64')}`;
    const req = http.request({ host: '127.0.0.1', port, localAddress, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode!, text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HTTP/DAV access lists, throttle and bans', () => {
  let inst: TestInstance;
  let port: number;
  const propfind = (ip: string, password?: string) =>
    request(port, ip, 'PROPFIND', `/dav/calendars/${USER}/`, password === undefined ? undefined : [USER, password]);

  before(async () => {
    inst = await startInstance({ config: {
      auth: { allowPlaintextWithoutTls: true },
      limits: { authFailuresBeforeDelay: 3, authMaxDelaySeconds: 1 },
      policy: {
        trustedNetworks: ['127.0.0.1/32'], senderAuth: { enabled: false }, dnsbl: { enabled: false }, greylist: { enabled: false },
        bruteForce: { banAfterFailures: 6 },
        access: { http: { deny: ['127.0.0.66/32'] } },
      },
    } });
    port = inst.ports.http!;
    await inst.app.accounts.addAccount({ address: USER, password: PASS });
  });
  after(async () => { await inst?.stop(); });

  test('a good login works; a wrong one is 401 with a Basic challenge', async () => {
    const ok = await propfind('127.0.0.2', PASS);
    assert.equal(ok.status, 207, ok.text);
    const bad = await propfind('127.0.0.2', 'nope');
    assert.equal(bad.status, 401);
    assert.match(String(bad.headers['www-authenticate']), /^Basic realm="Pochtamt"/);
    // Undo the failure so 127.0.0.2 starts clean for the next test.
    assert.equal((await propfind('127.0.0.2', PASS)).status, 207);
  });

  test('wrong DAV passwords from one IP: slowed, then banned on DAV and POP3; another IP still logs in', async () => {
    const attacker = '127.0.0.3';
    const started = Date.now();
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await propfind(attacker, `wrong-${i}`)).status);
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 401]);
    assert.ok(Date.now() - started >= 2500, `attempts 4-6 were each held back about a second (${Date.now() - started} ms)`);
    await sleep(50);

    // Banned: refused before the password is even looked at, even with the right password.
    const checked = inst.app.accounts.authenticate.bind(inst.app.accounts);
    let authCalls = 0;
    inst.app.accounts.authenticate = async (...a: Parameters<typeof checked>) => { authCalls++; return checked(...a); };
    try {
      const banned = await propfind(attacker, PASS);
      assert.equal(banned.status, 403);
      assert.match(banned.text, /Too many failed logins from your address/);
      const anon = await request(port, attacker, 'GET', '/.well-known/caldav');
      assert.equal(anon.status, 403);
      assert.equal(authCalls, 0, 'no password check for a banned IP');
    } finally {
      inst.app.accounts.authenticate = checked;
    }
    const bans = await inst.app.guard.listBans();
    assert.deepEqual(bans.map((b) => b.ip), [attacker]);
    assert.match(bans[0]!.reason, /^6 failed logins \(last user dav@example\.test\)$/);

    // The ban is shared: POP3 refuses the IP at connect.
    const pop = await Pop3.connect(inst.ports.pop3!, attacker);
    assert.equal(pop.greeting, '-ERR [SYS/TEMP] Too many failed logins from your address, try again later');
    pop.c.close();

    // Another IP is unaffected on DAV (after at most authMaxDelaySeconds for the attacked account) and on POP3.
    const t0 = Date.now();
    assert.equal((await propfind('127.0.0.2', PASS)).status, 207);
    assert.ok(Date.now() - t0 < 3000);
    const good = await Pop3.connect(inst.ports.pop3!, '127.0.0.2');
    assert.match((await good.c.login(USER, PASS))!, /^\+OK Logged in/);
    good.c.close();

    // Lifting the ban lets the IP back in.
    assert.equal(await inst.app.guard.unban(attacker), true);
    assert.equal((await propfind(attacker, PASS)).status, 207);
  });

  test('a ban made on another protocol is enforced on HTTP', async () => {
    await inst.app.guard.ban('127.0.0.5', 'test');
    const r = await propfind('127.0.0.5', PASS);
    assert.equal(r.status, 403);
    assert.equal((await request(port, '127.0.0.5', 'GET', '/healthz')).status, 200, 'health check stays open');
    await inst.app.guard.unban('127.0.0.5');
  });

  test('the http access list refuses a denied network before any route; the trusted network is never banned', async () => {
    const r = await propfind('127.0.0.66', PASS);
    assert.equal(r.status, 403);
    assert.match(r.text, /Access from your network is not allowed/);
    const auto = await request(port, '127.0.0.66', 'GET', '/mail/config-v1.1.xml?emailaddress=a@example.test');
    assert.equal(auto.status, 403);
    assert.equal((await request(port, '127.0.0.7', 'GET', '/mail/config-v1.1.xml?emailaddress=a@example.test')).status, 200);
    assert.equal((await inst.app.guard.ban('127.0.0.1', 'test')), null, 'trusted networks are never banned');
    assert.equal((await propfind('127.0.0.1', PASS)).status, 207);
  });
});
