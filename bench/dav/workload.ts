// The measured phases, each run against one server at a time: bulk PUT, time-range
// calendar-query, addressbook-query by e-mail, sync-collection after a batch of changes. Each
// phase checks the answers against what the generated data must give, so a fast wrong answer
// shows up as an error rather than as a good number.
import { performance } from 'node:perf_hooks';
import { cpuSeconds } from '../common/memory.js';
import { rng, shuffle } from '../common/random.js';
import {
  addressbookQueryBody, calendarQueryBody, DavClient, discover, makeAddressbook, makeCalendar, parseMultistatus, syncCollectionBody, XML_HEADERS,
} from './client.js';
import { expectedMatches, fmtUtc, modifiedEvent, type ContactSpec, type EventSpec } from './data.js';
import type { DavServer } from './pochtamt.js';

export interface Stats { n: number; p50: number; p95: number; mean: number; min: number; max: number }

export function stats(xs: number[]): Stats | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  // Nearest-rank percentiles.
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
  return { n: s.length, p50: q(0.5), p95: q(0.95), mean: s.reduce((a, b) => a + b, 0) / s.length, min: s[0]!, max: s[s.length - 1]! };
}

export interface PhaseResult {
  /** Operations done (PUTs, queries, reports). */
  ops: number;
  seconds: number;
  /** ops / seconds for throughput phases. */
  rate: number | null;
  latency: Stats | null;
  /** Server CPU seconds (user+system) during the phase. */
  cpu: number | null;
  /** Human-readable extra facts (average result count, ...). */
  notes: string[];
  errors: string[];
}

export interface Session {
  server: DavServer;
  client: DavClient;
  calendar: string;
  addressbook: string;
}

/** Decoded path of a collection URL, to compare with the decoded hrefs of parseMultistatus(). */
const pathOf = (s: Session, url: string) => decodeURIComponent(new URL(url, s.server.baseUrl).pathname);

const newResult = (): PhaseResult => ({ ops: 0, seconds: 0, rate: null, latency: null, cpu: null, notes: [], errors: [] });
const MAX_ERRORS = 5;
function addError(r: PhaseResult, msg: string, counter?: { n: number }): void {
  if (counter) counter.n++;
  if (r.errors.length < MAX_ERRORS) r.errors.push(msg);
}

