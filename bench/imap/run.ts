// IMAP benchmark: the same load mix, IDLE fan-out and big-mailbox test against Pochtamt and a
// private Dovecot, loaded with the same messages, in one run. See bench/README.md.
// Usage: npm run bench:imap [-- --clients 20 --seconds 30 --idle 1000 --big ...]
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { installSignalHandlers, isCleaningUp, runMain } from '../common/cleanup.js';
import { makeWorkDir, parseFlags } from '../common/harness.js';
import { ensureFileLimit } from '../common/limits.js';
import { mib } from '../common/memory.js';
import { freePort } from '../common/net.js';
import { aptInstall, failPrerequisites, requireRoot } from '../common/prerequisites.js';
import { which } from '../common/process.js';
import { table } from '../common/table.js';
import { runBig, type BigResult } from './big.js';
import type { BenchData, Server } from './common.js';
import { makeMessage, makeSmallMessage } from './corpus.js';
import { setupDovecot } from './dovecot.js';
import { runIdle, type IdleResult } from './idle.js';
import { IDLE_ROW, OPS, WEIGHTS, runLoad, summary, type LoadResult } from './load.js';
import { setupPochtamt } from './pochtamt.js';

const DOMAIN = 'bench.test';
const PASSWORD = 'bench-password';

type Which = 'pochtamt' | 'dovecot';
interface Options {
  clients: number;
  seconds: number;
  users: number;
  messages: number;
  idle: number;
  idlePerUser: number;
  big: number;
  servers: Which[];
  seed: number;
  hibernate: number;
  keep: boolean;
  json: string | null;
}

const HELP = `Usage: npm run bench:imap [-- options]     (or node dist/bench/imap/run.js [options])

  --clients N        concurrent load clients (env BENCH_IMAP_CLIENTS, default 20)
  --seconds T        duration of the load mix per server (BENCH_IMAP_SECONDS, default 30)
  --users N          accounts the clients are spread over (BENCH_IMAP_USERS, default 5)
  --messages N       corpus: messages in each of those accounts' INBOX (BENCH_IMAP_MESSAGES, default 2000)
  --idle N           concurrent IDLE connections, 0 skips the test (BENCH_IMAP_IDLE, default 1000; 10000 for the full figure)
  --idle-per-user N  IDLE connections per account (BENCH_IMAP_IDLE_PER_USER, default 100)
  --big [N]          also time SELECT + FETCH 1:* (FLAGS) on an N-message mailbox (BENCH_IMAP_BIG, default N 100000)
  --only WHICH       pochtamt or dovecot: run one side only (BENCH_IMAP_ONLY)
  --seed N           seed of the corpus and of the command choices (BENCH_IMAP_SEED, default 1)
  --dovecot-hibernate S   Dovecot imap_hibernate_timeout in seconds (default 0: off, Dovecot's default)
  --keep             keep the temporary folder (configs, logs, stores) (BENCH_KEEP=1)
  --json FILE        also write the results as JSON (BENCH_JSON)
`;

const KNOWN = ['clients', 'seconds', 'users', 'messages', 'idle', 'idle-per-user', 'big', 'only', 'seed', 'dovecot-hibernate', 'keep', 'json', 'help'];

function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options {
  const { get, str, int, bool } = parseFlags(argv, env, { known: KNOWN, booleans: ['keep', 'help'], optionalValue: ['big'], help: HELP });
  const only = str('only', 'BENCH_IMAP_ONLY', '');
  if (only && only !== 'pochtamt' && only !== 'dovecot') throw new Error('--only must be pochtamt or dovecot');
  const bigFlag = get('big');
  const big = bigFlag === true ? 100_000 : typeof bigFlag === 'string' ? Number(bigFlag) : Number(env.BENCH_IMAP_BIG ?? 0);
  if (!Number.isInteger(big) || big < 0) throw new Error('--big must be a message count');
  return {
    clients: int('clients', 'BENCH_IMAP_CLIENTS', 20, 1),
    seconds: int('seconds', 'BENCH_IMAP_SECONDS', 30, 1),
    users: int('users', 'BENCH_IMAP_USERS', 5, 1),
    messages: int('messages', 'BENCH_IMAP_MESSAGES', 2000, 10),
    idle: int('idle', 'BENCH_IMAP_IDLE', 1000, 0),
    idlePerUser: int('idle-per-user', 'BENCH_IMAP_IDLE_PER_USER', 100, 1),
    big,
    servers: only ? [only as Which] : ['pochtamt', 'dovecot'],
    seed: int('seed', 'BENCH_IMAP_SEED', 1, 0),
    hibernate: int('dovecot-hibernate', 'BENCH_IMAP_DOVECOT_HIBERNATE', 0, 0),
    keep: bool('keep', 'BENCH_KEEP'),
    json: str('json', 'BENCH_JSON', '') || null,
  };
}

