// GET and HEAD (RFC 9110 §9.3.1-2, RFC 4918 §9.4): object bodies exactly as stored, with the
// strong ETag and conditional requests (If-Match → 412, If-None-Match → 304). A calendar
// collection answers with the whole calendar (text/calendar); other collections with a short
// text listing. A vCard asked for in the other version (Accept: text/vcard; version=4.0) is
// converted, without an ETag (the bytes are not the stored ones) and with Vary: Accept.
// Must not: serve objects of a free/busy-only share.
import { mergeCalendars } from '../../protocols/dav/icalendar.js';
import { acceptedVCardVersion, convertVCard } from '../../protocols/dav/vcard-convert.js';
import { etagOf } from '../../services/groupware/groupware.service.js';
import { HttpError, type MethodHandler } from '../types.js';
import { accessOf, etagMatches, httpDate, mustExist, requirePrivilege } from '../util.js';

export const PRODID = '-//Pochtamt//CalDAV//EN';

export const get: MethodHandler = async (ctx, target) => {
  const r = mustExist(target);
  const n = r.node;
  const head = ctx.req.method === 'HEAD';
  let body: Buffer;
  let type: string;
  let etag: string | null = null;
  let modified: number | null = null;
  if (n.kind === 'object') {
    requirePrivilege(n.parent.access, 'read', r.href);
    const o = n.object.data === undefined ? (await ctx.gw.getObject(n.parent.collection.id, n.object.name))! : n.object;
    body = n.parent.collection.kind === 'collection' ? Buffer.from(o.data, 'base64') : Buffer.from(o.data, 'utf8');
    type = o.contentType;
    etag = o.etag;
    modified = o.updatedAt;
    // RFC 6638 §3.2.10: clients keep the tag for If-Schedule-Tag-Match.
    if (o.scheduleTag) ctx.res.setHeader('Schedule-Tag', o.scheduleTag);
  } else if (n.kind === 'gal-card') {
    body = Buffer.from(n.data);
    type = 'text/vcard; charset=utf-8';
    etag = etagOf(n.data);
  } else if (n.kind === 'collection' && n.collection.kind === 'calendar') {
    requirePrivilege(accessOf(n), 'read', r.href);
    const objs = await ctx.gw.listObjects(n.collection.id);
    body = Buffer.from(mergeCalendars(objs.map((o) => o.data), PRODID, n.collection.displayName));
    type = 'text/calendar; charset=utf-8';
  } else if (n.kind === 'collection' || n.kind === 'home' || n.kind === 'root' || n.kind === 'gal') {
    const kids = await ctx.server.children(ctx, r);
    body = Buffer.from(`Index of ${r.href}\n${kids.map((k) => k.href).join('\n')}\n`);
    type = 'text/plain; charset=utf-8';
  } else {
    throw new HttpError(405, 'GET is not supported here');
  }
  const isCard = n.kind === 'gal-card' || (n.kind === 'object' && n.parent.collection.kind === 'addressbook');
  if (isCard) {
    ctx.res.setHeader('Vary', 'Accept');
    const version = acceptedVCardVersion(ctx.req.headers.accept);
    const converted = version ? convertVCard(body.toString('utf8'), version) : null;
    if (converted !== null && converted !== body.toString('utf8')) {
      body = Buffer.from(converted);
      type = `text/vcard; charset=utf-8; version=${version}`;
      etag = null;
      modified = null;
    }
  }
  const ifMatch = ctx.req.headers['if-match'];
  if (ifMatch && !etagMatches(ifMatch, etag)) throw new HttpError(412, 'If-Match failed');
  const inm = ctx.req.headers['if-none-match'];
  if (etag) ctx.res.setHeader('ETag', etag);
  if (modified !== null) ctx.res.setHeader('Last-Modified', httpDate(modified));
  if (inm && etagMatches(inm, etag)) {
    ctx.res.status(304).end();
    return;
  }
  ctx.res.setHeader('Content-Type', type);
  ctx.res.setHeader('Content-Length', String(body.length));
  ctx.res.status(200);
  if (head) ctx.res.end();
  else ctx.res.end(body);
};
