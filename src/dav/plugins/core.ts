// Core WebDAV plugin (RFC 4918, RFC 5397 current-user-principal, RFC 4331 quota): the basic
// methods, resourcetype/displayname/getetag/… for every node, principal properties, and dead
// properties on collections and objects. Must not: know CalDAV/CardDAV specifics beyond the
// resourcetype of their collections.
import { PropFind } from '../../protocols/dav/multistatus.js';
import { d, NS, x, type XNode } from '../../protocols/dav/xml.js';
import { copyMove } from '../methods/copy-move.js';
import { del } from '../methods/delete.js';
import { get } from '../methods/get.js';
import { mkcol } from '../methods/mkcol.js';
import { options } from '../methods/options.js';
import { post } from '../methods/post.js';
import { propfind } from '../methods/propfind.js';
import { proppatch } from '../methods/proppatch.js';
import { put } from '../methods/put.js';
import { report } from '../methods/report.js';
import type { DavContext, DavPlugin, LivePatch, Resolved } from '../types.js';
import { httpDate, readDeadProps } from '../util.js';
import { proxyMemberships, proxyResourceType } from './proxy.js';
import { etagOf } from '../../services/groupware/groupware.service.js';

const D = (l: string) => `{${NS.DAV}}${l}`;
const PROTECTED = new Set(['resourcetype', 'getetag', 'getcontentlength', 'getlastmodified', 'creationdate', 'getcontenttype',
  'supported-report-set', 'current-user-principal', 'current-user-privilege-set', 'sync-token', 'owner', 'acl',
  'quota-used-bytes', 'quota-available-bytes', 'principal-URL', 'principal-collection-set', 'supportedlock', 'lockdiscovery',
  'supported-privilege-set', 'group-member-set', 'group-membership', 'lockdiscovery'].map(D));

function resourcetype(r: Resolved): XNode[] {
  const n = r.node;
  switch (n.kind) {
    case 'principal': case 'group-principal': return [d('principal')];
    case 'proxy-group': return [d('principal'), proxyResourceType(n.access)];
    case 'collection':
      if (n.collection.kind === 'calendar') return [d('collection'), x(NS.CALDAV, 'calendar'), ...(n.mounted ? [x(NS.CS, 'shared')] : [])];
      if (n.collection.kind === 'addressbook') return [d('collection'), x(NS.CARDDAV, 'addressbook'), ...(n.mounted ? [x(NS.CS, 'shared')] : [])];
      if (n.collection.kind === 'schedule-inbox') return [d('collection'), x(NS.CALDAV, 'schedule-inbox')];
      if (n.collection.kind === 'notifications') return [d('collection'), x(NS.CS, 'notification')];
      return [d('collection')];
    case 'gal': return [d('collection'), x(NS.CARDDAV, 'addressbook')];
    case 'object': case 'gal-card': case 'subscription': return [];
    case 'schedule-inbox': return [d('collection'), x(NS.CALDAV, 'schedule-inbox')];
    case 'schedule-outbox': return [d('collection'), x(NS.CALDAV, 'schedule-outbox')];
    default: return [d('collection')];
  }
}

function displayName(r: Resolved): string | null {
  const n = r.node;
  switch (n.kind) {
    case 'principal': return n.account.displayName || n.account.address;
    case 'group-principal': return n.group.displayName || n.group.address;
    case 'proxy-group': return `${n.account.displayName || n.account.address}: calendar ${n.access === 'read' ? 'read' : 'write'} delegates`;
    case 'collection':
      if (n.mounted) return `${n.collection.displayName || n.collection.path} (${n.owner.displayName || n.owner.address})`;
      return n.collection.displayName || null;
    case 'gal': return 'Global Address List';
    case 'home': return n.owner.displayName || n.owner.address;
    default: return null;
  }
}

async function quota(ctx: DavContext, r: Resolved, pf: PropFind): Promise<void> {
  const n = r.node;
  const owner = n.kind === 'home' ? (n.proxy ? null : n.owner) : n.kind === 'collection' && n.access === 'owner' ? n.owner : null;
  if (!owner) return;
  let used: number | null = null;
  const usedBytes = async () => {
    if (used === null) used = owner.usedBytes + await ctx.gw.bytesUsed(owner.id);
    return used;
  };
  pf.handle(D('quota-used-bytes'), async () => [String(await usedBytes())]);
  if (owner.quotaBytes > 0) pf.handle(D('quota-available-bytes'), async () => [String(Math.max(0, owner.quotaBytes - await usedBytes()))]);
}

