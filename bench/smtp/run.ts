// SMTP benchmark: messages per second accepted *and stored* (end to end) by Pochtamt, side by
// side with Postfix relaying to Dovecot LMTP, with the same load from Postfix's smtp-source.
// See bench/README.md. Usage: npm run bench:smtp [-- --messages 2000 --sizes 4k,100k ...]
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { installSignalHandlers, onCleanup, runMain } from '../common/cleanup.js';
import { makeWorkDir, parseFlags } from '../common/harness.js';
import { ensureFileLimit, fileLimits } from '../common/limits.js';
import { cpuSeconds, descendants, mib, procMemKiB, pssKiB, sampleRss } from '../common/memory.js';
import { freePort } from '../common/net.js';
import { loadConfig } from '../../src/config/config.js';
import { aptInstall, failPrerequisites, requireRoot } from '../common/prerequisites.js';
import { sleep, which } from '../common/process.js';
import { tableLines } from '../common/table.js';
import { openIdleConnections } from './idle.js';
import { setupPochtamt, type Pochtamt } from './pochtamt.js';
import {
  haveDaemons, type InProcessStep, messageSigner, policyConfig, startClamd, startDns, startSpamd, stats, STEPS, timeDaemonsAlone, tracedSteps,
  startInstantDaemons, type AloneResult, type Daemon, type Dns, type Stats, type TracedSteps,
} from './policy-peers.js';
import { startPostfixDovecot, type PostfixDovecot } from './postfix-dovecot.js';

const DOMAIN = 'bench.test';
const RECIPIENT = `bench@${DOMAIN}`;
const SENDER = 'sender@remote.test';
const HELO = 'client.remote.test';

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
  /** --policy: a second Pochtamt instance with the filters on, spamd, clamd and a local DNS. */
  policy: boolean;
  spamdChildren: number;
  daemonRequests: number;
  stepRuns: number;
  /** Unmeasured messages sent to every server before each measured run (JIT, caches, connections). */
  warmup: number;
}

type ServerName = 'pochtamt' | 'pochtamt-policy' | 'pochtamt-policy-instant' | 'postfix';
const SERVER_LABELS: Record<ServerName, string> = {
  pochtamt: 'Pochtamt', 'pochtamt-policy': 'Pochtamt + policy', 'pochtamt-policy-instant': 'Pochtamt + policy, instant daemons', postfix: 'Postfix -> Dovecot',
};

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

  --policy         also run Pochtamt with the filters on (SPF/DKIM/DMARC, DNSBL/RHSBL against a local
                   DNS, attachments, clamd, spamd) beside one with them off, and time spamd and clamd
                   alone; every server then gets a DKIM-signed message (smtp-source -F) (BENCH_POLICY=1)
  --spamd-children N   spamd children in --policy mode (BENCH_SPAMD_CHILDREN, default: CPUs, at least 2)
  --daemon-requests N  requests to spamd and clamd alone, per size and concurrency (BENCH_DAEMON_REQUESTS, default 200)
  --step-runs N    times each filter step is run alone in the bench process, per size (BENCH_STEP_RUNS, default 100)
  --warmup N       unmeasured messages sent to every server before each measured run, and filter-step
                   runs before each timed one (BENCH_WARMUP, default 5000 with --policy, else 0)
