// CALDAV:calendar-query (RFC 4791 §7.8): candidates come from the SQL occurrence-range
// prefilter when the filter has a time-range on the component, then each candidate is
// evaluated exactly (recurrences expanded by ical.js) — or, for a plain VEVENT time-range, by
// the UTC instances stored with the object (dav_object.occurrences), without parsing.
// Unsupported collations → 403 CALDAV:supported-collation. The query always covers the collection's members whatever the
// Depth header says: sabre/dav (CalDAV/Plugin.php) documents MSFT- user agents sending Depth 0.
import { caldavCondition } from '../../protocols/dav/multistatus.js';
import {
  collationsOf, isPlainEventTimeRange, matchesFilter, matchStoredOccurrences, occurrenceSummary, SUPPORTED_COLLATIONS,
} from '../../protocols/dav/icalendar.js';
import { parsedCalendar } from '../ical-cache.js';
import { parseCalendarQuery, type TimeRange } from '../../protocols/dav/requests.js';
import { HttpError, type ReportHandler } from '../types.js';
import { calendarTimezoneId, requirePrivilege } from '../util.js';
import { objectResponse, propRequest, sendMultistatus } from './common.js';

export const calendarQuery: ReportHandler = async (ctx, r, body) => {
  const n = r.node;
  if (n.kind !== 'collection' || n.collection.kind !== 'calendar') throw new HttpError(403, 'calendar-query needs a calendar collection');
  requirePrivilege(n.access, 'read', r.href);
  const q = parseCalendarQuery(body);
  for (const c of collationsOf(q.filter)) if (!SUPPORTED_COLLATIONS.has(c)) throw new HttpError(403, `collation ${c}`, caldavCondition('supported-collation', c));
  const floatingTz = (q.timezone ? tzidOf(q.timezone) : null) ?? calendarTimezoneId(n.collection);
  const comp = q.filter.compFilters.length === 1 && !q.filter.compFilters[0]!.isNotDefined ? q.filter.compFilters[0]! : null;
  const range: TimeRange | null = comp?.timeRange ?? null;
  const candidates = range
    ? await ctx.gw.candidatesInRange(n.collection.id, comp!.name, range.start, range.end)
    : await ctx.gw.byComponent(n.collection.id, comp && ['VEVENT', 'VTODO', 'VJOURNAL'].includes(comp.name) ? comp.name : null);
  const request = propRequest(q.props);
  // A plain VEVENT time-range decides on the instances stored at PUT time, without parsing.
  const plain = range !== null && isPlainEventTimeRange(q.filter);
  const fill: Array<{ id: number; etag: string; occurrences: string }> = [];
  const responses = [];
  for (const o of candidates) {
    let hit = plain && o.componentType === 'VEVENT' ? matchStoredOccurrences(o.occurrences, range!, floatingTz) : null;
    if (hit === null) {
      let vcal;
      try {
        vcal = parsedCalendar(o.etag, o.data);
      } catch {
        continue;
      }
      hit = matchesFilter(vcal, q.filter, floatingTz);
      // Rows stored before the occurrences column: compute once, store after the answer.
      if (o.occurrences === null && o.componentType === 'VEVENT' && fill.length < MAX_FILL) {
        fill.push({ id: o.id, etag: o.etag, occurrences: occurrenceSummary(vcal, 'VEVENT') });
      }
    }
    if (!hit) continue;
    responses.push(await objectResponse(ctx, r, o, request, { calendarData: q.calendarData, floatingTz }));
    if (q.limit !== null && responses.length >= q.limit) break;
  }
  sendMultistatus(ctx, responses);
  if (fill.length) await ctx.gw.fillOccurrences(fill).catch(() => undefined);
};

/** Lazily filled occurrence summaries per query (bounds the write after one answer). */
const MAX_FILL = 2000;

/** CALDAV:timezone carries a VTIMEZONE; its TZID names the zone for floating times. */
function tzidOf(vtimezone: string): string | null {
  const m = /^TZID:(.+)$/im.exec(vtimezone);
  return m ? m[1]!.trim() : null;
}
