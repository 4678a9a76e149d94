// Crash test: `pochtamt serve` runs as its own process; concurrent SMTP senders push a burst of
// messages and the server is killed with SIGKILL at a random moment, then restarted, several
// times. After every crash, every message that got a 250 must be stored exactly once for each
// of its recipients, byte for byte; a message that got no reply is either wholly there or
// wholly absent (one transaction covers all its recipients); and checkIntegrity() finds
// nothing wrong (rows vs. blob files, counters, uidNext, reference counts).
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm, truncate, unlink } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MessageEntity } from '../../schemas/entities/index.js';
import { loadConfig } from '../../src/config/config.js';
import { openApp } from '../../src/instance/app.js';
import { silentLogger } from '../../src/observability/logger.js';
import { checkIntegrity } from '../../src/store/integrity.js';
import { ADMIN, prepareDataDir, TEST_DOMAIN } from '../helpers/instance.js';
import { makeMessage, RawSmtp, sleep } from '../helpers/raw-smtp.js';

const run = promisify(execFile);
// The CLI of the same build as this file (dist/ or any other outDir): <out>/test/smtp -> <out>/src/cli/main.js
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

const D = TEST_DOMAIN;
const ACCOUNTS = [`alice@${D}`, `bob@${D}`, `carol@${D}`];
/** Envelope recipients per message → the accounts that must get it. */
const ROUTES: Array<{ rcpts: string[]; accounts: string[] }> = [
  { rcpts: [`alice@${D}`], accounts: [`alice@${D}`] },
  { rcpts: [`bob@${D}`], accounts: [`bob@${D}`] },
  { rcpts: [`alice@${D}`, `carol@${D}`], accounts: [`alice@${D}`, `carol@${D}`] },
  { rcpts: [`crew@${D}`], accounts: [`bob@${D}`, `carol@${D}`] },
  { rcpts: [`postmaster@${D}`], accounts: [ADMIN] },
];
const ROUNDS = 4;
const SENDERS = 8;

interface Sent { raw: Buffer; accounts: string[]; acked: boolean }

let dataDir: string;
let port: number;
let child: ChildProcess | null = null;
let output = '';
const sent = new Map<string, Sent>(); // Message-ID -> what was sent and whether it got 250

/** The server and CLI act on the data folder's config alone (no DATABASE_URL or POCHTAMT_* from the caller). */
const childEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'DATABASE_URL' && !k.startsWith('POCHTAMT_')));

const countAcked = () => [...sent.values()].filter((s) => s.acked).length;

/** A free port below the ephemeral range, so test instances binding port 0 cannot take it between restarts. */
async function freePort(): Promise<number> {
  for (;;) {
    const p = 20_000 + Math.floor(Math.random() * 12_000);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.createServer().once('error', () => resolve(false)).listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return p;
  }
}

async function startServer(): Promise<void> {
  output = '';
  const c = spawn(process.execPath, [CLI, 'serve', '--data', dataDir], { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv });
  child = c;
  const keep = (d: Buffer) => { output = (output + d.toString()).slice(-8000); };
  c.stdout!.on('data', keep);
  c.stderr!.on('data', keep);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (c.exitCode !== null) throw new Error(`server exited with ${c.exitCode}: ${output}`);
    try {
      const { c: probe, greeting } = await RawSmtp.connect(port, { timeoutMs: 3000 });
      probe.destroy();
      if (greeting.code === 220) return;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) throw new Error(`server did not come up: ${output}`);
    await sleep(100);
  }
}

async function killServer(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
  const c = child;
  child = null;
  if (!c || c.exitCode !== null || c.signalCode !== null) return c?.exitCode ?? null;
  const exited = new Promise<number | null>((resolve) => c.once('exit', (code) => resolve(code)));
  c.kill(signal);
  if (signal === 'SIGKILL') return exited;
  // a clean shutdown that hangs is a failure, but must not hang the test run
  const timer = setTimeout(() => c.kill('SIGKILL'), 20_000);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}

