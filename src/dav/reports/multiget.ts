// CALDAV:calendar-multiget (RFC 4791 §7.9) and CARDDAV:addressbook-multiget (RFC 6352 §8.7):
// the listed hrefs that belong to the target collection are answered; others get 404 (an
// href in a collection the user cannot read is indistinguishable from a missing one).
import { supportedCalendarData } from '../../protocols/dav/calendar-data.js';
import { caldavCondition } from '../../protocols/dav/multistatus.js';
import { parseMultiget } from '../../protocols/dav/requests.js';
import { NS } from '../../protocols/dav/xml.js';
import type { MsResponse } from '../../protocols/dav/multistatus.js';
import { HttpError, type ReportHandler } from '../types.js';
import { requirePrivilege } from '../util.js';
import { objectResponse, propRequest, sendMultistatus } from './common.js';
import { galResponses } from '../gal.js';
import { checkAddressData } from './address-data.js';

function multiget(ns: string, kind: 'calendar' | 'addressbook'): ReportHandler {
  return async (ctx, r, body) => {
    const n = r.node;
    const q = parseMultiget(body, ns);
    if (kind === 'addressbook') checkAddressData(q.addressData);
    if (kind === 'calendar' && !supportedCalendarData(q.calendarData)) throw new HttpError(403, 'calendar-data media type not supported', caldavCondition('supported-calendar-data'));
    if (n.kind === 'gal' && kind === 'addressbook') {
      checkAddressData(q.addressData);
      sendMultistatus(ctx, await galResponses(ctx, r, propRequest(q.props), q.hrefs, undefined, { addressData: q.addressData }));
      return;
    }
    if (n.kind !== 'collection' || n.collection.kind !== kind) throw new HttpError(403, `multiget needs a ${kind} collection`);
    requirePrivilege(n.access, 'read', r.href);
    const prefix = r.href;
    const names = new Map<string, string>(); // name -> href as sent
    const responses: MsResponse[] = [];
    for (const h of q.hrefs) {
      const segs = ctx.server.hrefToSegs(h);
      if (!segs || segs.length !== r.segs.length + 1 || ctx.server.hrefOf(segs.slice(0, -1), true) !== prefix) {
        responses.push({ href: h, status: 404 });
        continue;
      }
      names.set(segs[segs.length - 1]!, h);
    }
    const objs = await ctx.gw.getObjects(n.collection.id, [...names.keys()]);
    const found = new Set<string>();
    const request = propRequest(q.props);
    for (const o of objs) {
      found.add(o.name);
      responses.push(await objectResponse(ctx, r, o, request, { calendarData: q.calendarData, addressData: q.addressData }));
    }
    for (const [name, h] of names) if (!found.has(name)) responses.push({ href: h, status: 404 });
    sendMultistatus(ctx, responses);
  };
}

export const calendarMultiget = multiget(NS.CALDAV, 'calendar');
export const addressbookMultiget = multiget(NS.CARDDAV, 'addressbook');
