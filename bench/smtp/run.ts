// SMTP benchmark: messages per second accepted *and stored* (end to end) by Pochtamt, side by
// side with Postfix relaying to Dovecot LMTP, with the same load from Postfix's smtp-source.
// See bench/README.md. Usage: npm run bench:smtp [-- --messages 2000 --sizes 4k,100k ...]
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { installSignalHandlers, onCleanup, runMain } from '../common/cleanup.js';
import { makeWorkDir, parseFlags } from '../common/harness.js';
import { ensureFileLimit, fileLimits } from '../common/limits.js';
import { cpuSeconds, descendants, mib, procMemKiB, pssKiB, sampleRss } from '../common/memory.js';
import { freePort } from '../common/net.js';
import { aptInstall, failPrerequisites, requireRoot } from '../common/prerequisites.js';
import { sleep, which } from '../common/process.js';
import { tableLines } from '../common/table.js';
import { openIdleConnections } from './idle.js';
import { setupPochtamt, type Pochtamt } from './pochtamt.js';
import { startPostfixDovecot, type PostfixDovecot } from './postfix-dovecot.js';

const DOMAIN = 'bench.test';
const RECIPIENT = `bench@${DOMAIN}`;
const SENDER = 'sender@remote.test';

// ------------------------------------------------------------------ options

interface Options {
  messages: number;
  sessions: number;
  sizes: number[];
  idle: number;
  servers: Array<'pochtamt' | 'postfix'>;
  reconnect: boolean;
  stallSeconds: number;
  keep: boolean;
  json: string | null;
}

const HELP = `Usage: npm run bench:smtp [-- options]     (or node dist/bench/smtp/run.js [options])

  --messages N     messages per run (env BENCH_MESSAGES, default 20000)
  --sessions N     concurrent SMTP sessions of smtp-source (BENCH_SESSIONS, default 20)
  --sizes LIST     message body sizes, e.g. 4k,100k or 4096 (BENCH_SIZES, default 4k,100k)
  --idle N         idle SMTP connections for the memory test, 0 to skip (BENCH_IDLE, default 1000)
  --only WHICH     pochtamt or postfix: run one side only (BENCH_ONLY)
  --reconnect      one connection per message instead of reusing sessions (BENCH_RECONNECT=1)
  --stall S        give up when nothing is stored for S seconds (BENCH_STALL, default 120)
  --keep           keep the temporary folder (configs, logs, stores) (BENCH_KEEP=1)
  --json FILE      also write the results as JSON (BENCH_JSON)
`;

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(k|kb|kib|m|mb|mib)?$/i.exec(s.trim());
  if (!m) throw new Error(`invalid size '${s}' (use e.g. 4k, 100k, 4096)`);
  const mult = !m[2] ? 1 : m[2].toLowerCase().startsWith('k') ? 1024 : 1024 * 1024;
  return Math.round(Number(m[1]) * mult);
}

const KNOWN_FLAGS = ['messages', 'sessions', 'sizes', 'idle', 'only', 'reconnect', 'stall', 'keep', 'json', 'help'];

function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options {
  const { str, int, bool } = parseFlags(argv, env, { known: KNOWN_FLAGS, booleans: ['reconnect', 'keep', 'help'], help: HELP });
  const only = str('only', 'BENCH_ONLY', '');
  if (only && only !== 'pochtamt' && only !== 'postfix') throw new Error('--only must be pochtamt or postfix');
  return {
    messages: int('messages', 'BENCH_MESSAGES', 20000, 1),
    sessions: int('sessions', 'BENCH_SESSIONS', 20, 1),
    sizes: str('sizes', 'BENCH_SIZES', '4k,100k').split(',').filter(Boolean).map(parseSize),
    idle: int('idle', 'BENCH_IDLE', 1000, 0),
    servers: only ? [only as 'pochtamt' | 'postfix'] : ['pochtamt', 'postfix'],
    reconnect: bool('reconnect', 'BENCH_RECONNECT'),
    stallSeconds: int('stall', 'BENCH_STALL', 120, 5),
    keep: bool('keep', 'BENCH_KEEP'),
    json: str('json', 'BENCH_JSON', '') || null,
  };
}

