// Typed request bodies for WebDAV, CalDAV, CardDAV and sync: PROPFIND, PROPPATCH, MKCOL
// (RFC 5689 extended) / MKCALENDAR, and the REPORT bodies (calendar-query, calendar-multiget,
// free-busy-query, addressbook-query, addressbook-multiget, sync-collection), plus the
// calendarserver-sharing POST bodies. Each parser takes an XmlElement and returns a typed value
// or throws BadRequest. Must not: do I/O, look at paths, or decide access.
// RFCs: 4918 §9.1/§9.2, 5689, 4791 §7, 6352 §8, 6578 §3.2, 3744 (names only).
import { child, children, clarkOf, is, NS, type XmlElement } from './xml.js';

export class BadRequest extends Error {}

// ---- PROPFIND --------------------------------------------------------------------------------

export type PropfindRequest =
  | { kind: 'allprop'; include: string[] }
  | { kind: 'propname' }
  | { kind: 'prop'; props: string[] };

/** An empty body means allprop (RFC 4918 §9.1). */
export function parsePropfind(root: XmlElement | null): PropfindRequest {
  if (!root) return { kind: 'allprop', include: [] };
  if (!is(root, NS.DAV, 'propfind')) throw new BadRequest('expected DAV:propfind');
  const prop = child(root, NS.DAV, 'prop');
  if (prop) return { kind: 'prop', props: propNames(prop) };
  if (child(root, NS.DAV, 'propname')) return { kind: 'propname' };
  if (child(root, NS.DAV, 'allprop')) {
    const inc = child(root, NS.DAV, 'include');
    return { kind: 'allprop', include: inc ? propNames(inc) : [] };
  }
  throw new BadRequest('propfind needs prop, propname or allprop');
}

export function propNames(prop: XmlElement): string[] {
  return [...new Set(prop.children.map(clarkOf))];
}

// ---- PROPPATCH / MKCOL / MKCALENDAR ---------------------------------------------------------

export interface PropPatchOp { op: 'set' | 'remove'; name: string; value: XmlElement }

/** Operations in document order (RFC 4918 §9.2: applied in order, atomically). */
export function parsePropPatch(root: XmlElement): PropPatchOp[] {
  if (!is(root, NS.DAV, 'propertyupdate')) throw new BadRequest('expected DAV:propertyupdate');
  return setRemoveOps(root);
}

function setRemoveOps(root: XmlElement): PropPatchOp[] {
  const ops: PropPatchOp[] = [];
  for (const c of root.children) {
    if (c.ns !== NS.DAV || (c.local !== 'set' && c.local !== 'remove')) continue;
    const prop = child(c, NS.DAV, 'prop');
    if (!prop) throw new BadRequest(`DAV:${c.local} without DAV:prop`);
    for (const p of prop.children) ops.push({ op: c.local, name: clarkOf(p), value: p });
  }
  return ops;
}

/** MKCOL (RFC 5689 §5.1) and MKCALENDAR (RFC 4791 §5.3.1) bodies: the properties to set. */
export function parseMkcol(root: XmlElement | null, method: 'MKCOL' | 'MKCALENDAR'): PropPatchOp[] {
  if (!root) return [];
  const want = method === 'MKCOL' ? is(root, NS.DAV, 'mkcol') : is(root, NS.CALDAV, 'mkcalendar');
  if (!want) throw new BadRequest(method === 'MKCOL' ? 'expected DAV:mkcol' : 'expected CALDAV:mkcalendar');
  const ops = setRemoveOps(root);
  if (ops.some((o) => o.op === 'remove')) throw new BadRequest('remove is not allowed here');
  return ops;
}

// ---- CalDAV filters (RFC 4791 §9.7) -------------------------------------------------------

export interface TimeRange { start: number | null; end: number | null } // epoch ms, UTC
export interface TextMatch { text: string; collation: string; negate: boolean; matchType: 'contains' | 'equals' | 'starts-with' | 'ends-with' }
export interface ParamFilter { name: string; isNotDefined: boolean; textMatch: TextMatch | null }
export interface PropFilter {
  name: string; isNotDefined: boolean; timeRange: TimeRange | null; textMatch: TextMatch | null;
  paramFilters: ParamFilter[];
}
export interface CompFilter {
  name: string; isNotDefined: boolean; timeRange: TimeRange | null;
  propFilters: PropFilter[]; compFilters: CompFilter[];
}

