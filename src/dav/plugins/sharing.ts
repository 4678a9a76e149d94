// Sharing plugin (calendarserver-sharing subset, as read by Apple Calendar and DAVx5): CS:invite
// (who has access, and each sharee's answer: accepted, no response yet, declined),
// CS:allowed-sharing-modes, CS:publish-url for published calendars, and the owner's sharer
// info on mounted shares. Grants and invitations are made with POST CS:share, answered with
// POST CS:invite-reply (methods/post.ts); notifications live in the notification collection
// (plugins/scheduling.ts). Delegation (calendar-proxy groups) is plugins/proxy.ts.
import { d, NS, x } from '../../protocols/dav/xml.js';
import type { DavPlugin } from '../types.js';

const CS = (l: string) => `{${NS.CS}}${l}`;

export const sharingPlugin: DavPlugin = {
  name: 'sharing',
  features: ['calendarserver-sharing'],
  propFind(ctx, r, pf) {
    const n = r.node;
    if (n.kind !== 'collection' || (n.collection.kind !== 'calendar' && n.collection.kind !== 'addressbook')) return;
    if (n.collection.kind === 'calendar') pf.handle(CS('allowed-sharing-modes'), [x(NS.CS, 'can-be-shared'), x(NS.CS, 'can-be-published')]);
    if (n.access === 'owner' && n.collection.kind === 'calendar' && n.collection.publishToken) {
      const host = ctx.req.headers.host ?? ctx.app.config.hostname;
      const proto = (ctx.req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
      pf.handle(CS('publish-url'), [d('href', `${proto}://${host}/dav/subscribe/${n.collection.publishToken}.ics`)]);
    }
    pf.handle(CS('invite'), async () => {
      if (n.access !== 'owner') {
        return [x(NS.CS, 'organizer', d('href', ctx.server.principalHref(n.owner)), x(NS.CS, 'common-name', n.owner.displayName || n.owner.address))];
      }
      const { accounts, groups } = await ctx.gw.galSource();
      return (await ctx.gw.listShares(n.collection.id)).flatMap((s) => {
        const a = s.granteeAccountId ? accounts.find((y) => y.id === s.granteeAccountId) : undefined;
        const g = s.granteeGroupId ? groups.find((y) => y.id === s.granteeGroupId) : undefined;
        const addr = a?.address ?? g?.address;
        if (!addr) return [];
        return [x(NS.CS, 'user', d('href', `mailto:${addr}`), x(NS.CS, 'common-name', (a?.displayName || g?.displayName) || addr),
          x(NS.CS, s.status === 'pending' ? 'invite-noresponse' : s.status === 'declined' ? 'invite-declined' : 'invite-accepted'), x(NS.CS, 'access', x(NS.CS, s.access === 'read-write' ? 'read-write' : 'read')))];
      });
    });
  },
};
