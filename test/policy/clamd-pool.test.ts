// ClamdPool (src/policy/clamd.client.ts) against the real clamd (EICAR-only database): scans of
// many messages reuse a few IDSESSION connections, answers stay matched to their requests under
// concurrency, an idle session closed by clamd is replaced without failing the scan, a clamd
// restart on another port (config change) moves the pool, a dead clamd is an error, never "clean".
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { ClamdError, ClamdPool, type ClamdTarget } from '../../src/policy/clamd.client.js';
import { closedPort, EICAR, startClamd, type Daemon } from '../security/helpers.js';

let clamd: Daemon | string;
before(async () => { clamd = await startClamd(); });
after(async () => { if (typeof clamd !== 'string') await clamd?.stop(); });

const target = (port: number, timeoutMs = 10_000): ClamdTarget => ({ socket: null, host: '127.0.0.1', port, timeoutMs });
const clean = (i: number) => Buffer.from(`Subject: clean ${i}\r\n\r\n${'hello world '.repeat(100 * (i % 7 + 1))}\r\n`);
const virus = Buffer.from(`Subject: eicar\r\n\r\n${EICAR}\r\n`);

test('many scans, some concurrent, over at most maxConnections sessions; verdicts match their messages', async (t) => {
  if (typeof clamd === 'string') return t.skip(clamd);
  const pool = new ClamdPool({ maxConnections: 2, idleMs: 5000 });
  try {
    const jobs = Array.from({ length: 30 }, (_, i) => (i % 5 === 0 ? { i, data: virus, bad: true } : { i, data: clean(i), bad: false }));
    const results = await Promise.all(jobs.map((j) => pool.scan(target((clamd as Daemon).port), j.data)));
    results.forEach((r, i) => {
      assert.equal(r.infected, jobs[i]!.bad, `message ${i}`);
      if (r.infected) assert.equal(r.signature, 'Eicar-Test-Signature.UNOFFICIAL');
    });
    assert.equal(pool.opened, 2, 'two connections served thirty scans');
    assert.equal((await pool.scan(target((clamd as Daemon).port), clean(1))).infected, false);
    assert.equal(pool.opened, 2);
  } finally {
    pool.close();
  }
});

test('a session closed while idle is replaced transparently; the idle timer closes sessions itself', async (t) => {
  if (typeof clamd === 'string') return t.skip(clamd);
  const port = (clamd as Daemon).port;
  // A relay in front of clamd that can drop its connections, as clamd does after IdleTimeout.
  const sockets = new Set<net.Socket>();
  const relay = net.createServer((c) => {
    const up = net.connect({ host: '127.0.0.1', port });
    sockets.add(c);
    c.pipe(up).pipe(c);
    const gone = () => { c.destroy(); up.destroy(); sockets.delete(c); };
    c.on('error', gone); up.on('error', gone); c.on('close', gone); up.on('close', gone);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  const rport = (relay.address() as net.AddressInfo).port;
  const pool = new ClamdPool({ maxConnections: 1, idleMs: 300 });
  try {
    assert.equal((await pool.scan(target(rport), clean(1))).infected, false);
    for (const s of sockets) s.destroy(); // the far end closes the idle session
    assert.equal((await pool.scan(target(rport), virus)).infected, true, 'rescanned on a fresh session');
    assert.equal(pool.opened, 2);
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(pool.size, 0, 'idle session closed by the pool');
    assert.equal((await pool.scan(target(rport), clean(2))).infected, false);
    assert.equal(pool.opened, 3);
  } finally {
    pool.close();
    relay.close();
    for (const s of sockets) s.destroy();
  }
});

test('clamd unreachable or gone: an error (never clean); a new target closes the old sessions', async (t) => {
  if (typeof clamd === 'string') return t.skip(clamd);
  const pool = new ClamdPool({ maxConnections: 2, idleMs: 5000 });
  try {
    const dead = await closedPort();
    await assert.rejects(pool.scan(target(dead), clean(1)), (e: Error) => e instanceof ClamdError && /ECONNREFUSED/.test(e.message));
    assert.equal((await pool.scan(target((clamd as Daemon).port), clean(1))).infected, false);
    await assert.rejects(pool.scan(target(dead), clean(1)), ClamdError);
    assert.equal(pool.size, 0, 'sessions to the previous target are closed');
    // A server that accepts and answers nonsense.
    const liar = net.createServer((c) => c.once('data', () => c.write('1: stream: MAYBE\0')));
    await new Promise<void>((r) => liar.listen(0, '127.0.0.1', r));
    try {
      await assert.rejects(pool.scan(target((liar.address() as net.AddressInfo).port), clean(1)), /clamd: stream: MAYBE/);
      const silent = net.createServer(() => undefined);
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      await assert.rejects(pool.scan(target((silent.address() as net.AddressInfo).port, 300), clean(1)), /timed out after 300 ms/);
      silent.close();
    } finally {
      liar.close();
    }
  } finally {
    pool.close();
  }
});
