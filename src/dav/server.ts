// The DAV server: an express router for /dav/ (plus PROPFIND/OPTIONS on / for clients that
// start there). It authenticates, reads the body under a hard size limit, resolves the URL to a
// node with the user's access, and dispatches through the method table built from the plugins.
// Must not: answer for resources the user may not see (other users' homes and unshared
// collections are 404, never 403, so URLs cannot be probed), or read bodies past MAX_BODY_BYTES.
// URL space: /dav/principals/users/<addr>/, /dav/principals/groups/<addr>/,
// /dav/{calendars,addressbooks,files}/<addr>/<collection…>/<object>; shares appear in the
// sharee's home as shared-<id>/; the GAL as /dav/addressbooks/<addr>/gal/; the RFC 6638
// inbox and outbox as /dav/calendars/<addr>/inbox/ and outbox/ (the inbox is a stored
// collection, created on first use); calendarserver notifications as .../notifications/
// (created when the user's client first asks for it: that marks a client able to answer
// share invitations); calendar delegation groups as
// /dav/principals/users/<addr>/calendar-proxy-{read,write}/.
import express, { type Request, type Response, type Router } from 'express';
import type { AccountEntity } from '../../schemas/entities/index.js';
import type { App } from '../instance/app.js';
import { errorBody, PropFind } from '../protocols/dav/multistatus.js';
import { BadRequest } from '../protocols/dav/requests.js';
import { parseXml, XmlError, type XmlElement } from '../protocols/dav/xml.js';
import { GroupwareService, NOTIFICATIONS_PATH, SCHEDULE_INBOX_PATH, type Home, type ProxyAccess } from '../services/groupware/groupware.service.js';
import type { SchedulingService } from '../services/groupware/scheduling.service.js';
import { authenticate } from './auth.js';
import { galEntries } from './gal.js';
import { PLUGINS } from './plugins/index.js';
import { HttpError, type DavContext, type DavNode, type DavServerApi, type Missing, type Resolved } from './types.js';

export const DAV_PREFIX = '/dav';
/** Largest request body accepted (413 beyond). */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;
const HOMES: Home[] = ['calendars', 'addressbooks', 'files'];
const SHARED_PREFIX = 'shared-';
export const GAL_SEGMENT = 'gal';
/** RFC 6638 scheduling inbox and outbox in each calendar home (names reserved). */
export const INBOX = SCHEDULE_INBOX_PATH;
export const OUTBOX = 'outbox';
export const NOTIFICATIONS = NOTIFICATIONS_PATH;
/** Child principals of a user principal for calendar delegation (calendarserver caldav-proxy). */
export const PROXY_SEGMENTS: Record<string, ProxyAccess | undefined> = { 'calendar-proxy-read': 'read', 'calendar-proxy-write': 'read-write' };

export function encodeSeg(s: string): string {
  return encodeURIComponent(s).replace(/%40/g, '@');
}