/** Discovery and fresh collections (named with a run id so that nothing pre-exists). */
export async function openSession(server: DavServer, concurrency: number, runId: string): Promise<Session> {
  const client = new DavClient(server.baseUrl, server.user, server.password, concurrency);
  const homes = await discover(client, server.discoveryPaths);
  const calendar = `${homes.calendarHome}bench-${runId}/`;
  const addressbook = `${homes.addressbookHome}bench-book-${runId}/`;
  await makeCalendar(client, calendar, `Benchmark ${runId}`);
  await makeAddressbook(client, addressbook, `Benchmark contacts ${runId}`);
  return { server, client, calendar, addressbook };
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

function progressLine(enabled: boolean) {
  let last = 0;
  return {
    tick(s: string) {
      if (!enabled) return;
      const now = Date.now();
      if (now - last < 300) return;
      last = now;
      process.stderr.write(`\r  ${s}   `);
    },
    done() { if (enabled) process.stderr.write('\r\x1b[K'); },
  };
}

const withCpu = async (s: Session, r: PhaseResult, fn: () => Promise<void>) => {
  const c0 = cpuSeconds([s.server.pid]);
  const t0 = performance.now();
  await fn();
  r.seconds = (performance.now() - t0) / 1000;
  r.cpu = cpuSeconds([s.server.pid]) - c0;
};

// ------------------------------------------------------------------ PUT

export interface PutResult extends PhaseResult {
  /** Completion times (ms from the start) of the successful PUTs, ascending. */
  completions: number[];
  /** Items not PUT because the time budget ran out (written directly with server.preload). */
  preloaded: number;
}

/**
 * PUTs new resources (If-None-Match: *) with `concurrency` requests in flight. When `budgetSeconds`
 * (> 0) has passed, no new PUT starts; the rest goes to the server's preload (writing its storage
 * directly, untimed) so that the later phases see the whole data, or, without preload, is PUT untimed.
 */
export async function putAll(s: Session, what: 'events' | 'contacts', items: Array<{ name: string; body: string }>, concurrency: number,
  progress: boolean, budgetSeconds: number): Promise<PutResult> {
  const r: PutResult = { ...newResult(), completions: [], preloaded: 0 };
  const base = what === 'events' ? s.calendar : s.addressbook;
  const ct = what === 'events' ? 'text/calendar; charset=utf-8' : 'text/vcard; charset=utf-8';
  const lat: number[] = [];
  const failed = { n: 0 };
  let done = 0;
  const p = progressLine(progress);
  const t0 = performance.now();
  const deadline = budgetSeconds > 0 ? t0 + budgetSeconds * 1000 : Infinity;
  let stoppedAt = items.length;
  const put = async (it: { name: string; body: string }, timed: boolean) => {
    try {
      const rep = await s.client.request('PUT', base + it.name, { headers: { 'Content-Type': ct, 'If-None-Match': '*' }, body: it.body });
      if (rep.status !== 201 && rep.status !== 204) addError(r, `PUT ${it.name} -> ${rep.status}: ${rep.body.trim().slice(0, 200)}`, failed);
      else if (timed) { lat.push(rep.ms); r.completions.push(performance.now() - t0); }
    } catch (e) {
      addError(r, `PUT ${it.name}: ${(e as Error).message}`, failed);
    }
  };
  await withCpu(s, r, () => pool(items, concurrency, async (it, i) => {
    if (i >= stoppedAt) return;
    if (performance.now() > deadline) { stoppedAt = Math.min(stoppedAt, i); return; }
    await put(it, true);
    p.tick(`${s.server.label} PUT ${what}: ${++done}/${items.length}`);
  }));
  p.done();
  r.ops = r.completions.length;
  r.rate = r.ops / r.seconds;
  r.latency = stats(lat);
  const rest = items.slice(stoppedAt);
  if (rest.length) {
    r.notes.push(`time budget of ${budgetSeconds} s reached after ${stoppedAt} of ${items.length} PUTs; the rate is over those`);
    if (s.server.preload) {
      await s.server.preload(new URL(base, s.server.baseUrl).pathname, rest.map((x) => ({ name: x.name, body: x.body })));
      r.preloaded = rest.length;
      // Let the server index what it did not see arrive (Radicale: item cache and sync history,
      // which its PUT handler writes), so that the later phases do not pay for it. Untimed.
      await s.client.request('REPORT', base, { headers: { ...XML_HEADERS, Depth: '0' }, body: syncCollectionBody(null) });
      r.notes.push(`the other ${rest.length} were written into its storage folder directly (untimed, then indexed by an untimed sync-collection)`);
    } else {
      await pool(rest, concurrency, (it) => put(it, false));
      r.notes.push(`the other ${rest.length} were PUT untimed`);
    }
  }
  if (failed.n) r.errors.unshift(`${failed.n} of ${items.length} PUTs failed`);
  return r;
}

// ------------------------------------------------------------------ time-range query

const WARM_UP_QUERIES = 3;

export async function timeRangeQueries(s: Session, events: EventSpec[], windows: Array<{ start: number; end: number; label: string }>,
  withData: boolean, progress: boolean): Promise<PhaseResult> {
  const r = newResult();
  const lat: number[] = [];
  const counts: number[] = [];
  const wrong = { n: 0 };
  const p = progressLine(progress);
  // A few unmeasured queries first (caches, JIT tier-up after the long idle of the other
  // server's phases, Radicale's item cache); the same for both servers.
  for (const w0 of windows.slice(0, WARM_UP_QUERIES)) {
    await s.client.request('REPORT', s.calendar, { headers: { ...XML_HEADERS, Depth: '1' }, body: calendarQueryBody(fmtUtc(w0.start), fmtUtc(w0.end), withData) });
  }
  const prefix = pathOf(s, s.calendar);
  // The answers are checked after the last query, not between queries: parsing a 1 MB
  // multistatus and expanding 10,000 events leaves garbage whose collection (on other threads)
  // would otherwise run during the next timed query, on a machine with two cores.
  const replies: Array<{ w: (typeof windows)[number]; status: number; body: string }> = [];
  await withCpu(s, r, async () => {
    for (const w of windows) {
      const rep = await s.client.request('REPORT', s.calendar, { headers: { ...XML_HEADERS, Depth: '1' }, body: calendarQueryBody(fmtUtc(w.start), fmtUtc(w.end), withData) });
      lat.push(rep.ms);
      p.tick(`${s.server.label} time-range query ${lat.length}/${windows.length} (${rep.ms.toFixed(0)} ms)`);
      replies.push({ w, status: rep.status, body: rep.body });
    }
  });
  for (const { w, status, body } of replies) {
    if (status !== 207) { addError(r, `REPORT calendar-query ${w.label} -> ${status}: ${body.trim().slice(0, 200)}`, wrong); continue; }
    const want = expectedMatches(events, w.start, w.end);
    const got = new Set<string>();
    let withoutData = 0;
    for (const x of parseMultistatus(body).responses) {
      if (!x.href.startsWith(prefix) || x.href === prefix) continue;
      got.add(x.href.slice(prefix.length));
      if (withData && !x.props.get('{urn:ietf:params:xml:ns:caldav}calendar-data')?.el.text.includes('BEGIN:VCALENDAR')) withoutData++;
    }
    counts.push(got.size);
    const missing = [...want].filter((n) => !got.has(n));
    const extra = [...got].filter((n) => !want.has(n));
    if (missing.length || extra.length) {
      addError(r, `${w.label}..${new Date(w.end).toISOString().slice(0, 10)}: ${got.size} results, expected ${want.size}`
        + `${missing.length ? `; missing ${missing.length} (e.g. ${missing.slice(0, 3).join(', ')})` : ''}`
        + `${extra.length ? `; unexpected ${extra.length} (e.g. ${extra.slice(0, 3).join(', ')})` : ''}`, wrong);
    }
    if (withoutData) addError(r, `${w.label}: ${withoutData} responses without calendar-data`, wrong);
  }
  p.done();
  r.ops = lat.length;
  r.latency = stats(lat);
  const cs = stats(counts);
  if (cs) r.notes.push(`${cs.mean.toFixed(0)} events per answer on average (${cs.min}..${cs.max})`);
  if (wrong.n) r.errors.unshift(`${wrong.n} of ${windows.length} answers wrong or failed`);
  return r;
}

// ------------------------------------------------------------------ addressbook-query

export async function addressbookQueries(s: Session, contacts: ContactSpec[], runs: number, seed: number, progress: boolean): Promise<PhaseResult> {
  const r = newResult();
  const lat: number[] = [];
  const wrong = { n: 0 };
  const r0 = rng(seed ^ 0xabcdef);
  const picks = Array.from({ length: runs }, () => contacts[Math.floor(r0() * contacts.length)]!);
  const p = progressLine(progress);
  const prefix = pathOf(s, s.addressbook);
  await s.client.request('REPORT', s.addressbook, { headers: { ...XML_HEADERS, Depth: '1' }, body: addressbookQueryBody(contacts[0]!.email) });
  await withCpu(s, r, async () => {
    for (const c of picks) {
      const rep = await s.client.request('REPORT', s.addressbook, { headers: { ...XML_HEADERS, Depth: '1' }, body: addressbookQueryBody(c.email) });
      lat.push(rep.ms);
      p.tick(`${s.server.label} addressbook-query ${lat.length}/${runs} (${rep.ms.toFixed(0)} ms)`);
      if (rep.status !== 207) { addError(r, `REPORT addressbook-query ${c.email} -> ${rep.status}: ${rep.body.trim().slice(0, 200)}`, wrong); continue; }
      const got = parseMultistatus(rep.body).responses.filter((x) => x.href.startsWith(prefix) && x.href !== prefix);
      const names = got.map((x) => x.href.slice(prefix.length));
      const data = got[0]?.props.get('{urn:ietf:params:xml:ns:carddav}address-data')?.el.text ?? '';
      if (names.length !== 1 || names[0] !== c.name) addError(r, `${c.email}: got [${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''}] (${names.length}), expected [${c.name}]`, wrong);
      else if (!data.includes(c.email)) addError(r, `${c.email}: the answer has no address-data with the address`, wrong);
    }
  });
  p.done();
  r.ops = lat.length;
  r.latency = stats(lat);
  if (wrong.n) r.errors.unshift(`${wrong.n} of ${runs} answers wrong or failed`);
  return r;
}

// ------------------------------------------------------------------ sync-collection

export interface SyncResults { initial: PhaseResult; delta: PhaseResult }

/**
 * Initial sync (empty token: lists the whole calendar), then `rounds` times: `changes` changes
 * (about 60% modified, 20% new, 20% deleted) and a sync-collection REPORT with the previous token,
 * which must list exactly the changed resources.
 */
export async function syncRounds(s: Session, events: EventSpec[], rounds: number, changes: number, seed: number): Promise<SyncResults> {
  const initial = newResult();
  const delta = newResult();
  const body = (t: string | null) => ({ headers: { ...XML_HEADERS, Depth: '0' }, body: syncCollectionBody(t) });
  const prefix = pathOf(s, s.calendar);
  const c0 = cpuSeconds([s.server.pid]);
  const first = await s.client.request('REPORT', s.calendar, body(null));
  initial.cpu = cpuSeconds([s.server.pid]) - c0;
  initial.seconds = first.ms / 1000;
  initial.ops = 1;
  initial.latency = stats([first.ms]);
  if (first.status !== 207) {
    addError(initial, `initial sync-collection -> ${first.status}: ${first.body.trim().slice(0, 300)}`);
    addError(delta, 'not run: the initial sync-collection failed');
    return { initial, delta };
  }
  const ms0 = parseMultistatus(first.body);
  const listed = ms0.responses.filter((x) => x.href.startsWith(prefix) && x.href !== prefix && x.status !== 404).length;
  initial.notes.push(`${listed} resources listed`);
  if (listed !== events.length) addError(initial, `initial sync listed ${listed} resources, the calendar holds ${events.length}`);
  let token = ms0.syncToken;
  if (!token) {
    addError(initial, 'no DAV:sync-token in the answer');
    addError(delta, 'not run: no sync token');
    return { initial, delta };
  }

  const r = rng(seed ^ 0x5c);
  const pool = shuffle(r, events.map((_, i) => i));
  let cursor = 0;
  const lat: number[] = [];
  const cpu0 = cpuSeconds([s.server.pid]);
  let cpuInReports = 0;
  const wrong = { n: 0 };
  let created = 0;
  for (let round = 0; round < rounds; round++) {
    const nNew = Math.max(1, Math.round(changes * 0.2));
    const nDel = Math.max(1, Math.round(changes * 0.2));
    const nMod = Math.max(0, changes - nNew - nDel);
    const expectChanged = new Set<string>();
    const expectDeleted = new Set<string>();
    for (let k = 0; k < nMod; k++) {
      const e = events[pool[cursor++ % pool.length]!]!;
      await s.client.must('PUT', s.calendar + e.name, [200, 201, 204], { headers: { 'Content-Type': 'text/calendar; charset=utf-8' }, body: modifiedEvent(e, round) });
      expectChanged.add(e.name);
    }
    for (let k = 0; k < nNew; k++) {
      const e = events[pool[cursor++ % pool.length]!]!;
      const name = `sync-new-${created++}.ics`;
      const ics = e.ics.replace(/^UID:(.*)$/gm, `UID:sync-new-${created}-$1`);
      await s.client.must('PUT', s.calendar + name, [201, 204], { headers: { 'Content-Type': 'text/calendar; charset=utf-8', 'If-None-Match': '*' }, body: ics });
      expectChanged.add(name);
    }
    for (let k = 0; k < nDel; k++) {
      const e = events[pool[cursor++ % pool.length]!]!;
      await s.client.must('DELETE', s.calendar + e.name, [200, 204]);
      expectDeleted.add(e.name);
    }
    const c1 = cpuSeconds([s.server.pid]);
    const rep = await s.client.request('REPORT', s.calendar, body(token));
    cpuInReports += cpuSeconds([s.server.pid]) - c1;
    lat.push(rep.ms);
    if (rep.status !== 207) {
      addError(delta, `round ${round + 1}: sync-collection -> ${rep.status}: ${rep.body.trim().slice(0, 300)}`, wrong);
      break;
    }
    const ms = parseMultistatus(rep.body);
    const changed = new Set<string>();
    const deleted = new Set<string>();
    for (const x of ms.responses) {
      if (!x.href.startsWith(prefix) || x.href === prefix) continue;
      (x.status === 404 ? deleted : changed).add(x.href.slice(prefix.length));
    }
    const diff = (a: Set<string>, b: Set<string>) => [...a].filter((x) => !b.has(x));
    const problems = [
      ...diff(expectChanged, changed).map((x) => `missing changed ${x}`), ...diff(expectDeleted, deleted).map((x) => `missing deleted ${x}`),
      ...diff(changed, expectChanged).map((x) => `unexpected changed ${x}`), ...diff(deleted, expectDeleted).map((x) => `unexpected deleted ${x}`),
    ];
    if (problems.length) addError(delta, `round ${round + 1}: ${problems.length} differences (${problems.slice(0, 4).join(', ')})`, wrong);
    if (!ms.syncToken || ms.syncToken === token) {
      addError(delta, `round ${round + 1}: ${ms.syncToken ? 'the sync token did not change' : 'no new sync token'}`, wrong);
      if (!ms.syncToken) break;
    }
    token = ms.syncToken;
  }
  delta.ops = lat.length;
  delta.latency = stats(lat);
  delta.seconds = lat.reduce((a, b) => a + b, 0) / 1000;
  delta.cpu = cpuInReports;
  delta.notes.push(`${rounds} rounds of ${changes} changes; CPU for the whole phase incl. changes ${(cpuSeconds([s.server.pid]) - cpu0).toFixed(2)} s`);
  if (wrong.n) delta.errors.unshift(`${wrong.n} of ${rounds} sync answers wrong or failed`);
  return { initial, delta };
}