export const corePlugin: DavPlugin = {
  name: 'core',
  features: ['1', '3', 'extended-mkcol'],
  methods: {
    OPTIONS: options, PROPFIND: propfind, PROPPATCH: proppatch, GET: get, HEAD: get, PUT: put, DELETE: del,
    MKCOL: mkcol, COPY: copyMove, MOVE: copyMove, REPORT: report, POST: post,
  },
  supportedReports: () => [],
  async propFind(ctx, r, pf) {
    const n = r.node;
    pf.handle(D('resourcetype'), resourcetype(r));
    const dn = displayName(r);
    if (dn !== null) pf.handle(D('displayname'), [dn]);
    pf.handle(D('current-user-principal'), [d('href', ctx.server.principalHref(ctx.user))]);
    pf.handle(D('principal-collection-set'), [d('href', ctx.server.hrefOf(['principals'], true))]);
    pf.handle(D('supported-report-set'), () => {
      const names = [...new Set(ctx.server.plugins.flatMap((p) => p.supportedReports?.(r) ?? []))];
      return names.map((nm) => {
        const m = /^\{([^}]*)\}(.+)$/.exec(nm)!;
        return d('supported-report', d('report', x(m[1]!, m[2]!)));
      });
    });
    if (n.kind === 'object') {
      const o = n.object;
      pf.handle(D('getetag'), [o.etag]);
      pf.handle(D('getcontenttype'), [o.contentType]);
      pf.handle(D('getcontentlength'), [String(o.size)]);
      pf.handle(D('getlastmodified'), [httpDate(o.updatedAt)]);
      pf.handle(D('creationdate'), [new Date(o.createdAt).toISOString()]);
    } else if (n.kind === 'gal-card') {
      pf.handle(D('getetag'), [etagOf(n.data)]);
      pf.handle(D('getcontenttype'), ['text/vcard; charset=utf-8']);
      pf.handle(D('getcontentlength'), [String(Buffer.byteLength(n.data))]);
    } else if (n.kind === 'collection') {
      pf.handle(D('getlastmodified'), [httpDate(n.collection.updatedAt)]);
      pf.handle(D('creationdate'), [new Date(n.collection.createdAt).toISOString()]);
    }
    if (n.kind === 'principal') {
      pf.handle(D('principal-URL'), [d('href', ctx.server.principalHref(n.account))]);
      pf.handle(D('alternate-URI-set'), [d('href', `mailto:${n.account.address}`)]);
      pf.handle(D('group-membership'), async () => {
        const ids = await ctx.gw.groupsOf(n.account.id);
        const { groups } = await ctx.gw.galSource();
        const hrefs = groups.filter((g) => ids.includes(g.id)).map((g) => d('href', ctx.server.hrefOf(['principals', 'groups', g.address], true)));
        // Delegations (calendar-proxy groups) are shown to the delegate only.
        return n.account.id === ctx.user.id ? [...hrefs, ...await proxyMemberships(ctx, n.account.id)] : hrefs;
      });
      pf.handle(`{${NS.CS}}email-address-set`, [x(NS.CS, 'email-address', n.account.address)]);
    } else if (n.kind === 'group-principal') {
      pf.handle(D('principal-URL'), [d('href', r.href)]);
      pf.handle(D('alternate-URI-set'), [d('href', `mailto:${n.group.address}`)]);
      pf.handle(D('group-member-set'), async () => {
        const { members, accounts } = await ctx.gw.galSource();
        return members.filter((m) => m.groupId === n.group.id && m.accountId).flatMap((m) => {
          const a = accounts.find((acc) => acc.id === m.accountId);
          return a ? [d('href', ctx.server.principalHref(a))] : [];
        });
      });
    }
    if (n.kind === 'collection' || n.kind === 'home') await quota(ctx, r, pf);
    if (n.kind === 'collection' || n.kind === 'object') {
      const dead = readDeadProps(n.kind === 'collection' ? n.collection.deadProps : n.object.deadProps);
      for (const [name, node] of Object.entries(dead)) pf.handle(name, node.children ?? []);
    }
  },
  propPatch(_ctx, r, op): LivePatch | undefined {
    if (PROTECTED.has(op.name)) return { status: 403, condition: d('cannot-modify-protected-property') };
    if (op.name === D('displayname') && r.node.kind === 'collection') {
      if (r.node.access !== 'owner') return { status: 403 };
      const v = op.op === 'set' ? op.value.text.trim() : '';
      return { status: 200, apply: (p) => { p.displayName = v; } };
    }
    return undefined;
  },
};
