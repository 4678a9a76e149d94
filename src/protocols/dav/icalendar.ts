// iCalendar for CalDAV, on ical.js: validates a calendar object resource, computes the stored
// occurrence range used to prefilter time-range queries in SQL, expands recurrences (RRULE,
// RDATE, EXDATE, overridden RECURRENCE-ID instances), evaluates calendar-query filters, and
// builds expanded and VFREEBUSY output. Must not: do I/O or read the clock.
// RFCs: 5545, 4791 §4.1 (object rules), §9.7 (filters), §9.9 (time-range), §9.6.5 (expand), §7.10.
// Time zones: VTIMEZONEs in the object win; a TZID without one is resolved as an IANA name via
// Intl (clients such as Thunderbird 115 omit VTIMEZONE for well-known zones); floating times and
// all-day dates use the query's or calendar's zone, else UTC.
// BUGS: VALARM time-range matches any object that has an alarm; RANGE=THISANDFUTURE relies on
// ical.js; expansion is capped at MAX_ITERATIONS instances per object.
import { createHash } from 'node:crypto';
import ICAL from 'ical.js';
import type { CompFilter, ParamFilter, PropFilter, TextMatch, TimeRange } from './requests.js';

type Component = InstanceType<typeof ICAL.Component>;
type Time = InstanceType<typeof ICAL.Time>;
type Property = InstanceType<typeof ICAL.Property>;

/** Recurrence instances walked per object before giving up (a daily event over 100 years). */
export const MAX_ITERATIONS = 40_000;
/**
 * Recurrence instances one request may walk over all the objects it evaluates. MAX_ITERATIONS
 * bounds one object; rules fastForward() cannot shorten (monthly, yearly, BYHOUR, COUNT, …)
 * are walked from DTSTART, so a calendar of many such rules queried far from their start
 * would otherwise cost minutes of CPU. A request past it gets what was decided so far and a
 * DAV:number-of-matches-within-limits (the callers' choice), never a stalled server.
 */
export const REQUEST_WALK_BUDGET = 100_000;
/** Instances a request may still walk; shared by every object it evaluates. */
export interface WalkBudget { left: number }
export class WalkBudgetExceeded extends Error {}
export const walkBudget = (n = REQUEST_WALK_BUDGET): WalkBudget => ({ left: n });
const DAY = 86_400_000;
/** Widest UTC offset (UTC+14 / UTC-12): floating times are prefiltered with this slack. */
export const FLOATING_SLACK_MS = 14 * 3600_000;

export const SUPPORTED_COLLATIONS = new Set(['i;ascii-casemap', 'i;octet', 'i;unicode-casemap']);

export type CalendarObjectCheck =
  | { ok: true; uid: string; componentType: string; firstStart: number | null; lastEnd: number | null; recurring: boolean; occurrences: string; vcal: Component }
  | { ok: false; condition: 'valid-calendar-data' | 'valid-calendar-object-resource' | 'supported-calendar-component'; message: string };

export function parseICalendar(text: string): Component {
  const jcal = ICAL.parse(text);
  if (!Array.isArray(jcal) || typeof jcal[0] !== 'string') throw new Error('expected exactly one VCALENDAR');
  const vcal = new ICAL.Component(jcal as unknown as unknown[]);
  if (vcal.name !== 'vcalendar') throw new Error('not a VCALENDAR');
  shareTimezones(vcal);
  return vcal;
}

type Timezone = InstanceType<typeof ICAL.Timezone>;
/** Process-wide Timezones keyed by TZID + hash of the VTIMEZONE definition (bounded, LRU-ish). */
const sharedZones = new Map<string, Timezone>();
const MAX_SHARED_ZONES = 500;

/**
 * Points the object's TZIDs at one shared ICAL.Timezone per distinct VTIMEZONE, so the
 * transitions ical.js expands (from the VTIMEZONE's DTSTART, often 1970) are computed once per
 * process instead of once per object. Same definition, same zone: results do not change.
 */
function shareTimezones(vcal: Component): void {
  const cache = (vcal as unknown as { _timezoneCache?: Map<string, Timezone> | null })._timezoneCache;
  if (!cache) return;
  for (const z of vcal.getAllSubcomponents('vtimezone')) {
    const tzid = z.getFirstPropertyValue('tzid');
    if (typeof tzid !== 'string' || cache.has(tzid)) continue; // ical.js uses the first definition
    const key = `${tzid}\0${createHash('sha1').update(JSON.stringify((z as unknown as { jCal: unknown }).jCal)).digest('base64')}`;
    let tz = sharedZones.get(key);
    if (!tz) {
      tz = new ICAL.Timezone({ component: z, tzid });
      if (sharedZones.size >= MAX_SHARED_ZONES) sharedZones.delete(sharedZones.keys().next().value!);
      sharedZones.set(key, tz);
    }
    cache.set(tzid, tz);
  }
}

