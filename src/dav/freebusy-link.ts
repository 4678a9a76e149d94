// The free/busy-only subscription link: /dav/freebusy/<token>.ics serves a calendar's busy time
// as one VFREEBUSY (RFC 5545 §3.6.4), without titles, locations, attendees or anything else of
// the events: the link can be handed to people who must not see the details (a public
// "when am I busy" page, a colleague's scheduling tool). No authentication: the secret token is
// the credential; the owner creates and revokes it with POST <pt:publish-freebusy/> /
// <pt:unpublish-freebusy/> on the calendar (methods/post.ts), independently of the full link.
// Window: from 7 days ago to 182 days ahead, or ?start=&end= (UTC dates or date-times, at most
// MAX_WINDOW_DAYS). Must not: serve anything after the token was revoked, or accept a window
// that would make one request walk years of recurrences.
import type { Request, Response } from 'express';
import { freeBusyCalendar } from '../protocols/dav/icalendar.js';
import { BadRequest, parseUtc } from '../protocols/dav/requests.js';
import type { GroupwareService } from '../services/groupware/groupware.service.js';
import type { App } from '../instance/app.js';
import { busyTimeOf } from './busy-time.js';
import { PRODID } from './methods/get.js';
import { sendError } from './server.js';
import { HttpError } from './types.js';
import { calendarTimezoneId } from './util.js';

export const FREEBUSY_PATH = '/dav/freebusy/';
const DAY = 86_400_000;
export const MAX_WINDOW_DAYS = 366;

/** The window asked for (query parameters) or the default one, in UTC ms. */
export function freebusyWindow(query: Record<string, unknown>, now: number): { start: number; end: number } {
  const one = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  let start: number | null;
  let end: number | null;
  try {
    start = parseUtc(one(query.start));
    end = parseUtc(one(query.end));
  } catch (e) {
    throw new HttpError(400, (e as BadRequest).message);
  }
  const today = Math.floor(now / DAY) * DAY;
  start ??= today - 7 * DAY;
  end ??= Math.max(start, today) + 182 * DAY;
  if (end <= start) throw new HttpError(400, 'end must be after start');
  if (end - start > MAX_WINDOW_DAYS * DAY) throw new HttpError(400, `at most ${MAX_WINDOW_DAYS} days`);
  return { start, end };
}

export function freebusyFeed(app: App, gw: GroupwareService) {
  return async (req: Request, res: Response): Promise<void> => {
    try {
      const m = /^([A-Za-z0-9_-]{16,64})\.(?:ics|ifb)$/.exec(String(req.params.file));
      const c = m ? await gw.byFreebusyToken(m[1]!) : null;
      if (!c) throw new HttpError(404, 'not found');
      const range = freebusyWindow(req.query as Record<string, unknown>, Date.now());
      const tz = calendarTimezoneId(c);
      const periods = await busyTimeOf(await gw.candidatesInRange(c.id, 'VEVENT', range.start, range.end), range, tz);
      res.setHeader('Cache-Control', 'private, max-age=300');
      res.status(200).type('text/calendar; charset=utf-8').send(freeBusyCalendar(periods, range, Date.now(), PRODID));
    } catch (e) {
      sendError(app, req, res, e);
    }
  };
}
