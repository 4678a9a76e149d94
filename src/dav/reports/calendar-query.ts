// CALDAV:calendar-query (RFC 4791 §7.8): candidates come from the SQL occurrence-range
// prefilter when the filter has a time-range on the component, then each candidate is
// evaluated exactly (recurrences expanded by ical.js) — or, for a plain VEVENT time-range, by
// the UTC instances stored with the object (dav_object.occurrences), without parsing.
// Unsupported collations → 403 CALDAV:supported-collation. The query always covers the collection's members whatever the
// Depth header says: sabre/dav (CalDAV/Plugin.php) documents MSFT- user agents sending Depth 0.
import { caldavCondition, objectsMultistatus, type MsResponse, type ObjectAnswer } from '../../protocols/dav/multistatus.js';
import { d, NS } from '../../protocols/dav/xml.js';
import {
  collationsOf, isPlainEventTimeRange, matchesFilter, matchStoredOccurrences, occurrenceSummary, SUPPORTED_COLLATIONS,
  walkBudget, WalkBudgetExceeded,
} from '../../protocols/dav/icalendar.js';
import { changesData, supportedCalendarData } from '../../protocols/dav/calendar-data.js';
import { parsedCalendar } from '../ical-cache.js';
import { parseCalendarQuery, type CalendarQuery, type TimeRange } from '../../protocols/dav/requests.js';
import { HttpError, type DavContext, type ReportHandler, type Resolved } from '../types.js';
import { encodeSeg } from '../server.js';
import { calendarTimezoneId, loopPacer, requirePrivilege } from '../util.js';
import { objectResponse, propRequest, sendMultistatus } from './common.js';

export const calendarQuery: ReportHandler = async (ctx, r, body) => {
  const n = r.node;
  if (n.kind !== 'collection' || n.collection.kind !== 'calendar') throw new HttpError(403, 'calendar-query needs a calendar collection');
  requirePrivilege(n.access, 'read', r.href);
  const q = parseCalendarQuery(body);
  if (!supportedCalendarData(q.calendarData)) throw new HttpError(403, 'calendar-data media type not supported', caldavCondition('supported-calendar-data'));
  for (const c of collationsOf(q.filter)) if (!SUPPORTED_COLLATIONS.has(c)) throw new HttpError(403, `collation ${c}`, caldavCondition('supported-collation', c));
  const floatingTz = (q.timezone ? tzidOf(q.timezone) : null) ?? calendarTimezoneId(n.collection);
  const comp = q.filter.compFilters.length === 1 && !q.filter.compFilters[0]!.isNotDefined ? q.filter.compFilters[0]! : null;
  const range: TimeRange | null = comp?.timeRange ?? null;
  const fast = fastShape(q);
  if (fast && range) {
    await fastQuery(ctx, r, q, comp!.name, range, floatingTz, fast);
    return;
  }
  const candidates = range
    ? await ctx.gw.candidatesInRange(n.collection.id, comp!.name, range.start, range.end)
    : await ctx.gw.byComponent(n.collection.id, comp && ['VEVENT', 'VTODO', 'VJOURNAL'].includes(comp.name) ? comp.name : null);
  const request = propRequest(q.props);
  // A plain VEVENT time-range decides on the instances stored at PUT time, without parsing.
  const plain = range !== null && isPlainEventTimeRange(q.filter);
  const fill: Array<{ id: number; etag: string; occurrences: string }> = [];
  const responses: MsResponse[] = [];
  const budget = walkBudget();
  const pace = loopPacer();
  let truncated = false;
  for (const o of candidates) {
    let hit = plain && o.componentType === 'VEVENT' ? matchStoredOccurrences(o.occurrences, range!, floatingTz) : null;
    if (hit === null) {
      await pace();
      let vcal;
      try {
        vcal = parsedCalendar(o.etag, o.data);
      } catch {
        continue;
      }
      try {
        hit = matchesFilter(vcal, q.filter, floatingTz, budget);
      } catch (e) {
        if (!(e instanceof WalkBudgetExceeded)) throw e;
        truncated = true;
        break;
      }
      // Rows stored before the occurrences column: compute once, store after the answer.
      if (o.occurrences === null && o.componentType === 'VEVENT' && fill.length < MAX_FILL) {
        fill.push({ id: o.id, etag: o.etag, occurrences: occurrenceSummary(vcal, 'VEVENT') });
      }
    }
    if (!hit) continue;
    responses.push(await objectResponse(ctx, r, o, request, { calendarData: q.calendarData, floatingTz }));
    if (q.limit !== null && responses.length >= q.limit) break;
  }
  if (truncated) responses.push(TRUNCATED(r.href));
  sendMultistatus(ctx, responses);
  if (fill.length) await ctx.gw.fillOccurrences(fill).catch(() => undefined);
};

/**
 * The request's recurrence budget ran out (REQUEST_WALK_BUDGET): the answer holds what was
 * decided before, and says it is incomplete the way RFC 5323/6578 do.
 */
const TRUNCATED = (href: string): MsResponse => ({ href, status: 507, error: d('number-of-matches-within-limits') });

/** Object names that hrefOf() would not change (most client-made names): no encoding needed. */
const PLAIN_NAME = /^[A-Za-z0-9._~-]+$/;

/** Lazily filled occurrence summaries per query (bounds the write after one answer). */
const MAX_FILL = 2000;

/** CALDAV:timezone carries a VTIMEZONE; its TZID names the zone for floating times. */
function tzidOf(vtimezone: string): string | null {
  const m = /^TZID:(.+)$/im.exec(vtimezone);
  return m ? m[1]!.trim() : null;
}