/** RFC 4791 §4.1: one component type, one UID, no METHOD; components allowed by the collection. */
export function checkCalendarObject(text: string, allowed: string[]): CalendarObjectCheck {
  let vcal: Component;
  try {
    if (!/^\s*BEGIN:VCALENDAR\r?\n/i.test(text)) throw new Error('does not start with BEGIN:VCALENDAR');
    vcal = parseICalendar(text);
    // Force parsing of every value now, so bad dates fail here and not in a later query.
    for (const c of vcal.getAllSubcomponents()) for (const p of c.getAllProperties()) p.getValues();
  } catch (e) {
    return { ok: false, condition: 'valid-calendar-data', message: (e as Error).message };
  }
  if (vcal.getFirstProperty('method')) return { ok: false, condition: 'valid-calendar-object-resource', message: 'METHOD is not allowed in stored objects' };
  const comps = vcal.getAllSubcomponents().filter((c) => c.name !== 'vtimezone');
  const types = new Set(comps.map((c) => c.name.toUpperCase()));
  if (types.size !== 1) return { ok: false, condition: 'valid-calendar-object-resource', message: 'exactly one component type per resource' };
  const componentType = [...types][0]!;
  if (!allowed.includes(componentType)) return { ok: false, condition: 'supported-calendar-component', message: `${componentType} not allowed here` };
  const uids = new Set(comps.map((c) => String(c.getFirstPropertyValue('uid') ?? '')));
  if (uids.size !== 1 || uids.has('')) return { ok: false, condition: 'valid-calendar-object-resource', message: 'every component needs the same UID' };
  for (const c of comps) {
    if (['VEVENT', 'VTODO', 'VJOURNAL'].includes(componentType) && !c.getFirstProperty('dtstart') && componentType === 'VEVENT' && !c.getFirstProperty('recurrence-id')) {
      return { ok: false, condition: 'valid-calendar-data', message: 'VEVENT needs DTSTART' };
    }
  }
  const masters = comps.filter((c) => !c.getFirstProperty('recurrence-id'));
  if (masters.length > 1) return { ok: false, condition: 'valid-calendar-object-resource', message: 'more than one master component' };
  const recurring = masters.some((m) => !!(m.getFirstProperty('rrule') || m.getFirstProperty('rdate')));
  const range = occurrenceRange(vcal, componentType);
  return { ok: true, uid: [...uids][0]!, componentType, recurring, vcal, occurrences: occurrenceSummary(vcal, componentType), ...range };
}

// ---- time conversion ------------------------------------------------------------------------

