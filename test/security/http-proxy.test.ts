// The HTTP guard behind a reverse proxy: Forwarded / X-Forwarded-For name the client only when
// the direct peer is in policy.trustedProxies (here 127.0.0.10). A client that sends the headers
// itself is judged by its own address (the ban hits it, not the address it claimed); through the
// proxy, DAV login failures ban the forwarded address (right-most untrusted), the proxy itself
// stays usable for everyone else, and the http access list applies to the forwarded address.
// Also the parsing rules (src/http/forwarded.ts) on their own.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { clientAddress, nodeAddress, parseForwarded } from '../../src/http/forwarded.js';
import { CidrList } from '../../src/policy/cidr.js';
import { startInstance, type TestInstance } from '../helpers/instance.js';

const USER = 'proxied@example.test';
const PASS = 'proxied-secret-1';
const PROXY = '127.0.0.10';

interface Res { status: number; text: string }

function request(port: number, localAddress: string, path: string, headers: Record<string, string>, auth?: string): Promise<Res> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string> = { depth: '0', connection: 'close', ...headers };
    if (auth !== undefined) h.authorization = `Basic ${Buffer.from(`${USER}:${auth}`).toString('base64')}`;
    const req = http.request({ host: '127.0.0.1', port, localAddress, method: 'PROPFIND', path, headers: h, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HTTP guard behind a trusted reverse proxy', () => {
  let inst: TestInstance;
  let port: number;
  const propfind = (ip: string, headers: Record<string, string>, password?: string) =>
    request(port, ip, `/dav/calendars/${USER}/`, headers, password);

  before(async () => {
    inst = await startInstance({ config: {
      auth: { allowPlaintextWithoutTls: true },
      limits: { authFailuresBeforeDelay: 10, authMaxDelaySeconds: 1 },
      policy: {
        trustedNetworks: ['127.0.0.1/32'], trustedProxies: [`${PROXY}/32`], senderAuth: { enabled: false }, dnsbl: { enabled: false },
        greylist: { enabled: false }, bruteForce: { banAfterFailures: 4 }, access: { http: { deny: ['127.0.0.66/32'] } },
      },
    } });
    port = inst.ports.http!;
    await inst.app.accounts.addAccount({ address: USER, password: PASS });
  });
  after(async () => { await inst?.stop(); });

  test('headers from an untrusted peer are ignored: the ban hits the peer, not the address it claimed', async () => {
    const spoofer = '127.0.0.20';
    const claimed = { 'x-forwarded-for': '127.0.0.30', forwarded: 'for=127.0.0.30' };
    for (let i = 0; i < 4; i++) assert.equal((await propfind(spoofer, claimed, `wrong-${i}`)).status, 401);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual((await inst.app.guard.listBans()).map((b) => b.ip), [spoofer]);
    assert.equal((await propfind(spoofer, {}, PASS)).status, 403);
    assert.equal((await propfind('127.0.0.30', {}, PASS)).status, 207, 'the claimed address is not banned');
    // Claiming a denied network does not get an untrusted peer refused either (nor admitted when it is the denied one).
    assert.equal((await propfind('127.0.0.21', { 'x-forwarded-for': '127.0.0.66' }, PASS)).status, 207);
    assert.equal((await propfind('127.0.0.66', { 'x-forwarded-for': '127.0.0.21' }, PASS)).status, 403);
    await inst.app.guard.unban(spoofer);
  });

  test('through the trusted proxy the ban hits the forwarded (right-most untrusted) address; the proxy stays open', async () => {
    // The client put a fake hop in front; the proxy appended the real one.
    const attacker = { 'x-forwarded-for': '203.0.113.9, 127.0.0.41' };
    for (let i = 0; i < 4; i++) assert.equal((await propfind(PROXY, attacker, `wrong-${i}`)).status, 401);
    await new Promise((r) => setTimeout(r, 50));
    const bans = await inst.app.guard.listBans();
    assert.deepEqual(bans.map((b) => b.ip), ['127.0.0.41']);
    assert.match(bans[0]!.reason, /^4 failed logins/);
    const banned = await propfind(PROXY, { 'x-forwarded-for': '127.0.0.41' }, PASS);
    assert.equal(banned.status, 403);
    assert.match(banned.text, /Too many failed logins/);
    assert.equal((await propfind('127.0.0.41', {}, PASS)).status, 403, 'the same address connecting directly is banned too');
    assert.equal((await propfind(PROXY, { 'x-forwarded-for': '127.0.0.42' }, PASS)).status, 207, 'other clients of the proxy get through');
    assert.equal((await propfind(PROXY, { forwarded: 'for="[2001:db8::7]:4711";proto=https' }, PASS)).status, 207);
    assert.equal((await propfind(PROXY, {}, PASS)).status, 207, 'the proxy itself (no header) is not banned');
    await inst.app.guard.unban('127.0.0.41');
  });

  test('the http access list applies to the forwarded address (Forwarded and X-Forwarded-For)', async () => {
    const a = await propfind(PROXY, { forwarded: 'for=127.0.0.66;proto=https' }, PASS);
    assert.equal(a.status, 403);
    assert.match(a.text, /Access from your network is not allowed/);
    assert.equal((await propfind(PROXY, { 'x-forwarded-for': '127.0.0.66' }, PASS)).status, 403);
    // A forged left-most entry cannot hide a denied address the proxy saw.
    assert.equal((await propfind(PROXY, { 'x-forwarded-for': '127.0.0.7, 127.0.0.66' }, PASS)).status, 403);
  });
});

