// CalDAV plugin (RFC 4791): calendar-home-set and calendar-user-address-set on principals,
// calendar collection properties (supported component set, data types, max-resource-size,
// description, timezone, CS:getctag, Apple colour/order), calendar-data on objects (partial
// retrieval, expand and limit-recurrence/freebusy-set: protocols/dav/calendar-data.ts),
// MKCALENDAR, the calendar reports, and PUT validation with the RFC 4791 §5.3.2.1 preconditions.
// Must not: modify stored iCalendar (we store as sent, so the ETag stays valid for the client).
// Scheduling (RFC 6638): calendar-auto-schedule, schedule-inbox/outbox URLs; the work is done by
// SchedulingService from PUT/DELETE and by the outbox POST (methods/outbox.ts); the inbox's own
// properties and Schedule-Tag are plugins/scheduling.ts.
import { renderCalendarData } from '../../protocols/dav/calendar-data.js';
import { checkCalendarObject } from '../../protocols/dav/icalendar.js';
import { caldavCondition } from '../../protocols/dav/multistatus.js';
import type { CalendarDataRequest } from '../../protocols/dav/requests.js';
import { children, d, NS, x } from '../../protocols/dav/xml.js';
import { mkcol } from '../methods/mkcol.js';
import { calendarMultiget } from '../reports/multiget.js';
import { calendarQuery } from '../reports/calendar-query.js';
import { freeBusyQuery } from '../reports/free-busy-query.js';
import { parsedCalendar } from '../ical-cache.js';
import { calendarTimezoneId } from '../util.js';
import { HttpError, type CollectionPatch, type DavPlugin, type LivePatch } from '../types.js';

/** Largest calendar object accepted (403 CALDAV:max-resource-size beyond). */
export const MAX_CALENDAR_RESOURCE_BYTES = 4 * 1024 * 1024;
const C = (l: string) => `{${NS.CALDAV}}${l}`;
const APPLE = (l: string) => `{${NS.APPLE}}${l}`;
const REPORTS = [C('calendar-query'), C('calendar-multiget'), C('free-busy-query')];
const COMPONENTS = ['VEVENT', 'VTODO', 'VJOURNAL'];