const GETETAG = `{${NS.DAV}}getetag`;
const CALENDAR_DATA = `{${NS.CALDAV}}calendar-data`;

/**
 * The common shape: DAV:prop asking for getetag and/or calendar-data only, calendar-data as
 * stored (no comp selection, expand or limit). Answered by fastQuery(); anything else takes the PROPFIND machinery.
 */
function fastShape(q: CalendarQuery): { etag: boolean; data: boolean } | null {
  if (!Array.isArray(q.props) || !q.props.length) return null;
  if (!q.props.every((p) => p === GETETAG || p === CALENDAR_DATA)) return null;
  const data = q.props.includes(CALENDAR_DATA);
  const cd = q.calendarData;
  if (data && changesData(cd)) return null;
  return { etag: q.props.includes(GETETAG), data };
}

/**
 * A time-range query in the common shape: decides on the stored occurrences without parsing,
 * parses only what they cannot decide, and writes the multistatus straight into one buffer.
 * Same answer as the generic path.
 */
async function fastQuery(ctx: DavContext, r: Resolved, q: CalendarQuery, compName: string, range: TimeRange,
  floatingTz: string | null, want: { etag: boolean; data: boolean }): Promise<void> {
  const n = r.node;
  if (n.kind !== 'collection') return;
  const collectionId = n.collection.id;
  // With calendar-data nearly every candidate is answered: read the data (as stored bytes) with
  // the decision columns in one query. For ETags only, read data just for the rows that must be parsed.
  const candidates: Array<{ id: number; name: string; etag: string; componentType: string | null; occurrences: string | null; bytes?: Buffer }> = want.data
    ? await ctx.gw.candidateBytesInRange(collectionId, compName, range.start, range.end)
    : await ctx.gw.candidateSummariesInRange(collectionId, compName, range.start, range.end);
  const plain = isPlainEventTimeRange(q.filter);
  // hits[k]: true/false decided from stored occurrences, null: needs the data.
  const hits: Array<boolean | null> = new Array(candidates.length);
  const undecided: number[] = [];
  for (let k = 0; k < candidates.length; k++) {
    const o = candidates[k]!;
    const hit = plain && o.componentType === 'VEVENT' ? matchStoredOccurrences(o.occurrences, range, floatingTz) : null;
    hits[k] = hit;
    if (hit === null && o.bytes === undefined) undecided.push(o.id);
  }
  // Rows read with their data are their own answer; the others are read here when they must be parsed.
  const fetched = new Map<number, { id: number; name: string; etag: string; data: string | Buffer }>();
  const rowOf = (c: (typeof candidates)[number]) => (c.bytes !== undefined ? { id: c.id, name: c.name, etag: c.etag, data: c.bytes } : fetched.get(c.id));
  const fill: Array<{ id: number; etag: string; occurrences: string }> = [];
  if (undecided.length) for (const row of await ctx.gw.objectsByIds(collectionId, undecided)) fetched.set(row.id, row);
  const budget = walkBudget();
  const pace = loopPacer();
  let truncated = false;
  for (let k = 0; k < candidates.length; k++) {
    if (hits[k] !== null) continue;
    if (truncated) {
      hits[k] = false; // not evaluated: the answer says it is incomplete
      continue;
    }
    await pace();
    const o = candidates[k]!;
    const row = rowOf(o);
    if (!row) {
      hits[k] = false; // deleted meanwhile
      continue;
    }
    let vcal;
    try {
      vcal = parsedCalendar(row.etag, typeof row.data === 'string' ? row.data : row.data.toString('utf8'));
    } catch {
      hits[k] = false;
      continue;
    }
    try {
      hits[k] = matchesFilter(vcal, q.filter, floatingTz, budget);
    } catch (e) {
      if (!(e instanceof WalkBudgetExceeded)) throw e;
      truncated = true;
      hits[k] = false;
      continue;
    }
    if (o.occurrences === null && o.componentType === 'VEVENT' && fill.length < MAX_FILL) {
      fill.push({ id: row.id, etag: row.etag, occurrences: occurrenceSummary(vcal, 'VEVENT') });
    }
  }
  const matched: number[] = [];
  for (let k = 0; k < candidates.length; k++) {
    if (!hits[k]) continue;
    matched.push(k);
    if (q.limit !== null && matched.length >= q.limit) break;
  }
  const answers: ObjectAnswer[] = [];
  const base = ctx.server.hrefOf(r.segs, true);
  for (const k of matched) {
    const c = candidates[k]!;
    // A row read again for parsing carries its current ETag; without data the candidate's is enough.
    const again = c.bytes === undefined ? fetched.get(c.id) : undefined;
    if (want.data && c.bytes === undefined && !again) continue; // deleted between the two reads
    const o = again ?? c;
    answers.push({ href: base + (PLAIN_NAME.test(o.name) ? o.name : encodeSeg(o.name)), etag: o.etag, data: want.data ? (again ? again.data : c.bytes) : undefined });
  }
  // Sent as is: express's send() would hash the whole body for an ETag nobody uses.
  const body = objectsMultistatus(answers, want.etag, want.data, truncated ? r.href : undefined);
  ctx.res.status(207).setHeader('Content-Type', 'application/xml; charset=utf-8');
  ctx.res.setHeader('Content-Length', String(body.length));
  ctx.res.end(body);
  if (fill.length) await ctx.gw.fillOccurrences(fill).catch(() => undefined);
}
