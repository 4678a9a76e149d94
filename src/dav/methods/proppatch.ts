// PROPPATCH (RFC 4918 §9.2): all-or-nothing. Each operation is offered to the plugins (live
// properties); anything left is a dead property on a collection or object. If any operation
// fails, the others report 424 Failed Dependency and nothing is written.
import { multistatus, type PropResult } from '../../protocols/dav/multistatus.js';
import { parsePropPatch } from '../../protocols/dav/requests.js';
import { d, toXNode } from '../../protocols/dav/xml.js';
import { proxyPropPatch } from '../plugins/proxy.js';
import { HttpError, type CollectionPatch, type MethodHandler } from '../types.js';
import { accessOf, mustExist, readDeadProps, requirePrivilege } from '../util.js';

export const proppatch: MethodHandler = async (ctx, target) => {
  const r = mustExist(target);
  const root = ctx.xml();
  if (!root) throw new HttpError(400, 'PROPPATCH needs a body');
  const ops = parsePropPatch(root);
  const n = r.node;
  if (n.kind === 'proxy-group') {
    await proxyPropPatch(ctx, r, ops);
    return;
  }
  if (n.kind !== 'collection' && n.kind !== 'object') throw new HttpError(403, 'properties of this resource cannot be changed', d('cannot-modify-protected-property'));
  requirePrivilege(accessOf(n), n.kind === 'collection' ? 'write-properties' : 'write-content', r.href);
  const patch: CollectionPatch = {};
  const dead = readDeadProps(n.kind === 'collection' ? n.collection.deadProps : n.object.deadProps);
  const results: PropResult[] = [];
  let failed = false;
  for (const op of ops) {
    let live;
    for (const p of ctx.server.plugins) {
      live = p.propPatch?.(ctx, r, op);
      if (live) break;
    }
    if (live) {
      if (live.status === 200) live.apply(patch);
      else failed = true;
      results.push({ name: op.name, status: live.status });
      continue;
    }
    if (op.op === 'set') dead[op.name] = toXNode(op.value);
    else delete dead[op.name];
    results.push({ name: op.name, status: 200 });
  }
  if (failed) {
    for (const res of results) if (res.status === 200) res.status = 424;
  } else if (n.kind === 'collection') {
    await ctx.gw.updateCollection(n.collection.id, { ...patch, deadProps: JSON.stringify(dead) } as CollectionPatch);
  } else {
    await ctx.gw.setObjectDeadProps(n.parent.collection, n.object, JSON.stringify(dead));
  }
  ctx.res.status(207).type('application/xml; charset=utf-8').send(multistatus([{ href: r.href, props: results }]));
};
