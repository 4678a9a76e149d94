// CALDAV:free-busy-query (RFC 4791 §7.10): busy periods of one calendar collection as a
// VFREEBUSY (200 text/calendar, not a multistatus). Needs CALDAV:read-free-busy, which
// free/busy-only sharees have; no titles or other details leave the server.
import { busyPeriods, freeBusyCalendar, walkBudget, WalkBudgetExceeded, type BusyPeriod } from '../../protocols/dav/icalendar.js';
import { d } from '../../protocols/dav/xml.js';
import { parseFreeBusyQuery } from '../../protocols/dav/requests.js';
import { PRODID } from '../methods/get.js';
import { parsedCalendar } from '../ical-cache.js';
import { HttpError, type ReportHandler } from '../types.js';
import { calendarTimezoneId, loopPacer, requirePrivilege } from '../util.js';

export const freeBusyQuery: ReportHandler = async (ctx, r, body) => {
  const n = r.node;
  if (n.kind !== 'collection' || n.collection.kind !== 'calendar') throw new HttpError(403, 'free-busy-query needs a calendar collection');
  requirePrivilege(n.access, 'read-free-busy', r.href);
  const range = parseFreeBusyQuery(body);
  const tz = calendarTimezoneId(n.collection);
  const periods: BusyPeriod[] = [];
  const budget = walkBudget();
  const pace = loopPacer();
  for (const o of await ctx.gw.candidatesInRange(n.collection.id, null, range.start, range.end)) {
    if (o.componentType !== 'VEVENT' && o.componentType !== 'VFREEBUSY') continue;
    await pace();
    try {
      periods.push(...busyPeriods(parsedCalendar(o.etag, o.data), range, tz, budget));
    } catch (e) {
      // Part of the busy time would read as free: refuse rather than answer it.
      if (e instanceof WalkBudgetExceeded) throw new HttpError(507, 'recurrence expansion limit', d('number-of-matches-within-limits'));
      // stored data is validated; skip anything unreadable
    }
  }
  ctx.res.status(200).type('text/calendar; charset=utf-8').send(freeBusyCalendar(periods, range, Date.now(), PRODID));
};
