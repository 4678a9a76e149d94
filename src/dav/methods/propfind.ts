// PROPFIND (RFC 4918 §9.1): Depth 0 or 1, allprop (with include), propname or prop, answered
// by every plugin through one PropFind request object per resource.
// Depth infinity (or no Depth header) is served as Depth 1, as sabre/dav does by default
// (enablePropfindDepthInfinity = false): clients that omit the header still get an answer, and
// no request can walk a whole tree. RFC 4918 §9.1 lets servers refuse infinity.
import { multistatus, PropFind } from '../../protocols/dav/multistatus.js';
import { parsePropfind } from '../../protocols/dav/requests.js';
import type { MethodHandler, Resolved } from '../types.js';
import { mustExist, parseDepth } from '../util.js';

export const propfind: MethodHandler = async (ctx, target) => {
  const r = mustExist(target);
  const request = parsePropfind(ctx.xml());
  const depth = parseDepth(ctx.req.headers.depth, '1');
  const nodes: Resolved[] = [r, ...(depth === '0' ? [] : await ctx.server.children(ctx, r))];
  const responses = [];
  for (const n of nodes) {
    const pf = new PropFind(request);
    await ctx.server.propFind(ctx, n, pf);
    responses.push({ href: n.href, props: await pf.finish() });
  }
  ctx.res.status(207).type('application/xml; charset=utf-8').send(multistatus(responses));
};
