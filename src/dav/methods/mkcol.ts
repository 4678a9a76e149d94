// MKCOL (RFC 4918 §9.3, extended by RFC 5689) and MKCALENDAR (RFC 4791 §5.3.1). Plain
// collections may nest in the files home; calendars and address books live directly in their
// homes. Properties in the body are applied through the same plugins as PROPPATCH; a refused
// property fails the whole request (403/409 with a multistatus-free error, as RFC 5689 allows).
// Must not: create intermediate collections (409) or overwrite anything (405).
import { parseMkcol } from '../../protocols/dav/requests.js';
import { child, d, NS, toXNode } from '../../protocols/dav/xml.js';
import type { CollectionKind } from '../../services/groupware/groupware.service.js';
import { HttpError, type CollectionPatch, type MethodHandler } from '../types.js';
import { isResolved, type DeadProps } from '../util.js';

const RESERVED = /^(shared-\d+|gal|inbox|outbox)$/;

export const mkcol: MethodHandler = async (ctx, target) => {
  const method = ctx.req.method as 'MKCOL' | 'MKCALENDAR';
  if (isResolved(target)) throw new HttpError(405, 'the resource exists');
  if (!target.parent) throw new HttpError(target.hidden ? 404 : 409, target.hidden ? 'not found' : 'parent collection does not exist');
  if (ctx.body.length && !ctx.req.headers['content-type']?.includes('xml')) throw new HttpError(415, 'MKCOL body must be XML');
  const ops = parseMkcol(ctx.xml(), method);
  const pn = target.parent.node;
  const rtOp = ops.find((o) => o.name === `{${NS.DAV}}resourcetype`);
  let kind: CollectionKind = method === 'MKCALENDAR' ? 'calendar' : 'collection';
  if (rtOp && method === 'MKCOL') {
    if (child(rtOp.value, NS.CALDAV, 'calendar')) kind = 'calendar';
    else if (child(rtOp.value, NS.CARDDAV, 'addressbook')) kind = 'addressbook';
    else if (rtOp.value.children.some((c) => !(c.ns === NS.DAV && c.local === 'collection'))) {
      throw new HttpError(403, 'unsupported resourcetype', d('valid-resourcetype'));
    }
  }
  let home;
  let parentPath = '';
  let owner;
  if (pn.kind === 'home') {
    home = pn.home;
    owner = pn.owner;
  } else if (pn.kind === 'collection' && pn.home === 'files' && pn.access === 'owner' && kind === 'collection') {
    home = pn.home;
    owner = pn.owner;
    parentPath = pn.collection.path;
  } else {
    throw new HttpError(403, 'collections cannot be created here', d('resource-must-be-null'));
  }
  if (owner.id !== ctx.user.id) throw new HttpError(404, 'not found');
  const allowedKind = home === 'calendars' ? 'calendar' : home === 'addressbooks' ? 'addressbook' : 'collection';
  if (kind !== allowedKind) {
    throw new HttpError(403, `only ${allowedKind} collections can be created here`, method === 'MKCALENDAR' ? d('resource-must-be-null') : d('valid-resourcetype'));
  }
  if (RESERVED.test(target.name)) throw new HttpError(403, 'reserved name');
  const patch: CollectionPatch = {};
  const dead: DeadProps = {};
  const fakeNode = { kind: 'collection' as const, home, homeOwner: owner, owner, access: 'owner' as const, mounted: false,
    collection: { kind, components: kind === 'calendar' ? 'VEVENT,VTODO' : '' } as never };
  for (const op of ops) {
    if (op === rtOp) continue;
    let live;
    for (const p of ctx.server.plugins) {
      live = p.propPatch?.(ctx, { node: fakeNode, href: target.href, segs: target.segs }, { ...op, creating: true } as typeof op);
      if (live) break;
    }
    if (live && live.status !== 200) throw new HttpError(live.status, `property ${op.name} refused`, live.condition);
    if (live) live.apply(patch);
    else dead[op.name] = toXNode(op.value);
  }
  await ctx.gw.createCollection(owner.id, home, parentPath ? `${parentPath}/${target.name}` : target.name, kind, {
    ...patch, deadProps: JSON.stringify(dead),
  } as never);
  ctx.res.setHeader('Location', ctx.server.hrefOf(target.segs, true));
  ctx.res.setHeader('Content-Length', '0');
  ctx.res.status(201).end();
};