`;

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(k|kb|kib|m|mb|mib)?$/i.exec(s.trim());
  if (!m) throw new Error(`invalid size '${s}' (use e.g. 4k, 100k, 4096)`);
  const mult = !m[2] ? 1 : m[2].toLowerCase().startsWith('k') ? 1024 : 1024 * 1024;
  return Math.round(Number(m[1]) * mult);
}

const KNOWN_FLAGS = ['messages', 'sessions', 'sizes', 'idle', 'only', 'reconnect', 'stall', 'keep', 'json', 'help',
  'policy', 'spamd-children', 'daemon-requests', 'step-runs', 'warmup'];

function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options {
  const { str, int, bool } = parseFlags(argv, env, { known: KNOWN_FLAGS, booleans: ['reconnect', 'keep', 'help', 'policy'], help: HELP });
  const only = str('only', 'BENCH_ONLY', '');
  if (only && only !== 'pochtamt' && only !== 'postfix') throw new Error('--only must be pochtamt or postfix');
  if (only === 'postfix' && bool('policy', 'BENCH_POLICY')) throw new Error('--policy needs Pochtamt (it filters only in Pochtamt): drop --only postfix');
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
    policy: bool('policy', 'BENCH_POLICY'),
    spamdChildren: int('spamd-children', 'BENCH_SPAMD_CHILDREN', Math.max(2, os.cpus().length), 1),
    daemonRequests: int('daemon-requests', 'BENCH_DAEMON_REQUESTS', 200, 1),
    stepRuns: int('step-runs', 'BENCH_STEP_RUNS', 100, 1),
    // The filters run a lot of library code (mailauth, MIME, the daemon clients) that a fresh
    // process has not compiled yet: without a warm-up, a few hundred messages measure V8's
    // compilers as much as the filters (the compiler threads' CPU counts in the server's).
    warmup: int('warmup', 'BENCH_WARMUP', bool('policy', 'BENCH_POLICY') ? 5000 : 0, 0),
  };
}

// ------------------------------------------------------------------ prerequisites

function checkPrerequisites(o: Options): void {
  const problems: string[] = [];
  const packages = new Set<string>();
  if (!which('smtp-source')) { problems.push('smtp-source not found (it is in the Debian package postfix)'); packages.add('postfix'); }
  if (o.policy) for (const pkg of haveDaemons()) { problems.push(`--policy needs the Debian package ${pkg}`); packages.add(pkg); }
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
  server: ServerName;
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
  /** --policy, Pochtamt + policy: CPU seconds spamd + clamd used during the run. */
  daemonCpuSeconds?: number | null;
  /** --policy: the server's CPU seconds per second while idle, measured over 3 s just before the run. */
  idleCpuPerSecond?: number;
  /** --policy, Pochtamt + policy: the per-step times the instance traced during the run. */
  traced?: TracedSteps;
  /** --policy: a run of the instance without filters paced like the one with them (smtp-source -w, seconds). */
  pacedWait?: number;
  /** ... with this many smtp-source processes. */
  pacedSessions?: number;
}

/** A Pochtamt instance as a measured target: stored count from its store, RSS sampled every 100 ms. */
function pochtamtTarget(name: 'pochtamt' | 'pochtamt-policy' | 'pochtamt-policy-instant', p: Pochtamt): Target {
  let sampler: { stop(): number } | null = null;
  return {
    name, label: SERVER_LABELS[name], port: p.port, pollMs: 50,
    count: () => p.storedCount(),
    doneAt: (detected) => detected,
    pids: () => [p.pid],
    memory: { start: () => { sampler = sampleRss(p.pid, 100); }, stop: () => sampler?.stop() ?? 0 },
    alive: () => p.alive(),
  };
}

interface Target {
  name: ServerName;
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

/** messageFile (--policy): smtp-source -F FILE sends that message instead of -l SIZE bytes of its own. */
function smtpSourceArgs(o: Options, size: number, port: number, messageFile?: string, waitSeconds?: number): string[] {
  return [
    ...(o.reconnect ? [] : ['-d']), ...(waitSeconds ? ['-w', String(waitSeconds)] : []),
    '-s', String(o.sessions), '-m', String(o.messages), ...(messageFile ? ['-F', messageFile] : ['-l', String(size)]),
    '-M', 'client.remote.test', '-f', SENDER, '-t', RECIPIENT, `127.0.0.1:${port}`,
  ];
}

async function measure(o: Options, t: Target, size: number, progress: boolean, messageFile?: string, waitSeconds?: number): Promise<RunResult> {
  const base = t.count();
  const want = base + o.messages;
  const exactBase = t.exactCount?.() ?? base;
  /** count() reached the target; confirmed with the exact count where there is one. */
  const confirmed = () => !t.exactCount || t.exactCount() - exactBase >= o.messages;
  let lastExactCheck = 0;
  const result: RunResult = {
    server: t.name, size, messages: o.messages, stored: 0, acceptSeconds: null, storeSeconds: null,
    acceptRate: null, storeRate: null, peakMemKiB: 0, cpuSeconds: null, error: null,
  };
  // Paced (waitSeconds): one smtp-source per session, each sending its share with -w, their
  // starts spread over one wait, so messages arrive one at a time at an even rate, as they
  // leave spamd in the run with the filters. One smtp-source with -w would keep its sessions
  // in step and hand the server all of them at once every wait (one group commit for all).
  const share = (i: number) => Math.floor(o.messages / o.sessions) + (i < o.messages % o.sessions ? 1 : 0);
  const jobs = waitSeconds
    ? Array.from({ length: Math.min(o.sessions, o.messages) }, (_, i) => ({
      delayMs: Math.round((i * waitSeconds * 1000) / o.sessions),
      args: smtpSourceArgs({ ...o, sessions: 1, messages: share(i) }, size, t.port, messageFile, waitSeconds),
    }))
    : [{ delayMs: 0, args: smtpSourceArgs(o, size, t.port, messageFile) }];
  t.memory.start();
  const cpuStart = cpuSeconds(t.pids());
  const start = Date.now();
  let srcOut = '';
  const exits: Array<{ code: number | null; at: number }> = [];
  let srcExit: { code: number | null; at: number } | null = null;
  const procs: ChildProcess[] = [];
  const timers = jobs.map((j) => setTimeout(() => {
    const src = spawn('smtp-source', j.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(src);
    src.stdout!.on('data', (d: Buffer) => { srcOut += d.toString(); });
    src.stderr!.on('data', (d: Buffer) => { srcOut += d.toString(); });
    src.once('exit', (code) => {
      exits.push({ code, at: Date.now() });
      if (exits.length === jobs.length) srcExit = { code: exits.find((e) => e.code !== 0)?.code ?? 0, at: Date.now() };
    });
  }, j.delayMs));
  const killSrc = onCleanup('smtp-source', () => {
    timers.forEach(clearTimeout);
    for (const src of procs) if (src.exitCode === null) src.kill('SIGKILL');
  });

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
    sizeLabel(r.size), SERVER_LABELS[r.server] + (r.pacedWait ? ` (paced, ${r.pacedSessions ?? ''} x -w ${r.pacedWait})` : ''), String(r.messages), String(r.stored),
    fmt(r.acceptSeconds, 2), fmt(r.storeSeconds, 2), fmt(r.acceptRate), fmt(r.storeRate),
    fmt(r.cpuSeconds, 1), r.cpuSeconds === null || !r.stored ? '-' : ((r.cpuSeconds * 1000) / r.stored).toFixed(2),
    r.peakMemKiB ? `${mib(r.peakMemKiB)} MiB ${r.server === 'postfix' ? 'PSS' : 'RSS'}` : '-',
  ]);
  process.stdout.write(`\n${tableLines(head, rows, (i) => i < 2).join('\n')}\n`);
  for (const r of results) if (r.error) process.stdout.write(`  ! ${r.server} ${sizeLabel(r.size)}: ${r.error}\n`);
}

// ------------------------------------------------------------------ --policy

interface PolicyPeers {
  dns: Dns;
  spamd: Daemon;
  clamd: Daemon;
  /** size -> the DKIM-signed message: its bytes, and the file smtp-source -F sends (LF line ends). */
  messages: Map<number, Buffer>;
  files: Map<number, string>;
  /** CPU seconds spamd and clamd (with their children) used so far. */
  daemonCpu(): number;
}

async function startPolicyPeers(o: Options, dir: string, say: (s: string) => void): Promise<PolicyPeers> {
  const signer = messageSigner({ sender: SENDER, recipient: RECIPIENT, heloName: HELO });
  const messages = new Map<number, Buffer>();
  const files = new Map<number, string>();
  for (const size of o.sizes) {
    const raw = await signer.message(size);
    messages.set(size, raw);
    const file = path.join(dir, `message-${size}.eml`);
    // smtp-source -F appends CRLF to each line of the file.
    writeFileSync(file, raw.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
    files.set(size, file);
  }
  say('Starting the local DNS (dns2), spamd and clamd...');
  const dns = await startDns(signer.zone);
  const [spamd, clamd] = await Promise.all([startSpamd(dir, o.spamdChildren), startClamd(dir, Math.min(Math.max(o.sessions, 2), 32))]);
  say(`  DNS on ${dns.server} (SPF, DKIM, DMARC p=reject for ${SENDER.split('@')[1]}; empty zones ${'dnsbl.bench.test, rhsbl.bench.test'}); `
    + `spamd pid ${spamd.pid} on 127.0.0.1:${spamd.port} (${o.spamdChildren} children); clamd pid ${clamd.pid} on ${clamd.socket}`);
  return {
    dns, spamd, clamd, messages, files,
    daemonCpu: () => cpuSeconds([...descendants(spamd.pid), ...descendants(clamd.pid)]),
  };
}

interface PolicyReport {
  sizes: Array<{
    size: number;
    inProcess: Record<string, InProcessStep>;
    alone: AloneResult[];
  }>;
  dnsQueries: number;
}

/**
 * timeStepsInProcess() in a fresh node process (bench/smtp/policy-steps-child.ts). Not
 * spawnSync: the local DNS server answers from this process's event loop.
 */
async function timeStepsInChild(dir: string, job: Record<string, unknown>): Promise<Record<string, InProcessStep>> {
  const file = path.join(dir, 'policy-steps-job.json');
  writeFileSync(file, JSON.stringify(job));
  const script = fileURLToPath(new URL('./policy-steps-child.js', import.meta.url));
  const child = spawn(process.execPath, [script, file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const kill = onCleanup('filter step timing', () => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  kill();
  if (code !== 0) throw new Error(`timing the filter steps failed (${code}): ${(err || out).trim().slice(-500)}`);
  return JSON.parse(out) as Record<string, InProcessStep>;
}

async function measurePolicyPeers(o: Options, peers: PolicyPeers, dataDir: string, say: (s: string) => void): Promise<PolicyReport> {
  const cfg = loadConfig(dataDir, {});
  const report: PolicyReport = { sizes: [], dnsQueries: 0 };
  for (const size of o.sizes) {
    const raw = peers.messages.get(size)!;
    say(`Timing each filter step in a process of its own (${o.stepRuns} runs, ${sizeLabel(size)})...`);
    const inProcess = await timeStepsInChild(dataDir, {
      policy: cfg.policy, hostname: cfg.hostname, localDomain: DOMAIN, raw: raw.toString('base64'), sender: SENDER, recipient: RECIPIENT, heloName: HELO, n: o.stepRuns, warmup: o.warmup,
    });
    const alone: AloneResult[] = [];
    const common = { spamdPort: peers.spamd.port, clamdSocket: peers.clamd.socket!, raw, recipient: RECIPIENT, cpu: peers.daemonCpu };
    for (const [what, concurrency, requests] of [
      ['clamd', 1, o.stepRuns], ['spamd', 1, o.stepRuns],
      ['clamd', o.sessions, o.daemonRequests], ['spamd', o.sessions, o.daemonRequests], ['clamd+spamd', o.sessions, o.daemonRequests],
    ] as Array<[AloneResult['what'], number, number]>) {
      say(`Timing ${what} alone: ${requests} requests, ${concurrency} at a time (${sizeLabel(size)})...`);
      alone.push(await timeDaemonsAlone({ ...common, what, concurrency, requests }));
    }
    report.sizes.push({ size, inProcess, alone });
  }
  report.dnsQueries = peers.dns.queries();
  return report;
}

const ms = (v: number | null | undefined, digits = 2) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits));

function printPolicyReport(o: Options, peers: PolicyPeers, results: RunResult[], rep: PolicyReport): void {
  const w = (s: string) => process.stdout.write(`${s}\n`);
  w('\nPolicy (--policy): the same load to Pochtamt with the filters off (policy.enabled: false) and on');
  w(`(sender-auth with SPF/DKIM/DMARC, dnsbl + rhsbl against the local DNS, attachments, clamav, spamassassin;`);
  w(` trustedNetworks: [], greylisting and rate limits off; spamd ${o.spamdChildren} children, clamd MaxThreads ${Math.min(Math.max(o.sessions, 2), 32)} on its unix socket).`);
  // CPU ms/msg less the idle CPU the server would have used over the run's time anyway.
  const cpuMs = (r: RunResult | undefined) => (r?.cpuSeconds != null && r.stored
    ? ((r.cpuSeconds - (r.idleCpuPerSecond ?? 0) * (r.storeSeconds ?? 0)) * 1000) / r.stored : null);
  const rows: string[][] = [];
  for (const size of o.sizes) {
    const off = results.find((r) => r.size === size && r.server === 'pochtamt' && !r.pacedWait);
    const on = results.find((r) => r.size === size && r.server === 'pochtamt-policy');
    rows.push([sizeLabel(size), fmt(off?.storeRate ?? null), fmt(on?.storeRate ?? null),
      off?.storeRate && on?.storeRate ? `${(on.storeRate / off.storeRate).toFixed(2)}x` : '-',
      ms(cpuMs(off)), ms(cpuMs(on)), ms(cpuMs(on) !== null && cpuMs(off) !== null ? cpuMs(on)! - cpuMs(off)! : null),
      ms(on?.daemonCpuSeconds != null && on.stored ? (on.daemonCpuSeconds * 1000) / on.stored : null)]);
  }
  w('');
  for (const l of tableLines(['Size', 'Stored/s off', 'Stored/s on', 'on/off', 'CPU ms/msg off', 'CPU ms/msg on', 'Pochtamt +CPU ms/msg', 'spamd+clamd CPU ms/msg'], rows, (i) => i < 1)) w(l);
  w('(Pochtamt CPU ms/msg here: less its idle CPU over the run\'s time, measured for 3 s after the warm-up, before each run: '
    + results.filter((r) => r.idleCpuPerSecond !== undefined).map((r) => `${SERVER_LABELS[r.server]} ${sizeLabel(r.size)} ${((r.idleCpuPerSecond ?? 0) * 1000).toFixed(1)} ms/s`).join(', ') + ')');

  for (const sz of rep.sizes) {
    const on = results.find((r) => r.size === sz.size && r.server === 'pochtamt-policy');
    const tr = on?.traced;
    w(`\n${sizeLabel(sz.size)}: per-step latency, ms`);
    const alone1 = (what: string) => sz.alone.find((a) => a.what === what && a.concurrency === 1);
    const aloneN = (what: string) => sz.alone.find((a) => a.what === what && a.concurrency === o.sessions);
    const stepRows = STEPS.map((step) => {
      const t = tr?.perStep[step];
      const st = t ? stats(t) : null;
      const acts = tr?.actions[step] ? Object.entries(tr.actions[step]).map(([a, n]) => `${a} ${n}`).join(', ') : 'not traced (plain accept)';
      const ip = sz.inProcess[step];
      const daemon = step === 'clamav' ? alone1('clamd') : step === 'spamassassin' ? alone1('spamd') : null;
      return [step, st ? String(st.n) : '0', ms(st?.p50, 0), ms(st?.p95, 0), acts, ms(ip?.stats.p50), ms(ip?.stats.p95), ms(ip?.cpuMs),
        daemon ? `${ms(daemon.latency.p50)} / ${ms(daemon.latency.p95)}` : '', (ip?.verdicts ?? []).join(' | ').slice(0, 70)];
    });
    const whole = sz.inProcess.pipeline;
    stepRows.push(['all steps', '', '', '', '', ms(whole?.stats.p50), ms(whole?.stats.p95), ms(whole?.cpuMs), '', (whole?.verdicts ?? []).join(' | ').slice(0, 70)]);
    const bare = sz.inProcess.bare;
    stepRows.push(['bare exchanges', '', '', '', '', ms(bare?.stats.p50), ms(bare?.stats.p95), ms(bare?.cpuMs), '', (bare?.verdicts ?? []).join(' | ').slice(0, 70)]);
    for (const l of tableLines(['Step', 'traced', 'p50', 'p95', 'traced verdicts', '1-at-a-time p50', 'p95', 'CPU ms', 'daemon alone p50 / p95', 'verdict (bench process)'], stepRows, (i) => i === 0 || i === 4 || i === 9)) w(`  ${l}`);
    w(`  traced = policy.step.* trace_event rows of the instance during the run under load (${o.sessions} sessions; whole ms, Date.now());`);
    w(`  1-at-a-time = the same step code and config run ${o.stepRuns} times in a node process of its own, one message at a time (performance.now());`);
    w('  CPU ms = that process\'s CPU (user + system) per run of the step: Pochtamt\'s own work, the daemons run in their own processes.');
    w('  bare exchanges = a pooled clamd INSTREAM then a spamd SYMBOLS check with nothing around them, taking turns with "all steps".');
    if (tr?.examples.length) for (const e of tr.examples) w(`  ! ${e}`);

    w(`\n${sizeLabel(sz.size)}: spamd and clamd alone (src/policy/spamd.client.ts SYMBOLS, src/policy/clamd.client.ts INSTREAM, from the bench process)`);
    const aloneRows = sz.alone.map((a) => [a.what, String(a.concurrency), String(a.requests), fmt(a.rate), ms(a.latency.p50), ms(a.latency.p95),
      ms(a.daemonCpuSeconds != null ? (a.daemonCpuSeconds * 1000) / Math.max(1, a.latency.n) : null), String(a.errors)]);
    for (const l of tableLines(['Daemon', 'at a time', 'requests', 'msg/s', 'p50 ms', 'p95 ms', 'daemon CPU ms/msg', 'errors'], aloneRows, (i) => i === 0)) w(`  ${l}`);

    // Pochtamt's own overhead per message, three ways.
    const off = results.find((r) => r.size === sz.size && r.server === 'pochtamt' && !r.pacedWait);
    const ip = (s: string) => sz.inProcess[s]?.stats.p50 ?? NaN;
    const own = ip('dnsbl') + ip('sender-auth') + ip('attachments');
    const clientClam = ip('clamav') - (alone1('clamd')?.latency.p50 ?? NaN);
    const clientSpam = ip('spamassassin') - (alone1('spamd')?.latency.p50 ?? NaN);
    const cpuOwn = cpuMs(on) !== null && cpuMs(off) !== null ? cpuMs(on)! - cpuMs(off)! : null;
    const paced = results.find((r) => r.size === sz.size && r.server === 'pochtamt' && r.pacedWait);
    const cpuPaced = cpuMs(on) !== null && cpuMs(paced) !== null ? cpuMs(on)! - cpuMs(paced)! : null;
    const added = on?.storeRate && off?.storeRate ? 1000 / on.storeRate - 1000 / off.storeRate : null;
    const both = aloneN('clamd+spamd');
    const daemonsWall = both?.rate ? 1000 / both.rate : null;
    const verdict = (v: number | null) => (v === null || !Number.isFinite(v) ? '' : v < 2 ? '  (< 2 ms: met)' : '  (>= 2 ms: NOT met)');
    w(`\n${sizeLabel(sz.size)}: Pochtamt's own overhead per message (target < 2 ms)`);
    const ownCpu = whole && bare ? whole.cpuMs - bare.cpuMs : null;
    w(`  Own CPU: the whole filter pipeline in a process of its own, one message at a time, ${ms(whole?.cpuMs)} ms CPU/msg,`);
    w(`           - the bare exchanges with clamd and spamd taking turns with it, ${ms(bare?.cpuMs)} = ${ms(ownCpu)} ms${verdict(ownCpu)}`);
    w(`           (steps alone, each run back to back: ${STEPS.map((st) => `${st} ${ms(sz.inProcess[st]?.cpuMs)}`).join(', ')})`);
    w(`  CPU:     Pochtamt server CPU ms/msg with the policy on - off = ${ms(cpuOwn)} ms${verdict(cpuOwn)}`);
    w(`           (spamd + clamd used ${ms(on?.daemonCpuSeconds != null && on.stored ? (on.daemonCpuSeconds * 1000) / on.stored : null)} ms/msg of CPU besides)`);
    if (paced) {
      w(`  CPU, same pace: on (${fmt(on?.storeRate ?? null)} msg/s) - off paced like it (${paced.pacedSessions} x smtp-source -s 1 -w ${paced.pacedWait}, starts spread over ${paced.pacedWait} s; ${fmt(paced.storeRate)} msg/s) = ${ms(cpuMs(on))} - ${ms(cpuMs(paced))} = ${ms(cpuPaced)} ms`);
      const pacedOwn = cpuPaced !== null && bare ? cpuPaced - bare.cpuMs : null;
      w(`           - the bare exchanges with clamd and spamd (${ms(bare?.cpuMs)}, above) = ${ms(pacedOwn)} ms${verdict(pacedOwn)}`);
    }
    const instant = results.find((r) => r.size === sz.size && r.server === 'pochtamt-policy-instant');
    if (instant) {
      const cpuInstant = cpuMs(instant) !== null && cpuMs(off) !== null ? cpuMs(instant)! - cpuMs(off)! : null;
      w(`  CPU, full speed: on with instant stand-ins for spamd and clamd (${fmt(instant.storeRate)} msg/s) - off (${fmt(off?.storeRate ?? null)} msg/s) = ${ms(cpuMs(instant))} - ${ms(cpuMs(off))} = ${ms(cpuInstant)} ms${verdict(cpuInstant)}`);
    }
    w(`  Latency, one message at a time: own steps dnsbl ${ms(ip('dnsbl'))} + sender-auth ${ms(ip('sender-auth'))} + attachments ${ms(ip('attachments'))} = ${ms(own)} ms (p50s);`);
    w(`           the whole pipeline - the bare exchanges right after it, per run: p50 ${ms(whole?.minusBare?.p50)} ms${verdict(whole?.minusBare?.p50 ?? null)}, p95 ${ms(whole?.minusBare?.p95)}`);
    w(`           (spamd's own time varies by several ms from one check to the next, which is all of the p95);`);
    w(`           the separate series: clamav step - clamd alone ${ms(clientClam)}, spamassassin step - spamd alone ${ms(clientSpam)} (p50s)`);
    w(`  Wall clock under load (${o.sessions} sessions): 1000/on - 1000/off = ${ms(added)} ms/msg added; clamd+spamd alone, ${o.sessions} at a time: `
      + `${ms(daemonsWall)} ms/msg; difference ${ms(added !== null && daemonsWall !== null ? added - daemonsWall : null)} ms/msg`);
    if (tr?.pipelinePerMessage.length) {
      const pl = stats(tr.pipelinePerMessage)!;
      const ow = stats(tr.ownPerMessage)!;
      w(`  Traced under load, per message (${pl.n} messages): filter steps p50 ${pl.p50} / p95 ${pl.p95} ms, of which Pochtamt's own traced steps`
        + ` (sender-auth) p50 ${ow.p50} / p95 ${ow.p95} ms; clamd+spamd alone at ${o.sessions} at a time: p50 ${ms(both?.latency.p50, 0)} / p95 ${ms(both?.latency.p95, 0)} ms`);
    }
  }
  w(`\n  The local DNS answered ${rep.dnsQueries} queries.`);
}