export const caldavPlugin: DavPlugin = {
  name: 'caldav',
  features: ['calendar-access', 'calendar-auto-schedule'],
  methods: { MKCALENDAR: mkcol },
  reports: { [C('calendar-query')]: calendarQuery, [C('calendar-multiget')]: calendarMultiget, [C('free-busy-query')]: freeBusyQuery },
  supportedReports(r) {
    const n = r.node;
    if (n.kind === 'collection' && n.collection.kind === 'calendar') return REPORTS;
    if (n.kind === 'object' && n.parent.collection.kind === 'calendar') return REPORTS;
    return [];
  },
  allowedMethods: (r) => (r.node.kind === 'home' && r.node.home === 'calendars' && !r.node.proxy ? ['MKCALENDAR'] : []),
  async propFind(ctx, r, pf) {
    const n = r.node;
    if (n.kind === 'principal') {
      pf.handle(C('calendar-home-set'), [d('href', ctx.server.homeHref('calendars', n.account))]);
      pf.handle(C('calendar-user-address-set'), [d('href', `mailto:${n.account.address}`), d('href', ctx.server.principalHref(n.account))]);
      pf.handle(C('calendar-user-type'), ['INDIVIDUAL']);
      if (n.account.id === ctx.user.id) {
        pf.handle(C('schedule-inbox-URL'), [d('href', ctx.server.hrefOf(['calendars', n.account.address, 'inbox'], true))]);
        pf.handle(C('schedule-outbox-URL'), [d('href', ctx.server.hrefOf(['calendars', n.account.address, 'outbox'], true))]);
      }
    } else if (n.kind === 'group-principal') {
      pf.handle(C('calendar-user-address-set'), [d('href', `mailto:${n.group.address}`)]);
      pf.handle(C('calendar-user-type'), ['GROUP']);
    } else if (n.kind === 'collection' && n.collection.kind === 'calendar') {
      pf.handle(C('schedule-calendar-transp'), [x(NS.CALDAV, 'opaque')]);
      const c = n.collection;
      pf.handle(C('supported-calendar-component-set'), c.components.split(',').filter(Boolean).map((name) => ({ ns: NS.CALDAV, local: 'comp', attrs: { name } })));
      pf.handle(C('supported-calendar-data'), [{ ns: NS.CALDAV, local: 'calendar-data', attrs: { 'content-type': 'text/calendar', version: '2.0' } }]);
      pf.handle(C('max-resource-size'), [String(MAX_CALENDAR_RESOURCE_BYTES)]);
      pf.handle(C('supported-collation-set'), ['i;ascii-casemap', 'i;octet', 'i;unicode-casemap'].map((s) => x(NS.CALDAV, 'supported-collation', s)));
      pf.handle(C('calendar-description'), c.description ? [c.description] : null);
      pf.handle(C('calendar-timezone'), c.timezone ? [c.timezone] : null);
      pf.handle(`{${NS.CS}}getctag`, [String(c.syncToken)]);
      pf.handle(APPLE('calendar-color'), c.color ? [c.color] : null);
      pf.handle(APPLE('calendar-order'), c.sortOrder !== null ? [String(c.sortOrder)] : null);
      if (n.access === 'owner' && c.freebusyToken) {
        const host = ctx.req.headers.host ?? ctx.app.config.hostname;
        const proto = (ctx.req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
        pf.handle(`{${NS.POCHTAMT}}freebusy-url`, [d('href', `${proto}://${host}/dav/freebusy/${c.freebusyToken}.ics`)]);
      }
    } else if (n.kind === 'object' && n.parent.collection.kind === 'calendar') {
      const o = n.object;
      pf.handle(C('calendar-data'), async () => {
        const obj = o.data !== undefined ? o : await ctx.gw.getObject(n.parent.collection.id, o.name);
        if (!obj) return [''];
        const req = pf.extras.calendarData as CalendarDataRequest | null | undefined;
        const tz = (pf.extras.floatingTz as string | null | undefined) ?? calendarTimezoneId(n.parent.collection);
        return [renderCalendarData(obj.data, req, () => parsedCalendar(obj.etag, obj.data), tz)];
      });
    }
  },
  propPatch(_ctx, r, op): LivePatch | undefined {
    const n = r.node;
    if (n.kind !== 'collection' || n.collection.kind !== 'calendar') {
      return op.name.startsWith(`{${NS.CALDAV}}`) ? { status: 403 } : undefined;
    }
    const owner = n.access === 'owner';
    const creating = (op as { creating?: boolean }).creating === true;
    const text = op.op === 'set' ? op.value.text.trim() : '';
    const ok = (apply: (p: CollectionPatch) => void): LivePatch => (owner ? { status: 200, apply } : { status: 403 });
    switch (op.name) {
      case C('calendar-description'): return ok((p) => { p.description = text; });
      case C('calendar-timezone'): return ok((p) => { p.timezone = text || null; });
      case APPLE('calendar-color'): return ok((p) => { p.color = text.slice(0, 32) || null; });
      case APPLE('calendar-order'): return ok((p) => { p.sortOrder = Number.isFinite(Number(text)) && text ? Math.trunc(Number(text)) : null; });
      case C('supported-calendar-component-set'): {
        // RFC 4791 §5.2.3: may be set at creation only.
        if (!creating || op.op !== 'set') return { status: 403, condition: d('cannot-modify-protected-property') };
        const comps = children(op.value, NS.CALDAV, 'comp').map((c) => String(c.attrs.name ?? '').toUpperCase());
        if (!comps.length || comps.some((c) => !COMPONENTS.includes(c))) return { status: 403, condition: caldavCondition('supported-calendar-component') };
        return ok((p) => { p.components = comps.join(','); });
      }
      default:
        return op.name.startsWith(`{${NS.CALDAV}}`) ? { status: 403, condition: d('cannot-modify-protected-property') } : undefined;
    }
  },
  validatePut(ctx, parent, _name, body, contentType) {
    if (parent.collection.kind !== 'calendar') return undefined;
    const mime = contentType.split(';')[0]!.trim().toLowerCase();
    // A missing Content-Type is accepted and the data decides (RFC 4791 §5.3.2 only requires valid data).
    if (mime && mime !== 'text/calendar' && mime !== 'application/octet-stream') {
      throw new HttpError(415, `expected text/calendar, got ${mime}`, caldavCondition('supported-calendar-data'));
    }
    if (Buffer.byteLength(body) > MAX_CALENDAR_RESOURCE_BYTES) throw new HttpError(403, 'calendar object too large', caldavCondition('max-resource-size'));
    const res = checkCalendarObject(body, parent.collection.components.split(',').filter(Boolean));
    if (!res.ok) throw new HttpError(res.condition === 'valid-calendar-data' ? 400 : 403, res.message, caldavCondition(res.condition));
    void ctx;
    return {
      object: {
        data: body, contentType: 'text/calendar; charset=utf-8', uid: res.uid, componentType: res.componentType,
        firstStart: res.firstStart, lastEnd: res.lastEnd, recurring: res.recurring, occurrences: res.occurrences,
      },
    };
  },
};

