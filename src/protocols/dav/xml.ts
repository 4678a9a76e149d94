// XML for WebDAV: parses request bodies into a small namespace-resolved element tree and
// serialises response trees with stable prefixes. Built on saxes, which has no DTD support at
// all: a DOCTYPE is refused outright (so external entities and entity-expansion bombs never
// reach a resolver), undefined entities are a syntax error, and depth/element counts are bounded.
// Must not: do I/O, resolve URLs, or keep state between calls.
// RFCs: 4918 §17 (namespaces, xml:lang ignored), XML 1.0. BUGS: xml:lang is dropped; text in
// mixed content is kept only as the concatenation of an element's direct text children.
import { SaxesParser } from 'saxes';

export const NS = {
  DAV: 'DAV:',
  CALDAV: 'urn:ietf:params:xml:ns:caldav',
  CARDDAV: 'urn:ietf:params:xml:ns:carddav',
  CS: 'http://calendarserver.org/ns/',
  APPLE: 'http://apple.com/ns/ical/',
  POCHTAMT: 'http://pochtamt.org/ns/',
} as const;

/** Nesting deeper than this is refused (WebDAV bodies are shallow; a filter is ~8 levels). */
export const MAX_XML_DEPTH = 64;
/** Elements per body (a multiget for 10,000 hrefs stays well under). */
export const MAX_XML_ELEMENTS = 200_000;

export interface XmlElement {
  ns: string;
  local: string;
  attrs: Record<string, string>; // keyed by local name (unqualified) or Clark name when namespaced
  children: XmlElement[];
  /** Concatenated direct text (and CDATA) content. */
  text: string;
}

export class XmlError extends Error {}

/** Clark notation: {ns}local. */
export const clark = (ns: string, local: string) => `{${ns}}${local}`;
export const clarkOf = (e: XmlElement) => clark(e.ns, e.local);
export function splitClark(name: string): { ns: string; local: string } {
  const m = /^\{([^}]*)\}(.+)$/.exec(name);
  return m ? { ns: m[1]!, local: m[2]! } : { ns: '', local: name };
}

export function parseXml(body: string): XmlElement {
  const parser = new SaxesParser({ xmlns: true, position: false });
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  let count = 0;
  let error: Error | null = null;
  const fail = (e: Error) => {
    if (!error) error = e;
  };
  parser.on('doctype', () => {
    throw new XmlError('DOCTYPE is not allowed');
  });
  parser.on('error', (e) => fail(new XmlError(e.message)));
  parser.on('opentag', (tag) => {
    if (++count > MAX_XML_ELEMENTS) throw new XmlError('too many elements');
    if (stack.length >= MAX_XML_DEPTH) throw new XmlError('XML nested too deeply');
    const attrs: Record<string, string> = {};
    for (const a of Object.values(tag.attributes)) {
      if (a.prefix === 'xmlns' || a.name === 'xmlns') continue;
      attrs[a.uri ? clark(a.uri, a.local) : a.local] = a.value;
    }
    const el: XmlElement = { ns: tag.uri ?? '', local: tag.local ?? tag.name, attrs, children: [], text: '' };
    if (stack.length) stack[stack.length - 1]!.children.push(el);
    else root = el;
    stack.push(el);
  });
  parser.on('text', (t) => {
    if (stack.length) stack[stack.length - 1]!.text += t;
  });
  parser.on('cdata', (t) => {
    if (stack.length) stack[stack.length - 1]!.text += t;
  });
  parser.on('closetag', () => {
    stack.pop();
  });
  try {
    parser.write(body).close();
  } catch (e) {
    throw e instanceof XmlError ? e : new XmlError((e as Error).message);
  }
  if (error) throw error;
  if (!root) throw new XmlError('no root element');
  return root;
}

export function child(e: XmlElement, ns: string, local: string): XmlElement | undefined {
  return e.children.find((c) => c.ns === ns && c.local === local);
}
export function children(e: XmlElement, ns: string, local: string): XmlElement[] {
  return e.children.filter((c) => c.ns === ns && c.local === local);
}
export function is(e: XmlElement | undefined, ns: string, local: string): boolean {
  return !!e && e.ns === ns && e.local === local;
}

