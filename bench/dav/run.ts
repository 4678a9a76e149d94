// CalDAV/CardDAV benchmark: Pochtamt side by side with Radicale, same data, same requests, same
// run. PUT throughput, one-month time-range calendar-query, addressbook-query by e-mail,
// sync-collection after a batch of changes. See bench/README.md.
// Usage: npm run bench:dav [-- --events 1000 --contacts 500 ...]
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { installSignalHandlers, isCleaningUp, onCleanup, runMain } from '../common/cleanup.js';
import { makeWorkDir, parseFlags } from '../common/harness.js';
import { cpuSeconds, descendants, procMemKiB } from '../common/memory.js';
import { freePort } from '../common/net.js';
import { cliMain } from '../common/pochtamt-instance.js';
import { aptInstall, failPrerequisites } from '../common/prerequisites.js';
import { run, sleep, tail } from '../common/process.js';
import { tableLines } from '../common/table.js';
import { generateContacts, generateEvents, monthWindows, type ContactSpec, type EventSpec } from './data.js';
import { startPochtamt, type DavServer } from './pochtamt.js';
import { RADICALE_PYTHON, startRadicale } from './radicale.js';
import { addressbookQueries, openSession, putAll, syncRounds, timeRangeQueries, type PhaseResult, type PutResult, type Session } from './workload.js';

type ServerName = 'pochtamt' | 'radicale';
const USER = 'bench@bench.test';
const PASSWORD = 'bench-password-1';

// ------------------------------------------------------------------ options

interface Options {
  events: number;
  recurring: number;
  contacts: number;
  concurrency: number;
  putBudget: number;
  queries: number;
  syncRounds: number;
  changes: number;
  withData: boolean;
  servers: ServerName[];
  seed: number;
  keep: boolean;
  json: string | null;
}

const HELP = `Usage: npm run bench:dav [-- options]     (or node dist/bench/dav/run.js [options])

  --events N        events in the calendar (env BENCH_DAV_EVENTS, default 10000)
  --recurring F     share of weekly recurring events (BENCH_DAV_RECURRING, default 0.1)
  --contacts N      vCards in the address book (BENCH_DAV_CONTACTS, default 5000)
  --concurrency N   PUT requests in flight (BENCH_DAV_CONCURRENCY, default 8)
  --put-budget S    seconds of PUTs per server and collection; the rest is bulk-loaded untimed,
                    0 = no limit (BENCH_DAV_PUT_BUDGET, default 300; see bench/README.md)
  --queries N       time-range and addressbook queries, each (BENCH_DAV_QUERIES, default 50)
  --sync-rounds N   sync-collection rounds (BENCH_DAV_SYNC_ROUNDS, default 10)
  --changes N       changes before each sync-collection (BENCH_DAV_CHANGES, default 10)
  --etag-only       time-range query asks for getetag only, not calendar-data (BENCH_DAV_ETAG_ONLY=1)
  --only WHICH      pochtamt or radicale: run one side only (BENCH_DAV_ONLY)
  --seed N          data seed (BENCH_DAV_SEED, default 1)
  --keep            keep the temporary folder (configs, logs, stores) (BENCH_DAV_KEEP=1)
  --json FILE       also write the results as JSON (BENCH_DAV_JSON)
  --quick           small sizes for a smoke run: 500 events, 250 contacts, 10 queries, 3 sync rounds
`;

const KNOWN = ['events', 'recurring', 'contacts', 'concurrency', 'put-budget', 'queries', 'sync-rounds', 'changes', 'etag-only', 'only', 'seed', 'keep', 'json', 'quick', 'help'];
const BOOLEAN = ['etag-only', 'keep', 'quick', 'help'];

