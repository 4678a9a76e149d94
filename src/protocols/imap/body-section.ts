// BODY[section] and BINARY[section] extraction from the stored message bytes, using the byte
// offsets of the MIME tree computed at delivery: byte-exact slices, no re-parsing except the
// header block of the addressed part for HEADER.FIELDS. Pure: no I/O.
// RFC 9051 §6.4.5 (section numbering, HEADER/TEXT/MIME, partial), RFC 3516 (BINARY: the part
// with its Content-Transfer-Encoding removed).
// BUGS: an unknown transfer encoding makes BINARY fail ([UNKNOWN-CTE]) rather than guess.
import type { MimePart } from '../../mime/message-metadata.js';
import type { Section } from './fetch-args.js';

export type SectionResult =
  | { ok: true; data: Buffer }
  /** The section does not exist: RFC 9051 says return an empty string (we answer NIL where that is allowed). */
  | { ok: false; reason: 'nonexistent' }
  | { ok: false; reason: 'unknown-cte'; encoding: string };

/** The part addressed by a part path, or null. [] is the whole message (its root part). */
export function resolvePart(root: MimePart, path: number[]): MimePart | null {
  let cur = root;
  for (let i = 0; i < path.length; i++) {
    const n = path[i]!;
    // Below the top level, a message/rfc822 part is numbered through the message it contains.
    const container = i > 0 && cur.message ? cur.message.root : cur;
    if (container.type === 'multipart') {
      const child = container.children[n - 1];
      if (!child) return null;
      cur = child;
    } else if (n === 1) {
      cur = container;
    } else {
      return null;
    }
  }
  return cur;
}

export function extractSection(buf: Buffer, root: MimePart, section: Section): SectionResult {
  const part = resolvePart(root, section.path);
  if (!part) return { ok: false, reason: 'nonexistent' };
  if (!section.path.length) {
    // The whole message: HEADER and TEXT refer to the top-level header and body.
    switch (section.text) {
      case null: return { ok: true, data: buf };
      case 'HEADER': return { ok: true, data: buf.subarray(root.headerStart, root.bodyStart) };
      case 'TEXT': return { ok: true, data: buf.subarray(root.bodyStart, root.bodyEnd) };
      case 'HEADER.FIELDS': case 'HEADER.FIELDS.NOT':
        return { ok: true, data: filterHeader(buf.subarray(root.headerStart, root.bodyStart), section.fields, section.text === 'HEADER.FIELDS.NOT') };
      default: return { ok: false, reason: 'nonexistent' };
    }
  }
  if (section.text === null) return { ok: true, data: buf.subarray(part.bodyStart, part.bodyEnd) };
  if (section.text === 'MIME') return { ok: true, data: buf.subarray(part.headerStart, part.bodyStart) };
  // HEADER, TEXT and HEADER.FIELDS on a part need a message/rfc822 part (RFC 9051 §6.4.5).
  const inner = part.message?.root;
  if (!inner) return { ok: false, reason: 'nonexistent' };
  if (section.text === 'HEADER') return { ok: true, data: buf.subarray(inner.headerStart, inner.bodyStart) };
  if (section.text === 'TEXT') return { ok: true, data: buf.subarray(inner.bodyStart, inner.bodyEnd) };
  return { ok: true, data: filterHeader(buf.subarray(inner.headerStart, inner.bodyStart), section.fields, section.text === 'HEADER.FIELDS.NOT') };
}

/**
 * The header fields named (or, with `not`, all others), with their original bytes and folding,
 * followed by the blank line that ends a header (RFC 9051 §6.4.5: "the delimiting blank line").
 */
export function filterHeader(block: Buffer, names: string[], not: boolean): Buffer {
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  const text = block.toString('latin1');
  const out: string[] = [];
  let keep = false;
  for (const m of text.matchAll(/[^\n]*\n|[^\n]+$/g)) {
    const line = m[0];
    if (line === '\r\n' || line === '\n') break; // the blank line ending the block
    if (line[0] === ' ' || line[0] === '\t') {
      if (keep) out.push(line);
      continue;
    }
    const colon = line.indexOf(':');
    const name = (colon > 0 ? line.slice(0, colon) : line).trim().toLowerCase();
    keep = colon > 0 && wanted.has(name) !== not;
    if (keep) out.push(line.endsWith('\n') ? line : `${line}\r\n`);
  }
  out.push('\r\n');
  return Buffer.from(out.join(''), 'latin1');
}

/** The body of a part with its transfer encoding removed (BINARY[section], RFC 3516). */
export function extractBinary(buf: Buffer, root: MimePart, section: Section): SectionResult {
  const part = resolvePart(root, section.path);
  if (!part) return { ok: false, reason: 'nonexistent' };
  if (!section.path.length) return { ok: true, data: buf }; // BINARY[] is the whole message as stored
  if (part.type === 'multipart') return { ok: true, data: buf.subarray(part.bodyStart, part.bodyEnd) };
  const body = buf.subarray(part.bodyStart, part.bodyEnd);
  return decodeTransfer(body, part.encoding);
}

export function decodeTransfer(body: Buffer, encoding: string): SectionResult {
  switch (encoding.toLowerCase()) {
    case '7bit': case '8bit': case 'binary': case '': return { ok: true, data: body };
    case 'base64': return { ok: true, data: Buffer.from(body.toString('latin1').replace(/[^A-Za-z0-9+/]/g, ''), 'base64') };
    case 'quoted-printable': return { ok: true, data: decodeQuotedPrintable(body) };
    default: return { ok: false, reason: 'unknown-cte', encoding };
  }
}

export function decodeQuotedPrintable(body: Buffer): Buffer {
  const out = Buffer.alloc(body.length);
  let o = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== 0x3d) {
      out[o++] = c;
      continue;
    }
    // Soft line break: "=" followed by optional whitespace and CRLF or LF.
    let j = i + 1;
    while (body[j] === 0x20 || body[j] === 0x09) j++;
    if (body[j] === 0x0d && body[j + 1] === 0x0a) { i = j + 1; continue; }
    if (body[j] === 0x0a) { i = j; continue; }
    const hex = body.subarray(i + 1, i + 3).toString('latin1');
    if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
      out[o++] = parseInt(hex, 16);
      i += 2;
    } else {
      out[o++] = c; // a stray "=" is kept, as RFC 2045 §6.7 suggests for robustness
    }
  }
  return out.subarray(0, o);
}

/** Applies <start.length> (RFC 9051 §6.4.5): out-of-range start gives an empty string. */
export function applyPartial(data: Buffer, partial: { start: number; length: number | null } | null): Buffer {
  if (!partial) return data;
  if (partial.start >= data.length) return Buffer.alloc(0);
  return data.subarray(partial.start, partial.length === null ? data.length : partial.start + partial.length);
}
