// Shared by the REPORT modules: builds one multistatus response per object, running the same
// property machinery as PROPFIND (so calendar-data/address-data/getetag come from the plugins).
import type { DavObjectEntity } from '../../../schemas/entities/index.js';
import { multistatus, PropFind, type MsResponse } from '../../protocols/dav/multistatus.js';
import type { PropfindRequest } from '../../protocols/dav/requests.js';
import type { XNode } from '../../protocols/dav/xml.js';
import type { CollectionNode, DavContext, Resolved } from '../types.js';

export function propRequest(props: string[] | 'allprop' | 'propname'): PropfindRequest {
  return props === 'allprop' ? { kind: 'allprop', include: [] } : props === 'propname' ? { kind: 'propname' } : { kind: 'prop', props };
}

export async function objectResponse(ctx: DavContext, col: Resolved, o: DavObjectEntity, request: PropfindRequest, extras: Record<string, unknown> = {}): Promise<MsResponse> {
  const r: Resolved = { node: { kind: 'object', parent: col.node as CollectionNode, object: o }, href: ctx.server.hrefOf([...col.segs, o.name], false), segs: [...col.segs, o.name] };
  const pf = new PropFind(request);
  Object.assign(pf.extras, extras);
  await ctx.server.propFind(ctx, r, pf);
  return { href: r.href, props: await pf.finish() };
}

export function sendMultistatus(ctx: DavContext, responses: MsResponse[], extra: XNode[] = []): void {
  ctx.res.status(207).type('application/xml; charset=utf-8').send(multistatus(responses, extra));
}