function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options {
  const { get, str, num, bool } = parseFlags(argv, env, { known: KNOWN, booleans: BOOLEAN, help: HELP });
  const quick = get('quick') === true;
  const only = str('only', 'BENCH_DAV_ONLY', '');
  if (only && only !== 'pochtamt' && only !== 'radicale') throw new Error('--only must be pochtamt or radicale');
  const recurring = num('recurring', 'BENCH_DAV_RECURRING', 0.1, 0, false);
  if (recurring > 1) throw new Error('--recurring is a share between 0 and 1');
  return {
    events: num('events', 'BENCH_DAV_EVENTS', quick ? 500 : 10000, 10),
    recurring,
    contacts: num('contacts', 'BENCH_DAV_CONTACTS', quick ? 250 : 5000, 1),
    concurrency: num('concurrency', 'BENCH_DAV_CONCURRENCY', 8, 1),
    putBudget: num('put-budget', 'BENCH_DAV_PUT_BUDGET', 300, 0, false),
    queries: num('queries', 'BENCH_DAV_QUERIES', quick ? 10 : 50, 1),
    syncRounds: num('sync-rounds', 'BENCH_DAV_SYNC_ROUNDS', quick ? 3 : 10, 1),
    changes: num('changes', 'BENCH_DAV_CHANGES', 10, 3),
    withData: !bool('etag-only', 'BENCH_DAV_ETAG_ONLY'),
    servers: only ? [only as ServerName] : ['pochtamt', 'radicale'],
    seed: num('seed', 'BENCH_DAV_SEED', 1, 0),
    keep: bool('keep', 'BENCH_DAV_KEEP'),
    json: str('json', 'BENCH_DAV_JSON', '') || null,
  };
}

// ------------------------------------------------------------------ prerequisites

function checkPrerequisites(o: Options): void {
  const problems: string[] = [];
  if (o.servers.includes('radicale')) {
    const r = run(RADICALE_PYTHON, ['-c', 'import radicale'], { allowFail: true, timeoutMs: 30_000 });
    if (r.code !== 0) {
      problems.push(`Radicale is not importable by ${RADICALE_PYTHON} (${r.out.trim().split('\n').pop() || `exit ${r.code}`})`);
      failPrerequisites(problems, `Install it with:\n${aptInstall(['radicale'])}`
        + '(no system daemon is used: the benchmark runs a private Radicale on a loopback port)\n'
        + 'or benchmark Pochtamt alone with --only pochtamt.\n');
    }
  }
  if (o.servers.includes('pochtamt')) {
    try {
      statSync(cliMain);
    } catch {
      process.stderr.write(`${cliMain} is missing: build Pochtamt first (npm run build), or use --only radicale.\n`);
      process.exit(1);
    }
  }
}

// ------------------------------------------------------------------ output helpers

function dirSize(dir: string): number {
  let n = 0;
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) n += dirSize(p);
      else if (e.isFile()) n += statSync(p).size;
    }
  } catch { /* gone */ }
  return n;
}

const f1 = (v: number | null | undefined, d = 1) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(d));

interface ServerRun {
  server: DavServer;
  session: Session | null;
  /** Why this server could not be measured at all (start or discovery failed). */
  unusable: string | null;
  phases: Partial<Record<PhaseName, PhaseResult>>;
  rssKiB: number | null;
  diskBytes: number | null;
}
type PhaseName = 'putEvents' | 'putContacts' | 'timeRange' | 'abQuery' | 'syncInitial' | 'syncDelta';

interface Row { label: string; get: (r: ServerRun) => number | null | undefined; digits?: number; ratio?: 'higher' | 'lower'; target?: string; targetCheck?: (p: number | null, ratio: number | null) => boolean | null }