// ------------------------------------------------------------------ prerequisites

function checkPrerequisites(o: Options): void {
  const problems: string[] = [];
  const packages = new Set<string>();
  if (!which('smtp-source')) { problems.push('smtp-source not found (it is in the Debian package postfix)'); packages.add('postfix'); }
  if (o.servers.includes('postfix')) {
    if (!which('postfix')) { problems.push('postfix not found'); packages.add('postfix'); }
    if (!which('dovecot')) { problems.push('dovecot not found'); packages.add('dovecot-core'); packages.add('dovecot-lmtpd'); }
    else if (!existsSync('/usr/lib/dovecot/lmtp')) { problems.push('Dovecot LMTP server not installed'); packages.add('dovecot-lmtpd'); }
  }
  if (packages.size) {
    failPrerequisites(problems, 'Install them with:\n'
      + '  echo "postfix postfix/main_mailer_type select No configuration" | sudo debconf-set-selections\n'
      + aptInstall(packages)
      + '(no system daemon is used: the benchmark runs private instances on loopback ports)\n');
  }
  if (o.servers.includes('postfix')) {
    requireRoot('The Postfix -> Dovecot reference needs root: the Postfix master runs as root and switches to\n'
      + 'user postfix, and Dovecot LMTP switches to the mail user. Run as root (e.g. sudo -E npm run bench:smtp),\n'
      + 'or benchmark Pochtamt alone with --only pochtamt.\n');
  }
}

// ------------------------------------------------------------------ one measured run

interface RunResult {
  server: 'pochtamt' | 'postfix';
  size: number;
  messages: number;
  stored: number;
  acceptSeconds: number | null;
  storeSeconds: number | null;
  acceptRate: number | null;
  storeRate: number | null;
  /** Pochtamt: peak VmRSS (KiB). Postfix+Dovecot: peak summed PSS of all their processes (KiB). */
  peakMemKiB: number;
  /** CPU seconds the server processes used during the run (user + system). */
  cpuSeconds: number | null;
  error: string | null;
}

interface Target {
  name: 'pochtamt' | 'postfix';
  label: string;
  port: number;
  count(): number;
  /** Exact count, to confirm count() once it reaches the target (when count() is an estimate). */
  exactCount?(): number;
  /** Best estimate (epoch ms) of when the store reached its current count. */
  doneAt(detectedAt: number): number;
  pollMs: number;
  memory: { start(): void; stop(): number };
  /** Pids whose CPU time counts for this server (process trees are expanded at each reading). */
  pids(): number[];
  alive(): boolean;
}

function smtpSourceArgs(o: Options, size: number, port: number): string[] {
  return [
    ...(o.reconnect ? [] : ['-d']),
    '-s', String(o.sessions), '-m', String(o.messages), '-l', String(size),
    '-M', 'client.remote.test', '-f', SENDER, '-t', RECIPIENT, `127.0.0.1:${port}`,
  ];
}