// ---- output -------------------------------------------------------------------------------

/** An element to serialise. Children are elements or text (escaped on output). */
export interface XNode {
  ns: string;
  local: string;
  attrs?: Record<string, string>;
  children?: Array<XNode | string>;
}

export const x = (ns: string, local: string, ...kids: Array<XNode | string | undefined | null | false>): XNode =>
  ({ ns, local, children: kids.filter((k): k is XNode | string => k !== undefined && k !== null && k !== false) });
export const d = (local: string, ...kids: Array<XNode | string | undefined | null | false>) => x(NS.DAV, local, ...kids);
export const xFromClark = (name: string, ...kids: Array<XNode | string>) => {
  const { ns, local } = splitClark(name);
  return x(ns, local, ...kids);
};

/** Converts a parsed element back to an output node (dead properties, echoing names). */
export function toXNode(e: XmlElement): XNode {
  const kids: Array<XNode | string> = e.children.map(toXNode);
  if (e.text.trim() || (!e.children.length && e.text)) kids.unshift(e.text);
  return { ns: e.ns, local: e.local, attrs: Object.keys(e.attrs).length ? { ...e.attrs } : undefined, children: kids };
}

const WELL_KNOWN_PREFIXES: Record<string, string> = {
  [NS.DAV]: 'd', [NS.CALDAV]: 'cal', [NS.CARDDAV]: 'card', [NS.CS]: 'cs', [NS.APPLE]: 'ical', [NS.POCHTAMT]: 'pt',
};

// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff<>&"]/;

export function escapeXml(s: string): string {
  // Most text (hrefs, ETags, most calendar data) needs nothing: one scan instead of two replaces.
  if (!NEEDS_ESCAPE.test(s)) return s;
  // Characters XML 1.0 cannot carry are dropped rather than producing an unparsable document.
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
    .replace(/[<>&"]/g, (c) => (c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : '&quot;'));
}

/** Serialises a document; namespace declarations go on the root, other namespaces get x0, x1, … */
export function serializeXml(root: XNode): string {
  const prefixes = new Map<string, string>();
  const collect = (n: XNode) => {
    if (n.ns && !prefixes.has(n.ns)) prefixes.set(n.ns, WELL_KNOWN_PREFIXES[n.ns] ?? `x${prefixes.size}`);
    for (const k of Object.keys(n.attrs ?? {})) {
      const { ns } = splitClark(k);
      if (ns && !prefixes.has(ns)) prefixes.set(ns, WELL_KNOWN_PREFIXES[ns] ?? `x${prefixes.size}`);
    }
    for (const c of n.children ?? []) if (typeof c !== 'string') collect(c);
  };
  collect(root);
  const out: string[] = ['<?xml version="1.0" encoding="utf-8"?>\n'];
  const name = (n: XNode) => (n.ns ? `${prefixes.get(n.ns)}:${n.local}` : n.local);
  const write = (n: XNode, isRoot: boolean) => {
    out.push('<', name(n));
    if (isRoot) for (const [ns, p] of prefixes) out.push(` xmlns:${p}="${escapeXml(ns)}"`);
    // An element in no namespace under a root with a default namespace cannot occur: we never
    // declare a default namespace.
    for (const [k, v] of Object.entries(n.attrs ?? {})) {
      const { ns, local } = splitClark(k);
      out.push(' ', ns ? `${prefixes.get(ns)}:${local}` : local, '="', escapeXml(v), '"');
    }
    const kids = n.children ?? [];
    if (!kids.length) {
      out.push('/>');
      return;
    }
    out.push('>');
    for (const c of kids) {
      if (typeof c === 'string') out.push(escapeXml(c));
      else write(c, false);
    }
    out.push('</', name(n), '>');
  };
  write(root, true);
  return out.join('');
}