/** RFC 4791 §9.6.1 CALDAV:comp: which properties and sub-components of a component to return. */
export interface CompSelection {
  name: string; // upper case
  /** true = every property (CALDAV:allprop); else the listed ones (none listed: none). */
  allProps: boolean;
  props: Array<{ name: string; novalue: boolean }>;
  /** true = every sub-component whole (CALDAV:allcomp); else the listed ones. */
  allComps: boolean;
  comps: CompSelection[];
}

export interface CalendarDataRequest {
  /** content-type / version attributes (defaults text/calendar, 2.0). */
  contentType: string;
  version: string;
  /** null: the whole object. */
  comp: CompSelection | null;
  expand: TimeRange | null;
  limitRecurrence: TimeRange | null;
  limitFreebusy: TimeRange | null;
}

/** RFC 6352 §10.4: the address-data element of a REPORT (version conversion, property subset). */
export interface AddressDataRequest {
  contentType: string;
  /** Requested vCard version; null = as stored. */
  version: string | null;
  /** null = every property (CARDDAV:allprop or nothing listed). */
  props: Array<{ name: string; novalue: boolean }> | null;
}

export interface CalendarQuery {
  props: string[] | 'allprop' | 'propname';
  calendarData: CalendarDataRequest | null;
  addressData: AddressDataRequest | null;
  filter: CompFilter;
  timezone: string | null;
  limit: number | null;
}

/** iCalendar UTC date-time (RFC 5545 §3.3.5 form 2), as the time-range attributes require. */
export function parseUtc(v: string | undefined): number | null {
  if (v === undefined) return null;
  const m = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})Z)?$/.exec(v.trim());
  if (!m) throw new BadRequest(`bad UTC date-time ${v}`);
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0));
}

function parseTimeRange(e: XmlElement | undefined): TimeRange | null {
  if (!e) return null;
  const start = parseUtc(e.attrs.start);
  const end = parseUtc(e.attrs.end);
  if (start === null && end === null) throw new BadRequest('time-range needs start or end');
  return { start, end };
}

export function parseTextMatch(e: XmlElement | undefined, defaultCollation: string): TextMatch | null {
  if (!e) return null;
  const mt = e.attrs['match-type'] ?? 'contains';
  if (!['contains', 'equals', 'starts-with', 'ends-with'].includes(mt)) throw new BadRequest(`bad match-type ${mt}`);
  const negate = (e.attrs['negate-condition'] ?? 'no') === 'yes';
  return { text: e.text, collation: e.attrs.collation ?? defaultCollation, negate, matchType: mt as TextMatch['matchType'] };
}

function parseParamFilter(e: XmlElement, ns: string, defaultCollation: string): ParamFilter {
  const name = e.attrs.name;
  if (!name) throw new BadRequest('param-filter needs a name');
  return { name: name.toUpperCase(), isNotDefined: !!child(e, ns, 'is-not-defined'), textMatch: parseTextMatch(child(e, ns, 'text-match'), defaultCollation) };
}

function parsePropFilter(e: XmlElement): PropFilter {
  const name = e.attrs.name;
  if (!name) throw new BadRequest('prop-filter needs a name');
  return {
    name: name.toUpperCase(), isNotDefined: !!child(e, NS.CALDAV, 'is-not-defined'),
    timeRange: parseTimeRange(child(e, NS.CALDAV, 'time-range')),
    textMatch: parseTextMatch(child(e, NS.CALDAV, 'text-match'), 'i;ascii-casemap'),
    paramFilters: children(e, NS.CALDAV, 'param-filter').map((p) => parseParamFilter(p, NS.CALDAV, 'i;ascii-casemap')),
  };
}

function parseCompFilter(e: XmlElement): CompFilter {
  const name = e.attrs.name;
  if (!name) throw new BadRequest('comp-filter needs a name');
  return {
    name: name.toUpperCase(), isNotDefined: !!child(e, NS.CALDAV, 'is-not-defined'),
    timeRange: parseTimeRange(child(e, NS.CALDAV, 'time-range')),
    propFilters: children(e, NS.CALDAV, 'prop-filter').map(parsePropFilter),
    compFilters: children(e, NS.CALDAV, 'comp-filter').map(parseCompFilter),
  };
}

interface ReportProps { props: string[] | 'allprop' | 'propname'; calendarData: CalendarDataRequest | null; addressData: AddressDataRequest | null }