async function measure(o: Options, t: Target, size: number, progress: boolean): Promise<RunResult> {
  const base = t.count();
  const want = base + o.messages;
  const exactBase = t.exactCount?.() ?? base;
  /** count() reached the target; confirm with the exact count where there is one. */
  const confirmed = () => !t.exactCount || t.exactCount() - exactBase >= o.messages;
  let lastExactCheck = 0;
  const args = smtpSourceArgs(o, size, t.port);
  const result: RunResult = {
    server: t.name, size, messages: o.messages, stored: 0, acceptSeconds: null, storeSeconds: null,
    acceptRate: null, storeRate: null, peakMemKiB: 0, cpuSeconds: null, error: null,
  };
  t.memory.start();
  const cpuStart = cpuSeconds(t.pids());
  const start = Date.now();
  const src = spawn('smtp-source', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const killSrc = onCleanup('smtp-source', () => { if (src.exitCode === null) src.kill('SIGKILL'); });
  let srcOut = '';
  src.stdout.on('data', (d: Buffer) => { srcOut += d.toString(); });
  src.stderr.on('data', (d: Buffer) => { srcOut += d.toString(); });
  let srcExit: { code: number | null; at: number } | null = null;
  src.once('exit', (code) => { srcExit = { code, at: Date.now() }; });

  let last = base;
  let lastChange = Date.now();
  let doneAt: number | null = null;
  let lastProgress = 0;
  for (;;) {
    await sleep(t.pollMs);
    const now = Date.now();
    const n = t.count();
    if (n !== last) { last = n; lastChange = now; }
    if (progress && now - lastProgress > 500) {
      lastProgress = now;
      process.stderr.write(`\r  ${t.label} ${size} B: stored ${n - base}/${o.messages}${srcExit ? ' (smtp-source done)' : ''}   `);
    }
    const exited = srcExit as { code: number | null; at: number } | null;
    // After smtp-source is done, also check the exact count now and then, in case the cheap one missed something.
    const checkExact = Boolean(t.exactCount && exited && now - lastExactCheck > 2000);
    if (checkExact) lastExactCheck = now;
    if ((n >= want || checkExact) && confirmed()) { doneAt = t.doneAt(now); break; }
    if (exited && exited.code !== 0 && now - lastChange > 5000) {
      result.error = `smtp-source exited with ${exited.code}: ${srcOut.trim().split('\n').slice(-3).join(' | ')}`;
      break;
    }
    if (!t.alive()) { result.error = 'server process exited during the run'; break; }
    if (now - lastChange > o.stallSeconds * 1000) {
      result.error = `stalled: ${n - base}/${o.messages} stored, nothing new for ${o.stallSeconds} s`;
      break;
    }
  }
  if (progress) process.stderr.write('\r\x1b[K');
  result.cpuSeconds = cpuSeconds(t.pids()) - cpuStart;
  // Let smtp-source finish (it normally has, since the last message is stored after its 250).
  const waitUntil = Date.now() + 30_000;
  while (!srcExit && Date.now() < waitUntil) await sleep(20);
  if (src.exitCode === null) src.kill('SIGKILL');
  killSrc();
  result.peakMemKiB = t.memory.stop();
  result.stored = t.exactCount ? t.exactCount() - exactBase : t.count() - base;
  const exited = srcExit as { code: number | null; at: number } | null;
  if (exited) {
    if (exited.code !== 0 && !result.error) result.error = `smtp-source exited with ${exited.code}: ${srcOut.trim().split('\n').slice(-3).join(' | ')}`;
    result.acceptSeconds = (exited.at - start) / 1000;
    result.acceptRate = o.messages / result.acceptSeconds;
  }
  if (doneAt !== null) {
    result.storeSeconds = Math.max(doneAt - start, 1) / 1000;
    result.storeRate = o.messages / result.storeSeconds;
  }
  return result;
}

// ------------------------------------------------------------------ output

const sizeLabel = (b: number) => (b % 1024 === 0 ? `${b / 1024} KiB` : `${b} B`);
const fmt = (v: number | null, digits = 1) => (v === null ? '-' : v.toFixed(digits));

function printTable(results: RunResult[]): void {
  const head = ['Size', 'Server', 'Messages', 'Stored', 'Accept s', 'Store s', 'Accepted/s', 'Stored/s', 'CPU s', 'CPU ms/msg', 'Peak memory'];
  const rows = results.map((r) => [
    sizeLabel(r.size), r.server === 'pochtamt' ? 'Pochtamt' : 'Postfix -> Dovecot', String(r.messages), String(r.stored),
    fmt(r.acceptSeconds, 2), fmt(r.storeSeconds, 2), fmt(r.acceptRate), fmt(r.storeRate),
    fmt(r.cpuSeconds, 1), r.cpuSeconds === null || !r.stored ? '-' : ((r.cpuSeconds * 1000) / r.stored).toFixed(2),
    r.peakMemKiB ? `${mib(r.peakMemKiB)} MiB ${r.server === 'pochtamt' ? 'RSS' : 'PSS'}` : '-',
  ]);
  process.stdout.write(`\n${tableLines(head, rows, (i) => i < 2).join('\n')}\n`);
  for (const r of results) if (r.error) process.stdout.write(`  ! ${r.server} ${sizeLabel(r.size)}: ${r.error}\n`);
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2), process.env);
  checkPrerequisites(o);
  // The idle test needs ~idle descriptors here.
  if (o.servers.includes('pochtamt') && o.idle > 0) ensureFileLimit(o.idle + 512, { marker: 'BENCH_ULIMIT_RAISED', test: 'the idle-connection test' });
  installSignalHandlers();
  const progress = Boolean(process.stderr.isTTY);
  const say = (s: string) => process.stderr.write(`${s}\n`);

  const dir = makeWorkDir('pochtamt-bench-', o.keep, say);

  say(`SMTP benchmark: ${o.messages} messages per run, ${o.sessions} sessions, sizes ${o.sizes.map(sizeLabel).join(', ')}, `
    + `${o.reconnect ? 'one connection per message' : 'sessions reused (smtp-source -d)'}; ${os.cpus().length} CPUs; work folder ${dir}`);

  let pochtamt: Pochtamt | null = null;
  let pf: PostfixDovecot | null = null;
  const targets: Target[] = [];
  let idleReport: string[] = [];

  if (o.servers.includes('pochtamt')) {
    say('Starting Pochtamt...');
    const maxFds = Math.min(fileLimits().hard, Math.max(o.idle * 2 + 1024, 4096));
    pochtamt = await setupPochtamt({ dir, port: await freePort(), domain: DOMAIN, user: RECIPIENT, password: 'bench-password', maxFds }, say);
    const p = pochtamt;
    say(`  pid ${p.pid}, MX on 127.0.0.1:${p.port} (${p.via})`);
    await sleep(1000);

    // Idle connections first, on the fresh process.
    if (o.idle > 0) {
      const before = procMemKiB(p.pid)!.rss;
      say(`Opening ${o.idle} idle SMTP connections...`);
      const idle = await openIdleConnections(p.port, o.idle);
      await sleep(2000);
      const open = idle.stillOpen();
      const during = procMemKiB(p.pid)!.rss;
      await idle.close();
      await sleep(1000);
      const after = procMemKiB(p.pid)?.rss ?? 0;
      idleReport = [
        `Pochtamt RSS before: ${mib(before)} MiB; with ${open} idle SMTP connections open: ${mib(during)} MiB`
          + ` (+${mib(during - before)} MiB, ${open ? ((during - before) / open).toFixed(1) : '-'} KiB per connection); after closing them: ${mib(after)} MiB`,
      ];
      if (idle.failed) idleReport.push(`  ! ${idle.failed} of ${o.idle} connections failed (first error: ${idle.firstError})`);
      if (open < idle.opened) idleReport.push(`  ! the server closed ${idle.opened - open} of the idle connections within 2 s`);
      say(idleReport.join('\n'));
    }

    let sampler: { stop(): number } | null = null;
    targets.push({
      name: 'pochtamt', label: 'Pochtamt', port: p.port, pollMs: 50,
      count: () => p.storedCount(),
      doneAt: (detected) => detected,
      pids: () => [p.pid],
      memory: { start: () => { sampler = sampleRss(p.pid, 100); }, stop: () => sampler?.stop() ?? 0 },
      alive: () => p.alive(),
    });
  }

  if (o.servers.includes('postfix')) {
    say('Starting Postfix -> Dovecot LMTP...');
    pf = await startPostfixDovecot({ dir, port: await freePort(), domain: DOMAIN, user: RECIPIENT, instanceName: path.basename(dir) });
    const q = pf;
    say(`  Postfix master pid ${q.masterPids[0]}, SMTP on 127.0.0.1:${q.port}; Dovecot master pid ${q.masterPids[1]}`);
    let peak = 0;
    let timer: NodeJS.Timeout | null = null;
    const samplePss = () => { peak = Math.max(peak, pssKiB(q.masterPids.flatMap(descendants))); };
    targets.push({
      name: 'postfix', label: 'Postfix -> Dovecot', port: q.port, pollMs: 100,
      count: () => q.storedCount(),
      exactCount: () => q.exactCount(),
      // Each delivery renames a file into new/: the folder's mtime is the time of the last one.
      doneAt: (detected) => Math.min(detected, q.lastStoreTime()),
      pids: () => q.masterPids.flatMap(descendants),
      memory: {
        start: () => { peak = 0; samplePss(); timer = setInterval(samplePss, 500); },
        stop: () => { if (timer) clearInterval(timer); samplePss(); return peak; },
      },
      alive: () => q.masterPids.every((pid) => existsSync(`/proc/${pid}`)),
    });
  }

  const results: RunResult[] = [];
  for (const size of o.sizes) {
    for (const t of targets) {
      say(`Run: ${t.label}, ${sizeLabel(size)} body, ${o.messages} messages, ${o.sessions} sessions...`);
      const r = await measure(o, t, size, progress);
      results.push(r);
      say(`  ${r.stored}/${r.messages} stored in ${fmt(r.storeSeconds, 2)} s (${fmt(r.storeRate)} msg/s; smtp-source done after ${fmt(r.acceptSeconds, 2)} s)${r.error ? ` ERROR: ${r.error}` : ''}`);
      await sleep(2000);
    }
  }

  const hwm = pochtamt ? procMemKiB(pochtamt.pid)?.hwm ?? null : null;
  process.stdout.write(`\nSMTP benchmark, smtp-source ${smtpSourceArgs(o, 0, 0).slice(0, -1).join(' ').replace('-l 0', '-l SIZE')} 127.0.0.1:PORT\n`
    + `(time from the start of smtp-source until the last message is stored; ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})\n`);
  printTable(results);
  if (targets.length === 2) {
    process.stdout.write('\nRatio Pochtamt / Postfix -> Dovecot (stored msg/s):\n');
    for (const size of o.sizes) {
      const a = results.find((r) => r.size === size && r.server === 'pochtamt');
      const b = results.find((r) => r.size === size && r.server === 'postfix');
      const ok = a?.storeRate && b?.storeRate && !a.error && !b.error;
      process.stdout.write(`  ${sizeLabel(size).padEnd(8)} ${ok ? `${(a.storeRate! / b.storeRate!).toFixed(2)}x` : '- (a run failed)'}\n`);
    }
  }
  if (pochtamt) {
    process.stdout.write('\nPochtamt memory:\n');
    for (const r of results.filter((x) => x.server === 'pochtamt')) process.stdout.write(`  peak RSS during the ${sizeLabel(r.size)} run: ${mib(r.peakMemKiB)} MiB\n`);
    if (hwm) process.stdout.write(`  VmHWM (high-water mark over the whole process life): ${mib(hwm)} MiB\n`);
    for (const l of idleReport) process.stdout.write(`  ${l.trim()}\n`);
  }
  if (pf) process.stdout.write('\nPostfix -> Dovecot memory is the peak of the summed PSS of all their processes (shared pages counted once).\n');

  if (o.json) {
    writeFileSync(o.json, `${JSON.stringify({ options: o, results, idle: idleReport, pochtamtHwmKiB: hwm, at: new Date().toISOString() }, null, 2)}\n`);
    say(`results written to ${o.json}`);
  }
  const errors = results.filter((r) => r.error).length;
  if (pochtamt) {
    const logText = (() => { try { return readFileSync(pochtamt.logFile, 'utf8').trim(); } catch { return ''; } })();
    if (logText) say(`\nPochtamt log (${pochtamt.logFile}), last lines:\n${logText.split('\n').slice(-10).join('\n')}`);
  }
  process.exitCode = errors ? 1 : 0;
}

runMain('bench:smtp', main);
