// DAV:sync-collection (RFC 6578 §3): changes since a token from the collection's change log;
// an empty token is an initial sync (every member). Tokens are URIs naming the collection, so a
// token from another collection (or a recreated one) is refused with DAV:valid-sync-token.
// Only sync-level 1 (members are not collections). A limit truncates with 507 on the request URI.
import { parseSyncCollection } from '../../protocols/dav/requests.js';
import { d } from '../../protocols/dav/xml.js';
import type { MsResponse } from '../../protocols/dav/multistatus.js';
import { HttpError, type ReportHandler } from '../types.js';
import { requirePrivilege } from '../util.js';
import { objectResponse, sendMultistatus } from './common.js';

export const SYNC_TOKEN_PREFIX = 'http://pochtamt.org/ns/sync/';

export function syncTokenOf(collectionId: number, token: number): string {
  return `${SYNC_TOKEN_PREFIX}${collectionId}-${token}`;
}

export const syncCollection: ReportHandler = async (ctx, r, body) => {
  const n = r.node;
  if (n.kind !== 'collection') throw new HttpError(403, 'sync-collection needs a collection', d('supported-report'));
  requirePrivilege(n.access, 'read', r.href);
  const q = parseSyncCollection(body);
  if (q.level !== '1') throw new HttpError(403, 'only sync-level 1', d('sync-traversal-supported'));
  let since: number | null = null;
  if (q.token) {
    const m = /^http:\/\/pochtamt\.org\/ns\/sync\/(\d+)-(\d+)$/.exec(q.token);
    if (!m || Number(m[1]) !== n.collection.id) throw new HttpError(403, 'unknown sync token', d('valid-sync-token'));
    since = Number(m[2]);
  }
  const changes = await ctx.gw.changesSince(n.collection, since, q.limit);
  if (!changes) throw new HttpError(403, 'unknown sync token', d('valid-sync-token'));
  const request = { kind: 'prop' as const, props: q.props };
  const responses: MsResponse[] = [];
  for (const o of changes.changed) responses.push(await objectResponse(ctx, r, o, request));
  for (const name of changes.deleted) responses.push({ href: ctx.server.hrefOf([...r.segs, name], false), status: 404 });
  if (changes.truncated) responses.push({ href: r.href, status: 507, error: d('number-of-matches-within-limits') });
  sendMultistatus(ctx, responses, [d('sync-token', syncTokenOf(n.collection.id, changes.token))]);
};
