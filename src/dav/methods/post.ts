// POST on a calendar or address book: calendarserver-sharing (CS:share) to grant or revoke
// access by mailto: or principal href, CS:publish-calendar / CS:unpublish-calendar for the
// secret subscription link and pt:publish-freebusy / pt:unpublish-freebusy for the
// free/busy-only link (dav/freebusy-link.ts); owner only. POST on the user's own calendar home
// (or notification collection): CS:invite-reply / CS:share-reply, the sharee's answer to an
// invitation.
// Invitations: a CS:share set for an account whose client reads notifications (its notification
// collection exists: the client has opened its CS:notification-URL) is a pending grant plus an
// invite notification, in force once the sharee accepts; for every other sharee (clients without
// notification support, groups) and from the CLI a grant applies at once, so no share can hang
// in a client that cannot answer it. Removal is always immediate.
import { inviteNotificationXml, parseInviteReply } from '../../protocols/dav/sharing.js';
import { parseShare } from '../../protocols/dav/requests.js';
import { d, NS, serializeXml, x } from '../../protocols/dav/xml.js';
import type { Home } from '../../services/groupware/groupware.service.js';
import { HttpError, type DavContext, type MethodHandler } from '../types.js';
import { mustExist, requirePrivilege } from '../util.js';
import { outboxPost } from './outbox.js';

export const post: MethodHandler = async (ctx, target) => {
  const r = mustExist(target);
  const n = r.node;
  if (n.kind === 'schedule-outbox') {
    await outboxPost(ctx);
    return;
  }
  const ownHome = n.kind === 'home' && n.owner.id === ctx.user.id && n.home !== 'files';
  const ownNotifications = n.kind === 'collection' && n.collection.kind === 'notifications' && n.access === 'owner';
  if (ownHome || ownNotifications) {
    const root = ctx.xml();
    if (!root) throw new HttpError(400, 'POST needs an XML body');
    await inviteReply(ctx, root);
    return;
  }
  if (n.kind !== 'collection' || (n.collection.kind !== 'calendar' && n.collection.kind !== 'addressbook')) throw new HttpError(405, 'POST is not supported here');
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
    else if (grantee.accountId && await ctx.gw.special(grantee.accountId, 'notifications', false)) {
      await ctx.gw.invite(n.collection.id, grantee.accountId, ch.access, (uid) => inviteNotificationXml({
        uid, sharee: `mailto:${grantee.address}`, access: ch.access!, hostUrl: r.href, organizerHref: ctx.server.principalHref(n.owner),
        organizerName: n.owner.displayName || n.owner.address, summary: n.collection.displayName || n.collection.path,
        sharedType: n.collection.kind === 'addressbook' ? 'addressbook' : 'calendar', components: n.collection.components.split(',').filter(Boolean), now: Date.now(),
      }));
    } else await ctx.gw.grant(n.collection.id, grantee, ch.access);
  }
  ctx.res.status(200).end();
};

/** The sharee accepts or declines an invitation; on accept the answer names where the share is mounted. */
async function inviteReply(ctx: DavContext, root: NonNullable<ReturnType<DavContext['xml']>>): Promise<void> {
  const reply = parseInviteReply(root);
  let share = reply.inReplyTo ? await ctx.gw.inviteByUid(ctx.user.id, reply.inReplyTo) : null;
  if (!share && reply.hostUrl) {
    // The shared collection is invisible to the sharee until accepted: found by its path.
    const segs = ctx.server.hrefToSegs(reply.hostUrl);
    const owner = segs && segs.length >= 3 && (segs[0] === 'calendars' || segs[0] === 'addressbooks') ? await ctx.app.accounts.getAccount(segs[1]!) : null;
    const c = owner ? await ctx.gw.getCollection(owner.id, segs![0] as Home, segs!.slice(2).join('/')) : null;
    if (c) share = (await ctx.gw.listShares(c.id)).find((s) => s.granteeAccountId === ctx.user.id && s.inviteUid !== null) ?? null;
  }
  if (!share) throw new HttpError(403, 'no such invitation', x(NS.CS, 'valid-invite'));
  // Accepting an accepted share again is harmless; declining one the sharee had accepted leaves it.
  if (!(share.status === 'accepted' && reply.accept)) await ctx.gw.answerInvite(share, reply.accept);
  if (!reply.accept) {
    ctx.res.status(204).end();
    return;
  }
  const c = await ctx.gw.getCollectionById(share.collectionId);
  const mounted = c ? ctx.server.hrefOf([c.home, ctx.user.address, `shared-${c.id}`], true) : null;
  ctx.res.status(200).type('application/xml; charset=utf-8').send(serializeXml(x(NS.CS, 'shared-as', mounted ? d('href', mounted) : undefined)));
}

async function resolveGrantee(ctx: DavContext, href: string): Promise<{ accountId?: number; groupId?: number; address: string } | null> {
  let address = href.trim();
  if (/^mailto:/i.test(address)) address = address.slice(7);
  else {
    const segs = ctx.server.hrefToSegs(address);
    if (!segs || segs[0] !== 'principals' || segs.length !== 3) return null;
    address = segs[2]!;
  }
  const acc = await ctx.app.accounts.getAccount(address);
  if (acc && !acc.deletedAt) return { accountId: acc.id, address: acc.address };
  const { groups } = await ctx.gw.galSource();
  const g = groups.find((y) => y.address === address.toLowerCase());
  return g ? { groupId: g.id, address: g.address } : null;
}
