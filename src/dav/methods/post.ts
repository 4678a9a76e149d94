// POST on a calendar collection: calendarserver-sharing (CS:share) to grant or revoke access
// by mailto: or principal href, and CS:publish-calendar / CS:unpublish-calendar for the secret
// subscription link, pt:publish-freebusy / pt:unpublish-freebusy for the free/busy-only link
// (dav/freebusy-link.ts). Owner only. BUGS: CS:share-reply/notifications (invite acceptance) are not
// implemented: grants take effect at once and the share appears in the sharee's home.
import { parseShare } from '../../protocols/dav/requests.js';
import { NS } from '../../protocols/dav/xml.js';
import { HttpError, type MethodHandler } from '../types.js';
import { mustExist, requirePrivilege } from '../util.js';
import { outboxPost } from './outbox.js';

export const post: MethodHandler = async (ctx, target) => {
  const r = mustExist(target);
  const n = r.node;
  if (n.kind === 'schedule-outbox') {
    await outboxPost(ctx);
    return;
  }
  if (n.kind !== 'collection' || n.collection.kind === 'collection') throw new HttpError(405, 'POST is not supported here');
  requirePrivilege(n.access, 'write', r.href);
  const root = ctx.xml();
  if (!root) throw new HttpError(400, 'POST needs an XML body');
  if (root.ns === NS.CS && (root.local === 'publish-calendar' || root.local === 'unpublish-calendar')) {
    if (n.collection.kind !== 'calendar') throw new HttpError(403, 'only calendars can be published');
    if (root.local === 'publish-calendar') await ctx.gw.publish(n.collection);
    else await ctx.gw.unpublish(n.collection);
    ctx.res.status(202).end();
    return;
  }
  if (root.ns === NS.POCHTAMT && (root.local === 'publish-freebusy' || root.local === 'unpublish-freebusy')) {
    if (n.collection.kind !== 'calendar') throw new HttpError(403, 'only calendars have free/busy links');
    if (root.local === 'publish-freebusy') await ctx.gw.publishFreebusy(n.collection);
    else await ctx.gw.unpublishFreebusy(n.collection);
    ctx.res.status(202).end();
    return;
  }
  const changes = parseShare(root);
  for (const ch of changes) {
    const grantee = await resolveGrantee(ctx, ch.href);
    if (!grantee) throw new HttpError(403, `unknown sharee ${ch.href}`);
    if (grantee.accountId === ctx.user.id) throw new HttpError(403, 'cannot share with yourself');
    if (ch.access === null) await ctx.gw.revoke(n.collection.id, grantee);
    else await ctx.gw.grant(n.collection.id, grantee, ch.access);
  }
  ctx.res.status(200).end();
};

async function resolveGrantee(ctx: Parameters<typeof post>[0], href: string): Promise<{ accountId?: number; groupId?: number } | null> {
  let address = href.trim();
  if (/^mailto:/i.test(address)) address = address.slice(7);
  else {
    const segs = ctx.server.hrefToSegs(address);
    if (!segs || segs[0] !== 'principals' || segs.length !== 3) return null;
    address = segs[2]!;
  }
  const acc = await ctx.app.accounts.getAccount(address);
  if (acc && !acc.deletedAt) return { accountId: acc.id };
  const { groups } = await ctx.gw.galSource();
  const g = groups.find((x) => x.address === address.toLowerCase());
  return g ? { groupId: g.id } : null;
}
