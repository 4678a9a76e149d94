// The outside world of the SMTP benchmark's --policy mode (bench/README.md): a local DNS server
// (dns2) with SPF, DKIM and DMARC records for the sender's domain and empty DNSBL/RHSBL zones,
// private spamd (loopback port) and clamd (unix socket) daemons (local rules only; a one-signature ClamAV
// database), the DKIM-signed message the load sends, and the measurements around the run:
// spamd and clamd alone (the project's own clients, from this process), each filter step
// timed in this process, and the per-step times the instance traced (trace_event rows).
// The startup logic follows test/helpers/fake-dns.ts and test/security/helpers.ts, copied here because the bench must not
// import from test/. Must never listen beyond 127.0.0.1.
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import dns2 from 'dns2';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { silentLogger } from '../../src/observability/logger.js';
import { ClamdPool, clamdScan } from '../../src/policy/clamd.client.js';
import { createPolicyResolver } from '../../src/policy/dns.js';
import { runPipeline, type FilterStep, type MessageFacts, type PipelineResult } from '../../src/policy/pipeline.js';
import type { PolicyConfig } from '../../src/policy/policy-config.js';
import { spamdCheck } from '../../src/policy/spamd.client.js';
import { dnsblStep } from '../../src/policy/steps/05-dnsbl.step.js';
import { senderAuthStep } from '../../src/policy/steps/10-sender-auth.step.js';
import { attachmentsStep } from '../../src/policy/steps/20-attachments.step.js';
import { clamavStep } from '../../src/policy/steps/30-clamav.step.js';
import { spamStep } from '../../src/policy/steps/40-spamassassin.step.js';
import { onCleanup } from '../common/cleanup.js';
import { freePort } from '../common/net.js';
import type { SqliteDb } from '../common/pochtamt-db.js';
import { sleep, spawnLogged, stopChild, tail, type Child } from '../common/process.js';

export const DNSBL_ZONE = 'dnsbl.bench.test';
export const RHSBL_ZONE = 'rhsbl.bench.test';
export const DKIM_SELECTOR = 'bench';
/** The filter steps in the order the instance runs them (dnsbl at MAIL FROM, the rest after DATA). */
export const STEPS = ['dnsbl', 'sender-auth', 'attachments', 'clamav', 'spamassassin'] as const;

// ------------------------------------------------------------------ DNS

export interface Zone { [name: string]: { a?: string[]; txt?: string[] } }
export interface Dns { server: string; queries(): number; stop(): Promise<void> }

/** An authoritative dns2 server on 127.0.0.1 (UDP) answering A and TXT from `zone`, NXDOMAIN otherwise. */
export async function startDns(zone: Zone): Promise<Dns> {
  const { Packet } = dns2;
  let queries = 0;
  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      queries++;
      const response = Packet.createResponseFromRequest(request);
      const [q] = request.questions;
      const entry = zone[q?.name.toLowerCase().replace(/\.$/, '') ?? ''];
      if (!q || !entry) response.header.rcode = 3; // NXDOMAIN: every DNSBL/RHSBL lookup ends here
      else {
        const base = { name: q.name, class: Packet.CLASS.IN, ttl: 1 };
        if (q.type === Packet.TYPE.A) for (const address of entry.a ?? []) response.answers.push({ ...base, type: Packet.TYPE.A, address } as dns2.Packet.Resource);
        if (q.type === Packet.TYPE.TXT) {
          for (const t of entry.txt ?? []) {
            const chunks: string[] = [];
            for (let i = 0; i < t.length; i += 255) chunks.push(t.slice(i, i + 255));
            response.answers.push({ ...base, type: Packet.TYPE.TXT, data: chunks } as unknown as dns2.Packet.Resource);
          }
        }
      }
      void send(response);
    },
  });
  const addrs = await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  const stop = () => server.close();
  const unregister = onCleanup('dns2 server', stop);
  return { server: `127.0.0.1:${addrs.udp!.port}`, queries: () => queries, stop: async () => { unregister(); await stop(); } };
}

// ------------------------------------------------------------------ the message

export interface MessageSigner {
  /** SPF (127.0.0.1 and the HELO name), DKIM key and DMARC (p=reject) records of the sender's domain. */
  zone: Zone;
  /** A DKIM-signed message (rsa-sha256, relaxed/relaxed) with a body of about `size` bytes in 76-character lines. */
  message(size: number): Promise<Buffer>;
}

