// The read-only Global Address List address book: one vCard per live account and one group
// card per distribution list, generated from the account model on each request.
// Must not: write anything. BUGS: directory attributes (phone, title) are not included yet.
import { PropFind, type MsResponse } from '../protocols/dav/multistatus.js';
import type { PropfindRequest } from '../protocols/dav/requests.js';
import { galVCard, type GalEntry } from '../protocols/dav/vcard.js';
import type { DavContext, Resolved } from './types.js';
import type { GroupwareService } from '../services/groupware/groupware.service.js';
import { etagOf } from '../services/groupware/groupware.service.js';

export interface GalCard { entry: GalEntry; data: string; etag: string }

export async function galEntries(gw: GroupwareService): Promise<GalCard[]> {
  const { accounts, groups, members } = await gw.galSource();
  const uidOfAccount = (id: number) => `pochtamt-account-${id}`;
  const out: GalCard[] = [];
  for (const a of accounts) {
    const entry: GalEntry = { uid: uidOfAccount(a.id), kind: 'individual', displayName: a.displayName, email: a.address, rev: a.updatedAt };
    const data = galVCard(entry);
    out.push({ entry, data, etag: etagOf(data) });
  }
  const live = new Set(accounts.map((a) => a.id));
  for (const g of groups) {
    const m = members.filter((x) => x.groupId === g.id && x.accountId && live.has(x.accountId)).map((x) => uidOfAccount(x.accountId!));
    const entry: GalEntry = { uid: `pochtamt-group-${g.id}`, kind: 'group', displayName: g.displayName, email: g.address, members: m, rev: g.createdAt };
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

