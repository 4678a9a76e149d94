// Busy time of many stored objects for one request: the free-busy-query REPORT, the scheduling
// outbox's VFREEBUSY request (every attendee's calendars) and the free/busy link. All of them
// share one recurrence walk budget per request (REQUEST_WALK_BUDGET) and yield to other
// sessions while they work. Past the budget the request fails with 507: a partial answer would
// show busy time as free.
import { busyPeriods, walkBudget, WalkBudgetExceeded, type BusyPeriod, type WalkBudget } from '../protocols/dav/icalendar.js';
import type { TimeRange } from '../protocols/dav/requests.js';
import { d } from '../protocols/dav/xml.js';
import { parsedCalendar } from './ical-cache.js';
import { HttpError } from './types.js';
import { loopPacer } from './util.js';

export interface BusyWork { budget: WalkBudget; pace: () => Promise<void> | null }

/** One request's budget and pacer; pass the same one for every collection the request reads. */
export const busyWork = (): BusyWork => ({ budget: walkBudget(), pace: loopPacer() });

export async function busyTimeOf(objects: Iterable<{ etag: string; data: string }>, range: TimeRange, floatingTz: string | null,
  work: BusyWork = busyWork()): Promise<BusyPeriod[]> {
  const out: BusyPeriod[] = [];
  for (const o of objects) {
    await work.pace();
    try {
      out.push(...busyPeriods(parsedCalendar(o.etag, o.data), range, floatingTz, work.budget));
    } catch (e) {
      if (e instanceof WalkBudgetExceeded) throw new HttpError(507, 'recurrence expansion limit of the request reached', d('number-of-matches-within-limits'));
      // stored data is validated; skip anything unreadable
    }
  }
  return out;
}
