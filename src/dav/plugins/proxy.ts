// Calendar delegation (calendarserver.org caldav-proxy.txt), as Apple Calendar and iOS use it:
// each user principal has two child principals, calendar-proxy-read and calendar-proxy-write,
// whose DAV:group-member-set the owner sets with PROPPATCH (users or groups, by principal URL
// or mailto:). Members get read, or read and write, on every calendar of the owner through the
// same access check as sharing (GroupwareService.accessFor), and see the owner's calendar home.
// The delegate's principal lists the groups in DAV:group-membership and the owners in
// CS:calendar-proxy-read-for / calendar-proxy-write-for (clients expand these with
// DAV:expand-property). Must not: show who delegates to whom to anyone but the owner and the
// delegate. BUGS: a write delegate does not schedule as the owner (no "on behalf of" iTIP).
import { multistatus, type PropResult } from '../../protocols/dav/multistatus.js';
import type { PropPatchOp } from '../../protocols/dav/requests.js';
import { children, d, NS, x, type XNode } from '../../protocols/dav/xml.js';
import type { ProxyAccess } from '../../services/groupware/groupware.service.js';
import { HttpError, type DavContext, type DavPlugin, type Resolved } from '../types.js';

const D = (l: string) => `{${NS.DAV}}${l}`;
const CS = (l: string) => `{${NS.CS}}${l}`;
export const PROXY_LOCAL: Record<ProxyAccess, string> = { read: 'calendar-proxy-read', 'read-write': 'calendar-proxy-write' };
/** Delegates per group (a PROPPATCH naming more is refused). */
const MAX_DELEGATES = 200;

export function proxyGroupHref(ctx: DavContext, address: string, access: ProxyAccess): string {
  return ctx.server.hrefOf(['principals', 'users', address, PROXY_LOCAL[access]], true);
}

/** Hrefs of the proxy groups `accountId` is a member of (for its DAV:group-membership). */
export async function proxyMemberships(ctx: DavContext, accountId: number): Promise<XNode[]> {
  const out: XNode[] = [];
  for (const p of await ctx.gw.proxyFor(accountId)) {
    const owner = await ctx.app.accounts.getAccountById(p.ownerId);
    if (owner && !owner.deletedAt) out.push(d('href', proxyGroupHref(ctx, owner.address, p.access)));
  }
  return out;
}

async function memberHrefs(ctx: DavContext, ownerId: number, access: ProxyAccess): Promise<XNode[]> {
  const rows = await ctx.gw.proxiesOf(ownerId, access);
  if (!rows.length) return [];
  const { accounts, groups } = await ctx.gw.galSource();
  return rows.flatMap((r) => {
    const a = r.delegateAccountId ? accounts.find((y) => y.id === r.delegateAccountId) : undefined;
    const g = r.delegateGroupId ? groups.find((y) => y.id === r.delegateGroupId) : undefined;
    if (a) return [d('href', ctx.server.principalHref(a))];
    if (g) return [d('href', ctx.server.hrefOf(['principals', 'groups', g.address], true))];
    return [];
  });
}

async function proxyForList(ctx: DavContext, accountId: number, access: ProxyAccess): Promise<XNode[]> {
  const out: XNode[] = [];
  for (const p of await ctx.gw.proxyFor(accountId)) {
    if (p.access !== access) continue;
    const owner = await ctx.app.accounts.getAccountById(p.ownerId);
    if (owner && !owner.deletedAt) out.push(d('href', ctx.server.principalHref(owner)));
  }
  return out;
}

/**
 * PROPPATCH on a proxy group: only DAV:group-member-set, only by the owner, all or nothing.
 * Members are user or group principal URLs or mailto: addresses of live accounts and groups.
 */
export async function proxyPropPatch(ctx: DavContext, r: Resolved, ops: PropPatchOp[]): Promise<void> {
  const n = r.node;
  if (n.kind !== 'proxy-group') throw new HttpError(500, 'not a proxy group');
  if (n.account.id !== ctx.user.id) throw new HttpError(403, 'only the owner changes its delegates', d('need-privileges', d('resource', d('href', r.href), d('privilege', d('write-properties')))));
  const results: PropResult[] = [];
  let members: Array<{ accountId?: number; groupId?: number }> | null = null;
  let failed = false;
  for (const op of ops) {
    if (op.name !== D('group-member-set')) {
      results.push({ name: op.name, status: 403 });
      failed = true;
      continue;
    }
    const hrefs = op.op === 'set' ? children(op.value, NS.DAV, 'href').map((h) => h.text.trim()).filter(Boolean) : [];
    if (hrefs.length > MAX_DELEGATES) {
      results.push({ name: op.name, status: 409 });
      failed = true;
      continue;
    }
    const resolved = await Promise.all(hrefs.map((h) => resolvePrincipal(ctx, h)));
    if (resolved.some((m) => m === null)) {
      results.push({ name: op.name, status: 409 });
      failed = true;
      continue;
    }
    members = resolved as Array<{ accountId?: number; groupId?: number }>;
    results.push({ name: op.name, status: 200 });
  }
  if (failed) {
    for (const res of results) if (res.status === 200) res.status = 424;
  } else if (members) {
    await ctx.gw.setProxies(n.account.id, n.access, members);
  }
  ctx.res.status(207).type('application/xml; charset=utf-8').send(multistatus([{ href: r.href, props: results }]));
}

async function resolvePrincipal(ctx: DavContext, href: string): Promise<{ accountId?: number; groupId?: number } | null> {
  let address: string;
  if (/^mailto:/i.test(href)) address = href.slice(7);
  else {
    const segs = ctx.server.hrefToSegs(href);
    if (!segs || segs[0] !== 'principals' || segs.length !== 3 || (segs[1] !== 'users' && segs[1] !== 'groups')) return null;
    address = segs[2]!;
  }
  const acc = await ctx.app.accounts.getAccount(address);
  if (acc && !acc.deletedAt && acc.enabled) return { accountId: acc.id };
  const { groups } = await ctx.gw.galSource();
  const g = groups.find((y) => y.address === address.toLowerCase());
  return g ? { groupId: g.id } : null;
}

export const proxyPlugin: DavPlugin = {
  name: 'proxy',
  features: ['calendar-proxy'],
  propFind(ctx, r, pf) {
    const n = r.node;
    if (n.kind === 'principal') {
      // Who delegated to this principal: only the principal itself may know.
      if (n.account.id === ctx.user.id) {
        pf.handle(CS('calendar-proxy-read-for'), () => proxyForList(ctx, n.account.id, 'read'));
        pf.handle(CS('calendar-proxy-write-for'), () => proxyForList(ctx, n.account.id, 'read-write'));
      } else {
        pf.forbid(CS('calendar-proxy-read-for'));
        pf.forbid(CS('calendar-proxy-write-for'));
      }
    } else if (n.kind === 'proxy-group') {
      pf.handle(D('principal-URL'), [d('href', r.href)]);
      pf.handle(D('group-member-set'), () => memberHrefs(ctx, n.account.id, n.access));
      pf.handle(D('group-membership'), []);
      pf.handle(D('alternate-URI-set'), []);
      pf.handle(`{${NS.CALDAV}}calendar-user-type`, ['GROUP']);
    }
  },
};

export const proxyResourceType = (access: ProxyAccess): XNode => x(NS.CS, PROXY_LOCAL[access]);
