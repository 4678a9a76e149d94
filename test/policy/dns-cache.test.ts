// The policy resolver's answer cache (src/policy/dns.ts) against a real DNS server on loopback
// (test/helpers/fake-dns.ts, every record with TTL 1): repeated and concurrent lookups cost one
// query, A answers expire with their TTL, NXDOMAIN is cached for negativeTtlSeconds, timeouts are
// not cached, the size bound evicts the least recently used name, callers cannot poison the cache.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createPolicyResolver, DEFAULT_DNS_CACHE, PolicyDnsCache, resolverLookup } from '../../src/policy/dns.js';
import { startFakeDns, type FakeDns } from '../helpers/fake-dns.js';
import { startBlackhole } from '../security/helpers.js';

let dns: FakeDns;
before(async () => {
  dns = await startFakeDns({
    'a.test': { txt: ['v=spf1 -all'], a: ['192.0.2.1'] },
    'b.test': { txt: ['one', 'two'] },
    'c.test': { txt: ['three'] },
  });
});
after(async () => { await dns?.stop(); });

const asked = (name: string) => dns.queries.filter((q) => q === name).length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('TXT answers are cached; concurrent lookups share one query; callers get their own copies', async () => {
  const resolve = createPolicyResolver([dns.server], 2000);
  const before = asked('b.test');
  const [x, y] = await Promise.all([resolve('b.test', 'TXT'), resolve('B.test.', 'txt')]);
  assert.deepEqual(x, [['one'], ['two']]);
  assert.deepEqual(y, x);
  assert.equal(asked('b.test') - before, 1, 'one query for two concurrent lookups');
  (x as string[][])[0]![0] = 'mutated';
  (x as string[][]).pop();
  assert.deepEqual(await resolve('b.test', 'TXT'), [['one'], ['two']]);
  assert.equal(asked('b.test') - before, 1, 'answered from the cache');
});

test('A answers live for their record TTL (1 s here); TXT for defaultTtlSeconds', async () => {
  const resolve = createPolicyResolver([dns.server], 2000);
  const n0 = asked('a.test');
  assert.deepEqual(await resolve('a.test', 'A'), ['192.0.2.1']);
  assert.deepEqual(await resolve('a.test', 'TXT'), [['v=spf1 -all']]);
  assert.deepEqual(await resolve('a.test', 'A'), ['192.0.2.1']);
  assert.equal(asked('a.test') - n0, 2);
  await sleep(1100);
  assert.deepEqual(await resolve('a.test', 'A'), ['192.0.2.1']);
  assert.deepEqual(await resolve('a.test', 'TXT'), [['v=spf1 -all']]);
  assert.equal(asked('a.test') - n0, 3, 'the A record was asked again after its TTL, the TXT record was not');
});

test('NXDOMAIN is cached for negativeTtlSeconds and rethrown with its code', async () => {
  let t = 0;
  const cache = new PolicyDnsCache(resolverLookup([dns.server], 2000), { ...DEFAULT_DNS_CACHE, negativeTtlSeconds: 30 }, () => t);
  const n0 = asked('missing.test');
  const limit = Error.stackTraceLimit;
  const errors: Array<NodeJS.ErrnoException & { hostname?: string }> = [];
  for (let i = 0; i < 3; i++) await cache.resolve('missing.test', 'TXT').catch((e: NodeJS.ErrnoException) => { errors.push(e); });
  assert.equal(errors.length, 3);
  for (const e of errors) {
    assert.ok(e instanceof Error);
    assert.equal(e.code, 'ENOTFOUND');
    assert.equal(e.hostname, 'missing.test');
    assert.match(e.message, /missing\.test/);
  }
  assert.notEqual(errors[1], errors[2], 'every caller gets its own error');
  assert.equal(Error.stackTraceLimit, limit, 'the copies are made without a stack, and the limit is restored');
  assert.equal(asked('missing.test') - n0, 1);
  t += 31_000;
  await assert.rejects(cache.resolve('missing.test', 'TXT'), (e: NodeJS.ErrnoException) => e.code === 'ENOTFOUND');
  assert.equal(asked('missing.test') - n0, 2, 'asked again once the negative entry expired');
  // A name that appears later is found once the negative entry is gone.
  dns.zone.set('missing.test', { txt: ['now here'] });
  t += 31_000;
  assert.deepEqual(await cache.resolve('missing.test', 'TXT'), [['now here']]);
  dns.zone.delete('missing.test');
});

test('timeouts are not cached; the size bound drops the least recently used name', async () => {
  const hole = await startBlackhole();
  try {
    const resolve = createPolicyResolver([hole.server], 200);
    await assert.rejects(resolve('x.test', 'TXT'), (e: NodeJS.ErrnoException) => e.code === 'ETIMEOUT');
    const t0 = Date.now();
    await assert.rejects(resolve('x.test', 'TXT'), (e: NodeJS.ErrnoException) => e.code === 'ETIMEOUT');
    assert.ok(Date.now() - t0 >= 150, 'the second lookup went to the network again');
  } finally {
    await hole.stop();
  }
  const cache = new PolicyDnsCache(resolverLookup([dns.server], 2000), { ...DEFAULT_DNS_CACHE, maxEntries: 2 });
  const n = () => asked('a.test') + asked('b.test') + asked('c.test');
  const n0 = n();
  await cache.resolve('a.test', 'TXT');
  await cache.resolve('b.test', 'TXT');
  await cache.resolve('a.test', 'TXT'); // a is now the most recently used
  await cache.resolve('c.test', 'TXT'); // evicts b
  assert.equal(cache.size, 2);
  assert.equal(n() - n0, 3);
  await cache.resolve('a.test', 'TXT');
  assert.equal(n() - n0, 3, 'a was kept');
  await cache.resolve('b.test', 'TXT');
  assert.equal(n() - n0, 4, 'b was evicted');
});

test('the cache can be turned off (every lookup asks the server)', async () => {
  const resolve = createPolicyResolver([dns.server], 2000, { ...DEFAULT_DNS_CACHE, enabled: false });
  const n0 = asked('c.test');
  await resolve('c.test', 'TXT');
  await resolve('c.test', 'TXT');
  assert.equal(asked('c.test') - n0, 2);
});