/** One RSA key for the sender's domain, and the records that make SPF, DKIM and DMARC pass for mail from 127.0.0.1. */
export function messageSigner(o: { sender: string; recipient: string; heloName: string }): MessageSigner {
  const domain = o.sender.slice(o.sender.lastIndexOf('@') + 1);
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const pub = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  let seq = 0;
  return {
    zone: {
      [domain]: { txt: ['v=spf1 ip4:127.0.0.1 -all'] },
      [`_dmarc.${domain}`]: { txt: ['v=DMARC1; p=reject'] },
      [`${DKIM_SELECTOR}._domainkey.${domain}`]: { txt: [`v=DKIM1; k=rsa; p=${pub}`] },
      [o.heloName]: { a: ['127.0.0.1'], txt: ['v=spf1 ip4:127.0.0.1 -all'] },
    },
    async message(size: number): Promise<Buffer> {
      const line = 'The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.'.slice(0, 76);
      const lines: string[] = [];
      for (let n = 0; n < size;) {
        const l = line.slice(0, Math.max(1, Math.min(line.length, size - n - 2)));
        lines.push(l);
        n += l.length + 2;
      }
      const head = [`From: Bench Sender <${o.sender}>`, `To: <${o.recipient}>`, `Subject: policy benchmark ${size} bytes`,
        `Message-ID: <policy-bench.${Date.now()}.${++seq}@${domain}>`, `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
        'MIME-Version: 1.0', 'Content-Type: text/plain; charset=us-ascii'];
      const unsigned = Buffer.from(`${head.join('\r\n')}\r\n\r\n${lines.join('\r\n')}\r\n`, 'latin1');
      const key = { signingDomain: domain, selector: DKIM_SELECTOR, privateKey: pem, canonicalization: 'relaxed/relaxed' };
      const signed = await dkimSign(unsigned, { ...key, signatureData: [key] });
      if (!signed.signatures) throw new Error(`DKIM signing failed: ${JSON.stringify(signed.errors ?? [])}`);
      return Buffer.concat([Buffer.from(signed.signatures, 'latin1'), unsigned]);
    },
  };
}

// ------------------------------------------------------------------ daemons

/** A daemon on loopback: spamd listens on `port`, clamd on its unix `socket` (port 0). */
export interface Daemon { port: number; socket?: string; pid: number; logFile: string; alive(): boolean; stop(): Promise<void> }

/** Waits until the daemon accepts connections on 127.0.0.1:port or on the unix socket at that path. */
async function waitListening(where: number | string, child: Child, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (child.exitCode !== undefined) throw new Error(`exited (${child.exitCode}):\n${tail(child.logFile, 15)}`);
    const ok = await new Promise<boolean>((r) => {
      const s = typeof where === 'number' ? net.connect({ host: '127.0.0.1', port: where }) : net.connect({ path: where });
      s.on('connect', () => { s.destroy(); r(true); });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await sleep(200);
  }
  throw new Error(`did not listen on ${typeof where === 'number' ? `127.0.0.1:${where}` : where} within ${ms / 1000} s:\n${tail(child.logFile, 15)}`);
}

function daemon(name: string, child: Child, port: number, socket?: string): Daemon {
  const unregister = onCleanup(name, () => stopChild(child, 5000));
  return {
    port, socket, pid: child.proc.pid!, logFile: child.logFile, alive: () => child.exitCode === undefined,
    stop: async () => { unregister(); await stopChild(child, 5000); },
  };
}

/**
 * spamd (Debian `spamd`), local rules only (no Bayes, no network tests), `children` preforked
 * children, as user nobody when run as root. Returns once a first scan (which compiles the rules) is done.
 */
export async function startSpamd(dir: string, children: number): Promise<Daemon> {
  const base = path.join(dir, 'spamd');
  const site = path.join(base, 'site');
  const home = path.join(base, 'home');
  mkdirSync(site, { recursive: true });
  mkdirSync(home);
  chmodSync(base, 0o755);
  chmodSync(home, 0o777); // spamd drops root for nobody
  for (const f of readdirSync('/etc/spamassassin').filter((x) => x.endsWith('.pre'))) copyFileSync(path.join('/etc/spamassassin', f), path.join(site, f));
  writeFileSync(path.join(site, 'local.cf'), 'use_bayes 0\nskip_rbl_checks 1\ndns_available no\nuse_razor2 0\nuse_pyzor 0\n');
  const port = await freePort();
  const args = ['--listen', `127.0.0.1:${port}`, '-L', '-x', '--siteconfigpath', site, '--pidfile', path.join(base, 'spamd.pid'),
    '--max-children', String(children), '--min-children', String(children), '--min-spare', '1', '--max-spare', String(children),
    '-H', home, '--syslog=stderr'];
  if (process.getuid?.() === 0) args.push('-u', 'nobody');
  const child = spawnLogged('spamd', args, path.join(base, 'spamd.log'));
  const d = daemon('spamd', child, port);
  try {
    await waitListening(port, child, 60_000);
    await spamdCheck({ host: '127.0.0.1', port, timeoutMs: 60_000 }, Buffer.from('Subject: warm-up\r\n\r\nhello\r\n'));
  } catch (e) {
    await d.stop();
    throw new Error(`spamd did not start: ${(e as Error).message}`);
  }
  return d;
}

export const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

/**
 * clamd (Debian `clamav-daemon`) with a one-signature local database (EICAR): no download.
 * It listens on a unix socket only, as Debian's clamd does (LocalSocket
 * /var/run/clamav/clamd.ctl, no TCP) and as policy.clamav.socket defaults to.
 */
export async function startClamd(dir: string, threads: number): Promise<Daemon> {
  const base = path.join(dir, 'clamd');
  const db = path.join(base, 'db');
  mkdirSync(db, { recursive: true });
  writeFileSync(path.join(db, 'eicar.ndb'), `Eicar-Test-Signature:0:*:${Buffer.from(EICAR).toString('hex')}\n`);
  const socket = path.join(base, 'clamd.ctl');
  const conf = path.join(base, 'clamd.conf');
  writeFileSync(conf, [`LocalSocket ${socket}`, 'LocalSocketMode 666', `DatabaseDirectory ${db}`, 'Foreground yes',
    `LogFile ${path.join(base, 'clamd.log')}`, `PidFile ${path.join(base, 'clamd.pid')}`, `MaxThreads ${threads}`, ''].join('\n'));
  const child = spawnLogged('clamd', ['-c', conf], path.join(base, 'clamd.out'));
  const d = daemon('clamd', child, 0, socket);
  try {
    await waitListening(socket, child, 60_000);
    const r = await clamdScan({ socket, host: null, port: 0, timeoutMs: 30_000 }, Buffer.from(EICAR));
    if (!r.infected) throw new Error('clamd did not find the EICAR test signature');
  } catch (e) {
    await d.stop();
    throw new Error(`clamd did not start: ${(e as Error).message}`);
  }
  return d;
}

// ------------------------------------------------------------------ statistics

export interface Stats { n: number; p50: number; p95: number; mean: number }

export function stats(values: number[]): Stats | null {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
  return { n: s.length, p50: at(0.5), p95: at(0.95), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

// ------------------------------------------------------------------ spamd and clamd alone

export interface AloneResult {
  what: 'spamd' | 'clamd' | 'clamd+spamd';
  concurrency: number;
  requests: number;
  seconds: number;
  /** Requests per second. */
  rate: number;
  latency: Stats;
  /** CPU seconds the daemon processes used (user + system). */
  daemonCpuSeconds: number | null;
  errors: number;
}

/**
 * `requests` requests of `raw` from this process with the project's own clients
 * (src/policy/spamd.client.ts SYMBOLS, src/policy/clamd.client.ts INSTREAM), `concurrency` at a
 * time; 'clamd+spamd' does both for each message, one after the other, as the pipeline does.
 */
export async function timeDaemonsAlone(o: {
  what: AloneResult['what']; spamdPort: number; clamdSocket: string; raw: Buffer; recipient: string; requests: number; concurrency: number;
  cpu?: () => number;
}): Promise<AloneResult> {
  const spamd = () => spamdCheck({ host: '127.0.0.1', port: o.spamdPort, timeoutMs: 60_000, user: o.recipient }, o.raw);
  const clamd = () => clamdScan({ socket: o.clamdSocket, host: null, port: 0, timeoutMs: 60_000 }, o.raw);
  const one = o.what === 'spamd' ? spamd : o.what === 'clamd' ? clamd : async () => { await clamd(); await spamd(); };
  const lat: number[] = [];
  let errors = 0;
  let next = 0;
  const cpu0 = o.cpu?.() ?? null;
  const start = performance.now();
  await Promise.all(Array.from({ length: Math.min(o.concurrency, o.requests) }, async () => {
    while (next < o.requests) {
      next++;
      const t = performance.now();
      try {
        await one();
        lat.push(performance.now() - t);
      } catch {
        errors++;
      }
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  return {
    what: o.what, concurrency: o.concurrency, requests: o.requests, seconds, rate: lat.length / seconds,
    latency: stats(lat) ?? { n: 0, p50: NaN, p95: NaN, mean: NaN }, daemonCpuSeconds: cpu0 === null ? null : o.cpu!() - cpu0, errors,
  };
}

// ------------------------------------------------------------------ the steps in this process

/**
 * Each filter step, built by the instance's own factories (src/policy/steps/) from the same
 * policy config, run `n` times one after the other on `raw` through runPipeline, timed with
 * performance.now(). The instance traces only steps that say something (not a plain accept),
 * and in whole milliseconds; this fills in dnsbl and attachments, and gives sub-millisecond times.
 * The sender-auth step gets a stub for "is this domain ours?" (the instance asks its store).
 */
/** Warm-up runs of what waits for spamd (see timeStepsInProcess). */
const SPAMD_WARMUP = 100;

export interface InProcessStep {
  stats: Stats; verdicts: string[];
  /** bench-process CPU (user + system) per run, ms */
  cpuMs: number;
  /** 'pipeline' only: each run's time minus that of the bare exchanges right after it. */
  minusBare?: Stats;
}

/**
 * Runs each filter step alone, then the whole pipeline taking turns with the bare daemon
 * exchanges ('bare'), `n` times one message at a time: latency (performance.now()) and this
 * process's CPU per run. The daemons run in their own processes, so the CPU here is the
 * client's side only; pipeline − bare is Pochtamt's own, which is what the overhead target is about.
 */
export async function timeStepsInProcess(o: {
  policy: PolicyConfig; hostname: string; localDomain: string; raw: Buffer; sender: string; recipient: string; heloName: string; n: number;
  /**
   * Untimed runs of each step first (default 1); of the spamassassin step and of the pipeline
   * and bare series, at most SPAMD_WARMUP (each waits ~100 ms for spamd; the code they share
   * with the other steps is warm by then).
   */
  warmup?: number;
}): Promise<Record<string, InProcessStep>> {
  const p = o.policy;
  const resolver = createPolicyResolver(p.dnsServers, p.dnsTimeoutMs, p.dnsCache);
  const steps: FilterStep[] = [
    dnsblStep(p.dnsbl, resolver, silentLogger),
    senderAuthStep({ cfg: p.senderAuth, hostname: o.hostname, resolver, accounts: { isLocalDomain: async (d: string) => d.toLowerCase() === o.localDomain } }),
    attachmentsStep(p.attachments),
    clamavStep(p.clamav),
    spamStep(p.spamassassin, null),
  ];
  const facts: MessageFacts = {
    queueId: 'BENCH', remoteAddress: '127.0.0.1', heloName: o.heloName, sender: o.sender, recipients: [o.recipient],
    raw: o.raw, accountId: null, trusted: false, tls: false,
  };
  const out: Record<string, InProcessStep> = {};
  const verdictOf = (r: PipelineResult) => {
    if (r.steps.length !== 1) return r.final.action + (r.steps.some((s) => s.failed) ? ' (a step failed)' : '');
    const s = r.steps[0]!;
    return s.failed ? `failed: ${s.failed}` : s.verdict.action + ('reason' in s.verdict ? `: ${s.verdict.reason}` : '');
  };
  for (const step of steps) {
    const times: number[] = [];
    const verdicts = new Set<string>();
    const warmup = Math.max(1, step.name === 'spamassassin' ? Math.min(SPAMD_WARMUP, o.warmup ?? 1) : o.warmup ?? 1);
    for (let i = 0; i < warmup; i++) await runPipeline([step], facts); // warm-up (JIT, first connection)
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < o.n; i++) {
      const t = performance.now();
      const r = await runPipeline([step], facts);
      times.push(performance.now() - t);
      verdicts.add(verdictOf(r));
    }
    const cpu = process.cpuUsage(cpu0);
    out[step.name] = { stats: stats(times)!, verdicts: [...verdicts].map((v) => v.slice(0, 120)), cpuMs: (cpu.user + cpu.system) / 1000 / o.n };
  }
  // The whole pipeline, and in turn with it the bare exchanges with the two daemons the
  // pipeline talks to (a pooled clamd INSTREAM, then a spamd SYMBOLS check, as the steps do, with
  // nothing else around them): what any client pays to use clamd and spamd, waking up for
  // their answers included. Taking turns puts both under the same conditions (each follows a
  // ~100 ms wait for spamd), so pipeline − bare is what Pochtamt's own steps add.
  const pool = new ClamdPool({ maxConnections: p.clamav.maxConnections, idleMs: p.clamav.idleSeconds * 1000 });
  const bare = async () => {
    await pool.scan(p.clamav, o.raw);
    await spamdCheck({ socket: p.spamassassin.socket, host: p.spamassassin.host, port: p.spamassassin.port, timeoutMs: p.spamassassin.timeoutMs, user: o.recipient }, o.raw);
    return 'clamd, then spamd';
  };
  const whole = async () => verdictOf(await runPipeline(steps, facts));
  const series = { pipeline: { fn: whole, times: [] as number[], cpu: 0, verdicts: new Set<string>() }, bare: { fn: bare, times: [] as number[], cpu: 0, verdicts: new Set<string>() } };
  for (let i = 0; i < Math.max(1, Math.min(SPAMD_WARMUP, o.warmup ?? 1)); i++) { await whole(); await bare(); }
  for (let i = 0; i < o.n; i++) {
    for (const x of Object.values(series)) {
      const c0 = process.cpuUsage();
      const t = performance.now();
      x.verdicts.add(await x.fn());
      x.times.push(performance.now() - t);
      const c = process.cpuUsage(c0);
      x.cpu += c.user + c.system;
    }
  }
  pool.close();
  for (const [name, x] of Object.entries(series)) {
    out[name] = { stats: stats(x.times)!, verdicts: [...x.verdicts].map((v) => v.slice(0, 120)), cpuMs: x.cpu / 1000 / o.n };
  }
  out.pipeline!.minusBare = stats(series.pipeline.times.map((t, i) => t - series.bare.times[i]!))!;
  return out;
}

// ------------------------------------------------------------------ what the instance traced

export interface TracedSteps {
  /** step -> its traced ms values (policy.step.* rows: only steps whose verdict was not a plain accept). */
  perStep: Record<string, number[]>;
  /** step -> action counts (tag, junk, reject, ...). */
  actions: Record<string, Record<string, number>>;
  /** Per message: the sum of its traced step times. */
  pipelinePerMessage: number[];
  /** Per message: traced time of the steps that are Pochtamt's own code (not clamav/spamassassin). */
  ownPerMessage: number[];
  messages: number;
  examples: string[];
}

/** policy.step.* trace_event rows written at or after `since` (epoch ms), read from the instance's store. */
export function tracedSteps(db: SqliteDb, since: number): TracedSteps {
  const rows = (db.prepare(`SELECT "queueId" AS q, event, detail FROM trace_event WHERE at >= ? AND event LIKE 'policy.step.%' ORDER BY id`) as unknown as {
    all(...a: unknown[]): Array<{ q: string; event: string; detail: string }>;
  }).all(since);
  const perStep: Record<string, number[]> = {};
  const actions: Record<string, Record<string, number>> = {};
  const byMsg = new Map<string, { all: number; own: number }>();
  const examples: string[] = [];
  for (const r of rows) {
    let d: { step?: string; ms?: number; reason?: string };
    try { d = JSON.parse(r.detail) as typeof d; } catch { continue; }
    const step = d.step ?? '?';
    const action = r.event.slice('policy.step.'.length);
    (actions[step] ??= {})[action] = (actions[step][action] ?? 0) + 1;
    if (action !== 'tag' && examples.length < 5) examples.push(`${r.event} ${step}: ${d.reason ?? ''}`.slice(0, 200));
    if (typeof d.ms !== 'number') continue;
    (perStep[step] ??= []).push(d.ms);
    const m = byMsg.get(r.q) ?? { all: 0, own: 0 };
    m.all += d.ms;
    if (step !== 'clamav' && step !== 'spamassassin') m.own += d.ms;
    byMsg.set(r.q, m);
  }
  return {
    perStep, actions, messages: byMsg.size, examples,
    pipelinePerMessage: [...byMsg.values()].map((m) => m.all), ownPerMessage: [...byMsg.values()].map((m) => m.own),
  };
}

/** The instance's config edit for --policy: the daemons, the resolver, the DNSBL zones; checks apply to 127.0.0.1. */
export function policyConfig(o: { dns: string; spamdPort: number; clamdSocket: string }): Record<string, unknown> {
  return {
    enabled: true,
    dnsServers: [o.dns],
    // The default (loopback) would skip every check for smtp-source on 127.0.0.1.
    trustedNetworks: [],
    senderAuth: { enabled: true, enforceDmarc: true, rejectForgedLocal: true },
    dnsbl: { enabled: true, zones: [DNSBL_ZONE], domainZones: [RHSBL_ZONE], action: 'reject' },
    attachments: { enabled: true },
    spamassassin: { enabled: true, host: '127.0.0.1', port: o.spamdPort, timeoutMs: 60_000, onFailure: 'tempfail' },
    clamav: { enabled: true, socket: o.clamdSocket, host: null, timeoutMs: 60_000, onFailure: 'tempfail' },
    // Not filters: greylisting answers 451 to every first delivery (smtp-source does not retry),
    // and the default rates (1000 messages an hour per IP, 60 connections a minute) would refuse the load.
    greylist: { enabled: false },
    rateLimits: { enabled: false },
  };
}

export const haveDaemons = (): string[] => [
  ...(existsSync('/usr/sbin/spamd') || existsSync('/usr/bin/spamd') ? [] : ['spamd']),
  ...(existsSync('/usr/sbin/clamd') || existsSync('/usr/bin/clamd') ? [] : ['clamav-daemon']),
  ...(existsSync('/etc/spamassassin/v320.pre') ? [] : ['spamassassin']),
];

// ------------------------------------------------------------------ instant daemons

export interface InstantDaemons { spamdPort: number; clamdSocket: string; requests(): number; stop(): Promise<void> }

/**
 * Stand-ins for spamd and clamd that answer every request at once with a clean verdict, in the
 * bench process, speaking the same wire protocols (SPAMC/1.5 SYMBOLS: "Spam: False ; 0.0 / 5.0";
 * clamd IDSESSION + INSTREAM: "<id>: stream: OK"), spamd on a loopback port and clamd on a unix
 * socket in `dir`, as the real ones. Not a test of anything: with them, a run
 * with the policy on is not paced by spamd, so the server is busy rather than waking up from a
 * wait for every message, and on − off is the filters' own CPU at the server's full speed.
 */
export async function startInstantDaemons(dir: string): Promise<InstantDaemons> {
  let requests = 0;
  const open = new Set<net.Socket>();
  const track = (s: net.Socket) => { open.add(s); s.on('close', () => open.delete(s)); };
  const spamd = net.createServer({ allowHalfOpen: true }, (s) => {
    track(s);
    s.on('error', () => s.destroy());
    s.on('data', () => undefined);
    s.on('end', () => {
      requests++;
      const body = 'NO_RECEIVED,NO_RELAYS';
      s.end(`SPAMD/1.1 0 EX_OK\r\nContent-length: ${body.length}\r\nSpam: False ; 0.0 / 5.0\r\n\r\n${body}`);
    });
  });
  const clamd = net.createServer((s) => {
    track(s);
    s.on('error', () => s.destroy());
    let buf: Buffer = Buffer.alloc(0);
    let id = 0;
    let inStream = false;
    s.on('data', (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      for (;;) {
        if (!inStream) {
          const nul = buf.indexOf(0);
          if (nul === -1) return;
          const cmd = buf.subarray(0, nul).toString('latin1');
          buf = buf.subarray(nul + 1);
          if (cmd === 'zINSTREAM') { inStream = true; id++; continue; }
          if (cmd === 'zEND') { s.end(); return; }
          if (cmd === 'zPING') { s.write(`${++id}: PONG\0`); continue; }
          continue; // zIDSESSION
        }
        if (buf.length < 4) return;
        const n = buf.readUInt32BE(0);
        if (buf.length < 4 + n) return;
        buf = buf.subarray(4 + n);
        if (n === 0) {
          inStream = false;
          requests++;
          s.write(`${id}: stream: OK\0`);
        }
      }
    });
  });
  const spamdPort = await new Promise<number>((resolve, reject) => {
    spamd.once('error', reject);
    spamd.listen(0, '127.0.0.1', () => resolve((spamd.address() as net.AddressInfo).port));
  });
  const clamdSocket = path.join(dir, 'instant-clamd.ctl');
  await new Promise<void>((resolve, reject) => {
    clamd.once('error', reject);
    clamd.listen(clamdSocket, () => resolve());
  });
  const stop = async () => {
    for (const s of open) s.destroy();
    for (const srv of [spamd, clamd]) await new Promise<void>((r) => { srv.close(() => r()); });
  };
  onCleanup('instant daemons', () => { void stop(); });
  return { spamdPort, clamdSocket, requests: () => requests, stop };
}
