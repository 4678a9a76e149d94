// ACL read subset (RFC 3744): DAV:owner, DAV:current-user-privilege-set, DAV:acl and
// DAV:supported-privilege-set, derived from ownership and sharing grants. Enforcement itself is
// in the methods (requirePrivilege), from the same table. The principal reports:
// principal-property-search and principal-search-property-set on the principal collections,
// and DAV:expand-property (RFC 3253 §3.8) on every resource.
// Must not: accept ACL method changes.
// BUGS: the ACL method is not implemented; grants are managed with CS:share (POST).
import { d, NS, x, type XNode } from '../../protocols/dav/xml.js';
import { expandProperty } from '../reports/expand-property.js';
import { principalPropertySearch, principalSearchPropertySet } from '../reports/principal-search.js';
import type { DavPlugin } from '../types.js';
import { accessOf, privilegeNode, privilegesOf } from '../util.js';

const D = (l: string) => `{${NS.DAV}}${l}`;
const PPS = D('principal-property-search');
const PSPS = D('principal-search-property-set');
const EXPAND = D('expand-property');

function ace(principal: XNode, privs: XNode[], isProtected: boolean): XNode {
  return d('ace', d('principal', principal), d('grant', ...privs.map((p) => d('privilege', p))), isProtected ? d('protected') : undefined);
}

export const aclPlugin: DavPlugin = {
  name: 'acl',
  features: ['access-control'],
  reports: { [PPS]: principalPropertySearch, [PSPS]: principalSearchPropertySet, [EXPAND]: expandProperty },
  supportedReports(r) {
    const k = r.node.kind;
    return k === 'principals' || k === 'principal-users' || k === 'principal-groups' ? [PPS, PSPS, EXPAND] : [EXPAND];
  },
  async propFind(ctx, r, pf) {
    const n = r.node;
    if (n.kind === 'collection' || n.kind === 'object' || n.kind === 'home') {
      const owner = n.kind === 'collection' ? n.owner : n.kind === 'object' ? n.parent.owner : n.owner;
      pf.handle(D('owner'), [d('href', ctx.server.principalHref(owner))]);
    }
    const access = accessOf(n);
    // RFC 6638 §6: scheduling privileges on the user's own outbox and inbox.
    const sched = n.kind === 'schedule-outbox' ? ['schedule-send', 'schedule-send-invite', 'schedule-send-reply', 'schedule-send-freebusy']
      : n.kind === 'schedule-inbox' || (n.kind === 'collection' && n.collection.kind === 'schedule-inbox' && n.access === 'owner') ? ['schedule-deliver', 'schedule-deliver-invite', 'schedule-deliver-reply', 'schedule-query-freebusy'] : [];
    pf.handle(D('current-user-privilege-set'), [...privilegesOf(access).map((p) => d('privilege', privilegeNode(p))),
      ...sched.map((p) => d('privilege', x(NS.CALDAV, p)))]);
    pf.handle(D('supported-privilege-set'), [d('supported-privilege', d('privilege', d('all')), d('abstract'),
      d('supported-privilege', d('privilege', d('read')), d('supported-privilege', d('privilege', x(NS.CALDAV, 'read-free-busy')))),
      d('supported-privilege', d('privilege', d('write')),
        d('supported-privilege', d('privilege', d('write-content'))), d('supported-privilege', d('privilege', d('write-properties'))),
        d('supported-privilege', d('privilege', d('bind'))), d('supported-privilege', d('privilege', d('unbind')))),
    )]);
    const col = n.kind === 'collection' ? n : n.kind === 'object' ? n.parent : null;
    if (col) {
      pf.handle(D('acl'), async () => {
        const aces = [ace(d('href', ctx.server.principalHref(col.owner)), [d('all')], true)];
        // Sharees see their own entry only; the owner sees every grant.
        if (col.access === 'owner') {
          const { accounts, groups } = await ctx.gw.galSource();
          for (const s of await ctx.gw.listShares(col.collection.id)) {
            if (s.status !== 'accepted') continue; // a pending or declined invitation grants nothing
            const a = s.granteeAccountId ? accounts.find((x) => x.id === s.granteeAccountId) : undefined;
            const g = s.granteeGroupId ? groups.find((x) => x.id === s.granteeGroupId) : undefined;
            const href = a ? ctx.server.principalHref(a) : g ? ctx.server.hrefOf(['principals', 'groups', g.address], true) : null;
            if (href) aces.push(ace(d('href', href), privilegesOf(s.access as 'read').map(privilegeNode), false));
          }
        } else {
          aces.push(ace(d('href', ctx.server.principalHref(ctx.user)), privilegesOf(col.access).map(privilegeNode), false));
        }
        return aces;
      });
    }
  },
};