export function createDavServer(app: App, gw: GroupwareService, sched: SchedulingService | null = null): { router: Router; api: DavServerApi } {
  const api: DavServerApi = {
    plugins: PLUGINS,
    hrefOf: (segs, collection) => `${DAV_PREFIX}/${segs.map(encodeSeg).join('/')}${segs.length && collection ? '/' : ''}`,
    principalHref: (a) => api.hrefOf(['principals', 'users', a.address], true),
    homeHref: (home, a) => api.hrefOf([home, a.address], true),
    hrefToSegs(href) {
      let p = href;
      try {
        if (/^[a-z]+:\/\//i.test(p)) p = new URL(p).pathname;
      } catch {
        return null;
      }
      if (!p.startsWith(`${DAV_PREFIX}/`)) return null;
      try {
        return splitPath(p.slice(DAV_PREFIX.length));
      } catch {
        return null;
      }
    },
    resolve: (ctx, segs) => resolve(ctx, segs),
    children: (ctx, r) => children(ctx, r),
    async propFind(ctx, r, pf) {
      for (const p of PLUGINS) await p.propFind?.(ctx, r, pf);
    },
  };

  const methods = new Map<string, NonNullable<(typeof PLUGINS)[number]['methods']>[string]>();
  for (const p of PLUGINS) for (const [m, h] of Object.entries(p.methods ?? {})) if (!methods.has(m)) methods.set(m, h);

  const router = express.Router();
  const handle = async (req: Request, res: Response, segs: string[], rootHref?: string) => {
    res.setHeader('DAV', davHeader());
    try {
      const handler = methods.get(req.method);
      if (!handler) throw new HttpError(405, `${req.method} not supported`, undefined, { Allow: [...methods.keys()].join(', ') });
      if (req.method === 'OPTIONS' && !req.headers.authorization) {
        // RFC 4918 §10.1: OPTIONS answers capabilities; clients (DAVx5 4.x) probe before login.
        await drain(req);
        res.setHeader('Allow', [...methods.keys()].join(', '));
        res.status(200).end();
        return;
      }
      const user = await authenticate(app, req);
      const body = await readBody(req);
      let parsed: XmlElement | null | undefined;
      const ctx: DavContext = {
        req, res, app, gw, sched, user, server: api, body,
        xml() {
          if (parsed !== undefined) return parsed;
          if (!body.length || !body.toString('utf8').trim()) return (parsed = null);
          const ct = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
          if (ct && !['application/xml', 'text/xml'].includes(ct)) throw new HttpError(415, `expected an XML body, got ${ct}`);
          try {
            return (parsed = parseXml(body.toString('utf8')));
          } catch (e) {
            throw new HttpError(400, `bad XML: ${(e as Error).message}`);
          }
        },
      };
      await gw.ensureDefaults(user.id);
      const target = await resolve(ctx, segs);
      if (rootHref && 'node' in target) target.href = rootHref;
      await handler(ctx, target);
    } catch (e) {
      sendError(app, req, res, e);
    }
  };

  router.all(/^\/dav(?:\/.*)?$/, (req, res) => {
    let segs: string[];
    try {
      // A fragment never belongs in a request target (RFC 9110 §7.1); litmus delete_fragment.
      if (req.originalUrl.includes('#')) throw new HttpError(400, 'fragment in request URI');
      segs = splitPath(req.path.slice(DAV_PREFIX.length));
    } catch (e) {
      res.setHeader('DAV', davHeader());
      sendError(app, req, res, e);
      return;
    }
    void handle(req, res, segs);
  });
  // RFC 6764 §5: the well-known URIs redirect to the context path; PROPFIND is answered in place
  // because python-caldav 0.11 does not map a redirected multistatus href back to its request URL.
  router.all(['/.well-known/caldav', '/.well-known/carddav'], (req, res) => {
    if (req.method === 'PROPFIND' || req.method === 'OPTIONS') {
      void handle(req, res, [], req.path);
      return;
    }
    res.redirect(301, `${DAV_PREFIX}/`);
  });
  // Clients given only the host name (DAVx5, Evolution) PROPFIND "/" for current-user-principal.
  router.all('/', (req, res, next) => {
    if (req.method !== 'PROPFIND' && req.method !== 'OPTIONS') {
      next();
      return;
    }
    void handle(req, res, []);
  });
  return { router, api };

  // ---- resolution -----------------------------------------------------------------------------

  async function resolve(ctx: DavContext, segs: string[]): Promise<Resolved | Missing> {
    const R = (node: DavNode, collection = true): Resolved => ({ node, href: api.hrefOf(segs, collection), segs });
    const missing = (parent: Resolved | null): Missing => ({ parent, name: segs[segs.length - 1] ?? '', href: api.hrefOf(segs, false), segs,
      hidden: !parent && segs.length > 2 && HOMES.includes(segs[0] as Home) && segs[1]!.toLowerCase() !== ctx.user.address.toLowerCase() });
    if (!segs.length) return R({ kind: 'root' });
    const [top, a, b, ...rest] = segs as [string, string?, string?, ...string[]];
    if (top === 'principals') {
      if (a === undefined) return R({ kind: 'principals' });
      if (a === 'users' && b === undefined) return R({ kind: 'principal-users' });
      if (a === 'groups' && b === undefined) return R({ kind: 'principal-groups' });
      if (rest.length === 1 && a === 'users' && b !== undefined && PROXY_SEGMENTS[rest[0]!]) {
        // Visible to the owner and to the group's own members only.
        const acc = await app.accounts.getAccount(b);
        const access = PROXY_SEGMENTS[rest[0]!]!;
        if (acc && !acc.deletedAt && (acc.id === ctx.user.id || (await gw.proxyAccess(ctx.user.id, acc.id)) === access)) {
          return R({ kind: 'proxy-group', account: acc, access });
        }
        return missing(null);
      }
      if (rest.length === 0 && b !== undefined) {
        if (a === 'users') {
          const acc = await app.accounts.getAccount(b);
          if (acc && !acc.deletedAt) return R({ kind: 'principal', account: acc });
        } else if (a === 'groups') {
          const g = (await app.accounts.listGroups()).find((x) => x.address === b.toLowerCase());
          const ge = g ? await gwGroup(g.address) : null;
          if (ge) return R({ kind: 'group-principal', group: ge });
        }
      }
      return missing(null);
    }
    if (!HOMES.includes(top as Home)) return missing(segs.length === 1 ? R({ kind: 'root' }) : null);
    const home = top as Home;
    if (a === undefined) return R({ kind: 'homes', home });
    const owner = await app.accounts.getAccount(a);
    // Another user's home is invisible; only their shared collections resolve (below).
    if (!owner || owner.deletedAt) return missing(null);
    const isOwner = owner.id === ctx.user.id;
    if (b === undefined) {
      if (isOwner) return R({ kind: 'home', home, owner });
      // A calendar-proxy delegate browses the owner's calendar home (Apple Calendar does).
      const proxy = home === 'calendars' ? await gw.proxyAccess(ctx.user.id, owner.id) : null;
      return proxy ? R({ kind: 'home', home, owner, proxy }) : missing(null);
    }
    const homeR: Resolved = { node: { kind: 'home', home, owner }, href: api.homeHref(home, owner), segs: [home, owner.address] };
    if (home === 'addressbooks' && b === GAL_SEGMENT && isOwner) {
      const galR: Resolved = { node: { kind: 'gal', owner }, href: api.hrefOf([home, owner.address, GAL_SEGMENT], true), segs: [home, owner.address, GAL_SEGMENT] };
      if (!rest.length) return galR;
      if (rest.length === 1) {
        const entry = (await galEntries(gw)).find((e) => `${e.entry.uid}.vcf` === rest[0]);
        if (entry) return R({ kind: 'gal-card', entry: entry.entry, data: entry.data }, false);
      }
      return missing(rest.length === 1 ? galR : null);
    }
    if (isOwner && home === 'calendars' && b === OUTBOX && !rest.length) return R({ kind: 'schedule-outbox', owner });
    // Server-kept collections exist from their first use on; then they resolve like any other.
    if (isOwner && home === 'calendars' && (b === INBOX || b === NOTIFICATIONS)) await gw.special(owner.id, b === INBOX ? 'schedule-inbox' : 'notifications');
    if (isOwner && b.startsWith(SHARED_PREFIX) && /^\d+$/.test(b.slice(SHARED_PREFIX.length))) {
      const c = await gw.getCollectionById(Number(b.slice(SHARED_PREFIX.length)));
      const access = c && c.home === home && c.ownerId !== ctx.user.id ? await gw.accessFor(ctx.user.id, c) : null;
      if (!c || !access || access === 'freebusy') return missing(null);
      const dataOwner = await app.accounts.getAccountById(c.ownerId);
      if (!dataOwner) return missing(null);
      const colSegs = [home, owner.address, b];
      const colR: Resolved = { node: { kind: 'collection', home, homeOwner: owner, owner: dataOwner, collection: c, access, mounted: true }, href: api.hrefOf(colSegs, true), segs: colSegs };
      return objectOrMissing(colR, rest);
    }
    // Longest collection path first: a/b/c may be a collection, or a/b a collection holding c.
    const tail = [b, ...rest];
    const full = await gw.getCollection(owner.id, home, tail.join('/'));
    if (full) {
      const access = await gw.accessFor(ctx.user.id, full);
      if (!access) return missing(null);
      return R({ kind: 'collection', home, homeOwner: owner, owner, collection: full, access, mounted: false });
    }
    if (!isOwner && tail.length === 1) return missing(null);
    if (tail.length === 1) return missing(homeR);
    const parentPath = tail.slice(0, -1).join('/');
    const parent = await gw.getCollection(owner.id, home, parentPath);
    if (!parent) return missing(null);
    const access = await gw.accessFor(ctx.user.id, parent);
    if (!access) return missing(null);
    const pSegs = [home, owner.address, ...tail.slice(0, -1)];
    const pR: Resolved = { node: { kind: 'collection', home, homeOwner: owner, owner, collection: parent, access, mounted: false }, href: api.hrefOf(pSegs, true), segs: pSegs };
    return objectOrMissing(pR, tail.slice(-1));

    async function objectOrMissing(colR: Resolved, after: string[]): Promise<Resolved | Missing> {
      if (!after.length) return colR;
      if (after.length > 1) return missing(null);
      const node = colR.node as Extract<DavNode, { kind: 'collection' }>;
      if (node.access === 'freebusy') return missing(null);
      const obj = await gw.getObject(node.collection.id, after[0]!);
      if (!obj) return missing(colR);
      return R({ kind: 'object', parent: node, object: obj }, false);
    }
  }

  async function gwGroup(address: string) {
    const { groups } = await gw.galSource();
    return groups.find((g) => g.address === address) ?? null;
  }

  async function children(ctx: DavContext, r: Resolved): Promise<Resolved[]> {
    const n = r.node;
    const sub = (segs: string[], node: DavNode, collection = true): Resolved => ({ node, href: api.hrefOf(segs, collection), segs });
    switch (n.kind) {
      case 'root':
        return [sub(['principals'], { kind: 'principals' }), ...HOMES.map((h) => sub([h], { kind: 'homes', home: h }))];
      case 'principals':
        return [sub(['principals', 'users'], { kind: 'principal-users' }), sub(['principals', 'groups'], { kind: 'principal-groups' })];
      case 'principal-users':
        return [sub(['principals', 'users', ctx.user.address], { kind: 'principal', account: ctx.user })];
      case 'principal':
        if (n.account.id !== ctx.user.id) return [];
        return Object.entries(PROXY_SEGMENTS).map(([seg, access]) => sub(['principals', 'users', n.account.address, seg], { kind: 'proxy-group', account: n.account, access: access! }));
      case 'homes':
        return [sub([n.home, ctx.user.address], { kind: 'home', home: n.home, owner: ctx.user })];
      case 'home': {
        if (n.proxy) {
          // A delegate sees the owner's calendars (with the delegated access), nothing else.
          const out: Resolved[] = [];
          for (const c of await gw.childCollections(n.owner.id, n.home, '')) {
            if (c.kind !== 'calendar') continue;
            const access = await gw.accessFor(ctx.user.id, c);
            if (access && access !== 'freebusy') out.push(sub([n.home, n.owner.address, c.path], { kind: 'collection', home: n.home, homeOwner: n.owner, owner: n.owner, collection: c, access, mounted: false }));
          }
          return out;
        }
        if (n.home === 'calendars') await gw.special(n.owner.id, 'schedule-inbox');
        const own = await gw.childCollections(n.owner.id, n.home, '');
        const out = own.map((c) => sub([n.home, n.owner.address, ...c.path.split('/')],
          { kind: 'collection', home: n.home, homeOwner: n.owner, owner: n.owner, collection: c, access: 'owner', mounted: false }));
        if (n.home !== 'files') {
          for (const s of await gw.sharedWith(n.owner.id, n.home)) {
            out.push(sub([n.home, n.owner.address, `${SHARED_PREFIX}${s.collection.id}`],
              { kind: 'collection', home: n.home, homeOwner: n.owner, owner: s.owner, collection: s.collection, access: s.access, mounted: true }));
          }
        }
        if (n.home === 'addressbooks') out.push(sub([n.home, n.owner.address, GAL_SEGMENT], { kind: 'gal', owner: n.owner }));
        if (n.home === 'calendars') out.push(sub([n.home, n.owner.address, OUTBOX], { kind: 'schedule-outbox', owner: n.owner }));
        return out;
      }
      case 'collection': {
        if (n.access === 'freebusy') return [];
        const out: Resolved[] = [];
        if (n.home === 'files') {
          for (const c of await gw.childCollections(n.owner.id, n.home, n.collection.path)) {
            out.push(sub([...r.segs.slice(0, 2), ...c.path.split('/')],
              { kind: 'collection', home: n.home, homeOwner: n.homeOwner, owner: n.owner, collection: c, access: n.access, mounted: false }));
          }
        }
        for (const o of await gw.listObjectHeads(n.collection.id)) out.push(sub([...r.segs, o.name], { kind: 'object', parent: n, object: o }, false));
        return out;
      }
      case 'gal':
        return (await galEntries(gw)).map((e) => sub([...r.segs, `${e.entry.uid}.vcf`], { kind: 'gal-card', entry: e.entry, data: e.data }, false));
      default:
        return [];
    }
  }
}

export function davHeader(): string {
  return [...new Set(PLUGINS.flatMap((p) => p.features))].join(', ');
}

/** Decodes a path into segments; refuses dot segments, encoded slashes and NULs. */
export function splitPath(p: string): string[] {
  const raw = p.split('/').filter((s, i, all) => !(s === '' && (i === 0 || i === all.length - 1)));
  return raw.map((s) => {
    let d: string;
    try {
      d = decodeURIComponent(s);
    } catch {
      throw new HttpError(400, 'bad percent-encoding in path');
    }
    if (d === '' || d === '.' || d === '..' || d.includes('/') || d.includes('\\') || d.includes('\0')) throw new HttpError(400, 'bad path segment');
    return d;
  });
}

async function drain(req: Request): Promise<void> {
  await readBody(req).catch(() => undefined);
}

const bodies = new WeakMap<Request, Promise<Buffer>>();

export function readBody(req: Request): Promise<Buffer> {
  const cached = bodies.get(req);
  if (cached) return cached;
  const p = new Promise<Buffer>((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      reject(new HttpError(413, 'request body too large', undefined, { Connection: 'close' }));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        failed = true;
        chunks.length = 0;
        reject(new HttpError(413, 'request body too large', undefined, { Connection: 'close' }));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', (e) => {
      if (!failed) reject(e);
    });
  });
  bodies.set(req, p);
  return p;
}

export function sendError(app: App, req: Request, res: Response, e: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  if (e instanceof BadRequest || e instanceof XmlError) e = new HttpError(400, e.message);
  if (!(e instanceof HttpError)) {
    app.log.error({ event: 'dav.request.failed', method: req.method, path: req.path, err: (e as Error).stack }, 'DAV request failed');
    e = new HttpError(500, 'internal error');
  }
  const he = e as HttpError;
  for (const [k, v] of Object.entries(he.headers)) res.setHeader(k, v);
  res.status(he.status);
  if (he.condition) res.type('application/xml; charset=utf-8').send(errorBody(he.condition));
  else res.type('text/plain; charset=utf-8').send(`${he.message}\n`);
}

export type { AccountEntity };
export { PropFind };
