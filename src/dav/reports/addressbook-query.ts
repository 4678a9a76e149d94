// CARDDAV:addressbook-query (RFC 6352 §8.6): prop-filter/param-filter/text-match (anyof/allof,
// negate-condition) over the personal address books and the read-only GAL; unsupported
// collations → 403 CARDDAV:supported-collation. BUGS: evaluates every card of the book (no SQL
// index on e-mail yet); fine for thousands of cards, slow for very large books.
import { carddavCondition, type MsResponse } from '../../protocols/dav/multistatus.js';
import { SUPPORTED_COLLATIONS } from '../../protocols/dav/icalendar.js';
import { parseAddressbookQuery } from '../../protocols/dav/requests.js';
import { matchesAddressbookQuery } from '../../protocols/dav/vcard.js';
import { galResponses } from '../gal.js';
import { checkAddressData } from './address-data.js';
import { HttpError, type ReportHandler } from '../types.js';
import { requirePrivilege } from '../util.js';
import { objectResponse, propRequest, sendMultistatus } from './common.js';

export const addressbookQuery: ReportHandler = async (ctx, r, body) => {
  const q = parseAddressbookQuery(body);
  for (const f of q.filters) {
    for (const t of [...f.textMatches, ...f.paramFilters.flatMap((p) => (p.textMatch ? [p.textMatch] : []))]) {
      if (!SUPPORTED_COLLATIONS.has(t.collation)) throw new HttpError(403, `collation ${t.collation}`, carddavCondition('supported-collation', t.collation));
    }
  }
  checkAddressData(q.addressData);
  const n = r.node;
  const request = propRequest(q.props);
  const extras = { addressData: q.addressData };
  if (n.kind === 'gal') {
    let res = await galResponses(ctx, r, request, null, (data) => matchesAddressbookQuery(data, q), extras);
    if (q.limit !== null) res = res.slice(0, q.limit);
    sendMultistatus(ctx, res);
    return;
  }
  if (n.kind !== 'collection' || n.collection.kind !== 'addressbook') throw new HttpError(403, 'addressbook-query needs an address book');
  requirePrivilege(n.access, 'read', r.href);
  const responses: MsResponse[] = [];
  for (const o of await ctx.gw.listObjects(n.collection.id)) {
    if (!matchesAddressbookQuery(o.data, q)) continue;
    responses.push(await objectResponse(ctx, r, o, request, extras));
    if (q.limit !== null && responses.length >= q.limit) break;
  }
  sendMultistatus(ctx, responses);
};

