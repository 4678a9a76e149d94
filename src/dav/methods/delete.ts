// DELETE (RFC 4918 §9.6): objects (unbind on the parent, If-Match honoured) and collections the
// user owns, with everything inside. Deleting a share mounted in the sharee's home removes the
// sharee's own direct grant (the sharee hides a share by deleting it from their home; a grant
// through a group stays, since the group owns it). Must not: delete homes.
import { HttpError, type MethodHandler } from '../types.js';
import { mustExist, requirePrivilege, schedulingOwner } from '../util.js';

export const del: MethodHandler = async (ctx, target) => {
  const r = mustExist(target);
  const n = r.node;
  const ifMatch = ctx.req.headers['if-match'] ?? null;
  if (n.kind === 'object') {
    requirePrivilege(n.parent.access, 'unbind', ctx.server.hrefOf(r.segs.slice(0, -1), true));
    // RFC 6638 §8.3: If-Schedule-Tag-Match guards scheduling objects like If-Match.
    const ifScheduleTag = String(ctx.req.headers['if-schedule-tag-match'] ?? '').trim() || null;
    const ok = await ctx.gw.deleteObject(n.parent.collection, n.object.name, ifMatch, ifScheduleTag);
    if (!ok) throw new HttpError(412, ifScheduleTag ? 'If-Match or If-Schedule-Tag-Match failed' : 'If-Match failed');
    const scheduler = ctx.sched && n.parent.collection.kind === 'calendar' ? await schedulingOwner(ctx, n.parent.owner) : null;
    if (ctx.sched && scheduler) {
      await ctx.sched.afterDelete(scheduler, n.object.data).catch((e: Error) =>
        ctx.app.log.warn({ event: 'dav.schedule.failed', err: e.message }, 'implicit scheduling failed'));
    }
    ctx.res.status(204).end();
    return;
  }
  if (n.kind === 'collection') {
    if (ifMatch) throw new HttpError(412, 'collections have no ETag');
    if (n.collection.kind === 'schedule-inbox' || n.collection.kind === 'notifications') throw new HttpError(403, 'this collection is kept by the server');
    if (n.mounted) {
      const direct = (await ctx.gw.listShares(n.collection.id)).some((g) => g.granteeAccountId === ctx.user.id);
      if (!direct) throw new HttpError(403, 'this share comes from a group; ask the owner to remove it');
      await ctx.gw.revoke(n.collection.id, { accountId: ctx.user.id });
      ctx.res.status(204).end();
      return;
    }
    requirePrivilege(n.access, 'write', r.href);
    await ctx.gw.deleteCollection(n.collection);
    ctx.res.status(204).end();
    return;
  }
  throw new HttpError(403, 'this resource cannot be deleted');
};
