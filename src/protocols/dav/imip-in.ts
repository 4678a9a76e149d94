// Incoming iMIP (RFC 6047) as delivery sees it: finds the iTIP text/calendar part of a
// received message, and decides which sender identity (if any) the message proves, from what
// this server checked itself — an authenticated submission (the From was checked against the
// account), or our own Authentication-Results (RFC 8601) field: DMARC pass, or DKIM / SPF pass
// aligned with the From domain (relaxed alignment, RFC 7489 §3.1). Without such a field (a
// trusted network, or sender authentication switched off) the envelope sender must be aligned
// with the From domain and the domain must not be one of ours. DMARC fail never counts.
// Must not: do I/O (callers pass the local-domain test), or look inside attached messages (a
// forwarded invitation is not the forwarder's invitation).
import { decodeTransfer } from '../imap/body-section.js';
import { decodeCharset } from '../../mime/search-text.js';
import { parseHeaderBlock, type MimePart } from '../../mime/message-metadata.js';

/** Largest iTIP body taken from a message (a calendar object is capped at 4 MiB on PUT; invitations are small). */
export const MAX_ITIP_BYTES = 1024 * 1024;
const METHODS = new Set(['REQUEST', 'REPLY', 'CANCEL']);

export interface FoundItip { method: string; text: string }

/** The first text/calendar part with an iTIP METHOD we apply (REQUEST, REPLY, CANCEL), or null. */
export function findItip(raw: Buffer, root: MimePart): FoundItip | null {
  const walk = (p: MimePart, depth: number): FoundItip | null => {
    if (depth > 16) return null;
    if (p.type.toLowerCase() === 'multipart') {
      for (const c of p.children) {
        const f = walk(c, depth + 1);
        if (f) return f;
      }
      return null;
    }
    if (p.type.toLowerCase() !== 'text' || p.subtype.toLowerCase() !== 'calendar' || p.bodyEnd - p.bodyStart > MAX_ITIP_BYTES * 2) return null;
    const decoded = decodeTransfer(raw.subarray(p.bodyStart, p.bodyEnd), p.encoding);
    if (!decoded.ok || decoded.data.length > MAX_ITIP_BYTES) return null;
    const text = decodeCharset(decoded.data, p.params.charset);
    // RFC 6047 §2.4: the method parameter must be there and agree with the body's METHOD.
    const param = String(p.params.method ?? '').toUpperCase();
    const body = /^METHOD:([A-Za-z-]+)\r?$/m.exec(text)?.[1]?.toUpperCase() ?? '';
    const method = param || body;
    if (!METHODS.has(method) || (body && body !== method)) return null;
    return { method, text };
  };
  return walk(root, 0);
}

export interface SenderFacts {
  /** Top-level header block of the message as stored (policy headers included). */
  header: Buffer;
  /** Envelope sender ('' for the null reverse-path). */
  envelopeSender: string;
  /** Submitting account when the message came in over authenticated submission. */
  accountId: number | null;
  /** Our authserv-id (config.hostname). */
  hostname: string;
  isLocalDomain(domain: string): boolean | Promise<boolean>;
}

export type SenderVerdict = { ok: true; sender: string; how: string } | { ok: false; reason: string };

/** The From address this message proves, or why it proves none. */
export async function authenticatedSender(f: SenderFacts): Promise<SenderVerdict> {
  const fields = parseHeaderBlock(f.header);
  const froms = fields.filter((h) => h.key.toLowerCase() === 'from');
  if (froms.length !== 1) return { ok: false, reason: 'not exactly one From field' };
  const addrs = [...froms[0]!.value.matchAll(/<\s*([^<>\s@]+@[^<>\s@]+)\s*>|(?:^|[\s,:])([^<>\s@,;"]+@[^<>\s@,;"]+)(?=$|[\s,;])/g)]
    .map((m) => (m[1] ?? m[2]!).toLowerCase());
  if (new Set(addrs).size !== 1) return { ok: false, reason: 'From must name exactly one mailbox' };
  const from = addrs[0]!;
  const fromDomain = domainOf(from);
  if (f.accountId !== null) return { ok: true, sender: from, how: 'authenticated submission' };
  const ours = fields.filter((h) => h.key.toLowerCase() === 'authentication-results' && authservIdOf(h.value) === f.hostname.toLowerCase());
  if (ours.length) {
    const results = ours.flatMap((h) => resultsOf(h.value));
    if (results.some((r) => r.method === 'dmarc' && r.result === 'fail')) return { ok: false, reason: 'DMARC fail' };
    if (results.some((r) => r.method === 'dmarc' && r.result === 'pass')) return { ok: true, sender: from, how: 'dmarc=pass' };
    const dkim = results.find((r) => r.method === 'dkim' && r.result === 'pass' && aligned(r.props['header.d'] ?? r.props['header.i']?.replace(/^.*@/, '') ?? '', fromDomain));
    if (dkim) return { ok: true, sender: from, how: 'aligned dkim=pass' };
    const spf = results.find((r) => r.method === 'spf' && r.result === 'pass' && aligned(domainOf(r.props['smtp.mailfrom'] ?? f.envelopeSender), fromDomain));
    if (spf) return { ok: true, sender: from, how: 'aligned spf=pass' };
    return { ok: false, reason: 'From domain not authenticated (no DMARC pass, no aligned DKIM or SPF pass)' };
  }
  // No check of ours ran (trusted network, or sender authentication off).
  if (await f.isLocalDomain(fromDomain)) return { ok: false, reason: 'our own domain without authentication' };
  if (!f.envelopeSender || !aligned(domainOf(f.envelopeSender), fromDomain)) return { ok: false, reason: 'envelope sender not aligned with From' };
  return { ok: true, sender: from, how: 'trusted relay, aligned envelope' };
}

interface AuthResult { method: string; result: string; props: Record<string, string> }

function unfold(v: string): string {
  return v.replace(/\r?\n[ \t]+/g, ' ');
}

/** RFC 8601 comments in parentheses removed (not nested beyond one level; enough for our own field). */
function stripComments(v: string): string {
  return v.replace(/\([^()]*\)/g, ' ');
}

function authservIdOf(value: string): string {
  return stripComments(unfold(value)).split(';')[0]!.trim().split(/\s+/)[0]!.toLowerCase();
}

function resultsOf(value: string): AuthResult[] {
  const out: AuthResult[] = [];
  for (const part of stripComments(unfold(value)).split(';').slice(1)) {
    const tokens = part.trim().split(/\s+/).filter(Boolean);
    const m = /^([a-z0-9_-]+)=([a-z]+)$/i.exec(tokens[0] ?? '');
    if (!m) continue;
    const props: Record<string, string> = {};
    for (const t of tokens.slice(1)) {
      const p = /^([a-z0-9_.-]+)=(.+)$/i.exec(t);
      if (p) props[p[1]!.toLowerCase()] = p[2]!.replace(/^"|"$/g, '').toLowerCase();
    }
    out.push({ method: m[1]!.toLowerCase(), result: m[2]!.toLowerCase(), props });
  }
  return out;
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase().replace(/>$/, '');
}

/** Relaxed alignment without a public-suffix list: equal, or one a subdomain of the other. */
function aligned(a: string, b: string): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return !!x && !!y && (x === y || x.endsWith(`.${y}`) || y.endsWith(`.${x}`));
}