test('forwarded.ts: parsing and the right-most untrusted rule', () => {
  assert.deepEqual(parseForwarded('for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711"'),
    [{ for: '192.0.2.60', proto: 'http', by: '203.0.113.43' }, { for: '[2001:db8:cafe::17]:4711' }]);
  assert.deepEqual(parseForwarded('for="a,b;c", for=1.2.3.4'), [{ for: 'a,b;c' }, { for: '1.2.3.4' }]);
  assert.equal(nodeAddress('[2001:DB8::1]:80'), '2001:db8::1');
  assert.equal(nodeAddress('192.0.2.1:8080'), '192.0.2.1');
  assert.equal(nodeAddress('unknown'), null);
  assert.equal(nodeAddress('_hidden'), null);

  const proxies = new CidrList(['10.0.0.0/8', '127.0.0.1/32']);
  const none = new CidrList([]);
  const xff = (v: string, proto?: string) => ({ 'x-forwarded-for': v, ...(proto ? { 'x-forwarded-proto': proto } : {}) });
  // No trusted proxies configured: headers never count.
  assert.deepEqual(clientAddress('127.0.0.1', false, xff('192.0.2.1'), none), { ip: '127.0.0.1', secure: false, proxy: null });
  // Untrusted peer.
  assert.deepEqual(clientAddress('192.0.2.99', false, xff('192.0.2.1', 'https'), proxies), { ip: '192.0.2.99', secure: false, proxy: null });
  // Trusted peer, chains of proxies, forged left-most entries.
  assert.deepEqual(clientAddress('10.0.0.1', false, xff('198.51.100.1, 192.0.2.1, 10.0.0.2', 'https'), proxies),
    { ip: '192.0.2.1', secure: true, proxy: '10.0.0.1' });
  assert.deepEqual(clientAddress('::ffff:127.0.0.1', true, xff('192.0.2.1', 'http'), proxies), { ip: '192.0.2.1', secure: false, proxy: '::ffff:127.0.0.1' });
  // Several header lines are one list.
  assert.equal(clientAddress('10.0.0.1', false, { 'x-forwarded-for': ['198.51.100.1', '192.0.2.5'] }, proxies).ip, '192.0.2.5');
  // Garbage ends the walk at the last hop known (never a client-chosen value).
  assert.equal(clientAddress('10.0.0.1', false, xff('192.0.2.1, garbage'), proxies).ip, '10.0.0.1');
  assert.equal(clientAddress('10.0.0.1', false, xff('192.0.2.1, unknown, 10.0.0.3'), proxies).ip, '10.0.0.3');
  // Forwarded wins over X-Forwarded-For; proto comes from the element that named the client.
  assert.deepEqual(clientAddress('10.0.0.1', false, { forwarded: 'for=198.51.100.7;proto=http, for=192.0.2.8;proto=https', 'x-forwarded-for': '203.0.113.1' }, proxies),
    { ip: '192.0.2.8', secure: true, proxy: '10.0.0.1' });
  // All hops trusted: the left-most one is the client.
  assert.equal(clientAddress('10.0.0.1', false, xff('10.0.0.5, 10.0.0.2'), proxies).ip, '10.0.0.5');
  // Empty header: the peer.
  assert.deepEqual(clientAddress('10.0.0.1', true, {}, proxies), { ip: '10.0.0.1', secure: true, proxy: null });
});