function parseReportProps(root: XmlElement): ReportProps {
  if (child(root, NS.DAV, 'allprop')) return { props: 'allprop', calendarData: null, addressData: null };
  if (child(root, NS.DAV, 'propname')) return { props: 'propname', calendarData: null, addressData: null };
  const prop = child(root, NS.DAV, 'prop');
  if (!prop) return { props: [], calendarData: null, addressData: null };
  const cd = child(prop, NS.CALDAV, 'calendar-data');
  const ad = child(prop, NS.CARDDAV, 'address-data');
  return { props: propNames(prop), calendarData: cd ? parseCalendarData(cd) : null, addressData: ad ? parseAddressData(ad) : null };
}

/** RFC 4791 §9.6: CALDAV:calendar-data in a request (comp tree, expand, limit-*). */
export function parseCalendarData(cd: XmlElement): CalendarDataRequest {
  const expand = child(cd, NS.CALDAV, 'expand');
  const limitRecurrence = child(cd, NS.CALDAV, 'limit-recurrence-set');
  const limitFreebusy = child(cd, NS.CALDAV, 'limit-freebusy-set');
  // §9.6.5/§9.6.6: both need start and end.
  for (const e of [expand, limitRecurrence, limitFreebusy]) {
    if (e && (e.attrs.start === undefined || e.attrs.end === undefined)) throw new BadRequest(`${e.local} needs start and end`);
  }
  if (expand && limitRecurrence) throw new BadRequest('expand and limit-recurrence-set exclude each other');
  const comp = child(cd, NS.CALDAV, 'comp');
  const sel = comp ? parseCompSelection(comp, 0) : null;
  if (sel && sel.name !== 'VCALENDAR') throw new BadRequest('the top CALDAV:comp must name VCALENDAR');
  return {
    contentType: (cd.attrs['content-type'] ?? 'text/calendar').trim().toLowerCase(),
    version: (cd.attrs.version ?? '2.0').trim(),
    comp: sel,
    expand: parseTimeRange(expand), limitRecurrence: parseTimeRange(limitRecurrence), limitFreebusy: parseTimeRange(limitFreebusy),
  };
}

function parseCompSelection(e: XmlElement, depth: number): CompSelection {
  const name = e.attrs.name?.trim();
  if (!name) throw new BadRequest('CALDAV:comp needs a name');
  if (depth > 4) throw new BadRequest('CALDAV:comp nested too deeply');
  const allProps = !!child(e, NS.CALDAV, 'allprop');
  const allComps = !!child(e, NS.CALDAV, 'allcomp');
  const props = children(e, NS.CALDAV, 'prop').map((p) => {
    if (!p.attrs.name?.trim()) throw new BadRequest('CALDAV:prop needs a name');
    return { name: p.attrs.name.trim().toUpperCase(), novalue: p.attrs.novalue === 'yes' };
  });
  const comps = children(e, NS.CALDAV, 'comp');
  if (allProps && props.length) throw new BadRequest('CALDAV:allprop and CALDAV:prop exclude each other');
  if (allComps && comps.length) throw new BadRequest('CALDAV:allcomp and CALDAV:comp exclude each other');
  return { name: name.toUpperCase(), allProps, props, allComps, comps: comps.map((c) => parseCompSelection(c, depth + 1)) };
}

/** RFC 6352 §10.4: CARDDAV:address-data in a request. */
export function parseAddressData(ad: XmlElement): AddressDataRequest {
  const props = children(ad, NS.CARDDAV, 'prop').map((p) => {
    if (!p.attrs.name?.trim()) throw new BadRequest('CARDDAV:prop needs a name');
    return { name: p.attrs.name.trim().toUpperCase(), novalue: p.attrs.novalue === 'yes' };
  });
  return {
    contentType: (ad.attrs['content-type'] ?? 'text/vcard').trim().toLowerCase(),
    version: ad.attrs.version?.trim() || null,
    props: child(ad, NS.CARDDAV, 'allprop') || !props.length ? null : props,
  };
}

function parseLimit(root: XmlElement, ns: string): number | null {
  const l = child(root, ns, 'limit');
  const n = l ? child(l, ns, 'nresults') : undefined;
  if (!n) return null;
  const v = Number(n.text.trim());
  if (!Number.isInteger(v) || v < 0) throw new BadRequest('bad nresults');
  return v;
}

