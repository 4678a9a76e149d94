// DAV:expand-property (RFC 3253 §3.8): the requested properties of the target, where each
// DAV:href inside a property with nested DAV:property elements is replaced by a DAV:response
// for that resource carrying the nested properties (recursively). Apple clients read delegation
// this way (calendar-proxy-write-for → displayname, principal-URL, calendar-user-address-set)
// and group members (group-member-set → displayname, email). Resources the user may not see
// come back 404, exactly as a PROPFIND on them would. Depth is ignored (always 0, as RFC 3253
// defines the report on the request URI only). Bounded: MAX_LEVELS nesting, MAX_EXPANSIONS
// resources resolved per report.
import { propstatNodes, statusLine, type PropResult } from '../../protocols/dav/multistatus.js';
import { BadRequest } from '../../protocols/dav/requests.js';
import { children, clark, d, NS, type XmlElement, type XNode } from '../../protocols/dav/xml.js';
import { PropFind } from '../../protocols/dav/multistatus.js';
import type { DavContext, ReportHandler, Resolved } from '../types.js';
import { sendMultistatus } from './common.js';

const MAX_LEVELS = 4;
const MAX_EXPANSIONS = 1000;

interface Spec { name: string; nested: Spec[] }

function parseSpecs(e: XmlElement, level: number): Spec[] {
  if (level > MAX_LEVELS) throw new BadRequest('expand-property nested too deeply');
  return children(e, NS.DAV, 'property').map((p) => {
    const local = p.attrs.name?.trim();
    if (!local) throw new BadRequest('DAV:property needs a name');
    return { name: clark(p.attrs.namespace ?? NS.DAV, local), nested: parseSpecs(p, level + 1) };
  });
}

export const expandProperty: ReportHandler = async (ctx, r, body) => {
  const specs = parseSpecs(body, 0);
  const budget = { left: MAX_EXPANSIONS };
  sendMultistatus(ctx, [{ href: r.href, props: await expand(ctx, r, specs, budget) }]);
};

async function expand(ctx: DavContext, r: Resolved, specs: Spec[], budget: { left: number }): Promise<PropResult[]> {
  const pf = new PropFind({ kind: 'prop', props: [...new Set(specs.map((s) => s.name))] });
  await ctx.server.propFind(ctx, r, pf);
  const results = await pf.finish();
  for (const res of results) {
    const spec = specs.find((s) => s.name === res.name);
    if (!spec?.nested.length || res.status !== 200 || !res.value) continue;
    const out: Array<XNode | string> = [];
    for (const v of res.value) {
      const href = typeof v !== 'string' && v.ns === NS.DAV && v.local === 'href' && typeof v.children?.[0] === 'string' ? v.children[0] : null;
      if (href === null || budget.left <= 0) {
        out.push(v);
        continue;
      }
      budget.left--;
      out.push(await expandHref(ctx, href, spec.nested, budget));
    }
    res.value = out;
  }
  return results;
}

async function expandHref(ctx: DavContext, href: string, nested: Spec[], budget: { left: number }): Promise<XNode> {
  const segs = ctx.server.hrefToSegs(href);
  let target;
  try {
    target = segs ? await ctx.server.resolve(ctx, segs) : null;
  } catch {
    target = null;
  }
  if (!target || !('node' in target)) return d('response', d('href', href), d('status', statusLine(404)));
  const props = await expand(ctx, { ...target, href }, nested, budget);
  return d('response', d('href', href), ...propstatNodes(props));
}