// ------------------------------------------------------------------ prerequisites

function checkPrerequisites(o: Options): void {
  const problems: string[] = [];
  const packages = new Set<string>();
  if (o.servers.includes('dovecot')) {
    if (!which('dovecot') || !which('doveadm')) { problems.push('dovecot / doveadm not found'); packages.add('dovecot-core'); }
    if (!existsSync('/usr/lib/dovecot/imap')) { problems.push('Dovecot IMAP server not installed'); packages.add('dovecot-imapd'); }
    if (!existsSync('/usr/lib/dovecot/lmtp')) { problems.push('Dovecot LMTP server not installed (delivers the IDLE wake-up message)'); packages.add('dovecot-lmtpd'); }
  }
  if (!which('bash')) { problems.push('bash not found (raises the open-files limit of the servers)'); packages.add('bash'); }
  let imapflowMissing = false;
  try { createRequire(import.meta.url).resolve('imapflow'); } catch { imapflowMissing = true; }
  if (packages.size || imapflowMissing) {
    failPrerequisites([...problems, ...(imapflowMissing ? ['npm package imapflow (a devDependency)'] : [])],
      (packages.size ? `Install them with:\n${aptInstall(packages)}(no system daemon is used: the benchmark runs a private Dovecot on loopback ports)\n` : '')
      + (imapflowMissing ? '  npm install    (in the repository, to get the devDependencies)\n' : ''));
  }
  if (o.servers.includes('dovecot')) {
    requireRoot('The Dovecot reference needs root: its master and LMTP switch to the mail users (one uid per account).\n'
      + 'Run as root (e.g. sudo -E npm run bench:imap), or benchmark Pochtamt alone with --only pochtamt.\n');
  }
}

// ------------------------------------------------------------------ output

const f1 = (v: number | null, d = 1) => (v === null || !Number.isFinite(v) ? '-' : v.toFixed(d));

