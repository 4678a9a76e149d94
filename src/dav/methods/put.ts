// PUT (RFC 4918 §9.7, RFC 4791 §5.3.2, RFC 6352 §6.3.2): stores a resource in a collection.
// Calendar and address book bodies are validated by the CalDAV/CardDAV plugins (preconditions
// come back as DAV:error bodies); plain collections take any bytes. Strong ETags; If-Match and
// If-None-Match: * are checked inside the write transaction, so concurrent clients cannot
// overwrite each other's changes. Calendar objects with an ORGANIZER are scheduling objects
// (RFC 6638): If-Schedule-Tag-Match is checked the same way, a new Schedule-Tag is returned, and
// when implicit scheduling wrote SCHEDULE-STATUS back into the stored copy no ETag is returned
// (the stored body is no longer the client's; RFC 4791 §5.3.4), nor when an organizer's update
// made with If-Schedule-Tag-Match had attendee answers merged back in. Must not: create intermediate
// collections (409) or accept a body over the size limits.
import { schedulingInfo } from '../../protocols/dav/itip.js';
import { x, NS } from '../../protocols/dav/xml.js';
import type { NewObject } from '../../services/groupware/groupware.service.js';
import { HttpError, type CollectionNode, type MethodHandler } from '../types.js';
import { contentTypeOf, isResolved, requirePrivilege, schedulingOwner } from '../util.js';

export const put: MethodHandler = async (ctx, target) => {
  let parent: CollectionNode;
  let name: string;
  let exists = false;
  if (isResolved(target)) {
    if (target.node.kind !== 'object') throw new HttpError(405, 'cannot PUT to a collection');
    parent = target.node.parent;
    name = target.node.object.name;
    exists = true;
  } else {
    if (!target.parent) throw new HttpError(target.hidden ? 404 : 409, target.hidden ? 'not found' : 'parent collection does not exist');
    const pn = target.parent.node;
    if (pn.kind !== 'collection') throw new HttpError(pn.kind === 'gal' ? 403 : 405, 'resources can only be stored in a collection');
    parent = pn;
    name = target.name;
  }
  const href = isResolved(target) ? target.href : target.href;
  requirePrivilege(parent.access, exists ? 'write-content' : 'bind', isResolved(target) ? href : ctx.server.hrefOf(target.segs.slice(0, -1), true));
  const ct = contentTypeOf(ctx) || 'application/octet-stream';
  let object: NewObject | undefined;
  for (const p of ctx.server.plugins) {
    const v = p.validatePut?.(ctx, parent, name, ctx.body.toString('utf8'), ct);
    if (v) {
      object = v.object;
      break;
    }
  }
  // An organizer's update against a Schedule-Tag keeps the attendee answers merged since (RFC 6638 §3.2.10).
  const ifScheduleTagMatch = headerOf(ctx.req.headers['if-schedule-tag-match']);
  let merged = false;
  if (object && ifScheduleTagMatch && ctx.sched && isResolved(target) && target.node.kind === 'object' && parent.collection.kind === 'calendar' && parent.owner.id === ctx.user.id) {
    const stored = target.node.object.data;
    const data = stored ? await ctx.sched.keepAnswers(ctx.user, stored, object.data) : object.data;
    if (data !== object.data) {
      object = ctx.server.plugins.map((p) => p.validatePut?.(ctx, parent, name, data, ct)).find((v) => v)?.object ?? object;
      merged = object.data === data;
    }
  }
  if (!object) {
    if (parent.collection.kind !== 'collection') throw new HttpError(403, 'unsupported resource');
    object = { data: ctx.body.toString('base64'), size: ctx.body.length, contentType: ct, uid: null, componentType: null, firstStart: null, lastEnd: null, recurring: false };
  }
  // RFC 4331 §6: refuse writes that would exceed the owner's quota (mail and DAV data together).
  const owner = parent.owner;
  if (owner.quotaBytes > 0) {
    const used = owner.usedBytes + await ctx.gw.bytesUsed(owner.id);
    if (used + (object.size ?? Buffer.byteLength(object.data)) > owner.quotaBytes) throw new HttpError(507, 'quota exceeded', x(NS.DAV, 'quota-not-exceeded'));
  }
  const ifMatch = ctx.req.headers['if-match'] ?? null;
  const inm = String(ctx.req.headers['if-none-match'] ?? '').trim();
  const scheduling = parent.collection.kind === 'calendar' && !!schedulingInfo(object.data)?.organizer;
  const result = await ctx.gw.putObject(parent.collection, name, object, {
    ifMatch, ifNoneMatchStar: inm === '*', ifScheduleTagMatch, scheduleTag: scheduling ? 'new' : 'none',
  });
  if (!result.ok) {
    if (result.reason === 'precondition') throw new HttpError(412, 'precondition failed');
    const ns = parent.collection.kind === 'addressbook' ? NS.CARDDAV : NS.CALDAV;
    throw new HttpError(409, 'UID already used by another resource in this collection',
      x(ns, 'no-uid-conflict', x(NS.DAV, 'href', ctx.server.hrefOf([...(isResolved(target) ? target.segs.slice(0, -1) : target.segs.slice(0, -1)), result.conflictName!], false))));
  }
  // Implicit scheduling (RFC 6638 §3.2) for objects in the user's own calendars, or the owner's
  // when a write delegate made the change.
  let rewritten = false;
  const scheduler = ctx.sched && parent.collection.kind === 'calendar' ? await schedulingOwner(ctx, parent.owner) : null;
  if (ctx.sched && scheduler) {
    const before = isResolved(target) && target.node.kind === 'object' ? target.node.object.data : null;
    rewritten = await ctx.sched.afterPut(scheduler, before, object.data, { collection: parent.collection, name, etag: result.etag }).catch((e: Error) => {
      ctx.app.log.warn({ event: 'dav.schedule.failed', err: e.message }, 'implicit scheduling failed');
      return false;
    });
  }
  if (!rewritten && !merged) ctx.res.setHeader('ETag', result.etag);
  if (result.object.scheduleTag) ctx.res.setHeader('Schedule-Tag', result.object.scheduleTag);
  ctx.res.status(result.created ? 201 : 204).end();
};

function headerOf(v: string | string[] | undefined): string | null {
  const s = Array.isArray(v) ? v.join(',') : v;
  return s?.trim() ? s.trim() : null;
}