export function parseCalendarQuery(root: XmlElement): CalendarQuery {
  const filter = child(root, NS.CALDAV, 'filter');
  const top = filter ? child(filter, NS.CALDAV, 'comp-filter') : undefined;
  if (!top) throw new BadRequest('calendar-query needs a filter with one comp-filter');
  const f = parseCompFilter(top);
  if (f.name !== 'VCALENDAR') throw new BadRequest('the top comp-filter must name VCALENDAR');
  const tz = child(root, NS.CALDAV, 'timezone');
  return { ...parseReportProps(root), filter: f, timezone: tz ? tz.text : null, limit: parseLimit(root, NS.CALDAV) };
}

export interface Multiget extends ReportProps { hrefs: string[] }

export function parseMultiget(root: XmlElement, ns: string): Multiget {
  const hrefs = children(root, NS.DAV, 'href').map((h) => h.text.trim()).filter(Boolean);
  return { ...parseReportProps(root), hrefs };
}

export function parseFreeBusyQuery(root: XmlElement): TimeRange {
  const tr = parseTimeRange(child(root, NS.CALDAV, 'time-range'));
  if (!tr || tr.start === null) throw new BadRequest('free-busy-query needs a time-range with a start');
  return tr;
}

// ---- CardDAV (RFC 6352 §10.5) ---------------------------------------------------------------

export interface CardPropFilter {
  name: string; test: 'anyof' | 'allof'; isNotDefined: boolean; textMatches: TextMatch[]; paramFilters: ParamFilter[];
}
export interface AddressbookQuery {
  props: string[] | 'allprop' | 'propname';
  addressData: AddressDataRequest | null;
  test: 'anyof' | 'allof';
  filters: CardPropFilter[];
  limit: number | null;
}

export function parseAddressbookQuery(root: XmlElement): AddressbookQuery {
  const filter = child(root, NS.CARDDAV, 'filter');
  const test = (filter?.attrs.test ?? 'anyof') === 'allof' ? 'allof' : 'anyof';
  const filters = filter ? children(filter, NS.CARDDAV, 'prop-filter').map((p): CardPropFilter => {
    if (!p.attrs.name) throw new BadRequest('prop-filter needs a name');
    return {
      name: p.attrs.name.toUpperCase(), test: p.attrs.test === 'allof' ? 'allof' : 'anyof',
      isNotDefined: !!child(p, NS.CARDDAV, 'is-not-defined'),
      textMatches: children(p, NS.CARDDAV, 'text-match').map((t) => parseTextMatch(t, 'i;unicode-casemap')!),
      paramFilters: children(p, NS.CARDDAV, 'param-filter').map((x) => parseParamFilter(x, NS.CARDDAV, 'i;unicode-casemap')),
    };
  }) : [];
  const rp = parseReportProps(root);
  return { props: rp.props, addressData: rp.addressData, test, filters, limit: parseLimit(root, NS.CARDDAV) };
}

// ---- sync-collection (RFC 6578 §6.1) --------------------------------------------------------

export interface SyncCollection { token: string; level: '1' | 'infinite'; props: string[]; limit: number | null }

export function parseSyncCollection(root: XmlElement): SyncCollection {
  const token = child(root, NS.DAV, 'sync-token');
  const level = child(root, NS.DAV, 'sync-level')?.text.trim() ?? '1';
  if (level !== '1' && level !== 'infinite') throw new BadRequest('bad sync-level');
  const prop = child(root, NS.DAV, 'prop');
  return { token: token?.text.trim() ?? '', level, props: prop ? propNames(prop) : [], limit: parseLimit(root, NS.DAV) };
}

// ---- calendarserver-sharing POST (CS:share, as sent by Apple Calendar and sabre clients) ----

export type ShareAccess = 'read' | 'read-write' | 'freebusy';
export interface ShareChange { href: string; access: ShareAccess | null } // null: remove

export function parseShare(root: XmlElement): ShareChange[] {
  if (!is(root, NS.CS, 'share')) throw new BadRequest('expected CS:share');
  const out: ShareChange[] = [];
  for (const s of children(root, NS.CS, 'set')) {
    const href = child(s, NS.DAV, 'href')?.text.trim();
    if (!href) throw new BadRequest('CS:set needs DAV:href');
    const access: ShareAccess = child(s, NS.CS, 'read-write') ? 'read-write'
      : child(s, NS.POCHTAMT, 'freebusy') ? 'freebusy' : 'read';
    out.push({ href, access });
  }
  for (const r of children(root, NS.CS, 'remove')) {
    const href = child(r, NS.DAV, 'href')?.text.trim();
    if (!href) throw new BadRequest('CS:remove needs DAV:href');
    out.push({ href, access: null });
  }
  return out;
}