/** One sender: a connection, messages one after another, until `stop` is set or the connection dies. */
async function sender(id: string, stop: { now: boolean }): Promise<void> {
  let c: RawSmtp;
  try {
    ({ c } = await RawSmtp.connect(port, { timeoutMs: 5000 }));
    if ((await c.cmd('EHLO crash.client.test')).code !== 250) return;
  } catch {
    return;
  }
  try {
    for (let n = 0; !stop.now; n++) {
      const route = ROUTES[Math.floor(Math.random() * ROUTES.length)]!;
      const mid = `<crash.${id}.${n}.${randomBytes(4).toString('hex')}@client.test>`;
      const size = 500 + Math.floor(Math.random() * 30_000);
      const lines = Math.ceil(size / 78);
      const raw = makeMessage({ from: 'burst@remote.test', to: route.rcpts.join(', '), subject: `burst ${id}/${n}`, messageId: mid,
        body: Array.from({ length: lines }, (_, i) => `${i} ${mid} ${'z'.repeat(60)}`).join('\r\n') + '\r\n' });
      if ((await c.cmd('MAIL FROM:<burst@remote.test>')).code !== 250) return;
      for (const r of route.rcpts) if ((await c.cmd(`RCPT TO:<${r}>`)).code !== 250) return;
      const entry: Sent = { raw, accounts: route.accounts, acked: false };
      sent.set(mid, entry); // from here on it may be stored, with or without a reply
      const reply = await c.data(raw);
      if (reply.code === 250) entry.acked = true;
      else return;
    }
  } catch {
    // connection died: the server was killed
  } finally {
    c.destroy();
  }
}

/** Opens the store of the stopped server and checks everything; returns counts for the log. */
async function verifyStore(): Promise<{ acked: number; stored: number }> {
  const app = await openApp({ dataDir, config: loadConfig(dataDir, {}), log: silentLogger });
  try {
    const problems = await checkIntegrity(app);
    assert.deepEqual(problems, [], 'store integrity');
    const accounts = new Map<number, string>();
    for (const a of await app.accounts.listAccounts()) accounts.set(a.id, a.address);
    const rows = await app.store.em.find(MessageEntity, { select: { id: true, accountId: true, messageIdHeader: true, blobHash: true } });
    const copies = new Map<string, Array<{ account: string; blobHash: string }>>();
    for (const r of rows) {
      if (!r.messageIdHeader?.startsWith('<crash.')) continue;
      const list = copies.get(r.messageIdHeader) ?? [];
      list.push({ account: accounts.get(r.accountId)!, blobHash: r.blobHash });
      copies.set(r.messageIdHeader, list);
    }
    let acked = 0;
    for (const [mid, s] of sent) {
      const got = copies.get(mid) ?? [];
      const have = got.map((g) => g.account).sort();
      if (s.acked) {
        acked++;
        assert.deepEqual(have, [...s.accounts].sort(), `acknowledged ${mid} must be stored exactly once per recipient`);
      } else {
        assert.ok(have.length === 0 || JSON.stringify(have) === JSON.stringify([...s.accounts].sort()),
          `unacknowledged ${mid} must be wholly stored or wholly absent, found copies for ${have.join(', ')}`);
      }
      for (const g of got) {
        const bytes = await app.mailStore.getMessageBytes(g.blobHash);
        assert.ok(bytes.subarray(bytes.length - s.raw.length).equals(s.raw), `${mid} stored byte for byte`);
      }
    }
    for (const mid of copies.keys()) assert.ok(sent.has(mid), `${mid} stored but never sent`);
    return { acked, stored: copies.size };
  } finally {
    await app.close();
  }
}

before(async () => {
  port = await freePort();
  ({ dataDir } = await prepareDataDir({ config: { logLevel: 'warn', listeners: { smtp: { port, host: '127.0.0.1' } } } }));
  const app = await openApp({ dataDir, config: loadConfig(dataDir, {}), log: silentLogger });
  try {
    for (const a of ACCOUNTS) await app.accounts.addAccount({ address: a });
    await app.accounts.addGroup(`crew@${D}`, { members: [`bob@${D}`, `carol@${D}`] });
  } finally {
    await app.close();
  }
});

