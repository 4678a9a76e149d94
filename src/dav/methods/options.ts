// OPTIONS (RFC 4918 §9.1/§10.1): the DAV header (set by the server from every plugin's
// features) and the Allow list for the target. Must not: reveal whether a hidden URL exists.
import type { MethodHandler } from '../types.js';
import { isResolved } from '../util.js';

export const options: MethodHandler = async (ctx, target) => {
  const base = ['OPTIONS', 'PROPFIND', 'PROPPATCH', 'REPORT', 'GET', 'HEAD', 'PUT', 'DELETE', 'COPY', 'MOVE', 'MKCOL', 'POST'];
  const extra = isResolved(target) ? ctx.server.plugins.flatMap((p) => p.allowedMethods?.(target) ?? []) : ['MKCALENDAR'];
  ctx.res.setHeader('Allow', [...new Set([...base, ...extra])].join(', '));
  ctx.res.setHeader('Content-Length', '0');
  ctx.res.status(200).end();
};