/**
 * smtp-source processes and their wait (-w, whole seconds) for a paced run at `rate` msg/s:
 * `sessions` one-at-a-time senders each send a message every `wait` s. The wait (1..5 s) whose
 * rounding error is smallest, so that the paced run is neither slower nor faster than `rate`.
 */
function pacing(rate: number): { sessions: number; wait: number } {
  let best = { sessions: Math.max(1, Math.round(rate)), wait: 1 };
  let bestErr = Infinity;
  for (let wait = 1; wait <= 5; wait++) {
    const sessions = Math.max(1, Math.round(rate * wait));
    const err = Math.abs(sessions / wait - rate) / rate;
    if (err < bestErr - 0.005) {
      best = { sessions, wait };
      bestErr = err;
    }
  }
  return best;
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
  let pochtamtPolicy: Pochtamt | null = null;
  let pf: PostfixDovecot | null = null;
  let peers: PolicyPeers | null = null;
  if (o.policy) peers = await startPolicyPeers(o, dir, say);
  const targets: Target[] = [];
  let idleReport: string[] = [];

  if (o.servers.includes('pochtamt')) {
    say('Starting Pochtamt...');
    const maxFds = Math.min(fileLimits().hard, Math.max(o.idle * 2 + 1024, 4096));
    pochtamt = await setupPochtamt({
      dir, port: await freePort(), domain: DOMAIN, user: RECIPIENT, password: 'bench-password', maxFds,
      // --policy: the baseline has no filters at all (by default they run, but skip loopback clients).
      ...(o.policy ? { edit: (cfg: Record<string, unknown>) => { cfg.policy = { enabled: false }; } } : {}),
    }, say);
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

    targets.push(pochtamtTarget('pochtamt', p));

    if (peers) {
      const pp = peers;
      say('Starting Pochtamt with the policy on...');
      const pdir = path.join(dir, 'policy');
      mkdirSync(pdir, { mode: 0o755 });
      pochtamtPolicy = await setupPochtamt({
        dir: pdir, port: await freePort(), domain: DOMAIN, user: RECIPIENT, password: 'bench-password', maxFds, cleanupName: 'pochtamt server (policy)',
        edit: (cfg) => { cfg.policy = policyConfig({ dns: pp.dns.server, spamdPort: pp.spamd.port, clamdSocket: pp.clamd.socket! }); },
      }, say);
      const q = pochtamtPolicy;
      say(`  pid ${q.pid}, MX on 127.0.0.1:${q.port} (${q.via}); data ${q.dataDir}`);
      await sleep(1000);
      targets.push(pochtamtTarget('pochtamt-policy', q));

      // The same policy against daemons that answer at once: the run is not paced by spamd,
      // so its CPU per message is the filters' own work at the server's full speed.
      const instant = await startInstantDaemons(dir);
      say('Starting Pochtamt with the policy on and instant stand-ins for spamd and clamd...');
      const idir = path.join(dir, 'policy-instant');
      mkdirSync(idir, { mode: 0o755 });
      const qi = await setupPochtamt({
        dir: idir, port: await freePort(), domain: DOMAIN, user: RECIPIENT, password: 'bench-password', maxFds, cleanupName: 'pochtamt server (policy, instant daemons)',
        edit: (cfg) => { cfg.policy = policyConfig({ dns: pp.dns.server, spamdPort: instant.spamdPort, clamdSocket: instant.clamdSocket }); },
      }, say);
      say(`  pid ${qi.pid}, MX on 127.0.0.1:${qi.port} (${qi.via}); spamd stand-in on 127.0.0.1:${instant.spamdPort}, clamd stand-in on ${instant.clamdSocket}`);
      await sleep(1000);
      targets.push(pochtamtTarget('pochtamt-policy-instant', qi));
    }
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
      const since = Date.now();
      let idleCpuPerSecond: number | undefined;
      if (o.warmup) {
        say(`  warm-up: ${o.warmup} messages, not measured`);
        await measure({ ...o, messages: o.warmup }, t, size, false, peers?.files.get(size));
        await sleep(2000);
      }
      if (peers && t.name !== 'postfix') {
        // A slow run (spamd bound) adds the server's idle CPU (timers, trace flushes) to every
        // message: measure it, after the warm-up (in the first seconds after its start the
        // server still compiles and collects, which is not what it uses while idle).
        const c0 = cpuSeconds(t.pids());
        await sleep(3000);
        idleCpuPerSecond = (cpuSeconds(t.pids()) - c0) / 3;
      }
      const daemonCpu0 = peers ? peers.daemonCpu() : 0;
      const r = await measure(o, t, size, progress, peers?.files.get(size));
      if (idleCpuPerSecond !== undefined) r.idleCpuPerSecond = idleCpuPerSecond;
      if (peers && t.name === 'pochtamt-policy' && pochtamtPolicy) {
        r.daemonCpuSeconds = peers.daemonCpu() - daemonCpu0;
        await sleep(1000); // the trace is written in batches every 200 ms
        r.traced = tracedSteps(pochtamtPolicy.db, since);
      }
      results.push(r);
      say(`  ${r.stored}/${r.messages} stored in ${fmt(r.storeSeconds, 2)} s (${fmt(r.storeRate)} msg/s; smtp-source done after ${fmt(r.acceptSeconds, 2)} s)${r.error ? ` ERROR: ${r.error}` : ''}`);
      await sleep(2000);
    }
    // The run with the filters is paced by spamd; the one without runs flat out and batches its
    // commits and trace flushes far better. Once more without filters at the same pace, so that
    // the CPU difference is the filters' and not the pace's.
    const on = results.find((r) => r.size === size && r.server === 'pochtamt-policy');
    const off = targets.find((t) => t.name === 'pochtamt');
    if (peers && on?.storeRate && off) {
      const { sessions, wait } = pacing(on.storeRate);
      say(`Run: ${off.label}, ${sizeLabel(size)} body, paced like the run with the policy (${sessions} x smtp-source -s 1 -w ${wait}, starts spread over ${wait} s)...`);
      const c0 = cpuSeconds(off.pids());
      await sleep(3000);
      const idle = (cpuSeconds(off.pids()) - c0) / 3;
      const r = await measure({ ...o, sessions }, off, size, progress, peers.files.get(size), wait);
      r.idleCpuPerSecond = idle;
      r.pacedWait = wait;
      r.pacedSessions = sessions;
      results.push(r);
      say(`  ${r.stored}/${r.messages} stored in ${fmt(r.storeSeconds, 2)} s (${fmt(r.storeRate)} msg/s)${r.error ? ` ERROR: ${r.error}` : ''}`);
    }
  }

  const hwm = pochtamt ? procMemKiB(pochtamt.pid)?.hwm ?? null : null;
  const policyReport = peers && pochtamtPolicy ? await measurePolicyPeers(o, peers, pochtamtPolicy.dataDir, say) : null;
  process.stdout.write(`\nSMTP benchmark, smtp-source ${smtpSourceArgs(o, 0, 0, peers ? 'MESSAGE' : undefined).slice(0, -1).join(' ').replace('-l 0', '-l SIZE')} 127.0.0.1:PORT\n`
    + `(time from the start of smtp-source until the last message is stored; ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})\n`);
  printTable(results);
  if (targets.some((t) => t.name === 'postfix') && targets.some((t) => t.name === 'pochtamt')) {
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
  if (peers && policyReport) printPolicyReport(o, peers, results, policyReport);

  if (o.json) {
    writeFileSync(o.json, `${JSON.stringify({ options: o, results, idle: idleReport, pochtamtHwmKiB: hwm, policy: policyReport, at: new Date().toISOString() }, null, 2)}\n`);
    say(`results written to ${o.json}`);
  }
  const errors = results.filter((r) => r.error).length;
  if (pochtamt) {
    const logText = (() => { try { return readFileSync(pochtamt.logFile, 'utf8').trim(); } catch { return ''; } })();
    if (logText) say(`\nPochtamt log (${pochtamt.logFile}), last lines:\n${logText.split('\n').slice(-10).join('\n')}`);
  }
  if (pochtamtPolicy) {
    const logText = (() => { try { return readFileSync(pochtamtPolicy.logFile, 'utf8').trim(); } catch { return ''; } })();
    if (logText) say(`\nPochtamt + policy log (${pochtamtPolicy.logFile}), last lines:\n${logText.split('\n').slice(-10).join('\n')}`);
  }
  process.exitCode = errors ? 1 : 0;
}

runMain('bench:smtp', main);
