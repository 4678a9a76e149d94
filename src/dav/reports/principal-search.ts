// DAV:principal-property-search and DAV:principal-search-property-set (RFC 3744 §9.4, §9.5,
// with calendarserver's test="anyof|allof" and match-type="contains|starts-with|equals" as sent
// by Apple Calendar and Evolution for attendee autocompletion). Searches the user and group
// principals the Global Address List exposes (live, enabled accounts; distribution groups), on
// displayname, CALDAV:calendar-user-address-set, CS:email-address-set, CS:first-name,
// CS:last-name and CALDAV:calendar-user-type; answers with the requested properties of each hit
// through the normal PROPFIND machinery. Must not: search anything the GAL does not show, or
// answer more than MAX_RESULTS principals (the rest is cut with 507 on the request URI, as
// RFC 5323 §5.2 reports a truncated result), or run without authentication (the server
// authenticates every REPORT).
import type { AccountEntity, GroupEntity } from '../../../schemas/entities/index.js';
import { PropFind, type MsResponse } from '../../protocols/dav/multistatus.js';
import { BadRequest, propNames } from '../../protocols/dav/requests.js';
import { child, children, clarkOf, d, NS, serializeXml, x, type XmlElement } from '../../protocols/dav/xml.js';
import { HttpError, type DavNode, type ReportHandler, type Resolved } from '../types.js';
import { propRequest, sendMultistatus } from './common.js';

/** Principals answered per search. */
export const MAX_RESULTS = 50;
const MAX_SEARCHES = 10;
const MAX_MATCH_CHARS = 256;

type Principal = { kind: 'user'; account: AccountEntity } | { kind: 'group'; group: GroupEntity };
type MatchType = 'contains' | 'starts-with' | 'equals';

const D = (l: string) => `{${NS.DAV}}${l}`;
const C = (l: string) => `{${NS.CALDAV}}${l}`;
const CS = (l: string) => `{${NS.CS}}${l}`;

function nameParts(displayName: string): { first: string; last: string } {
  const parts = displayName.trim().split(/\s+/).filter(Boolean);
  if (parts.length < 2) return { first: '', last: parts[0] ?? '' };
  return { first: parts.slice(0, -1).join(' '), last: parts[parts.length - 1]! };
}

/** The searchable properties: Clark name → description and the text values of a principal. */
const SEARCHABLE: Record<string, { description: string; values: (p: Principal) => string[] }> = {
  [D('displayname')]: { description: 'Display name', values: (p) => [p.kind === 'user' ? p.account.displayName || p.account.address : p.group.displayName || p.group.address] },
  [C('calendar-user-address-set')]: { description: 'Calendar user address', values: (p) => [`mailto:${p.kind === 'user' ? p.account.address : p.group.address}`] },
  [CS('email-address-set')]: { description: 'E-mail address', values: (p) => [p.kind === 'user' ? p.account.address : p.group.address] },
  [CS('first-name')]: { description: 'First name', values: (p) => (p.kind === 'user' ? [nameParts(p.account.displayName).first] : []) },
  [CS('last-name')]: { description: 'Last name', values: (p) => (p.kind === 'user' ? [nameParts(p.account.displayName).last] : []) },
  [C('calendar-user-type')]: { description: 'Calendar user type', values: (p) => [p.kind === 'user' ? 'INDIVIDUAL' : 'GROUP'] },
};

interface Search { props: string[]; text: string; matchType: MatchType }

