// Parses a stored message once, at delivery, into what the protocols need later without
// re-reading MIME: the envelope (RFC 9051 §7.5.2 ENVELOPE) and the MIME tree with byte
// offsets into the stored bytes (for BODYSTRUCTURE, BODY[section] and partial fetches).
// Pure: no I/O. Malformed MIME never throws; it degrades to text/plain as RFC 2045 §5.2 says.
// Header values stay raw (encoded words are decoded by the client, as IMAP expects); the
// `subject` and names used for search and trace are decoded separately.
import libmime from 'libmime';
import addressparser from 'nodemailer/lib/addressparser';

/** Bounds against hostile input: a part tree deeper or wider than this is treated as opaque. */
const MAX_DEPTH = 32;
const MAX_PARTS = 2000;
const MAX_HEADER_BYTES = 1024 * 1024;

export interface HeaderField { key: string; value: string }

export interface EnvelopeAddress { name: string | null; mailbox: string | null; host: string | null; group?: 'start' | 'end' }

export interface Envelope {
  date: string | null;
  subject: string | null;
  from: EnvelopeAddress[] | null;
  sender: EnvelopeAddress[] | null;
  replyTo: EnvelopeAddress[] | null;
  to: EnvelopeAddress[] | null;
  cc: EnvelopeAddress[] | null;
  bcc: EnvelopeAddress[] | null;
  inReplyTo: string | null;
  messageId: string | null;
}

export interface MimePart {
  /** Byte offsets into the whole message: header block [headerStart, bodyStart), body [bodyStart, bodyEnd). */
  headerStart: number;
  bodyStart: number;
  bodyEnd: number;
  /** Lines in the body (for text/* and message/rfc822 BODYSTRUCTURE). */
  lines: number;
  type: string;
  subtype: string;
  params: Record<string, string>;
  id: string | null;
  description: string | null;
  encoding: string;
  md5: string | null;
  disposition: { type: string; params: Record<string, string> } | null;
  language: string[] | null;
  location: string | null;
  children: MimePart[];
  /** For message/rfc822 and message/global: the enclosed message's envelope and root part. */
  message?: { envelope: Envelope; root: MimePart };
}

export interface MessageMetadata {
  envelope: Envelope;
  root: MimePart;
  headers: HeaderField[];
  /** Decoded subject for display, search and trace. */
  subject: string;
  messageId: string | null;
}

export function parseMessageMetadata(buf: Buffer): MessageMetadata {
  const counter = { parts: 0 };
  const root = parsePart(buf, 0, buf.length, 0, counter, null);
  const headers = parseHeaderBlock(buf.subarray(0, root.bodyStart));
  const envelope = buildEnvelope(headers);
  return {
    envelope,
    root,
    headers,
    subject: envelope.subject ? decodeWords(envelope.subject) : '',
    messageId: envelope.messageId,
  };
}

