// Response bodies: the 207 multistatus builder (responses grouped into one propstat per
// status), DAV:error bodies carrying precondition/postcondition elements, and the PropFind
// request object that plugins answer (sabre-style: a plugin handles only the properties it
// owns, a thunk runs only when the client asked for that property, and every property nobody
// handled comes back 404). Must not: do I/O or know about resources.
// RFCs: 4918 §13 (multistatus), §16 (error body), 3744 §7.1.1 (need-privileges), 6578 (sync-token).
import { d, escapeXml, NS, serializeXml, x, xFromClark, type XNode } from './xml.js';
import type { PropfindRequest } from './requests.js';

export const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 201: 'Created', 204: 'No Content', 207: 'Multi-Status', 400: 'Bad Request', 401: 'Unauthorized',
  403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict', 412: 'Precondition Failed',
  413: 'Payload Too Large', 415: 'Unsupported Media Type', 424: 'Failed Dependency', 500: 'Internal Server Error',
  501: 'Not Implemented', 502: 'Bad Gateway', 507: 'Insufficient Storage',
};
export const statusLine = (code: number) => `HTTP/1.1 ${code} ${STATUS_TEXT[code] ?? 'Unknown'}`;

/** A property value: child nodes (elements or text) of the property element. */
export type PropValue = Array<XNode | string>;
export type PropThunk = () => PropValue | null | Promise<PropValue | null>;

export interface PropResult { name: string; status: number; value?: PropValue }

/** Properties too expensive or too large for allprop (RFC 4918 §9.1, RFC 4791 §9.6 note). */
const NOT_IN_ALLPROP = new Set([
  `{${NS.CALDAV}}calendar-data`, `{${NS.CARDDAV}}address-data`, `{${NS.DAV}}current-user-privilege-set`,
  `{${NS.DAV}}acl`, `{${NS.DAV}}quota-used-bytes`, `{${NS.DAV}}quota-available-bytes`, `{${NS.DAV}}sync-token`,
  `{${NS.DAV}}supported-report-set`, `{${NS.CALDAV}}calendar-timezone`, `{${NS.DAV}}principal-collection-set`,
  `{${NS.CS}}invite`, `{${NS.DAV}}supported-privilege-set`, `{${NS.DAV}}current-user-principal`,
]);

export class PropFind {
  private readonly results = new Map<string, PropResult>();
  private readonly thunks: Array<[string, PropThunk]> = [];
  /** Report-specific options plugins read (e.g. CalDAV calendar-data expand). */
  readonly extras: Record<string, unknown> = {};

  constructor(readonly request: PropfindRequest) {}

  /** Whether the client asked for `name` (allprop asks for every cheap property). */
  wants(name: string): boolean {
    const r = this.request;
    if (r.kind === 'prop') return r.props.includes(name);
    if (r.kind === 'propname') return true;
    return !NOT_IN_ALLPROP.has(name) || r.include.includes(name);
  }

  /** Answers a property this caller owns. A value of null means "not set here" (404). */
  handle(name: string, value: PropValue | PropThunk | null): void {
    if (this.results.has(name) || this.thunks.some(([n]) => n === name)) return;
    if (!this.wants(name)) return;
    if (this.request.kind === 'propname') {
      this.results.set(name, { name, status: 200 });
      return;
    }
    if (typeof value === 'function') this.thunks.push([name, value]);
    else if (value === null) return;
    else this.results.set(name, { name, status: 200, value });
  }

  /** A property that exists but the user may not read (RFC 3744 §5 / RFC 4918 403 propstat). */
  forbid(name: string): void {
    if (this.request.kind === 'prop' && this.request.props.includes(name)) this.results.set(name, { name, status: 403 });
  }

  async finish(): Promise<PropResult[]> {
    for (const [name, t] of this.thunks) {
      const v = await t();
      if (v !== null) this.results.set(name, { name, status: 200, value: v });
    }
    this.thunks.length = 0;
    const out = [...this.results.values()];
    if (this.request.kind === 'prop') {
      for (const p of this.request.props) if (!this.results.has(p)) out.push({ name: p, status: 404 });
    }
    return out;
  }
}

export interface MsResponse {
  href: string;
  /** Either properties (grouped into propstats) or a bare status. */
  props?: PropResult[];
  status?: number;
  error?: XNode;
}

