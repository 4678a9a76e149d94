// Who the HTTP client really is behind a reverse proxy: RFC 7239 `Forwarded` (for=, proto=) or
// the de-facto X-Forwarded-For / X-Forwarded-Proto, believed only when the direct peer is one of
// policy.trustedProxies. The chain is walked from the right (the hop our proxy added) past every
// trusted proxy; the first address that is not one is the client (the right-most untrusted
// address: anything left of it was written by the client and may be forged). An entry that is
// not an IP address (unknown, an obfuscated _name, garbage) ends the walk at the last hop known.
// Pure: no I/O. Must not trust any header from a peer outside trustedProxies.
import net from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import type { CidrList } from '../policy/cidr.js';

export interface ClientAddress {
  /** The client's IP address (the peer itself unless a trusted proxy said otherwise). */
  ip: string;
  /** The client reached us over TLS (our socket, or a trusted proxy's proto=https). */
  secure: boolean;
  /** The direct peer's address when a trusted proxy forwarded the request. */
  proxy: string | null;
}

/** One header value (several header lines joined with commas, as RFC 9110 §5.3 allows). */
function joined(v: string | string[] | undefined): string {
  return Array.isArray(v) ? v.join(',') : v ?? '';
}

/** Splits on `sep` outside quoted strings. */
function splitOutsideQuotes(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quoted && c === '\\' && i + 1 < s.length) { cur += c + s[++i]; continue; }
    if (c === '"') quoted = !quoted;
    if (c === sep && !quoted) { out.push(cur); cur = ''; } else cur += c;
  }
  out.push(cur);
  return out;
}

/** RFC 7239 §4: the forwarded-elements, each a map of lower-case parameter → unquoted value. */
export function parseForwarded(header: string): Array<Record<string, string>> {
  return splitOutsideQuotes(header, ',').map((el) => {
    const pairs: Record<string, string> = {};
    for (const pair of splitOutsideQuotes(el, ';')) {
      const eq = pair.indexOf('=');
      if (eq === -1) continue;
      let v = pair.slice(eq + 1).trim();
      if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
      pairs[pair.slice(0, eq).trim().toLowerCase()] = v;
    }
    return pairs;
  }).filter((p) => Object.keys(p).length);
}

/** A node (for= value or X-Forwarded-For entry) as an IP address without port, or null. */
export function nodeAddress(node: string): string | null {
  let s = node.trim();
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(s);
  if (v6) s = v6[1]!;
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(s)) s = s.slice(0, s.lastIndexOf(':'));
  return net.isIP(s) ? s.toLowerCase() : null;
}

export function clientAddress(peer: string, socketSecure: boolean, headers: IncomingHttpHeaders, trustedProxies: CidrList): ClientAddress {
  const direct: ClientAddress = { ip: peer, secure: socketSecure, proxy: null };
  if (trustedProxies.empty || !trustedProxies.contains(peer)) return direct;
  const fwd = joined(headers.forwarded);
  let hops: Array<{ node: string; proto?: string }>;
  if (fwd.trim()) {
    hops = parseForwarded(fwd).map((e) => ({ node: e.for ?? '', ...(e.proto ? { proto: e.proto } : {}) }));
  } else {
    const xff = joined(headers['x-forwarded-for']);
    if (!xff.trim()) return direct;
    const protos = joined(headers['x-forwarded-proto']).split(',').map((p) => p.trim()).filter(Boolean);
    hops = xff.split(',').map((n) => ({ node: n }));
    // X-Forwarded-Proto is the scheme our proxy saw: its right-most value belongs to the last hop.
    if (protos.length) hops[hops.length - 1]!.proto = protos[protos.length - 1];
  }
  let ip = peer;
  let secure = socketSecure;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    const addr = nodeAddress(hop.node);
    if (!addr) break;
    ip = addr;
    // The scheme the client (or the next proxy) used towards the hop that reported it.
    if (hop.proto) secure = hop.proto.toLowerCase() === 'https';
    if (!trustedProxies.contains(addr)) break;
  }
  return { ip, secure, proxy: peer };
}

const memo = new WeakMap<object, ClientAddress>();

/**
 * The client of an HTTP request, once per request: what the guard checks (access list, ban) and
 * what the DAV login counts failures against.
 */
export function clientOf(req: { socket: { remoteAddress?: string | undefined }; headers: IncomingHttpHeaders }, trustedProxies: CidrList): ClientAddress {
  let c = memo.get(req);
  if (!c) {
    c = clientAddress(req.socket.remoteAddress ?? '', (req.socket as { encrypted?: boolean }).encrypted === true, req.headers, trustedProxies);
    memo.set(req, c);
  }
  return c;
}
