// CALDAV:free-busy-query (RFC 4791 §7.10): busy periods of one calendar collection as a
// VFREEBUSY (200 text/calendar, not a multistatus). Needs CALDAV:read-free-busy, which
// free/busy-only sharees have; no titles or other details leave the server.
import { freeBusyCalendar } from '../../protocols/dav/icalendar.js';
import { busyTimeOf } from '../busy-time.js';
import { parseFreeBusyQuery } from '../../protocols/dav/requests.js';
import { PRODID } from '../methods/get.js';
import { HttpError, type ReportHandler } from '../types.js';
import { calendarTimezoneId, requirePrivilege } from '../util.js';

export const freeBusyQuery: ReportHandler = async (ctx, r, body) => {
  const n = r.node;
  if (n.kind !== 'collection' || n.collection.kind !== 'calendar') throw new HttpError(403, 'free-busy-query needs a calendar collection');
  requirePrivilege(n.access, 'read-free-busy', r.href);
  const range = parseFreeBusyQuery(body);
  const tz = calendarTimezoneId(n.collection);
  const objects = (await ctx.gw.candidatesInRange(n.collection.id, null, range.start, range.end))
    .filter((o) => o.componentType === 'VEVENT' || o.componentType === 'VFREEBUSY');
  const periods = await busyTimeOf(objects, range, tz);
  ctx.res.status(200).type('text/calendar; charset=utf-8').send(freeBusyCalendar(periods, range, Date.now(), PRODID));
};