after(async () => {
  await killServer();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

test('kill -9 during a burst of deliveries loses no acknowledged message and leaves no half-stored one', async (t) => {
  for (let round = 1; round <= ROUNDS; round++) {
    const t0 = performance.now();
    await startServer();
    const started = performance.now() - t0;
    const stop = { now: false };
    const ackedBefore = countAcked();
    const burst = Promise.all(Array.from({ length: SENDERS }, (_, i) => sender(`r${round}s${i}`, stop)));
    // Kill at a random moment of the burst: once it is under way (a few messages acknowledged in
    // this round, so the test cannot pass vacuously on a slow machine), then 0-400 ms later.
    const minAcks = 2 + Math.floor(Math.random() * 8);
    const t2 = performance.now();
    while (countAcked() - ackedBefore < minAcks && performance.now() - t2 < 20_000) await sleep(5);
    const killAfter = Math.floor(Math.random() * 400);
    await sleep(killAfter);
    await killServer('SIGKILL');
    stop.now = true;
    await burst;
    const t1 = performance.now();
    const { acked, stored } = await verifyStore();
    t.diagnostic(`round ${round}: up in ${started.toFixed(0)} ms, killed ${killAfter} ms after ${minAcks} acks; ${acked} acknowledged so far, `
      + `${stored} stored, ${sent.size} sent; verified in ${(performance.now() - t1).toFixed(0)} ms`);
  }
  assert.ok(countAcked() >= ROUNDS * 2, `the bursts must get messages through before the kills (only ${countAcked()} acknowledged)`);

  // After all the crashes the server still works, shuts down cleanly, and trace finds the message.
  await startServer();
  const mid = `<crash.final.${Date.now()}@client.test>`;
  const raw = makeMessage({ from: 'burst@remote.test', to: `alice@${D}`, subject: 'after the crashes', body: 'still here\r\n', messageId: mid });
  const { c } = await RawSmtp.connect(port);
  try {
    assert.equal((await c.cmd('EHLO crash.client.test')).code, 250);
    assert.equal((await c.cmd('MAIL FROM:<burst@remote.test>')).code, 250);
    assert.equal((await c.cmd(`RCPT TO:<alice@${D}>`)).code, 250);
    sent.set(mid, { raw, accounts: [`alice@${D}`], acked: true });
    assert.equal((await c.data(raw)).code, 250);
  } finally {
    await c.quit();
  }
  assert.equal(await killServer('SIGTERM'), 0, `clean exit on SIGTERM: ${output}`);
  await verifyStore();
  const { stdout } = await run(process.execPath, [CLI, 'trace', '--data', dataDir, '--message-id', mid, '--json'], { timeout: 30_000, env: childEnv });
  const trace = JSON.parse(stdout) as Array<{ events: Array<{ event: string; recipient?: string }> }>;
  assert.equal(trace.length, 1);
  assert.ok(trace[0]!.events.some((e) => e.event === 'delivery.local.stored' && e.recipient === `alice@${D}`), stdout);
});

test('checkIntegrity reports damage it is meant to find', async () => {
  const app = await openApp({ dataDir, config: loadConfig(dataDir, {}), log: silentLogger });
  try {
    assert.deepEqual(await checkIntegrity(app), [], 'clean before the damage');
    const em = app.store.em;
    const alice = (await app.accounts.getAccount(`alice@${D}`))!;
    const inbox = await app.mailStore.inbox(alice.id);
    const msgs = await app.mailStore.listMessages(inbox.id);
    // pick two messages whose blobs nobody else shares
    const own = [];
    for (const m of msgs) if ((await em.countBy(MessageEntity, { blobHash: m.blobHash })) === 1) own.push(m);
    assert.ok(own.length >= 2);
    const [a, b] = own as [typeof own[0], typeof own[0]];
    const blobPath = (h: string) => path.join(dataDir, 'blobs', h.slice(0, 2), h.slice(2, 4), h);
    await truncate(blobPath(a.blobHash), 10);
    await unlink(blobPath(b.blobHash));
    await em.query('UPDATE mailbox SET "messageCount" = "messageCount" + 1, "uidNext" = ? WHERE id = ?', [msgs[msgs.length - 1]!.uid, inbox.id]);
    await em.query('UPDATE account SET "usedBytes" = "usedBytes" - 1 WHERE id = ?', [alice.id]);
    await em.query('UPDATE blob SET "refCount" = "refCount" + 1 WHERE hash = ?', [a.blobHash]);
    const problems = await checkIntegrity(app);
    const has = (re: RegExp) => assert.ok(problems.some((p) => re.test(p)), `expected ${re} in:\n${problems.join('\n')}`);
    has(new RegExp(`message ${a.id} .*blob ${a.blobHash} has 10 bytes`));
    has(new RegExp(`message ${a.id} .*content hashes to`));
    has(new RegExp(`message ${b.id} .*blob ${b.blobHash} unreadable: file missing`));
    has(new RegExp(`uid not below the mailbox's uidNext`));
    has(new RegExp(`mailbox ${inbox.id} .*messageCount`));
    has(new RegExp(`account ${alice.id} .*usedBytes`));
    has(new RegExp(`blob ${a.blobHash}: refCount 2, but 1 references`));
  } finally {
    await app.close();
  }
});