export function propstatNodes(props: PropResult[], withValues = true): XNode[] {
  const byStatus = new Map<number, PropResult[]>();
  for (const p of props) {
    const list = byStatus.get(p.status) ?? [];
    list.push(p);
    byStatus.set(p.status, list);
  }
  return [...byStatus.entries()].sort((a, b) => a[0] - b[0]).map(([status, list]) =>
    d('propstat', d('prop', ...list.map((p) => xFromClark(p.name, ...(withValues && p.value ? p.value : [])))), d('status', statusLine(status))));
}

export function multistatus(responses: MsResponse[], extra: XNode[] = []): string {
  return serializeXml(d('multistatus', ...responses.map((r) => d('response',
    d('href', r.href),
    ...(r.props ? propstatNodes(r.props) : []),
    r.status !== undefined && !r.props ? d('status', statusLine(r.status)) : undefined,
    r.error ? d('error', r.error) : undefined,
  )), ...extra));
}

/** One object of a multistatus written by objectsMultistatus(). */
/** data: text, or the stored UTF-8 bytes (written as they are unless they need escaping). */
export interface ObjectAnswer { href: string; etag?: string; data?: string | Buffer }

/**
 * The common REPORT answer (DAV:getetag and/or CALDAV:calendar-data, all 200) written straight
 * into one UTF-8 buffer, without a tree per object. Produces the same bytes as multistatus() over
 * the equivalent PropResults (getetag before calendar-data, as the plugins answer them; the same
 * prefixes and root declarations as serializeXml). The buffer is sized first and each piece
 * encoded into it once: joining ~700 calendar texts into one string and encoding that cost about
 * ten times as much CPU (the joined string turns two-byte as soon as one text is not Latin-1).
 */
export function objectsMultistatus(objects: ObjectAnswer[], withEtag: boolean, withData: boolean, truncatedHref?: string): Buffer {
  const head = '<?xml version="1.0" encoding="utf-8"?>\n<d:multistatus xmlns:d="DAV:"';
  if (!objects.length && truncatedHref === undefined) return Buffer.from(`${head}/>`);
  const parts: Array<string | Buffer> = [withData ? `${head} xmlns:cal="${NS.CALDAV}">` : `${head}>`];
  const ok = `</d:prop><d:status>${statusLine(200)}</d:status></d:propstat></d:response>`;
  for (const o of objects) {
    parts.push('<d:response><d:href>', escapeXml(o.href), '</d:href><d:propstat><d:prop>');
    if (withEtag) parts.push('<d:getetag>', escapeXml(o.etag ?? ''), '</d:getetag>');
    if (withData) {
      const data = o.data ?? '';
      parts.push('<cal:calendar-data>', typeof data === 'string' ? escapeXml(data) : xmlSafeBytes(data) ? data : escapeXml(data.toString('utf8')), '</cal:calendar-data>');
    }
    parts.push(ok);
  }
  // The result set is incomplete (RFC 5323 §5.18 style, as sync-collection answers a truncation).
  if (truncatedHref !== undefined) {
    parts.push('<d:response><d:href>', escapeXml(truncatedHref), `</d:href><d:status>${statusLine(507)}</d:status>`,
      '<d:error><d:number-of-matches-within-limits/></d:error></d:response>');
  }
  parts.push('</d:multistatus>');
  let size = 0;
  for (const p of parts) size += typeof p === 'string' ? Buffer.byteLength(p) : p.length;
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  for (const p of parts) at += typeof p === 'string' ? buf.write(p, at) : p.copy(buf, at);
  return buf;
}

/**
 * UTF-8 bytes that escapeXml() would return unchanged: no markup characters (< > & "), no C0
 * controls but tab, LF and CR, no U+FFFE/U+FFFF (EF BF BE/BF).
 */
export function xmlSafeBytes(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c < 0x20) {
      if (c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
    } else if (c === 0x3c || c === 0x3e || c === 0x26 || c === 0x22) return false;
    else if (c === 0xef && b[i + 1] === 0xbf && (b[i + 2] === 0xbe || b[i + 2] === 0xbf)) return false;
  }
  return true;
}

/** A DAV:error body naming the violated condition (RFC 4918 §16). */
export function errorBody(condition: XNode): string {
  return serializeXml(d('error', condition));
}

/** RFC 3744 §7.1.1: which privilege on which resource was missing. */
export function needPrivileges(href: string, privilege: XNode): XNode {
  return d('need-privileges', d('resource', d('href', href), d('privilege', privilege)));
}

export const caldavCondition = (local: string, ...kids: Array<XNode | string>) => x(NS.CALDAV, local, ...kids);
export const carddavCondition = (local: string, ...kids: Array<XNode | string>) => x(NS.CARDDAV, local, ...kids);
