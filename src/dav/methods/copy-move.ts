// COPY and MOVE (RFC 4918 §9.8/§9.9) within one owner's home: objects between collections of
// the same kind, plain collections (Depth 0 or infinity for COPY; MOVE is always infinity) and
// renaming calendars/address books inside their home. Overwrite: T deletes the destination
// first (204), F fails with 412. Must not: move data between users or home types (403), or
// across servers (502).
import { HttpError, type CollectionNode, type MethodHandler, type Resolved } from '../types.js';
import { isResolved, mustExist, parseDepth, requirePrivilege } from '../util.js';

export const copyMove: MethodHandler = async (ctx, target) => {
  const move = ctx.req.method === 'MOVE';
  const src = mustExist(target);
  const destHeader = String(ctx.req.headers.destination ?? '');
  if (!destHeader) throw new HttpError(400, 'Destination header required');
  let destUrl: URL;
  try {
    destUrl = new URL(destHeader, `http://${ctx.req.headers.host ?? 'localhost'}`);
  } catch {
    throw new HttpError(400, 'bad Destination');
  }
  if (destUrl.host && ctx.req.headers.host && destUrl.host !== ctx.req.headers.host) throw new HttpError(502, 'destination is on another server');
  const segs = ctx.server.hrefToSegs(destUrl.pathname);
  if (!segs) throw new HttpError(403, 'destination outside the DAV tree');
  const overwrite = String(ctx.req.headers.overwrite ?? 'T').toUpperCase() !== 'F';
  const depth = parseDepth(ctx.req.headers.depth, 'infinity');
  if (move && depth !== 'infinity' && src.node.kind === 'collection') throw new HttpError(400, 'MOVE of a collection needs Depth: infinity');
  if (segs.join('/') === src.segs.join('/')) throw new HttpError(403, 'source and destination are the same');
  let dest = await ctx.server.resolve(ctx, segs);
  const n = src.node;
  if (n.kind === 'object') {
    let replacedCollection = false;
    requirePrivilege(n.parent.access, move ? 'unbind' : 'read', src.href);
    let destParent: Resolved | null;
    let destName: string;
    if (isResolved(dest) && dest.node.kind === 'collection' && overwrite) {
      // Overwrite: T replaces whatever is there, a collection included (RFC 4918 §9.8.4).
      const dn = dest.node;
      if (dn.owner.id !== ctx.user.id || dn.mounted || dn.access !== 'owner') throw new HttpError(403, 'cannot overwrite this collection');
      await ctx.gw.deleteCollection(dn.collection);
      dest = await ctx.server.resolve(ctx, segs);
      if (isResolved(dest)) throw new HttpError(409, 'destination still exists');
      replacedCollection = true;
    }
    if (isResolved(dest)) {
      if (dest.node.kind !== 'object') throw new HttpError(409, 'destination is a collection');
      if (!overwrite) throw new HttpError(412, 'destination exists');
      destParent = { node: dest.node.parent, href: ctx.server.hrefOf(dest.segs.slice(0, -1), true), segs: dest.segs.slice(0, -1) };
      destName = dest.node.object.name;
    } else {
      destParent = dest.parent;
      destName = dest.name;
    }
    if (!destParent || destParent.node.kind !== 'collection') throw new HttpError(409, 'destination collection does not exist');
    const dp = destParent.node as CollectionNode;
    if (dp.owner.id !== n.parent.owner.id || dp.collection.kind !== n.parent.collection.kind) throw new HttpError(403, 'cannot copy between these collections');
    requirePrivilege(dp.access, 'bind', destParent.href);
    const { created } = await ctx.gw.transferObject(n.parent.collection, n.object.name, dp.collection, destName, move);
    ctx.res.status(created && !replacedCollection ? 201 : 204).end();
    return;
  }
  if (n.kind !== 'collection' || n.mounted) throw new HttpError(403, 'this resource cannot be copied or moved');
  requirePrivilege(n.access, 'write', src.href);
  let replaced = false;
  if (isResolved(dest)) {
    if (!overwrite) throw new HttpError(412, 'destination exists');
    if (dest.node.kind !== 'collection' && dest.node.kind !== 'object') throw new HttpError(403, 'cannot overwrite this resource');
    const dn = dest.node;
    const dc = dn.kind === 'collection' ? dn : dn.parent;
    if (dc.owner.id !== ctx.user.id || dc.mounted) throw new HttpError(403, 'cannot overwrite this resource');
    if (dn.kind === 'collection') await ctx.gw.deleteCollection(dn.collection);
    else await ctx.gw.deleteObject(dn.parent.collection, dn.object.name);
    replaced = true;
    dest = await ctx.server.resolve(ctx, segs);
  }
  if (isResolved(dest)) throw new HttpError(409, 'destination still exists');
  if (!dest.parent) throw new HttpError(409, 'destination parent does not exist');
  const pn = dest.parent.node;
  const ok = (pn.kind === 'home' && pn.home === n.home && pn.owner.id === n.owner.id)
    || (pn.kind === 'collection' && pn.home === 'files' && n.home === 'files' && pn.owner.id === n.owner.id && !pn.mounted);
  if (!ok) throw new HttpError(403, 'collections can only move within their home');
  const newPath = pn.kind === 'home' ? dest.name : `${pn.collection.path}/${dest.name}`;
  if (newPath.startsWith(`${n.collection.path}/`)) throw new HttpError(403, 'cannot copy a collection into itself');
  if (move) await ctx.gw.moveCollection(n.collection, newPath);
  else await ctx.gw.copyCollection(n.collection, newPath, depth !== '0');
  ctx.res.status(replaced ? 204 : 201).end();
};
