// The read-only Global Address List address book: one vCard per live account and one group
// card per distribution list, generated from the account model on each request. Accounts and
// lists synced from a directory also carry its address-book attributes (name parts, title,
// department, phones, office); every card lists the aliases that name only that account or list.
// Must not: write anything; let a directory value break the vCard (control characters dropped).
import { PropFind, type MsResponse } from '../protocols/dav/multistatus.js';
import type { PropfindRequest } from '../protocols/dav/requests.js';
import { galVCard, type GalEntry } from '../protocols/dav/vcard.js';
import type { DavContext, Resolved } from './types.js';
import type { GroupwareService } from '../services/groupware/groupware.service.js';
import { etagOf } from '../services/groupware/groupware.service.js';

export interface GalCard { entry: GalEntry; data: string; etag: string }

type Book = Partial<Record<'givenName' | 'sn' | 'title' | 'department' | 'telephoneNumber' | 'mobile' | 'office', string>>;

/** A directory value as one clean line (the directory copy is already clipped in length). */
const clean = (v: unknown): string | undefined => {
  if (typeof v !== 'string') return undefined;
  const s = v.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return s || undefined;
};

function directoryFields(raw: string | undefined): Partial<GalEntry> {
  if (!raw) return {};
  let a: { book?: Book };
  try {
    a = JSON.parse(raw) as typeof a;
  } catch {
    return {};
  }
  const b = a.book ?? {};
  const out: Partial<GalEntry> = {
    givenName: clean(b.givenName), familyName: clean(b.sn), title: clean(b.title), department: clean(b.department),
    workPhone: clean(b.telephoneNumber), mobile: clean(b.mobile), office: clean(b.office),
  };
  for (const k of Object.keys(out) as Array<keyof GalEntry>) if (out[k] === undefined) delete out[k];
  return out;
}

export async function galEntries(gw: GroupwareService): Promise<GalCard[]> {
  const { accounts, groups, members, directory, aliases } = await gw.galSource();
  const further = new Map<string, string[]>();
  for (const x of aliases) {
    const k = x.accountId !== null ? `a${x.accountId}` : `g${x.groupId}`;
    const l = further.get(k);
    if (l) l.push(x.address);
    else further.set(k, [x.address]);
  }
  const emailsOf = (key: 'accountId' | 'groupId', id: number) => further.get(`${key === 'accountId' ? 'a' : 'g'}${id}`) ?? [];
  const uidOfAccount = (id: number) => `pochtamt-account-${id}`;
  const byAccount = new Map(directory.filter((d) => d.accountId !== null).map((d) => [d.accountId!, d]));
  const byGroup = new Map(directory.filter((d) => d.groupId !== null).map((d) => [d.groupId!, d]));
  const out: GalCard[] = [];
  for (const a of accounts) {
    const d = a.source === 'directory' ? byAccount.get(a.id) : undefined;
    const entry: GalEntry = {
      uid: uidOfAccount(a.id), kind: 'individual', displayName: a.displayName, email: a.address,
      rev: Math.max(a.updatedAt, d?.updatedAt ?? 0), ...directoryFields(d?.attributes),
    };
    const emails = emailsOf('accountId', a.id);
    if (emails.length) entry.emails = emails;
    const data = galVCard(entry);
    out.push({ entry, data, etag: etagOf(data) });
  }
  const live = new Set(accounts.map((a) => a.id));
  for (const g of groups) {
    const m = members.filter((x) => x.groupId === g.id && x.accountId && live.has(x.accountId)).map((x) => uidOfAccount(x.accountId!));
    const d = g.source === 'directory' ? byGroup.get(g.id) : undefined;
    const emails = emailsOf('groupId', g.id);
    const entry: GalEntry = {
      uid: `pochtamt-group-${g.id}`, kind: 'group', displayName: g.displayName, email: g.address, members: m,
      rev: Math.max(g.createdAt, d?.updatedAt ?? 0), ...(emails.length ? { emails } : {}),
    };
    const data = galVCard(entry);
    out.push({ entry, data, etag: etagOf(data) });
  }
  return out;
}

/** A change stamp for the GAL's CS:getctag / sync-token-less clients. */
export function galCtag(cards: GalCard[]): string {
  return etagOf(cards.map((c) => c.etag).join(',')).replace(/"/g, '');
}

/** Responses for GAL cards (all, or the hrefs asked for; unknown hrefs 404). */
export async function galResponses(ctx: DavContext, r: Resolved, request: PropfindRequest, hrefs: string[] | null, filter?: (data: string) => boolean, extras: Record<string, unknown> = {}): Promise<MsResponse[]> {
  const cards = await galEntries(ctx.gw);
  const out: MsResponse[] = [];
  const byHref = new Map(cards.map((c) => [ctx.server.hrefOf([...r.segs, `${c.entry.uid}.vcf`], false), c]));
  const list = hrefs ? hrefs.map((h) => [h, byHref.get(ctx.server.hrefOf(ctx.server.hrefToSegs(h) ?? [], false))] as const) : [...byHref.entries()];
  for (const [href, c] of list) {
    if (!c) {
      out.push({ href, status: 404 });
      continue;
    }
    if (filter && !filter(c.data)) continue;
    const node: Resolved = { node: { kind: 'gal-card', entry: c.entry, data: c.data }, href, segs: [...r.segs, `${c.entry.uid}.vcf`] };
    const pf = new PropFind(request);
    Object.assign(pf.extras, extras);
    await ctx.server.propFind(ctx, node, pf);
    out.push({ href, props: await pf.finish() });
  }
  return out;
}

