// REPORT (RFC 3253 §3.6): dispatches on the body's root element to the report table built from
// the plugins; a report not offered on the target is refused with DAV:supported-report (403).
import { d, clarkOf } from '../../protocols/dav/xml.js';
import { HttpError, type MethodHandler, type ReportHandler } from '../types.js';
import { mustExist } from '../util.js';

export const report: MethodHandler = async (ctx, target) => {
  const r = mustExist(target);
  const root = ctx.xml();
  if (!root) throw new HttpError(400, 'REPORT needs a body');
  const name = clarkOf(root);
  let handler: ReportHandler | undefined;
  for (const p of ctx.server.plugins) {
    handler = p.reports?.[name];
    if (handler) break;
  }
  const offered = ctx.server.plugins.flatMap((p) => p.supportedReports?.(r) ?? []);
  if (!handler || !offered.includes(name)) throw new HttpError(403, `report ${name} not supported here`, d('supported-report'));
  await handler(ctx, r, root);
};