const offsetCache = new Map<string, Intl.DateTimeFormat | null>();
function ianaFormatter(tzid: string): Intl.DateTimeFormat | null {
  if (!offsetCache.has(tzid)) {
    let f: Intl.DateTimeFormat | null = null;
    try {
      f = new Intl.DateTimeFormat('en-US', { timeZone: tzid.replace(/^\/[^/]+\/[^/]+\//, ''), hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    } catch { /* not an IANA name */ }
    if (offsetCache.size > 1000) offsetCache.clear();
    offsetCache.set(tzid, f);
  }
  return offsetCache.get(tzid)!;
}

function zoneOffsetMs(f: Intl.DateTimeFormat, utc: number): number {
  const parts = Object.fromEntries(f.formatToParts(new Date(utc)).map((p) => [p.type, p.value]));
  const asUtc = Date.UTC(+parts.year!, +parts.month! - 1, +parts.day!, +parts.hour! % 24, +parts.minute!, +parts.second!);
  return asUtc - Math.floor(utc / 1000) * 1000;
}

/** Wall-clock fields in an IANA zone to UTC ms (gaps resolve forward, overlaps to the first). */
export function wallclockToUtc(fields: { year: number; month: number; day: number; hour: number; minute: number; second: number }, tzid: string | null): number {
  const naive = Date.UTC(fields.year, fields.month - 1, fields.day, fields.hour, fields.minute, fields.second);
  const f = tzid ? ianaFormatter(tzid) : null;
  if (!f) return naive;
  let utc = naive - zoneOffsetMs(f, naive);
  const o2 = zoneOffsetMs(f, utc);
  if (naive - o2 !== utc) utc = Math.min(utc, naive - o2);
  return utc;
}

interface TimeCtx { floatingTz: string | null; budget?: WalkBudget }

/** UTC ms of a Time: its own zone if known, else its TZID as IANA, else the floating zone. */
export function toUtc(t: Time, tzid: string | null, ctx: TimeCtx): number {
  const zone = t.zone as unknown as { tzid?: string } | undefined;
  if (!t.isDate && zone && zone.tzid && zone.tzid !== 'floating') return t.toUnixTime() * 1000;
  return wallclockToUtc({ year: t.year, month: t.month, day: t.day, hour: t.isDate ? 0 : t.hour, minute: t.isDate ? 0 : t.minute, second: t.isDate ? 0 : t.second }, t.isDate ? ctx.floatingTz : (tzid ?? ctx.floatingTz));
}

function propTime(c: Component, name: string, ctx: TimeCtx): { t: Time; utc: number; tzid: string | null } | null {
  const p = c.getFirstProperty(name);
  if (!p) return null;
  const t = p.getFirstValue() as Time;
  if (!t || typeof (t as Time).toUnixTime !== 'function') return null;
  const tzid = (p.getParameter('tzid') as string | undefined) ?? null;
  return { t, utc: toUtc(t, tzid, ctx), tzid };
}

/** UTC ms of a component's date/date-time property (floating values in `floatingTz`), or null. */
export function propertyUtc(c: Component, name: string, floatingTz: string | null): number | null {
  return propTime(c, name, { floatingTz })?.utc ?? null;
}

function isFloating(c: Component): boolean {
  const p = c.getFirstProperty('dtstart') ?? c.getFirstProperty('due');
  if (!p) return false;
  const t = p.getFirstValue() as Time;
  if (!t) return false;
  const zone = t.zone as unknown as { tzid?: string } | undefined;
  return t.isDate || ((!zone || !zone.tzid || zone.tzid === 'floating') && !p.getParameter('tzid'));
}

// ---- instances ---------------------------------------------------------------------------

export interface Instance {
  start: number;           // UTC ms
  end: number;             // UTC ms (== start for instants)
  allDay: boolean;
  comp: Component;         // master or override
  recurrenceId: number | null; // UTC ms of the original start; null for non-recurring
  /** The start as written (wall clock, with its zone); all-day output keeps its date. */
  startTime?: Time;
  /** The original start as a Time (RECURRENCE-ID of a generated or overridden instance). */
  ridTime?: Time | null;
  /** VTODO rule inputs (RFC 4791 §9.9) for this instance. */
  todo?: { dtstart: number | null; due: number | null; completed: number | null; created: number | null; duration: boolean };
}

function durationEnd(c: Component, start: Time, startUtc: number, ctx: TimeCtx, tzid: string | null): number {
  const end = propTime(c, 'dtend', ctx);
  if (end) return end.utc;
  const dur = c.getFirstPropertyValue('duration') as InstanceType<typeof ICAL.Duration> | null;
  if (dur && typeof dur.toSeconds === 'function') {
    if (start.isDate || (dur.weeks || dur.days)) {
      // Nominal days follow the wall clock across DST (RFC 5545 §3.3.6).
      const e = start.clone();
      e.addDuration(dur);
      return toUtc(e, tzid, ctx);
    }
    return startUtc + dur.toSeconds() * 1000;
  }
  return start.isDate ? toUtc(addDays(start, 1), tzid, ctx) : startUtc;
}

function addDays(t: Time, n: number): Time {
  const c = t.clone();
  c.adjust(n, 0, 0, 0);
  return c;
}

function instanceOf(c: Component, start: Time, startTzid: string | null, ctx: TimeCtx, rid: number | null, shift: Time | null, ridTime: Time | null = null): Instance {
  const startUtc = toUtc(start, startTzid, ctx);
  let end: number;
  if (shift) {
    // A generated instance: same duration as the master's own start/end, in wall-clock terms.
    const mStart = c.getFirstPropertyValue('dtstart') as Time;
    const mEndProp = propTime(c, 'dtend', ctx);
    if (mEndProp) {
      const dur = mEndProp.t.subtractDate(mStart);
      const e = start.clone();
      e.addDuration(dur);
      end = toUtc(e, mEndProp.tzid ?? startTzid, ctx);
    } else end = durationEnd(c, start, startUtc, ctx, startTzid);
  } else end = durationEnd(c, start, startUtc, ctx, startTzid);
  const inst: Instance = { start: startUtc, end: Math.max(end, startUtc), allDay: start.isDate, comp: c, recurrenceId: rid, startTime: start, ridTime };
  if (c.name === 'vtodo') {
    const due = propTime(c, 'due', ctx);
    const dtstart = propTime(c, 'dtstart', ctx);
    let dueUtc = due?.utc ?? null;
    if (due && dtstart && shift) dueUtc = due.utc + (startUtc - dtstart.utc);
    inst.todo = {
      dtstart: dtstart ? startUtc : null, due: dueUtc, completed: propTime(c, 'completed', ctx)?.utc ?? null,
      created: propTime(c, 'created', ctx)?.utc ?? null, duration: !!c.getFirstProperty('duration'),
    };
    if (!dtstart) { inst.start = dueUtc ?? Number.NEGATIVE_INFINITY; inst.end = dueUtc ?? Number.POSITIVE_INFINITY; }
  }
  return inst;
}

/**
 * Instances of the object's `compName` components that may overlap `range` (null bounds are
 * open), in start order. `range` null walks the whole set up to MAX_ITERATIONS; the second
 * result says whether the walk was complete (false: infinite or capped). With a range start,
 * a simple daily or weekly rule is walked from its last period before the range (see
 * fastForward), not from DTSTART. `opts.any`: the caller only asks whether some instance
 * overlaps; the walk stops at the first one, which is then the whole list.
 */
export function instances(vcal: Component, compName: string, range: TimeRange | null, ctx: TimeCtx, maxWalk = MAX_ITERATIONS,
  opts: { any?: boolean } = {}): { list: Instance[]; complete: boolean; cutAt?: number } {
  const comps = vcal.getAllSubcomponents(compName.toLowerCase());
  const master = comps.find((c) => !c.getFirstProperty('recurrence-id'));
  const overrides = comps.filter((c) => c !== master);
  const out: Instance[] = [];
  const seen = new Set<string>();
  let complete = true;
  let cutAt: number | undefined;
  let lastRid = Number.NEGATIVE_INFINITY;
  const rangeEnd = range?.end ?? null;
  const recurring = master && (master.getFirstProperty('rrule') || master.getFirstProperty('rdate'));
  if (master && !recurring) {
    const st = propTime(master, 'dtstart', ctx);
    if (st) out.push(instanceOf(master, st.t, st.tzid, ctx, null, null));
    else if (master.name === 'vtodo') out.push(instanceOf(master, ICAL.Time.fromData({ year: 1970, month: 1, day: 1 }), null, ctx, null, null));
  } else if (master) {
    const st = propTime(master, 'dtstart', ctx)!;
    const ev = new ICAL.Event(master, { exceptions: overrides, strictExceptions: false });
    const from = range?.start != null ? fastForward(master, st, range.start, ctx) : null;
    const it = from ? ev.iterator(from) : ev.iterator();
    let n = 0;
    for (let next = it.next(); next; next = it.next()) {
      if (++n > maxWalk) {
        complete = false;
        cutAt = lastRid;
        break;
      }
      if (ctx.budget && --ctx.budget.left < 0) throw new WalkBudgetExceeded('recurrence expansion budget of the request exhausted');
      const ridUtc = toUtc(next, st.tzid, ctx);
      lastRid = ridUtc;
      // Overridden instances that moved are found below; the original slot ends the walk.
      if (rangeEnd !== null && ridUtc > rangeEnd + DAY) {
        complete = false;
        break;
      }
      const det = ev.getOccurrenceDetails(next);
      const item = det.item as InstanceType<typeof ICAL.Event>;
      const key = String(ridUtc);
      seen.add(key);
      let inst: Instance;
      if (item.component !== master) {
        const ost = propTime(item.component, 'dtstart', ctx);
        inst = instanceOf(item.component, ost?.t ?? next, ost?.tzid ?? st.tzid, ctx, ridUtc, null, next);
      } else {
        inst = instanceOf(master, next, st.tzid, ctx, ridUtc, next, next);
      }
      if (opts.any && range && overlaps(inst, range)) return { list: [inst], complete: false };
      out.push(inst);
    }
    if (n <= MAX_ITERATIONS && complete && rangeEnd === null) {
      // ran to the end of a finite rule
    }
    if (!it.complete && rangeEnd === null && n > MAX_ITERATIONS) complete = false;
  }
  // Overrides the walk did not reach (moved from beyond the range, or orphans without a master).
  for (const o of overrides) {
    const rid = propTime(o, 'recurrence-id', ctx);
    if (rid && seen.has(String(rid.utc))) continue;
    if (master && rid && isExcluded(master, rid.utc, ctx)) continue;
    const ost = propTime(o, 'dtstart', ctx);
    if (!ost) continue;
    out.push(instanceOf(o, ost.t, ost.tzid, ctx, rid?.utc ?? null, null, rid?.t ?? null));
  }
  out.sort((a, b) => a.start - b.start);
  return { list: range ? out.filter((i) => overlaps(i, range)) : out, complete, cutAt };
}

/**
 * Where to start walking a VEVENT's rule so that no instance that could overlap a range
 * starting at `rangeStart` is skipped, or null to walk from DTSTART. Only for rules whose
 * instances repeat with a fixed period of wall-clock days: one RRULE, FREQ=DAILY or WEEKLY,
 * no COUNT (it counts from DTSTART), no RDATE, no BY-part but BYDAY without ordinals, and a
 * DTSTART that is itself an instance (the set of an unsynchronised DTSTART is undefined,
 * RFC 5545 §3.8.5.3). The new start is DTSTART plus whole periods (INTERVAL days, or
 * INTERVAL weeks, or INTERVAL weeks for a daily rule restricted by BYDAY), in DTSTART's own
 * zone, so every later instance is the same as walked from DTSTART; EXDATE and overridden
 * instances apply as before (overrides of skipped instances are placed by the caller at
 * their own DTSTART). A far range (a query for 2099, or a client's open-ended "from now")
 * otherwise walks every week since DTSTART, per object.
 */
function fastForward(master: Component, st: { t: Time; utc: number; tzid: string | null }, rangeStart: number, ctx: TimeCtx): Time | null {
  if (master.name !== 'vevent' || master.getFirstProperty('rdate')) return null;
  const rules = master.getAllProperties('rrule');
  if (rules.length !== 1) return null;
  const rule = rules[0]!.getFirstValue() as InstanceType<typeof ICAL.Recur>;
  if (!rule || rule.count || (rule.freq !== 'DAILY' && rule.freq !== 'WEEKLY')) return null;
  const parts = Object.keys(rule.parts ?? {}).filter((k) => (rule.parts as Record<string, unknown[]>)[k]?.length);
  if (parts.some((k) => k !== 'BYDAY')) return null;
  const interval = Math.max(1, rule.interval || 1);
  let periodDays = rule.freq === 'WEEKLY' ? 7 * interval : interval;
  const byday = (rule.parts as Record<string, string[]>).BYDAY ?? [];
  if (byday.length) {
    if (byday.some((d) => !/^(SU|MO|TU|WE|TH|FR|SA)$/.test(d))) return null;
    const dow = ['SU', 'MO', 'TU', 'WE', 'TH', 'FR', 'SA'][st.t.dayOfWeek() - 1];
    if (!byday.includes(dow!)) return null;
    if (rule.freq === 'DAILY') periodDays = 7 * interval;
  }
  const first = instanceOf(master, st.t, st.tzid, ctx, null, null);
  if (!Number.isFinite(first.end)) return null;
  // Instances starting before this cannot reach the range: the master's duration, DST and
  // floating-zone slack, a day to spare.
  let target = rangeStart - (first.end - first.start) - FLOATING_SLACK_MS - 2 * DAY;
  if (rule.until) target = Math.min(target, toUtc(rule.until, st.tzid, ctx) - 2 * DAY);
  const periods = Math.floor((target - st.utc) / (periodDays * DAY));
  if (!(periods >= 1)) return null;
  const from = st.t.clone();
  from.adjust(periods * periodDays, 0, 0, 0);
  return from;
}

function isExcluded(master: Component, ridUtc: number, ctx: TimeCtx): boolean {
  for (const p of master.getAllProperties('exdate')) {
    const tzid = (p.getParameter('tzid') as string | undefined) ?? null;
    for (const v of p.getValues() as Time[]) if (toUtc(v, tzid, ctx) === ridUtc) return true;
  }
  return false;
}

/** RFC 4791 §9.9 overlap rules; null bounds are open. */
export function overlaps(i: Instance, r: TimeRange): boolean {
  const s = r.start ?? Number.NEGATIVE_INFINITY;
  const e = r.end ?? Number.POSITIVE_INFINITY;
  if (i.todo) {
    const t = i.todo;
    if (t.dtstart !== null && t.duration) return s <= i.end && (e > t.dtstart || e >= i.end);
    if (t.dtstart !== null && t.due !== null) return (s < t.due || s <= t.dtstart) && (e > t.dtstart || e >= t.due);
    if (t.dtstart !== null) return s <= t.dtstart && e > t.dtstart;
    if (t.due !== null) return s < t.due && e >= t.due;
    if (t.completed !== null && t.created !== null) return (s <= t.created || s <= t.completed) && (e >= t.created || e >= t.completed);
    if (t.completed !== null) return s <= t.completed && e >= t.completed;
    if (t.created !== null) return e > t.created;
    return true;
  }
  if (i.end > i.start) return i.start < e && i.end > s;
  return s <= i.start && e > i.start;
}

/** The stored prefilter range: [firstStart, lastEnd], null meaning unbounded on that side. */
export function occurrenceRange(vcal: Component, componentType: string): { firstStart: number | null; lastEnd: number | null } {
  const ctx: TimeCtx = { floatingTz: null };
  const comps = vcal.getAllSubcomponents(componentType.toLowerCase());
  const slack = comps.some(isFloating) ? FLOATING_SLACK_MS : 0;
  const master = comps.find((c) => !c.getFirstProperty('recurrence-id'));
  const rules = master ? master.getAllProperties('rrule').map((p) => p.getFirstValue() as InstanceType<typeof ICAL.Recur>) : [];
  if (rules.some((r) => !r.count && !r.until)) {
    // Unbounded: no walk; the range starts at the earliest start and never ends.
    const starts = comps.map((c) => propTime(c, 'dtstart', ctx)?.utc ?? propTime(c, 'due', ctx)?.utc).filter((v): v is number => v !== undefined);
    return { firstStart: starts.length ? Math.min(...starts) - slack : null, lastEnd: null };
  }
  const { list, complete } = instances(vcal, componentType, null, ctx);
  if (!list.length) return { firstStart: null, lastEnd: null };
  let first = Number.POSITIVE_INFINITY;
  let last = Number.NEGATIVE_INFINITY;
  for (const i of list) {
    const pts = i.todo
      ? [i.todo.dtstart, i.todo.due, i.todo.completed, i.todo.created, i.end].filter((x): x is number => x !== null && Number.isFinite(x))
      : [i.start, i.end];
    if (i.todo && i.todo.dtstart === null && i.todo.due === null && !(i.todo.completed !== null)) return { firstStart: null, lastEnd: null };
    for (const p of pts) {
      first = Math.min(first, p);
      last = Math.max(last, p);
    }
  }
  return {
    firstStart: Number.isFinite(first) ? first - slack : null,
    lastEnd: complete && Number.isFinite(last) ? last + slack : null,
  };
}

// ---- filters ---------------------------------------------------------------------------------

export function textMatches(value: string, m: TextMatch): boolean {
  let a = value;
  let b = m.text;
  if (m.collation === 'i;ascii-casemap') {
    a = a.replace(/[A-Z]/g, (c) => c.toLowerCase());
    b = b.replace(/[A-Z]/g, (c) => c.toLowerCase());
  } else if (m.collation === 'i;unicode-casemap') {
    a = a.normalize('NFKD').toLowerCase();
    b = b.normalize('NFKD').toLowerCase();
  }
  const hit = m.matchType === 'equals' ? a === b : m.matchType === 'starts-with' ? a.startsWith(b)
    : m.matchType === 'ends-with' ? a.endsWith(b) : a.includes(b);
  return m.negate ? !hit : hit;
}

export function propertyText(p: Property): string {
  const flat = (v: unknown): string => (Array.isArray(v) ? v.map(flat).join(' ') : v === null || v === undefined ? '' : String(v));
  return p.getValues().map(flat).join(',');
}

function paramMatches(p: Property, f: ParamFilter): boolean {
  const v = p.getParameter(f.name.toLowerCase()) as string | string[] | undefined;
  if (f.isNotDefined) return v === undefined;
  if (v === undefined) return false;
  if (!f.textMatch) return true;
  return (Array.isArray(v) ? v : [v]).some((x) => textMatches(String(x), f.textMatch!));
}

function propMatches(c: Component, f: PropFilter, ctx: TimeCtx): boolean {
  const props = c.getAllProperties(f.name.toLowerCase());
  if (f.isNotDefined) return props.length === 0;
  if (!props.length) return false;
  return props.some((p) => {
    if (f.timeRange) {
      const t = p.getFirstValue() as Time;
      if (!t || typeof t.toUnixTime !== 'function') return false;
      const utc = toUtc(t, (p.getParameter('tzid') as string | undefined) ?? null, ctx);
      if (!overlaps({ start: utc, end: utc, allDay: false, comp: c, recurrenceId: null }, f.timeRange)) return false;
    }
    if (f.textMatch && !textMatches(propertyText(p), f.textMatch)) return false;
    return f.paramFilters.every((pf) => paramMatches(p, pf));
  });
}

function compMatches(parent: Component, f: CompFilter, vcal: Component, ctx: TimeCtx): boolean {
  const subs = parent.getAllSubcomponents(f.name.toLowerCase());
  if (f.isNotDefined) return subs.length === 0;
  if (!subs.length) return false;
  if (f.timeRange && ['VEVENT', 'VTODO', 'VJOURNAL'].includes(f.name) && parent === vcal) {
    if (!instances(vcal, f.name, f.timeRange, ctx, MAX_ITERATIONS, { any: true }).list.length) return false;
  } else if (f.timeRange && f.name === 'VFREEBUSY') {
    if (!subs.some((s) => freebusyComponentOverlaps(s, f.timeRange!, ctx))) return false;
  }
  return subs.some((s) => f.propFilters.every((pf) => propMatches(s, pf, ctx)) && f.compFilters.every((cf) => compMatches(s, cf, vcal, ctx)));
}

function freebusyComponentOverlaps(c: Component, r: TimeRange, ctx: TimeCtx): boolean {
  const s = propTime(c, 'dtstart', ctx);
  const e = propTime(c, 'dtend', ctx);
  if (!s || !e) return false;
  return overlaps({ start: s.utc, end: e.utc, allDay: false, comp: c, recurrenceId: null }, r);
}

/** RFC 4791 §9.7.1: does this object match the top-level (VCALENDAR) comp-filter? Throws WalkBudgetExceeded when `budget` runs out. */
export function matchesFilter(vcal: Component, filter: CompFilter, floatingTz: string | null, budget?: WalkBudget): boolean {
  const ctx = { floatingTz, budget };
  if (filter.isNotDefined) return false;
  if (filter.name !== 'VCALENDAR') return false;
  return filter.propFilters.every((pf) => propMatches(vcal, pf, ctx)) && filter.compFilters.every((cf) => compMatches(vcal, cf, vcal, ctx));
}

/** Every text-match collation the filter uses, to check against SUPPORTED_COLLATIONS. */
export function collationsOf(f: CompFilter): string[] {
  const out: string[] = [];
  for (const p of f.propFilters) {
    if (p.textMatch) out.push(p.textMatch.collation);
    for (const pf of p.paramFilters) if (pf.textMatch) out.push(pf.textMatch.collation);
  }
  for (const c of f.compFilters) out.push(...collationsOf(c));
  return out;
}

// ---- output ----------------------------------------------------------------------------------

function utcTime(ms: number, isDate: boolean): Time {
  const t = ICAL.Time.fromJSDate(new Date(ms), true);
  if (isDate) t.isDate = true;
  return t;
}

/**
 * RFC 4791 §9.6.5: the instances overlapping the range as separate components, date-times in
 * UTC, each instance of a recurring set with a RECURRENCE-ID and without RRULE/RDATE/EXDATE;
 * all-day values keep their DATE (the date as written, never shifted through UTC). VTIMEZONEs
 * are dropped (nothing refers to them any more). Returns a new VCALENDAR component.
 */
export function expandCalendar(vcal: Component, range: TimeRange, floatingTz: string | null): Component {
  const ctx = { floatingTz };
  const out = new ICAL.Component('vcalendar');
  for (const p of vcal.getAllProperties()) out.addProperty(new ICAL.Property(structuredClone(p.toJSON())));
  const types = [...new Set(vcal.getAllSubcomponents().map((c) => c.name).filter((n) => n !== 'vtimezone'))];
  for (const type of types) {
    if (!['vevent', 'vtodo', 'vjournal'].includes(type)) {
      // VFREEBUSY and the like have no recurrence: copied as they are.
      for (const c of vcal.getAllSubcomponents(type)) out.addSubcomponent(new ICAL.Component(structuredClone(c.toJSON())));
      continue;
    }
    const comps = vcal.getAllSubcomponents(type);
    const master = comps.find((c) => !c.getFirstProperty('recurrence-id'));
    const recurring = !!master && !!(master.getFirstProperty('rrule') || master.getFirstProperty('rdate'));
    for (const inst of instances(vcal, type.toUpperCase(), range, ctx).list) {
      const c = new ICAL.Component(structuredClone(inst.comp.toJSON()));
      for (const n of ['rrule', 'rdate', 'exdate', 'exrule']) c.removeAllProperties(n);
      const generated = inst.comp === master && recurring;
      if (inst.allDay) {
        if (generated && inst.startTime) {
          const days = dateSpanDays(master!);
          setDate(c, 'dtstart', inst.startTime);
          if (c.getFirstProperty('dtend')) setDate(c, 'dtend', addDays(inst.startTime, days));
        }
      } else {
        setUtc(c, 'dtstart', inst.start);
        if (c.getFirstProperty('dtend')) setUtc(c, 'dtend', inst.end);
        if (inst.todo?.due != null && c.getFirstProperty('due')) setUtc(c, 'due', inst.todo.due);
      }
      if (recurring && inst.recurrenceId !== null) {
        c.removeAllProperties('recurrence-id');
        const rid = new ICAL.Property('recurrence-id');
        if (inst.ridTime?.isDate) rid.setValue(dateOnly(inst.ridTime));
        else rid.setValue(utcTime(inst.recurrenceId, false));
        c.addProperty(rid);
      } else if (c.getFirstProperty('recurrence-id') && inst.recurrenceId !== null && !inst.ridTime?.isDate) {
        setUtc(c, 'recurrence-id', inst.recurrenceId);
      }
      out.addSubcomponent(c);
    }
  }
  return out;
}

/** expandCalendar() as text. */
export function expandObject(vcal: Component, range: TimeRange, floatingTz: string | null): string {
  return expandCalendar(vcal, range, floatingTz).toString() + '\r\n';
}

function setUtc(c: Component, name: string, ms: number): void {
  const p = c.getFirstProperty(name);
  if (!p) return;
  p.removeParameter('tzid');
  p.resetType('date-time');
  p.setValue(utcTime(ms, false));
}

function dateOnly(t: Time): Time {
  return ICAL.Time.fromData({ year: t.year, month: t.month, day: t.day, isDate: true });
}

function setDate(c: Component, name: string, t: Time): void {
  const p = c.getFirstProperty(name);
  if (!p) return;
  p.removeParameter('tzid');
  p.setValue(dateOnly(t));
}

/** Whole days between an all-day master's DTSTART and DTEND (at least one). */
function dateSpanDays(master: Component): number {
  const s = master.getFirstPropertyValue('dtstart') as Time | null;
  const e = master.getFirstPropertyValue('dtend') as Time | null;
  if (!s || !e) return 1;
  const days = Math.round((Date.UTC(e.year, e.month - 1, e.day) - Date.UTC(s.year, s.month - 1, s.day)) / DAY);
  return Math.max(1, days);
}

export interface BusyPeriod { start: number; end: number; type: 'BUSY' | 'BUSY-TENTATIVE' | 'BUSY-UNAVAILABLE' }

/** Busy time of one object in the range (RFC 4791 §7.10): opaque, not cancelled events, VFREEBUSY. */
export function busyPeriods(vcal: Component, range: TimeRange, floatingTz: string | null, budget?: WalkBudget): BusyPeriod[] {
  const ctx = { floatingTz, budget };
  const out: BusyPeriod[] = [];
  for (const inst of instances(vcal, 'VEVENT', range, ctx).list) {
    const c = inst.comp;
    if (String(c.getFirstPropertyValue('transp') ?? '').toUpperCase() === 'TRANSPARENT') continue;
    const status = String(c.getFirstPropertyValue('status') ?? '').toUpperCase();
    if (status === 'CANCELLED') continue;
    if (inst.end <= inst.start) continue;
    out.push({ start: Math.max(inst.start, range.start ?? inst.start), end: Math.min(inst.end, range.end ?? inst.end), type: status === 'TENTATIVE' ? 'BUSY-TENTATIVE' : 'BUSY' });
  }
  for (const fb of vcal.getAllSubcomponents('vfreebusy')) {
    for (const p of fb.getAllProperties('freebusy')) {
      const type = String(p.getParameter('fbtype') ?? 'BUSY').toUpperCase();
      if (type === 'FREE') continue;
      for (const v of p.getValues() as Array<InstanceType<typeof ICAL.Period>>) {
        const s = v.start.toUnixTime() * 1000;
        const e = v.getEnd().toUnixTime() * 1000;
        if ((range.end === null || s < range.end) && (range.start === null || e > range.start)) {
          out.push({ start: s, end: e, type: type === 'BUSY-TENTATIVE' ? 'BUSY-TENTATIVE' : type === 'BUSY-UNAVAILABLE' ? 'BUSY-UNAVAILABLE' : 'BUSY' });
        }
      }
    }
  }
  return out;
}

const icsUtc = (ms: number) => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');

export function freeBusyCalendar(periods: BusyPeriod[], range: TimeRange, now: number, prodId: string): string {
  const byType = new Map<string, BusyPeriod[]>();
  for (const p of periods.sort((a, b) => a.start - b.start)) {
    const list = byType.get(p.type) ?? [];
    const last = list[list.length - 1];
    if (last && p.start <= last.end) last.end = Math.max(last.end, p.end);
    else list.push({ ...p });
    byType.set(p.type, list);
  }
  const lines = ['BEGIN:VCALENDAR', 'VERSION:2.0', `PRODID:${prodId}`, 'BEGIN:VFREEBUSY', `DTSTAMP:${icsUtc(now)}`];
  if (range.start !== null) lines.push(`DTSTART:${icsUtc(range.start)}`);
  if (range.end !== null) lines.push(`DTEND:${icsUtc(range.end)}`);
  for (const [type, list] of byType) for (const p of list) lines.push(`FREEBUSY;FBTYPE=${type}:${icsUtc(p.start)}/${icsUtc(p.end)}`);
  lines.push('END:VFREEBUSY', 'END:VCALENDAR');
  return lines.join('\r\n') + '\r\n';
}

/** Merges objects into one VCALENDAR (subscription feeds), one VTIMEZONE per TZID. */
export function mergeCalendars(objects: string[], prodId: string, name: string): string {
  const out = new ICAL.Component('vcalendar');
  out.addPropertyWithValue('version', '2.0');
  out.addPropertyWithValue('prodid', prodId);
  out.addPropertyWithValue('x-wr-calname', name);
  const tzids = new Set<string>();
  for (const text of objects) {
    let vcal: Component;
    try {
      vcal = parseICalendar(text);
    } catch {
      continue;
    }
    for (const c of vcal.getAllSubcomponents()) {
      if (c.name === 'vtimezone') {
        const id = String(c.getFirstPropertyValue('tzid'));
        if (tzids.has(id)) continue;
        tzids.add(id);
      }
      out.addSubcomponent(c);
    }
  }
  return out.toString() + '\r\n';
}

// ---- stored occurrences (time-range queries without parsing) ---------------------------------

/** Recurrence instances walked and stored per object at PUT time; later ones are expanded. */
export const STORED_WALK = 400;

/** Every date/date-time value of the components that depends on the floating zone. */
function dependsOnFloatingZone(comps: Component[]): boolean {
  for (const c of comps) {
    for (const p of c.getAllProperties()) {
      for (const v of p.getValues() as unknown[]) {
        const t = (v && typeof v === 'object' && 'start' in (v as object) ? (v as { start: unknown }).start : v) as Time | null;
        if (!t || typeof (t as Time).toUnixTime !== 'function') continue;
        if (t.isDate) return true;
        const zone = t.zone as unknown as { tzid?: string } | undefined;
        if (!p.getParameter('tzid') && !(zone && zone.tzid && zone.tzid !== 'floating')) return true;
      }
    }
  }
  return false;
}

/**
 * The object's VEVENT instances in UTC, computed once at PUT time, so that a calendar-query
 * whose filter is a plain VEVENT time-range decides the match without parsing (see
 * matchStoredOccurrences). '' when not applicable (other components, floating recurring
 * events, overrides without DTSTART): the query then evaluates the object as before.
 * Encoding (JSON): { h: horizon (UTC ms; instances are complete for ranges ending at or before
 * it) | null (complete), f: 1 when valid only without a floating zone, i: runs of instances
 * [start - previous start (0 for the first), end - start, count, ...] in start order }.
 */
export function occurrenceSummary(vcal: Component, componentType: string): string {
  if (componentType !== 'VEVENT') return '';
  const comps = vcal.getAllSubcomponents('vevent');
  const master = comps.find((c) => !c.getFirstProperty('recurrence-id'));
  if (!master || !master.getFirstProperty('dtstart')) return '';
  if (comps.some((c) => c !== master && !c.getFirstProperty('dtstart'))) return '';
  const recurring = !!(master.getFirstProperty('rrule') || master.getFirstProperty('rdate'));
  const floating = dependsOnFloatingZone(comps);
  if (floating && recurring) return '';
  try {
    const { list, cutAt } = instances(vcal, 'VEVENT', null, { floatingTz: null }, Math.min(STORED_WALK, MAX_ITERATIONS));
    if (cutAt !== undefined && !Number.isFinite(cutAt)) return '';
    // Runs of [start delta, duration, count]: a weekly rule is a few runs per year (DST).
    const iv: number[] = [];
    let prev = 0;
    for (const i of list) {
      if (!Number.isFinite(i.start) || !Number.isFinite(i.end)) return '';
      const delta = i.start - prev;
      const dur = i.end - i.start;
      const n = iv.length;
      if (n && iv[n - 3] === delta && iv[n - 2] === dur) iv[n - 1]!++;
      else iv.push(delta, dur, 1);
      prev = i.start;
    }
    // Strictly before the last walked instance less a day: a query walk ending there stays inside.
    return JSON.stringify({ h: cutAt === undefined ? null : cutAt - DAY - 1000, f: floating ? 1 : 0, i: iv });
  } catch {
    return '';
  }
}

/**
 * Does a stored occurrence summary overlap `range`? null when the summary cannot decide
 * (absent, not applicable, floating zone given, range beyond its horizon).
 */
export function matchStoredOccurrences(summary: string | null | undefined, range: TimeRange, floatingTz: string | null): boolean | null {
  if (!summary) return null;
  let s: { h: number | null; f: number; i: number[] };
  try {
    s = JSON.parse(summary);
  } catch {
    return null;
  }
  if (s.f && floatingTz !== null) return null;
  if (s.h !== null && (range.end === null || range.end > s.h)) return null;
  const rs = range.start ?? Number.NEGATIVE_INFINITY;
  const re = range.end ?? Number.POSITIVE_INFINITY;
  let start = 0;
  for (let k = 0; k < s.i.length; k += 3) {
    const delta = s.i[k]!;
    const dur = s.i[k + 1]!;
    for (let n = s.i[k + 2]!; n > 0; n--) {
      start += delta;
      if (start >= re && (dur > 0 || start > re)) return false; // starts are ascending
      // overlaps() for an event (RFC 4791 §9.9).
      if (dur > 0 ? start < re && start + dur > rs : rs <= start && re > start) return true;
    }
  }
  return false;
}

/** A filter that is only VCALENDAR > VEVENT with a time-range (what clients send to sync a window). */
export function isPlainEventTimeRange(f: CompFilter): boolean {
  if (f.name !== 'VCALENDAR' || f.isNotDefined || f.propFilters.length || f.compFilters.length !== 1) return false;
  const c = f.compFilters[0]!;
  return c.name === 'VEVENT' && !c.isNotDefined && !!c.timeRange && !c.propFilters.length && !c.compFilters.length;
}