function loadReport(o: Options, results: LoadResult[]): string {
  const out: string[] = [];
  const head = ['Command'];
  for (const r of results) head.push(`${r.server} ops/s`, 'mean ms', 'p95 ms', 'errors');
  const both = results.length === 2;
  if (both) head.push('Ratio P/D');
  const rows: string[][] = [];
  for (const op of [...OPS, IDLE_ROW]) {
    const row = [op === IDLE_ROW ? `${IDLE_ROW} (APPEND -> EXISTS)` : op];
    const rates: number[] = [];
    for (const r of results) {
      const s = summary(r.ops[op]!, r.seconds);
      rates.push(s.rate);
      row.push(f1(s.rate), f1(s.mean), f1(s.p95), String(op === IDLE_ROW ? r.wakeupsMissed : r.ops[op]!.errors));
    }
    if (both) row.push(rates[1]! > 0 ? `${(rates[0]! / rates[1]!).toFixed(2)}x` : '-');
    rows.push(row);
  }
  const total = ['Overall'];
  for (const r of results) total.push(f1(r.total / r.seconds), '', '', String(r.totalErrors));
  if (both) total.push(results[1]!.total > 0 ? `${((results[0]!.total / results[0]!.seconds) / (results[1]!.total / results[1]!.seconds)).toFixed(2)}x` : '-');
  rows.push(total);
  out.push(table(head, rows));
  out.push('(IDLE wake-up: rate of EXISTS seen by the IDLE watchers, latency from the start of the APPEND; its "errors" column counts APPENDs never reported)');
  for (const r of results) {
    out.push(`${r.server}: ${r.total} commands in ${r.seconds.toFixed(1)} s; server CPU ${r.cpuSeconds.toFixed(1)} s `
      + `(${r.total ? ((r.cpuSeconds * 1000) / r.total).toFixed(2) : '-'} ms/command); peak memory ${mib(r.peakMemKiB)} MiB ${r.server === 'Pochtamt' ? 'RSS' : 'PSS'}`
      + `${r.reconnects ? `; ${r.reconnects} reconnects` : ''}`);
    if (r.warmupSearchMs.length) {
      out.push(`  warm-up (before the clock): first text SEARCH of each account, all ${r.warmupSearchMs.length} at once: `
        + `${r.warmupSearchMs.map((x) => x.toFixed(0)).join(', ')} ms`);
    }
    if (r.fatal) out.push(`  ! ${r.server}: ${r.fatal}`);
    for (const op of OPS) if (r.ops[op]!.errors) out.push(`  ! ${r.server} ${op}: ${r.ops[op]!.errors} errors, first: ${r.ops[op]!.firstError}`);
  }
  if (both && results.every((r) => !r.fatal)) {
    out.push(`Ratio Pochtamt / Dovecot overall (commands/s): ${((results[0]!.total / results[0]!.seconds) / (results[1]!.total / results[1]!.seconds)).toFixed(2)}x`
      + `   (CPU per command: ${((results[0]!.cpuSeconds / Math.max(1, results[0]!.total)) / (results[1]!.cpuSeconds / Math.max(1, results[1]!.total))).toFixed(2)}x)`);
  }
  return out.join('\n');
}

function idleReport(results: IdleResult[]): string {
  const head = ['Server', 'Open', 'Failed', 'Open s', 'Memory before', 'With IDLE', 'Per conn', 'After', 'Deliver ms', 'Saw EXISTS', 'p50 ms', 'p95 ms', 'All ms'];
  const rows = results.map((r) => [
    r.server, `${r.opened}/${r.wanted}`, String(r.failed), f1(r.openSeconds), `${mib(r.memBeforeKiB)} MiB`, `${mib(r.memWithKiB)} MiB`,
    r.opened ? `${((r.memWithKiB - r.memBeforeKiB) / r.opened).toFixed(1)} KiB` : '-', `${mib(r.memAfterKiB)} MiB`,
    f1(r.deliverMs, 0), `${r.seen}/${r.opened}`, f1(r.p50Ms, 0), f1(r.p95Ms, 0), f1(r.allMs, 0),
  ]);
  const out = [table(head, rows)];
  for (const r of results) {
    if (r.failed) out.push(`  ! ${r.server}: ${r.failed} connections failed (first error: ${r.firstError})`);
    if (r.droppedBeforeDelivery) out.push(`  ! ${r.server}: the server closed ${r.droppedBeforeDelivery} IDLE connections before the delivery`);
    if (r.error) out.push(`  ! ${r.server}: ${r.error}`);
  }
  return out.join('\n');
}