function printReport(o: Options, runs: ServerRun[]): number {
  const P = runs.find((r) => r.server.name === 'pochtamt' && !r.unusable);
  const R = runs.find((r) => r.server.name === 'radicale' && !r.unusable);
  const ph = (r: ServerRun, n: PhaseName) => r.phases[n];
  // When a time budget cut a server's PUTs short, compare both over the same first N PUTs.
  const sameN = (n: PhaseName) => {
    const cs = [P, R].filter((x): x is ServerRun => !!x).map((x) => (x.phases[n] as PutResult | undefined)?.completions ?? []);
    const total = n === 'putEvents' ? o.events : o.contacts;
    const m = cs.length === 2 ? Math.min(...cs.map((c) => c.length)) : 0;
    return m > 0 && m < total ? m : 0;
  };
  const rateOverFirst = (r: ServerRun, n: PhaseName, m: number) => {
    const c = (r.phases[n] as PutResult | undefined)?.completions;
    return c && c.length >= m ? m / (c[m - 1]! / 1000) : null;
  };
  const nEv = sameN('putEvents');
  const nCt = sameN('putContacts');
  const putTarget = { target: '>= 3x', targetCheck: (_p: number | null, x: number | null) => (x === null ? null : x >= 3) };
  const rows: Row[] = [
    { label: `PUT events, events/s (${o.concurrency} in flight)`, get: (r) => ph(r, 'putEvents')?.rate, ratio: 'higher', ...(nEv ? {} : putTarget) },
    ...(nEv ? [{ label: `  over the first ${nEv} PUTs of both, events/s`, get: (r: ServerRun) => rateOverFirst(r, 'putEvents', nEv), ratio: 'higher' as const, ...putTarget }] : []),
    { label: '  PUT event latency p50, ms', get: (r) => ph(r, 'putEvents')?.latency?.p50, ratio: 'lower' },
    { label: '  PUT event latency p95, ms', get: (r) => ph(r, 'putEvents')?.latency?.p95, ratio: 'lower' },
    { label: '  server CPU per event PUT, ms', get: (r) => cpuPer(ph(r, 'putEvents')), ratio: 'lower', digits: 2 },
    { label: `PUT vCards, cards/s (${o.concurrency} in flight)`, get: (r) => ph(r, 'putContacts')?.rate, ratio: 'higher' },
    ...(nCt ? [{ label: `  over the first ${nCt} PUTs of both, cards/s`, get: (r: ServerRun) => rateOverFirst(r, 'putContacts', nCt), ratio: 'higher' as const }] : []),
    { label: `time-range query (1 month) p50, ms`, get: (r) => ph(r, 'timeRange')?.latency?.p50, ratio: 'lower', target: '>= 10x', targetCheck: (_p, x) => (x === null ? null : x >= 10) },
    { label: `time-range query (1 month) p95, ms`, get: (r) => ph(r, 'timeRange')?.latency?.p95, ratio: 'lower', target: 'P <= 50 ms', targetCheck: (p) => (p === null ? null : p <= 50) },
    { label: '  server CPU per query, ms', get: (r) => cpuPer(ph(r, 'timeRange')), ratio: 'lower' },
    { label: `sync-collection after ${o.changes} changes p50, ms`, get: (r) => ph(r, 'syncDelta')?.latency?.p50, ratio: 'lower' },
    { label: `sync-collection after ${o.changes} changes p95, ms`, get: (r) => ph(r, 'syncDelta')?.latency?.p95, ratio: 'lower' },
    { label: `  initial sync-collection (${o.events} items), ms`, get: (r) => ph(r, 'syncInitial')?.latency?.p50, ratio: 'lower' },
    { label: 'addressbook-query by e-mail p50, ms', get: (r) => ph(r, 'abQuery')?.latency?.p50, ratio: 'lower' },
    { label: 'addressbook-query by e-mail p95, ms', get: (r) => ph(r, 'abQuery')?.latency?.p95, ratio: 'lower' },
    { label: 'server RSS after loading, MiB', get: (r) => (r.rssKiB === null ? null : r.rssKiB / 1024) },
    { label: 'storage on disk after loading, MiB', get: (r) => (r.diskBytes === null ? null : r.diskBytes / 1048576) },
  ];
  const head = ['Measure', 'Pochtamt', 'Radicale', 'Ratio', 'Target', ''];
  const table = rows.map((row) => {
    const p = P ? row.get(P) ?? null : null;
    const r = R ? row.get(R) ?? null : null;
    let ratio: number | null = null;
    if (row.ratio && p !== null && r !== null && p > 0 && r > 0) ratio = row.ratio === 'higher' ? p / r : r / p;
    const check = row.targetCheck ? row.targetCheck(p, ratio) : null;
    return [row.label, f1(p, row.digits), f1(r, row.digits), ratio === null ? (row.ratio ? '-' : '') : `${ratio.toFixed(2)}x`,
      row.target ?? '', check === null ? '' : check ? 'met' : 'NOT MET'];
  });
  const out: string[] = tableLines(head, table, (i) => i === 0 || i >= 4);
  out.push('', 'Ratio: for throughput Pochtamt / Radicale, for times Radicale / Pochtamt. Higher is better for Pochtamt in both.');
  out.push('The 10x time-range target is checked on p50; p95 <= 50 ms is Pochtamt\'s own p95.');
  let errors = 0;
  for (const r of runs) {
    if (r.unusable) {
      out.push(`  ! ${r.server.label}: not measured: ${r.unusable}`);
      errors++;
      continue;
    }
    for (const [name, p] of Object.entries(r.phases) as Array<[PhaseName, PhaseResult]>) {
      for (const n of p.notes) out.push(`  ${r.server.label} ${name}: ${n}`);
      for (const e of p.errors) out.push(`  ! ${r.server.label} ${name}: ${e}`);
      if (p.errors.length) errors++;
    }
  }
  process.stdout.write(`${out.join('\n')}\n`);
  return errors;
}