function parseSearch(root: XmlElement): { test: 'anyof' | 'allof'; searches: Search[]; props: string[] } {
  const test = root.attrs.test === 'anyof' ? 'anyof' : 'allof';
  const searches = children(root, NS.DAV, 'property-search').map((ps): Search => {
    const prop = child(ps, NS.DAV, 'prop');
    const match = child(ps, NS.DAV, 'match');
    if (!prop || !prop.children.length || !match) throw new BadRequest('property-search needs DAV:prop and DAV:match');
    const mt = match.attrs['match-type'] ?? 'contains';
    if (mt !== 'contains' && mt !== 'starts-with' && mt !== 'equals') throw new BadRequest(`match-type ${mt} not supported`);
    if (match.text.length > MAX_MATCH_CHARS) throw new BadRequest('match text too long');
    return { props: prop.children.map(clarkOf), text: match.text.trim().normalize('NFKC').toLowerCase(), matchType: mt };
  });
  if (!searches.length) throw new BadRequest('principal-property-search needs a property-search');
  if (searches.length > MAX_SEARCHES) throw new BadRequest('too many property-search elements');
  const p = child(root, NS.DAV, 'prop');
  return { test, searches, props: p ? propNames(p) : [] };
}

function matches(p: Principal, s: Search): boolean {
  // One search may name several properties: any of them matching is a match (RFC 3744 §9.4).
  return s.props.some((name) => (SEARCHABLE[name]?.values(p) ?? []).some((v) => {
    const value = v.normalize('NFKC').toLowerCase();
    return s.matchType === 'equals' ? value === s.text : s.matchType === 'starts-with' ? value.startsWith(s.text) : value.includes(s.text);
  }));
}

const PRINCIPAL_COLLECTIONS = new Set<DavNode['kind']>(['principals', 'principal-users', 'principal-groups']);

export const principalPropertySearch: ReportHandler = async (ctx, r, body) => {
  const q = parseSearch(body);
  const applyToSet = !!child(body, NS.DAV, 'apply-to-principal-collection-set');
  const kind = r.node.kind;
  if (!applyToSet && !PRINCIPAL_COLLECTIONS.has(kind)) throw new HttpError(403, 'principal-property-search needs a principal collection', d('supported-report'));
  const users = applyToSet || kind !== 'principal-groups';
  const groups = applyToSet || kind !== 'principal-users';
  const { accounts, groups: gs } = await ctx.gw.galSource();
  const candidates: Principal[] = [
    ...(users ? accounts.filter((a) => !a.deletedAt && a.enabled).map((account): Principal => ({ kind: 'user', account })) : []),
    ...(groups ? gs.map((group): Principal => ({ kind: 'group', group })) : []),
  ];
  const hits = candidates.filter((p) => (q.test === 'anyof' ? q.searches.some((s) => matches(p, s)) : q.searches.every((s) => matches(p, s))));
  const request = propRequest(q.props);
  const responses: MsResponse[] = [];
  for (const p of hits.slice(0, MAX_RESULTS)) {
    const segs = p.kind === 'user' ? ['principals', 'users', p.account.address] : ['principals', 'groups', p.group.address];
    const node: Resolved = { node: p.kind === 'user' ? { kind: 'principal', account: p.account } : { kind: 'group-principal', group: p.group }, href: ctx.server.hrefOf(segs, true), segs };
    const pf = new PropFind(request);
    await ctx.server.propFind(ctx, node, pf);
    responses.push({ href: node.href, props: await pf.finish() });
  }
  if (hits.length > MAX_RESULTS) responses.push({ href: r.href, status: 507, error: d('number-of-matches-within-limits') });
  sendMultistatus(ctx, responses);
};

export const principalSearchPropertySet: ReportHandler = async (ctx, r) => {
  if (!PRINCIPAL_COLLECTIONS.has(r.node.kind)) throw new HttpError(403, 'principal-search-property-set needs a principal collection', d('supported-report'));
  const body = d('principal-search-property-set', ...Object.entries(SEARCHABLE).map(([name, s]) => {
    const m = /^\{([^}]*)\}(.+)$/.exec(name)!;
    return d('principal-search-property', d('prop', x(m[1]!, m[2]!)), { ns: NS.DAV, local: 'description', attrs: { 'xml:lang': 'en' }, children: [s.description] });
  }));
  ctx.res.status(200).type('application/xml; charset=utf-8').send(serializeXml(body));
};
