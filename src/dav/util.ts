// Helpers shared by DAV method modules: Depth parsing, privilege checks with RFC 3744
// need-privileges errors, dead-property (de)serialisation and node predicates.
// Must not: touch the store directly.
import type { AccountEntity, DavCollectionEntity } from '../../schemas/entities/index.js';
import { d, NS, x, type XNode } from '../protocols/dav/xml.js';
import { needPrivileges } from '../protocols/dav/multistatus.js';
import type { Access } from '../services/groupware/groupware.service.js';
import { HttpError, type CollectionNode, type DavContext, type DavNode, type Missing, type Resolved } from './types.js';

export type Depth = '0' | '1' | 'infinity';

export function parseDepth(h: string | string[] | undefined, dflt: Depth): Depth {
  const v = String(h ?? '').trim().toLowerCase();
  if (!v) return dflt;
  if (v === '0' || v === '1' || v === 'infinity') return v;
  throw new HttpError(400, 'bad Depth header');
}

export const isResolved = (t: Resolved | Missing): t is Resolved => 'node' in t;

export function mustExist(t: Resolved | Missing): Resolved {
  if (!isResolved(t)) throw new HttpError(404, 'not found');
  return t;
}

export type Privilege = 'read' | 'write-content' | 'write-properties' | 'bind' | 'unbind' | 'read-free-busy' | 'write';

const GRANTED: Record<Access, Privilege[]> = {
  owner: ['read', 'write', 'write-content', 'write-properties', 'bind', 'unbind', 'read-free-busy'],
  'read-write': ['read', 'write-content', 'bind', 'unbind', 'read-free-busy'],
  read: ['read', 'read-free-busy'],
  freebusy: ['read-free-busy'],
};

export function privilegesOf(access: Access): Privilege[] {
  return GRANTED[access];
}

export function privilegeNode(p: Privilege): XNode {
  return p === 'read-free-busy' ? x(NS.CALDAV, 'read-free-busy') : d(p);
}

/** Throws 403 with DAV:need-privileges unless `access` includes `p`. */
export function requirePrivilege(access: Access, p: Privilege, href: string): void {
  if (!GRANTED[access].includes(p)) throw new HttpError(403, `${p} privilege required`, needPrivileges(href, privilegeNode(p)));
}

/** The user's access to a node: collections and objects carry it; own homes are owner; else read. */
export function accessOf(node: DavNode): Access {
  if (node.kind === 'collection') return node.access;
  if (node.kind === 'object') return node.parent.access;
  if (node.kind === 'home') return node.proxy ?? 'owner';
  if (node.kind === 'schedule-inbox' || node.kind === 'schedule-outbox') return 'owner';
  return 'read';
}

export function collectionOf(node: DavNode): CollectionNode | null {
  return node.kind === 'collection' ? node : node.kind === 'object' ? node.parent : null;
}

export type DeadProps = Record<string, XNode>;

export function readDeadProps(json: string): DeadProps {
  try {
    const v = JSON.parse(json) as unknown;
    return v && typeof v === 'object' ? v as DeadProps : {};
  } catch {
    return {};
  }
}

/** A strong validator check for If-Match / If-None-Match on GET/HEAD (RFC 9110 §13.1). */
export function etagMatches(header: string, etag: string | null): boolean {
  if (header.trim() === '*') return etag !== null;
  if (etag === null) return false;
  return header.split(',').map((s) => s.trim()).includes(etag);
}

export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

export function contentTypeOf(ctx: DavContext): string {
  return String(ctx.req.headers['content-type'] ?? '').trim();
}

/** The TZID of the calendar's CALDAV:calendar-timezone, used for floating times. */
export function calendarTimezoneId(c: DavCollectionEntity): string | null {
  if (!c.timezone) return null;
  const m = /^TZID:(.+)$/im.exec(c.timezone);
  return m ? m[1]!.trim() : null;
}


/**
 * Whose implicit scheduling (RFC 6638 §3.2) a change in `owner`'s calendar is: the owner's when
 * the writer is the owner or one of their write delegates (calendar-proxy-write acts on the
 * owner's behalf, as a secretary booking the boss's meetings); null for anyone else (a sharee's
 * edit of a shared calendar sends nothing).
 */
export async function schedulingOwner(ctx: DavContext, owner: AccountEntity): Promise<AccountEntity | null> {
  if (owner.id === ctx.user.id) return owner;
  return (await ctx.gw.proxyAccess(ctx.user.id, owner.id)) === 'read-write' ? owner : null;
}

/**
 * For loops that evaluate many objects synchronously (parsing, recurrence expansion): call
 * after each object; it yields to the event loop once `ms` have passed since the last yield,
 * so one large REPORT does not stall every other session of the process.
 */
export function loopPacer(ms = 20): () => Promise<void> | null {
  let last = performance.now();
  return () => {
    const now = performance.now();
    if (now - last < ms) return null;
    return new Promise<void>((resolve) => setImmediate(() => {
      last = performance.now();
      resolve();
    }));
  };
}