const cpuPer = (p: PhaseResult | undefined) => (p && p.cpu !== null && p.ops ? (p.cpu * 1000) / p.ops : null);

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2), process.env);
  checkPrerequisites(o);
  installSignalHandlers();
  const progress = Boolean(process.stderr.isTTY);
  const say = (s: string) => process.stderr.write(`${s}\n`);

  const dir = makeWorkDir('pochtamt-bench-dav-', o.keep, say);
  const runId = `${Date.now().toString(36)}`;

  say(`DAV benchmark: ${o.events} events (${Math.round(o.recurring * 100)}% weekly recurring), ${o.contacts} vCards, PUT concurrency ${o.concurrency}, `
    + `${o.queries} queries, ${o.syncRounds} sync rounds of ${o.changes} changes; ${os.cpus().length} CPUs; work folder ${dir}`);
  const tg = performance.now();
  const events: EventSpec[] = generateEvents(o.events, o.seed, o.recurring);
  const contacts: ContactSpec[] = generateContacts(o.contacts, o.seed);
  const windows = monthWindows(o.queries, o.seed);
  const evBytes = events.reduce((s, e) => s + e.ics.length, 0);
  say(`  data generated in ${((performance.now() - tg) / 1000).toFixed(1)} s: ${events.filter((e) => e.recurring).length} recurring events, `
    + `${(evBytes / events.length).toFixed(0)} bytes per event on average, ${(contacts.reduce((s, c) => s + c.vcf.length, 0) / Math.max(1, contacts.length)).toFixed(0)} bytes per vCard`);

  const runs: ServerRun[] = [];
  for (const name of o.servers) {
    const port = await freePort();
    let server: DavServer;
    try {
      say(`Starting ${name === 'pochtamt' ? 'Pochtamt' : 'Radicale'}...`);
      server = name === 'pochtamt'
        ? await startPochtamt({ dir, port, domain: 'bench.test', user: USER, password: PASSWORD }, say)
        : await startRadicale({ dir, port, user: USER, password: PASSWORD, maxConnections: Math.max(8, o.concurrency * 2) }, say);
    } catch (e) {
      say(`  ${name} did not start: ${(e as Error).message}`);
      runs.push({ server: { name, label: name === 'pochtamt' ? 'Pochtamt' : 'Radicale' } as DavServer, session: null, unusable: `did not start: ${(e as Error).message.split('\n')[0]}`, phases: {}, rssKiB: null, diskBytes: null });
      continue;
    }
    const sr: ServerRun = { server, session: null, unusable: null, phases: {}, rssKiB: null, diskBytes: null };
    runs.push(sr);
    try {
      sr.session = await openSession(server, o.concurrency, runId);
      onCleanup(`${name} client`, () => sr.session?.client.close());
      say(`  ${server.label}: calendar ${sr.session.calendar}, address book ${sr.session.addressbook}`);
    } catch (e) {
      sr.unusable = `discovery or collection creation failed: ${(e as Error).message}`;
      say(`  ${server.label} DAV is not usable: ${(e as Error).message}`);
    }
  }
  const live = runs.filter((r) => r.session && !r.unusable);
  if (!live.length) throw new Error('no server could be measured');

  // Phases interleaved between the servers, so that changes in machine load hit both alike.
  // Each measured phase starts once the other server is done with the previous one: dirty pages
  // written back (sync) and every server process (with its children) idle, below 20 ms of CPU
  // per second, for a second. A server still writing back or compacting after its bulk load
  // otherwise lands in the other server's latencies.
  const settle = async (pids: number[]): Promise<number> => {
    const t0 = performance.now();
    run('sync', [], { timeoutMs: 120_000 });
    for (let quiet = 0; quiet < 2 && performance.now() - t0 < 60_000;) {
      const all = pids.flatMap((p) => descendants(p));
      const c0 = cpuSeconds(all);
      await sleep(500);
      quiet = cpuSeconds(all) - c0 < 0.01 ? quiet + 1 : 0;
    }
    return (performance.now() - t0) / 1000;
  };
  const phase = async (name: PhaseName, label: string, fn: (s: Session) => Promise<PhaseResult>) => {
    for (const r of live) {
      if (!r.server.alive()) {
        r.phases[name] = { ops: 0, seconds: 0, rate: null, latency: null, cpu: null, notes: [], errors: ['server process is gone'] };
        continue;
      }
      say(`${label}: ${r.server.label}...`);
      const waited = await settle(live.map((x) => x.server.pid));
      if (waited > 2) say(`  (waited ${f1(waited)} s for the servers and the disk to go quiet)`);
      let res: PhaseResult;
      try {
        res = await fn(r.session!);
      } catch (e) {
        if (isCleaningUp()) throw e;
        res = { ops: 0, seconds: 0, rate: null, latency: null, cpu: null, notes: [], errors: [`failed: ${(e as Error).message}`] };
      }
      r.phases[name] = res;
      const l = res.latency;
      say(`  ${res.rate !== null ? `${f1(res.rate)}/s, ` : ''}${l ? `p50 ${f1(l.p50)} ms, p95 ${f1(l.p95)} ms, ` : ''}${res.ops} ops in ${f1(res.seconds, 2)} s`
        + `${res.cpu !== null ? `, server CPU ${f1(res.cpu, 2)} s` : ''}${res.errors.length ? `; ERRORS: ${res.errors.join(' | ')}` : ''}`);
    }
  };

  await phase('putEvents', `PUT ${o.events} events`, (s) => putAll(s, 'events', events.map((e) => ({ name: e.name, body: e.ics })), o.concurrency, progress, o.putBudget));
  await phase('putContacts', `PUT ${o.contacts} vCards`, (s) => putAll(s, 'contacts', contacts.map((c) => ({ name: c.name, body: c.vcf })), o.concurrency, progress, o.putBudget));
  for (const r of live) {
    r.rssKiB = procMemKiB(r.server.pid)?.rss ?? null;
    r.diskBytes = dirSize(path.join(dir, r.server.name));
  }
  await phase('timeRange', `${o.queries} one-month time-range queries`, (s) => timeRangeQueries(s, events, windows, o.withData, progress));
  await phase('abQuery', `${o.queries} addressbook-queries by e-mail`, (s) => addressbookQueries(s, contacts, o.queries, o.seed, progress));
  const syncResults = new Map<ServerRun, Awaited<ReturnType<typeof syncRounds>>>();
  await phase('syncInitial', `sync-collection: initial, then ${o.syncRounds} x ${o.changes} changes`, async (s) => {
    const res = await syncRounds(s, events, o.syncRounds, o.changes, o.seed);
    syncResults.set(live.find((r) => r.session === s)!, res);
    return res.initial;
  });
  for (const [r, res] of syncResults) r.phases.syncDelta = res.delta;

  process.stdout.write(`\nDAV benchmark: ${o.events} events (${events.filter((e) => e.recurring).length} weekly recurring, VTIMEZONEs, over two years), `
    + `${o.contacts} vCards; PUT with ${o.concurrency} in flight; ${o.queries} time-range queries (${o.withData ? 'getetag + calendar-data' : 'getetag only'}) `
    + `and ${o.queries} addressbook-queries; ${o.syncRounds} sync-collection rounds.\n`
    + `${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; `
    + `${runs.map((r) => `${r.server.label} ${r.server.version ?? '?'}`).join(', ')}\n\n`);
  const errors = printReport(o, runs);

  if (o.json) {
    writeFileSync(o.json, `${JSON.stringify({
      options: o, at: new Date().toISOString(), cpus: os.cpus().length, loadavg: os.loadavg(),
      servers: runs.map((r) => ({ name: r.server.name, version: r.server.version, unusable: r.unusable, rssKiB: r.rssKiB, diskBytes: r.diskBytes,
        phases: Object.fromEntries(Object.entries(r.phases).map(([k, v]) => [k, { ...v, completions: undefined }])) })),
    }, null, 2)}\n`);
    say(`results written to ${o.json}`);
  }
  for (const r of runs) {
    if (!r.server.logFile) continue;
    const t = tail(r.server.logFile, 8).trim();
    if (t && t !== '(no log)') say(`\n${r.server.label} log (${r.server.logFile}), last lines:\n${t}`);
  }
  process.exitCode = errors ? 1 : 0;
}

runMain('bench:dav', main);