/** Finds the end of the header block: returns body start offset (after the blank line). */
function headerEnd(buf: Buffer, start: number, end: number): number {
  const limit = Math.min(end, start + MAX_HEADER_BYTES);
  // Only bytes inside [start, end) count: a part's end is followed by the CRLF of the next
  // delimiter, which must not be taken for the blank line (that would put bodyStart past bodyEnd).
  // A part that begins with a blank line has no headers.
  if (start < end && buf[start] === 0x0a) return start + 1;
  if (start + 1 < end && buf[start] === 0x0d && buf[start + 1] === 0x0a) return start + 2;
  for (let i = start; i < limit; i++) {
    if (buf[i] !== 0x0a) continue;
    if (i + 1 < end && buf[i + 1] === 0x0a) return i + 2;
    if (i + 2 < end && buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return i + 3;
  }
  return end; // no blank line: all header, empty body
}

export function parseHeaderBlock(block: Buffer): HeaderField[] {
  const text = block.toString('binary');
  const out: HeaderField[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (!line) continue;
    if ((line[0] === ' ' || line[0] === '\t') && out.length) {
      out[out.length - 1]!.value += line; // unfold (RFC 5322 §2.2.3): drop only the CRLF
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue; // not a header field; ignore as most MUAs do
    out.push({ key: line.slice(0, colon).trim().toLowerCase(), value: line.slice(colon + 1).trim() });
  }
  // Header bytes are kept as latin1 ("binary") so 8-bit bytes survive; turn them back into UTF-8 text.
  for (const h of out) h.value = Buffer.from(h.value, 'binary').toString('utf8');
  return out;
}

function first(headers: HeaderField[], key: string): string | null {
  const h = headers.find((x) => x.key === key);
  return h ? h.value : null;
}

function countLines(buf: Buffer, start: number, end: number): number {
  if (end <= start) return 0;
  let n = 0;
  for (let i = buf.indexOf(0x0a, start); i !== -1 && i < end; i = buf.indexOf(0x0a, i + 1)) n++;
  if (buf[end - 1] !== 0x0a) n++;
  return n;
}

function parsePart(buf: Buffer, start: number, end: number, depth: number, counter: { parts: number },
  parentType: string | null): MimePart {
  counter.parts++;
  const bodyStart = headerEnd(buf, start, end);
  const headers = parseHeaderBlock(buf.subarray(start, bodyStart));
  const ctHeader = first(headers, 'content-type');
  // RFC 2046 §5.1.5: parts of multipart/digest default to message/rfc822.
  const defaultType = parentType === 'multipart/digest' ? 'message/rfc822' : 'text/plain';
  const ct = parseStructured(ctHeader ?? defaultType);
  let [type, subtype] = ct.value.toLowerCase().split('/') as [string, string | undefined];
  if (!type || !subtype || !/^[a-z0-9!#$&^_.+-]+$/.test(type) || !/^[a-z0-9!#$&^_.+-]+$/.test(subtype)) {
    [type, subtype] = ['text', 'plain'];
    ct.params = { charset: 'us-ascii' };
  }
  if (type === 'text' && !ct.params.charset && !ctHeader) ct.params.charset = 'us-ascii';
  const disp = first(headers, 'content-disposition');
  const dispParsed = disp ? parseStructured(disp) : null;
  const lang = first(headers, 'content-language');
  const part: MimePart = {
    headerStart: start,
    bodyStart,
    bodyEnd: end,
    lines: countLines(buf, bodyStart, end),
    type,
    subtype,
    params: ct.params,
    id: first(headers, 'content-id'),
    description: first(headers, 'content-description'),
    encoding: (first(headers, 'content-transfer-encoding') ?? '7bit').trim().toLowerCase() || '7bit',
    md5: first(headers, 'content-md5'),
    disposition: dispParsed && dispParsed.value ? { type: dispParsed.value.toLowerCase(), params: dispParsed.params } : null,
    language: lang ? lang.split(',').map((s) => s.trim()).filter(Boolean) : null,
    location: first(headers, 'content-location'),
    children: [],
  };
  const tooDeep = depth >= MAX_DEPTH || counter.parts >= MAX_PARTS;
  if (type === 'multipart' && !tooDeep) {
    const boundary = ct.params.boundary;
    if (boundary) part.children = splitMultipart(buf, bodyStart, end, boundary)
      .map(([s, e]) => parsePart(buf, s, e, depth + 1, counter, `${type}/${subtype}`));
    if (!part.children.length) {
      // RFC 9051 needs at least one body part; an empty multipart reads as one empty text part.
      part.children = [emptyTextPart(bodyStart, end)];
    }
  } else if (type === 'message' && (subtype === 'rfc822' || subtype === 'global') && !tooDeep
    && ['7bit', '8bit', 'binary'].includes(part.encoding)) {
    const inner = parsePart(buf, bodyStart, end, depth + 1, counter, null);
    part.message = { envelope: buildEnvelope(parseHeaderBlock(buf.subarray(bodyStart, inner.bodyStart))), root: inner };
  }
  return part;
}

function emptyTextPart(at: number, end: number): MimePart {
  return {
    headerStart: at, bodyStart: at, bodyEnd: Math.max(at, Math.min(end, at)), lines: 0, type: 'text', subtype: 'plain',
    params: { charset: 'us-ascii' }, id: null, description: null, encoding: '7bit', md5: null, disposition: null,
    language: null, location: null, children: [],
  };
}

/**
 * Returns [start, end) of each body part between delimiter lines (RFC 2046 §5.1.1). The CRLF
 * before a delimiter belongs to the delimiter, not to the part.
 */
function splitMultipart(buf: Buffer, start: number, end: number, boundary: string): Array<[number, number]> {
  const delim = Buffer.from(`--${boundary}`, 'binary');
  const parts: Array<[number, number]> = [];
  let partStart = -1;
  let pos = start;
  while (pos < end) {
    const idx = buf.indexOf(delim, pos);
    if (idx === -1 || idx >= end) break;
    const atLineStart = idx === start || buf[idx - 1] === 0x0a;
    if (!atLineStart) {
      pos = idx + 1;
      continue;
    }
    let after = idx + delim.length;
    const closing = buf[after] === 0x2d && buf[after + 1] === 0x2d;
    if (closing) after += 2;
    // Only transport padding may follow the boundary on its line.
    let eol = after;
    while (eol < end && (buf[eol] === 0x20 || buf[eol] === 0x09)) eol++;
    if (eol < end && buf[eol] !== 0x0d && buf[eol] !== 0x0a) {
      pos = idx + 1;
      continue;
    }
    if (partStart !== -1) {
      let partEnd = idx;
      if (partEnd > partStart && buf[partEnd - 1] === 0x0a) partEnd--;
      if (partEnd > partStart && buf[partEnd - 1] === 0x0d) partEnd--;
      parts.push([partStart, Math.max(partStart, partEnd)]);
    }
    if (buf[eol] === 0x0d) eol++;
    if (buf[eol] === 0x0a) eol++;
    if (closing) return parts;
    partStart = Math.min(eol, end);
    pos = partStart;
    if (parts.length >= MAX_PARTS) break;
  }
  if (partStart !== -1) parts.push([partStart, end]); // missing close delimiter: last part runs to the end
  return parts;
}

function parseStructured(value: string): { value: string; params: Record<string, string> } {
  try {
    const parsed = libmime.parseHeaderValue(value);
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(parsed.params ?? {})) params[k.toLowerCase()] = String(v);
    return { value: String(parsed.value ?? '').trim(), params };
  } catch {
    return { value: '', params: {} };
  }
}

export function decodeWords(s: string): string {
  try {
    return libmime.decodeWords(s);
  } catch {
    return s;
  }
}

function addressList(value: string | null): EnvelopeAddress[] | null {
  if (value === null || !value.trim()) return null;
  let parsed: ReturnType<typeof addressparser>;
  try {
    parsed = addressparser(value);
  } catch {
    return null;
  }
  const out: EnvelopeAddress[] = [];
  const mailbox = (name: string, address: string): EnvelopeAddress => {
    const at = address.lastIndexOf('@');
    return {
      name: name || null,
      mailbox: at > 0 ? address.slice(0, at) : address || null,
      host: at > 0 ? address.slice(at + 1) : null,
    };
  };
  for (const a of parsed) {
    if ('group' in a && a.group) {
      // RFC 9051 §7.5.2: a group is marked by a NIL host (start, mailbox = group name) and a NIL mailbox (end).
      out.push({ name: null, mailbox: a.name, host: null, group: 'start' });
      for (const m of a.group) if (!('group' in m && m.group)) out.push(mailbox(m.name, (m as { address: string }).address));
      out.push({ name: null, mailbox: null, host: null, group: 'end' });
    } else {
      out.push(mailbox(a.name, (a as { address: string }).address));
    }
  }
  return out.length ? out : null;
}

export function buildEnvelope(headers: HeaderField[]): Envelope {
  const from = addressList(first(headers, 'from'));
  // RFC 9051 §7.5.2: sender and reply-to default to from when absent.
  return {
    date: first(headers, 'date'),
    subject: first(headers, 'subject'),
    from,
    sender: addressList(first(headers, 'sender')) ?? from,
    replyTo: addressList(first(headers, 'reply-to')) ?? from,
    to: addressList(first(headers, 'to')),
    cc: addressList(first(headers, 'cc')),
    bcc: addressList(first(headers, 'bcc')),
    inReplyTo: first(headers, 'in-reply-to'),
    messageId: first(headers, 'message-id'),
  };
}
