// What IMAP SORT and THREAD need of a message, computed once (at delivery or APPEND, or the first
// time a SORT/THREAD meets a row stored without it) and stored with the row as one small JSON
// column, so a SORT over 100k messages reads one short column and parses no MIME:
// the base subject (RFC 5256 §2.1) and whether it was a reply/forward, the first From/To/Cc
// mailbox (RFC 5256 SORT FROM/TO/CC), display names (RFC 5957 DISPLAYFROM/DISPLAYTO), the sent
// date (RFC 5256 §2.2, null when missing or unparsable: the caller falls back to INTERNALDATE),
// and the Message-ID and references THREAD=REFERENCES links by.
// Strings are in i;unicode-casemap canonical form (RFC 5051), so comparisons are plain
// code-unit comparisons. Pure: no I/O.
import { decodeWords, type Envelope, type EnvelopeAddress, type HeaderField } from './message-metadata.js';

export interface SortKeys {
  /** Base subject, casemapped. */
  s: string;
  /** The subject was a reply or forward (base subject extraction removed Re:/Fwd:/(fwd)/[fwd: ...]). */
  r: boolean;
  /** addr-mailbox of the first From, To and Cc address, casemapped ('' when absent). */
  f: string;
  t: string;
  c: string;
  /** Display name of the first From/To address, else its addr-spec (RFC 5957), casemapped. */
  df: string;
  dt: string;
  /** Sent date (Date: header) as epoch ms, null when missing or unparsable. */
  d: number | null;
  /** Message-ID without angle brackets, null when missing. */
  m: string | null;
  /** References (or, without them, the first In-Reply-To id), oldest first, without angle brackets. */
  x: string[];
}

/** References kept per message: the most recent ones (a pathological header holds thousands). */
const MAX_REFS = 64;
const MAX_KEY_CHARS = 512;

/**
 * i;unicode-casemap (RFC 5051) canonical form: decomposed (NFKD) and case-folded. Titlecase of
 * the RFC is approximated by upper-then-lower (folds ß/SS and final sigma alike), which orders
 * and equates strings the same way for all but a few exotic characters.
 */
export function casemap(s: string): string {
  return s.normalize('NFKD').toUpperCase().toLowerCase().normalize('NFKD');
}

// RFC 5256 §5 ABNF for base subject extraction, on a casemapped string (so "re"/"fw" are lower case).
const WSP = '[ \\t]';
const BLOB = `\\[[^\\[\\]]*\\]${WSP}*`;
const TRAILER = new RegExp(`(?:\\(fwd\\)|${WSP})$`);
const REFWD = new RegExp(`^(?:${BLOB})*(?:re|fwd?)${WSP}*(?:${BLOB})?:`);
const LEADING_WSP = new RegExp(`^${WSP}+`);
const LEADING_BLOB = new RegExp(`^${BLOB}`);

/**
 * Base subject extraction, RFC 5256 §2.1, on an already decoded subject. Returns the base
 * subject (casemapped) and whether a reply/forward marker was removed (used by THREAD=REFERENCES
 * step 6).
 */
export function baseSubject(decoded: string): { subject: string; replyOrForward: boolean } {
  // (1) canonical form; tabs and continuations are spaces, runs of spaces are one.
  let s = casemap(decoded).replace(/[\t\r\n]/g, ' ').replace(/ {2,}/g, ' ');
  let reply = false;
  for (;;) {
    // (2) remove trailers: "(fwd)" or white space, repeatedly.
    for (let m = TRAILER.exec(s); m; m = TRAILER.exec(s)) {
      if (m[0] !== ' ' && m[0] !== '\t') reply = true;
      s = s.slice(0, s.length - m[0].length);
    }
    // (3)-(5) remove leaders (blobs followed by re/fw/fwd ":", or white space) and a leading
    // blob if something remains after it, until neither matches.
    for (let changed = true; changed;) {
      changed = false;
      for (;;) {
        const ws = LEADING_WSP.exec(s);
        if (ws) {
          s = s.slice(ws[0].length);
          continue;
        }
        const rf = REFWD.exec(s);
        if (rf) {
          s = s.slice(rf[0].length);
          reply = true;
          changed = true;
          continue;
        }
        break;
      }
      const blob = LEADING_BLOB.exec(s);
      if (blob && blob[0].length < s.length) {
        s = s.slice(blob[0].length);
        changed = true;
      }
    }
    // (6) "[fwd: ... ]" wrapper: remove it and start again at (2).
    if (s.startsWith('[fwd:') && s.endsWith(']')) {
      s = s.slice(5, -1);
      reply = true;
      continue;
    }
    break;
  }
  return { subject: s, replyOrForward: reply };
}

/** Message ids ("<a@b>") in a header value, without brackets, in order. */
export function messageIds(value: string | null | undefined): string[] {
  if (!value) return [];
  const out: string[] = [];
  for (const m of value.matchAll(/<([^<>\s]+)>/g)) out.push(m[1]!);
  return out;
}

function firstMailbox(list: EnvelopeAddress[] | null): EnvelopeAddress | null {
  return list?.find((a) => !a.group && a.mailbox !== null) ?? null;
}

function display(a: EnvelopeAddress | null): string {
  if (!a) return '';
  const name = a.name ? decodeWords(a.name).trim() : '';
  if (name) return casemap(name).slice(0, MAX_KEY_CHARS);
  return casemap(a.host ? `${a.mailbox}@${a.host}` : (a.mailbox ?? '')).slice(0, MAX_KEY_CHARS);
}

/** Sent date of an RFC 5322 Date value (comments removed), or null. */
export function parseSentDate(date: string | null): number | null {
  if (!date) return null;
  const t = Date.parse(date.replace(/\([^)]*\)/g, '').trim());
  return Number.isNaN(t) ? null : t;
}

/** The sort and thread keys of a message from its envelope and top-level header fields. */
export function buildSortKeys(envelope: Envelope, headers: readonly HeaderField[]): SortKeys {
  const subject = envelope.subject ? decodeWords(envelope.subject) : '';
  const base = baseSubject(subject);
  const from = firstMailbox(envelope.from);
  const to = firstMailbox(envelope.to);
  const cc = firstMailbox(envelope.cc);
  const mailbox = (a: EnvelopeAddress | null) => casemap(a?.mailbox ?? '').slice(0, MAX_KEY_CHARS);
  // RFC 5256 §2.2 / REFERENCES step 1: References, else the first id of In-Reply-To.
  let refs = messageIds(headers.find((h) => h.key === 'references')?.value);
  if (!refs.length) refs = messageIds(envelope.inReplyTo).slice(0, 1);
  return {
    s: base.subject.slice(0, MAX_KEY_CHARS), r: base.replyOrForward, f: mailbox(from), t: mailbox(to), c: mailbox(cc),
    df: display(from), dt: display(to), d: parseSentDate(envelope.date), m: messageIds(envelope.messageId)[0] ?? null,
    x: refs.slice(-MAX_REFS),
  };
}
