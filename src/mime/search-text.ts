// Searchable text of a message, computed once per message (at delivery and IMAP APPEND; for
// rows stored without it, the first time a search needs it) and stored with the message row,
// so SEARCH never re-parses MIME:
// - headers: every top-level field as "name: decoded value" lines (encoded words decoded);
// - body: the decoded text of text/* parts (transfer encoding and charset removed, HTML tags
//   stripped), up to MAX_BODY_CHARS.
// Both are lower-cased (Unicode-aware) with whitespace collapsed, so a case-insensitive
// substring search is a plain substring test / SQL LIKE on both SQLite and PostgreSQL.
// Pure: no I/O. BUGS: text past MAX_BODY_CHARS is not searchable; attachments are not indexed.
import { decodeTransfer } from '../protocols/imap/body-section.js';
import { decodeWords, parseHeaderBlock, type MimePart } from './message-metadata.js';

export const MAX_HEADER_CHARS = 16 * 1024;
export const MAX_BODY_CHARS = 64 * 1024;

export interface SearchText { headers: string; body: string }

/** Runs of whitespace that are not already a single space (the same result as /\s+/ -> ' ', about 4x cheaper). */
const WHITESPACE = /\s{2,}|[^\S ]/g;

export function normalizeForSearch(s: string): string {
  return s.toLowerCase().replace(WHITESPACE, ' ');
}

export function decodeCharset(data: Buffer, charset: string | undefined): string {
  const label = (charset ?? 'utf-8').trim().toLowerCase() || 'utf-8';
  try {
    return new TextDecoder(label === 'us-ascii' ? 'utf-8' : label).decode(data);
  } catch {
    return new TextDecoder('utf-8').decode(data); // unknown charset: best effort
  }
}

export function buildSearchText(buf: Buffer, root: MimePart): SearchText {
  const fields = parseHeaderBlock(buf.subarray(root.headerStart, root.bodyStart));
  let headers = fields.map((f) => `${f.key}: ${normalizeForSearch(decodeWords(f.value))}`).join('\n');
  if (headers.length > MAX_HEADER_CHARS) headers = headers.slice(0, MAX_HEADER_CHARS);
  const texts: string[] = [];
  let total = 0;
  const walk = (p: MimePart, depth: number) => {
    if (total >= MAX_BODY_CHARS || depth > 32) return;
    if (p.type === 'multipart') {
      for (const c of p.children) walk(c, depth + 1);
      return;
    }
    if (p.message) {
      walk(p.message.root, depth + 1);
      return;
    }
    if (p.type !== 'text' || p.disposition?.type === 'attachment') return;
    const decoded = decodeTransfer(buf.subarray(p.bodyStart, p.bodyEnd), p.encoding);
    if (!decoded.ok) return;
    let text = decodeCharset(decoded.data.subarray(0, MAX_BODY_CHARS * 4), p.params.charset);
    if (p.subtype === 'html') text = text.replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ').replace(/<[^>]*>/g, ' ')
      .replace(/&nbsp;/g, ' ').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
    const norm = normalizeForSearch(text);
    texts.push(norm);
    total += norm.length;
  };
  walk(root, 0);
  let body = texts.join(' ');
  if (body.length > MAX_BODY_CHARS) body = body.slice(0, MAX_BODY_CHARS);
  return { headers, body };
}
