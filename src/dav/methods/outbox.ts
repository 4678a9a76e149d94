// POST to the schedule outbox (RFC 6638 §5): a VFREEBUSY REQUEST answered at once with a
// CALDAV:schedule-response holding one VFREEBUSY per internal recipient (busy times only, over
// all of that user's calendars). External recipients get request-status 3.7. Other iTIP
// methods are refused: with implicit scheduling the server sends invitations itself on PUT.
import ICAL from 'ical.js';
import { freeBusyCalendar, parseICalendar, type BusyPeriod } from '../../protocols/dav/icalendar.js';
import { caldavCondition } from '../../protocols/dav/multistatus.js';
import { addressOf } from '../../protocols/dav/itip.js';
import { d, NS, serializeXml, x, type XNode } from '../../protocols/dav/xml.js';
import { busyTimeOf, busyWork } from '../busy-time.js';
import { HttpError, type DavContext } from '../types.js';
import { PRODID } from './get.js';

export async function outboxPost(ctx: DavContext): Promise<void> {
  const ct = String(ctx.req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (ct !== 'text/calendar') throw new HttpError(415, 'the outbox takes text/calendar', caldavCondition('supported-calendar-data'));
  let vcal;
  try {
    vcal = parseICalendar(ctx.body.toString('utf8'));
  } catch (e) {
    throw new HttpError(400, (e as Error).message, caldavCondition('valid-calendar-data'));
  }
  const fb = vcal.getFirstSubcomponent('vfreebusy');
  if (String(vcal.getFirstPropertyValue('method') ?? '').toUpperCase() !== 'REQUEST' || !fb) {
    throw new HttpError(403, 'only VFREEBUSY requests are accepted here', caldavCondition('valid-scheduling-message'));
  }
  const organizer = addressOf(fb.getFirstPropertyValue('organizer'));
  if (!organizer || !(organizer === ctx.user.address.toLowerCase() || await ctx.app.accounts.canSendAs(ctx.user.id, organizer))) {
    throw new HttpError(403, 'ORGANIZER must be you', caldavCondition('organizer-allowed'));
  }
  const start = (fb.getFirstPropertyValue('dtstart') as InstanceType<typeof ICAL.Time> | null)?.toUnixTime();
  const end = (fb.getFirstPropertyValue('dtend') as InstanceType<typeof ICAL.Time> | null)?.toUnixTime();
  if (start === undefined || end === undefined || end <= start || end - start > 366 * 86400) throw new HttpError(400, 'bad VFREEBUSY range');
  const range = { start: start * 1000, end: end * 1000 };
  const responses: XNode[] = [];
  const work = busyWork(); // one budget for every attendee's calendars
  for (const p of fb.getAllProperties('attendee')) {
    const raw = String(p.getFirstValue());
    const address = addressOf(raw);
    const r = address ? await ctx.app.accounts.resolveRecipient(address) : { kind: 'unknown' as const };
    if (r.kind !== 'local' || r.accountIds.length !== 1) {
      responses.push(x(NS.CALDAV, 'response', x(NS.CALDAV, 'recipient', d('href', raw)), x(NS.CALDAV, 'request-status', '3.7;Invalid calendar user')));
      continue;
    }
    const periods: BusyPeriod[] = [];
    for (const c of await ctx.gw.calendarsOf(r.accountIds[0]!)) {
      periods.push(...await busyTimeOf(await ctx.gw.candidatesInRange(c.id, 'VEVENT', range.start, range.end), range, null, work));
    }
    const reply = freeBusyCalendar(periods, range, Date.now(), PRODID)
      .replace('BEGIN:VFREEBUSY\r\n', `METHOD:REPLY\r\nBEGIN:VFREEBUSY\r\nORGANIZER:mailto:${organizer}\r\nATTENDEE:${raw}\r\n`);
    responses.push(x(NS.CALDAV, 'response', x(NS.CALDAV, 'recipient', d('href', raw)), x(NS.CALDAV, 'request-status', '2.0;Success'), x(NS.CALDAV, 'calendar-data', reorderMethod(reply))));
  }
  ctx.res.status(200).type('application/xml; charset=utf-8').send(serializeXml(x(NS.CALDAV, 'schedule-response', ...responses)));
}

/** METHOD belongs with the VCALENDAR properties, before the first component. */
function reorderMethod(text: string): string {
  const lines = text.split('\r\n').filter((l) => l !== 'METHOD:REPLY');
  const at = lines.indexOf('BEGIN:VFREEBUSY');
  lines.splice(at, 0, 'METHOD:REPLY');
  return lines.join('\r\n');
}
