// A minimal DAV client for the benchmark: plain node:http requests over a keep-alive agent with
// Basic auth, a tolerant namespace-aware XML reader (saxes, a Pochtamt dependency) for
// multistatus answers, and discovery the way clients do it (current-user-principal, then the
// calendar/addressbook home sets).
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { SaxesParser } from 'saxes';

export const NS = { DAV: 'DAV:', CALDAV: 'urn:ietf:params:xml:ns:caldav', CARDDAV: 'urn:ietf:params:xml:ns:carddav' } as const;

export interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string; ms: number }

export class DavClient {
  readonly agent: http.Agent;
  private readonly auth: string;

  constructor(readonly base: URL, user: string, password: string, maxSockets: number) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
    this.auth = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  }

  /** One request; `ms` is from sending until the whole body has arrived. */
  request(method: string, pathOrUrl: string, opts: { headers?: Record<string, string>; body?: string; timeoutMs?: number } = {}): Promise<Reply> {
    const url = new URL(pathOrUrl, this.base);
    const body = opts.body === undefined ? undefined : Buffer.from(opts.body, 'utf8');
    const headers: Record<string, string | number> = { Authorization: this.auth, ...opts.headers };
    if (body) headers['Content-Length'] = body.length;
    return new Promise((resolve, reject) => {
      const t0 = performance.now();
      const req = http.request(url, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - t0 }));
        res.on('error', reject);
      });
      req.setTimeout(opts.timeoutMs ?? 300_000, () => req.destroy(new Error(`${method} ${url.pathname}: no answer within ${(opts.timeoutMs ?? 300_000) / 1000} s`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** A request that must succeed with one of `ok` statuses. */
  async must(method: string, path: string, ok: number[], opts: Parameters<DavClient['request']>[2] = {}): Promise<Reply> {
    const r = await this.request(method, path, opts);
    if (!ok.includes(r.status)) throw new Error(`${method} ${path} -> ${r.status} (expected ${ok.join('/')}): ${r.body.trim().slice(0, 300)}`);
    return r;
  }

  close(): void {
    this.agent.destroy();
  }
}

// ------------------------------------------------------------------ XML

export interface El { ns: string; local: string; attrs: Record<string, string>; children: El[]; text: string }

export function parseXml(text: string): El {
  const p = new SaxesParser({ xmlns: true });
  const root: El = { ns: '', local: '#document', attrs: {}, children: [], text: '' };
  const stack: El[] = [root];
  p.on('opentag', (t) => {
    const attrs: Record<string, string> = {};
    for (const a of Object.values(t.attributes)) attrs[(a as { local: string }).local] = (a as { value: string }).value;
    const el: El = { ns: t.uri ?? '', local: t.local ?? t.name, attrs, children: [], text: '' };
    stack[stack.length - 1]!.children.push(el);
    stack.push(el);
  });
  p.on('text', (s) => { stack[stack.length - 1]!.text += s; });
  p.on('cdata', (s) => { stack[stack.length - 1]!.text += s; });
  p.on('closetag', () => { stack.pop(); });
  p.write(text).close();
  const top = root.children[0];
  if (!top) throw new Error('empty XML document');
  return top;
}

export const kids = (e: El | undefined, ns: string, local: string): El[] => (e ? e.children.filter((c) => c.ns === ns && c.local === local) : []);
export const kid = (e: El | undefined, ns: string, local: string): El | undefined => kids(e, ns, local)[0];
/** All descendants with this name, depth first. */
export function find(e: El, ns: string, local: string, out: El[] = []): El[] {
  for (const c of e.children) {
    if (c.ns === ns && c.local === local) out.push(c);
    find(c, ns, local, out);
  }
  return out;
}

export interface MsResponse { href: string; status: number | null; props: Map<string, { status: number; el: El }> }

const statusOf = (s: string | undefined): number | null => {
  const m = /HTTP\/\d(?:\.\d)?\s+(\d{3})/.exec(s ?? '');
  return m ? Number(m[1]) : null;
};

/** DAV:multistatus -> responses (href decoded, props keyed by "{ns}local"), plus the sync-token if any. */
export function parseMultistatus(text: string): { responses: MsResponse[]; syncToken: string | null } {
  const root = parseXml(text);
  if (root.ns !== NS.DAV || root.local !== 'multistatus') throw new Error(`expected DAV:multistatus, got {${root.ns}}${root.local}`);
  const responses: MsResponse[] = [];
  for (const r of kids(root, NS.DAV, 'response')) {
    const hrefRaw = kid(r, NS.DAV, 'href')?.text.trim() ?? '';
    let href = hrefRaw;
    try { href = decodeURIComponent(new URL(hrefRaw, 'http://x').pathname); } catch { /* keep raw */ }
    const props = new Map<string, { status: number; el: El }>();
    for (const ps of kids(r, NS.DAV, 'propstat')) {
      const st = statusOf(kid(ps, NS.DAV, 'status')?.text) ?? 0;
      for (const p of kid(ps, NS.DAV, 'prop')?.children ?? []) props.set(`{${p.ns}}${p.local}`, { status: st, el: p });
    }
    responses.push({ href, status: statusOf(kid(r, NS.DAV, 'status')?.text), props });
  }
  const tok = kid(root, NS.DAV, 'sync-token')?.text.trim() ?? null;
  return { responses, syncToken: tok };
}

/** The first DAV:href inside the named property of the first response. */
function hrefProp(text: string, ns: string, local: string): string | null {
  const { responses } = parseMultistatus(text);
  for (const r of responses) {
    const p = r.props.get(`{${ns}}${local}`);
    if (p && p.status === 200) {
      const h = find(p.el, NS.DAV, 'href')[0]?.text.trim();
      if (h) return h;
    }
  }
  return null;
}

// ------------------------------------------------------------------ discovery

export interface Homes { principal: string; calendarHome: string; addressbookHome: string }

const propfind = (props: string) => `<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:A="urn:ietf:params:xml:ns:carddav"><D:prop>${props}</D:prop></D:propfind>`;
const XML = { 'Content-Type': 'application/xml; charset=utf-8' };

/**
 * RFC 6764 §6 / RFC 5397 / RFC 4791 §6.2.1 / RFC 6352 §7.1.1: PROPFIND the context path (here
 * `start`, e.g. "/" or "/dav/") for current-user-principal, then the principal for its home sets.
 */
export async function discover(c: DavClient, starts: string[]): Promise<Homes> {
  let principal: string | null = null;
  const tried: string[] = [];
  for (const start of starts) {
    const r = await c.request('PROPFIND', start, { headers: { ...XML, Depth: '0' }, body: propfind('<D:current-user-principal/>') });
    tried.push(`${start} -> ${r.status}`);
    if (r.status !== 207) continue;
    principal = hrefProp(r.body, NS.DAV, 'current-user-principal');
    if (principal) break;
    tried[tried.length - 1] += ' (no current-user-principal)';
  }
  if (!principal) throw new Error(`no DAV:current-user-principal (${tried.join(', ')})`);
  const r = await c.must('PROPFIND', principal, [207], { headers: { ...XML, Depth: '0' }, body: propfind('<C:calendar-home-set/><A:addressbook-home-set/>') });
  const calendarHome = hrefProp(r.body, NS.CALDAV, 'calendar-home-set');
  const addressbookHome = hrefProp(r.body, NS.CARDDAV, 'addressbook-home-set');
  if (!calendarHome || !addressbookHome) throw new Error(`principal ${principal} lacks calendar-home-set or addressbook-home-set: ${r.body.slice(0, 400)}`);
  const path = (h: string) => new URL(h, c.base).pathname.replace(/\/?$/, '/');
  return { principal, calendarHome: path(calendarHome), addressbookHome: path(addressbookHome) };
}

/** MKCALENDAR (RFC 4791 §5.3.1) for VEVENTs. */
export async function makeCalendar(c: DavClient, url: string, displayName: string): Promise<void> {
  await c.must('MKCALENDAR', url, [201], {
    headers: XML,
    body: `<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>
<D:displayname>${displayName}</D:displayname>
<C:supported-calendar-component-set><C:comp name="VEVENT"/></C:supported-calendar-component-set>
</D:prop></D:set></C:mkcalendar>`,
  });
}

/** Extended MKCOL (RFC 5689) for an address book (RFC 6352 §6.3.1). */
export async function makeAddressbook(c: DavClient, url: string, displayName: string): Promise<void> {
  await c.must('MKCOL', url, [201], {
    headers: XML,
    body: `<?xml version="1.0" encoding="utf-8"?>
<D:mkcol xmlns:D="DAV:" xmlns:A="urn:ietf:params:xml:ns:carddav"><D:set><D:prop>
<D:resourcetype><D:collection/><A:addressbook/></D:resourcetype><D:displayname>${displayName}</D:displayname>
</D:prop></D:set></D:mkcol>`,
  });
}

// ------------------------------------------------------------------ report bodies

export const XML_HEADERS = XML;

export function calendarQueryBody(start: string, end: string, withData: boolean): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:prop><D:getetag/>${withData ? '<C:calendar-data/>' : ''}</D:prop>
<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="${start}" end="${end}"/></C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>`;
}

export function addressbookQueryBody(email: string): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<A:addressbook-query xmlns:D="DAV:" xmlns:A="urn:ietf:params:xml:ns:carddav">
<D:prop><D:getetag/><A:address-data/></D:prop>
<A:filter test="anyof"><A:prop-filter name="EMAIL"><A:text-match match-type="contains">${email}</A:text-match></A:prop-filter></A:filter>
</A:addressbook-query>`;
}

export function syncCollectionBody(token: string | null): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<D:sync-collection xmlns:D="DAV:"><D:sync-token>${(token ?? '').replace(/&/g, '&amp;').replace(/</g, '&lt;')}</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>`;
}