function bigReport(results: BigResult[]): string {
  const head = ['Server', 'Run', 'SELECT ms', 'FETCH ms', 'Total ms', 'FETCH lines', 'MiB received'];
  const rows: string[][] = [];
  for (const r of results) {
    r.runs.forEach((x, i) => rows.push([r.server, i === 0 ? '1 (first)' : String(i + 1), f1(x.selectMs, 0), f1(x.fetchMs, 0), f1(x.totalMs, 0),
      String(x.fetched), (x.bytes / 1048576).toFixed(1)]));
  }
  const out = [table(head, rows, 2)];
  for (const r of results) {
    out.push(`${r.server}: memory after ${mib(r.memAfterKiB)} MiB`);
    if (r.error) out.push(`  ! ${r.server}: ${r.error}`);
  }
  const best = (r: BigResult) => Math.min(...r.runs.map((x) => x.totalMs));
  if (results.length === 2 && results.every((r) => r.runs.length)) {
    out.push(`Ratio Pochtamt / Dovecot time (best run): ${(best(results[0]!) / best(results[1]!)).toFixed(2)}x (below 1: Pochtamt is faster)`);
  }
  return out.join('\n');
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2), process.env);
  checkPrerequisites(o);
  const needFds = o.idle + o.clients * 2 + o.users + 1024;
  // Re-run under bash `ulimit -n` when the open-files limit is too low for the IDLE test.
  ensureFileLimit(needFds, { marker: 'BENCH_IMAP_ULIMIT_RAISED', test: 'the IDLE test', shell: 'bash', rootAtLeast: 65536 });
  installSignalHandlers();
  const say = (s: string) => process.stderr.write(`${s}\n`);
  const tty = Boolean(process.stderr.isTTY);
  const progress = (s: string) => { if (tty) process.stderr.write(`\r\x1b[K${s}`); };
  const endProgress = () => { if (tty) process.stderr.write('\r\x1b[K'); };

  const dir = makeWorkDir('pochtamt-bench-imap-', o.keep, say);
  say(`IMAP benchmark: ${o.clients} clients on ${o.users} accounts x ${o.messages} messages, ${o.seconds} s per server; `
    + `${o.idle ? `${o.idle} IDLE connections` : 'no IDLE test'}; ${o.big ? `big mailbox of ${o.big}` : 'no big mailbox'}; `
    + `${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; work folder ${dir}`);

  // The data both servers get.
  const t0 = Date.now();
  const loadUsers = Array.from({ length: o.users }, (_, i) => `load${i + 1}@${DOMAIN}`);
  const idleUsers = o.idle ? Array.from({ length: Math.ceil(o.idle / o.idlePerUser) }, (_, i) => `idle${i + 1}@${DOMAIN}`) : [];
  const bigUser = o.big ? `big@${DOMAIN}` : '';
  const corpus = Array.from({ length: o.messages }, (_, i) => makeMessage(o.seed, i, `team@${DOMAIN}`).raw);
  const data: BenchData = {
    domain: DOMAIN, password: PASSWORD, loadUsers, idleUsers, bigUser,
    allUsers: () => [...loadUsers, ...idleUsers, ...(bigUser ? [bigUser] : [])],
    corpus,
    bigPool: o.big ? Array.from({ length: Math.min(500, o.big) }, (_, i) => makeSmallMessage(o.seed, i, bigUser)) : [],
    bigCount: o.big,
    bigFlags: (i) => [...(i % 10 < 7 ? ['\\Seen'] : []), ...(i % 20 === 0 ? ['\\Flagged'] : []), ...(i % 50 === 1 ? ['\\Answered'] : [])],
  };
  const corpusBytes = corpus.reduce((s, b) => s + b.length, 0);
  say(`Corpus: ${corpus.length} messages, ${(corpusBytes / 1048576).toFixed(1)} MiB (mean ${(corpusBytes / corpus.length / 1024).toFixed(1)} KiB), `
    + `generated in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const maxConnections = o.idle + o.clients + o.users + 200;
  const maxFds = Math.max(65536, needFds * 2);
  const servers: Server[] = [];
  if (o.servers.includes('pochtamt')) {
    say('Setting up Pochtamt...');
    servers.push(await setupPochtamt({ dir, imapPort: await freePort(), smtpPort: await freePort(), maxConnections, maxFds }, data, say));
  }
  if (o.servers.includes('dovecot')) {
    say('Setting up Dovecot...');
    servers.push(await setupDovecot({
      dir, imapPort: await freePort(), lmtpPort: await freePort(), maxConnections, maxFds, hibernateSeconds: o.hibernate,
      instanceName: path.basename(dir),
    }, data, say));
  }

  // 1. IDLE fan-out first, on the freshly started servers (memory figures without load-test garbage).
  const idles: IdleResult[] = [];
  if (o.idle) {
    const message = makeMessage(o.seed + 7, 0, `all@${DOMAIN}`).raw;
    for (const s of servers) {
      if (!s.alive()) { say(`  ${s.label} is not running: IDLE test skipped`); continue; }
      say(`IDLE on ${s.label}: ${o.idle} connections on ${idleUsers.length} accounts...`);
      const r = await runIdle({ server: s, users: idleUsers, password: PASSWORD, connections: o.idle, parallel: 100, message, waitSeconds: 60, progress });
      endProgress();
      say(`  ${r.opened} open in ${r.openSeconds.toFixed(1)} s; ${r.seen} saw the delivery${r.allMs !== null ? `, all within ${r.allMs.toFixed(0)} ms` : ''}${r.error ? `; ${r.error}` : ''}`);
      idles.push(r);
    }
  }
  if (isCleaningUp()) return;
  // 2. The load mix, one server after the other.
  const loads: LoadResult[] = [];
  for (const s of servers) {
    if (isCleaningUp()) return;
    say(`Load mix on ${s.label}: ${o.clients} clients, ${o.seconds} s...`);
    const r = await runLoad({ server: s, users: loadUsers, password: PASSWORD, clients: o.clients, seconds: o.seconds, seed: o.seed, progress });
    endProgress();
    say(`  ${r.total} commands, ${(r.total / Math.max(r.seconds, 0.001)).toFixed(1)}/s, ${r.totalErrors} errors${r.fatal ? `; FAILED: ${r.fatal}` : ''}`);
    loads.push(r);
  }
  if (isCleaningUp()) return;
  // 3. Big mailbox.
  const bigs: BigResult[] = [];
  if (o.big) {
    for (const s of servers) {
      if (!s.alive()) { say(`  ${s.label} is not running: big-mailbox test skipped`); continue; }
      say(`Big mailbox on ${s.label}: SELECT + FETCH 1:* (FLAGS) on ${o.big} messages, 3 times...`);
      const r = await runBig({ server: s, user: bigUser, password: PASSWORD, repeats: 3, expected: o.big });
      say(`  ${r.runs.map((x) => `${x.totalMs.toFixed(0)} ms`).join(', ')}${r.error ? `; ${r.error}` : ''}`);
      bigs.push(r);
    }
  }

  if (isCleaningUp()) return;
  // Report.
  const w = (s: string) => process.stdout.write(`${s}\n`);
  w(`\nIMAP benchmark (${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at the end)`);
  w(`\n== Load mix: ${o.clients} imapflow clients on ${o.users} accounts (INBOX of ${o.messages} messages, ${(corpusBytes / corpus.length / 1024).toFixed(0)} KiB mean), `
    + `${o.seconds} s, closed loop; mix ${OPS.map((x) => `${x} ${WEIGHTS[x]}%`).join(', ')}\n`);
  w(loadReport(o, loads));
  if (idles.length) {
    w(`\n== ${o.idle} concurrent IDLE connections on ${idleUsers.length} accounts; one delivery to all ${idleUsers.length} accounts `
      + `(Pochtamt: SMTP to its MX port; Dovecot: LMTP); times from the start of the delivery\n`);
    w(idleReport(idles));
    w('(memory: Pochtamt RSS of its one process; Dovecot summed PSS of all its processes)');
  }
  if (bigs.length) {
    w(`\n== SELECT INBOX + FETCH 1:* (FLAGS) on a ${o.big}-message mailbox (raw socket client; run 1 is the first after the server started)\n`);
    w(bigReport(bigs));
  }
  const pochtamt = servers.find((s) => s.name === 'pochtamt');
  if (pochtamt) {
    const log = (() => { try { return readFileSync(pochtamt.logFile, 'utf8').trim(); } catch { return ''; } })();
    if (log) say(`\nPochtamt log (${pochtamt.logFile}), last lines:\n${log.split('\n').slice(-15).join('\n')}`);
  }
  if (o.json) {
    writeFileSync(o.json, `${JSON.stringify({
      options: o, at: new Date().toISOString(), cpus: os.cpus().length,
      load: loads.map((r) => ({ ...r, ops: Object.fromEntries(Object.entries(r.ops).map(([k, v]) => [k, { count: v.count, errors: v.errors, firstError: v.firstError, ...summary(v, r.seconds) }])) })),
      idle: idles, big: bigs,
    }, null, 2)}\n`);
    say(`results written to ${o.json}`);
  }
  const failed = loads.some((r) => r.fatal) || idles.some((r) => r.error) || bigs.some((r) => r.error);
  process.exitCode = failed ? 1 : 0;
}

runMain('bench:imap', main);
