// Scheduling and notification properties (RFC 6638, calendarserver notifications) that are not
// CalDAV collection basics: CALDAV:schedule-tag on scheduling objects, the schedule inbox's
// default calendar and its messages' calendar-data, CS:notification-URL on the user's own
// principal and CS:notificationtype on notification resources. The inbox and the notification
// collection are stored collections (GroupwareService.special()); their contents are written
// by SchedulingService and the sharing invitations (methods/post.ts).
// Must not: write anything (PROPFIND only).
import { d, NS, parseXml, x, type XNode } from '../../protocols/dav/xml.js';
import type { DavPlugin } from '../types.js';

const C = (l: string) => `{${NS.CALDAV}}${l}`;
const CS = (l: string) => `{${NS.CS}}${l}`;

export const schedulingPlugin: DavPlugin = {
  name: 'scheduling',
  features: [],
  propFind(ctx, r, pf) {
    const n = r.node;
    if (n.kind === 'principal' && n.account.id === ctx.user.id) {
      pf.handle(CS('notification-URL'), [d('href', ctx.server.hrefOf(['calendars', n.account.address, 'notifications'], true))]);
    } else if (n.kind === 'collection' && n.collection.kind === 'schedule-inbox') {
      pf.handle(C('schedule-default-calendar-URL'), [d('href', ctx.server.hrefOf(['calendars', n.owner.address, 'calendar'], true))]);
      pf.handle(C('supported-calendar-component-set'), ['VEVENT', 'VTODO'].map((name) => ({ ns: NS.CALDAV, local: 'comp', attrs: { name } })));
    } else if (n.kind === 'object') {
      const kind = n.parent.collection.kind;
      const o = n.object;
      if (kind === 'calendar' && o.scheduleTag) pf.handle(C('schedule-tag'), [o.scheduleTag]);
      const data = async () => o.data ?? (await ctx.gw.getObject(n.parent.collection.id, o.name))?.data ?? '';
      if (kind === 'schedule-inbox') pf.handle(C('calendar-data'), async () => [await data()]);
      if (kind === 'notifications') pf.handle(CS('notificationtype'), async () => notificationType(await data()));
    }
  },
};

/** The notification's type element (its body's first child, without content) for CS:notificationtype. */
function notificationType(xml: string): XNode[] {
  try {
    const root = parseXml(xml);
    const t = root.children.find((c) => c.ns === NS.CS && c.local !== 'dtstamp');
    if (!t) return [];
    const shared = t.attrs['shared-type'];
    return [{ ...x(NS.CS, t.local), ...(shared ? { attrs: { 'shared-type': shared } } : {}) }];
  } catch {
    return [];
  }
}
