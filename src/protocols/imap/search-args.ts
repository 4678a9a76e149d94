// SEARCH arguments: the optional RETURN options (ESEARCH, RFC 4731; SAVE, RFC 5182), CHARSET,
// and the search keys as a typed tree. Pure: no I/O. RFC 9051 §6.4.4, RFC 7162 §3.1.5 (MODSEQ).
import { ArgError, parseFlag, parseSearchDate, type ArgReader, type SeqArg } from './args.js';
import { parseSequenceSet } from './sequence-set.js';

export type SearchKey =
  | { k: 'all' }
  | { k: 'none' }
  | { k: 'flag'; flag: string; set: boolean }
  | { k: 'seq'; seq: SeqArg }
  | { k: 'uid'; seq: SeqArg }
  /** Header field contains value (case-insensitive substring); field lower case. Empty value: field present. */
  | { k: 'header'; field: string; value: string }
  | { k: 'text'; value: string }
  | { k: 'body'; value: string }
  | { k: 'date'; field: 'internal' | 'sent'; op: 'before' | 'on' | 'since'; day: number }
  | { k: 'size'; op: 'larger' | 'smaller'; n: number }
  | { k: 'modseq'; n: number }
  | { k: 'older' | 'younger'; seconds: number }
  | { k: 'not'; key: SearchKey }
  | { k: 'or'; a: SearchKey; b: SearchKey }
  | { k: 'and'; keys: SearchKey[] };

export type ReturnOption = 'MIN' | 'MAX' | 'ALL' | 'COUNT' | 'SAVE';

export interface SearchArgs {
  /** null: plain SEARCH response; a list (possibly empty, meaning ALL): ESEARCH. */
  returns: ReturnOption[] | null;
  charset: string | null;
  key: SearchKey;
}

const FLAG_KEYS: Record<string, [string, boolean]> = {
  ANSWERED: ['\\Answered', true], UNANSWERED: ['\\Answered', false], DELETED: ['\\Deleted', true],
  UNDELETED: ['\\Deleted', false], DRAFT: ['\\Draft', true], UNDRAFT: ['\\Draft', false], FLAGGED: ['\\Flagged', true],
  UNFLAGGED: ['\\Flagged', false], SEEN: ['\\Seen', true], UNSEEN: ['\\Seen', false],
};
const HEADER_KEYS: Record<string, string> = { FROM: 'from', TO: 'to', CC: 'cc', BCC: 'bcc', SUBJECT: 'subject' };
const DATE_KEYS: Record<string, ['internal' | 'sent', 'before' | 'on' | 'since']> = {
  BEFORE: ['internal', 'before'], ON: ['internal', 'on'], SINCE: ['internal', 'since'],
  SENTBEFORE: ['sent', 'before'], SENTON: ['sent', 'on'], SENTSINCE: ['sent', 'since'],
};
const SUPPORTED_CHARSETS = new Set(['US-ASCII', 'UTF-8']);
const MAX_DEPTH = 50;

/**
 * `RETURN (…)` of ESEARCH (RFC 4731) and ESORT (RFC 5267), if present: the options, each one of
 * `allowed`; null without RETURN.
 */
export function parseReturnOptions<T extends string>(r: ArgReader, allowed: readonly T[]): T[] | null {
  if (r.peekAtom() !== 'RETURN') return null;
  r.atom();
  const l = r.list('return options');
  const returns: T[] = [];
  while (l.remaining) {
    const o = l.atom('return option').toUpperCase();
    if (!(allowed as readonly string[]).includes(o)) throw new ArgError(`Unknown return option ${o.slice(0, 32)}`);
    returns.push(o as T);
  }
  return returns;
}

const SEARCH_RETURNS: readonly ReturnOption[] = ['MIN', 'MAX', 'ALL', 'COUNT', 'SAVE'];

export function parseSearchArgs(r: ArgReader): SearchArgs {
  const returns = parseReturnOptions(r, SEARCH_RETURNS);
  let charset: string | null = null;
  if (r.peekAtom() === 'CHARSET') {
    r.atom();
    charset = r.astring('charset').toUpperCase();
    if (!SUPPORTED_CHARSETS.has(charset)) throw new CharsetError(charset);
  }
  return { returns, charset, key: parseSearchCriteria(r) };
}

/** The search keys up to the end of the arguments, as one key (SEARCH, SORT and THREAD share them). */
export function parseSearchCriteria(r: ArgReader): SearchKey {
  const keys: SearchKey[] = [];
  while (r.remaining) keys.push(parseKey(r, 0));
  if (!keys.length) throw new ArgError('Missing search key');
  return keys.length === 1 ? keys[0]! : { k: 'and', keys };
}

/** A CHARSET argument: US-ASCII or UTF-8, else CharsetError (NO [BADCHARSET]). */
export function checkCharset(charset: string): string {
  const c = charset.toUpperCase();
  if (!SUPPORTED_CHARSETS.has(c)) throw new CharsetError(c);
  return c;
}

/** Answered with NO [BADCHARSET (US-ASCII UTF-8)] (RFC 9051 §6.4.4). */
export class CharsetError extends Error {
  constructor(readonly charset: string) {
    super(`Unsupported charset ${charset}`);
  }
}

function parseKey(r: ArgReader, depth: number): SearchKey {
  if (depth > MAX_DEPTH) throw new ArgError('Search program nested too deeply');
  if (r.isListNext()) {
    const l = r.list();
    const keys: SearchKey[] = [];
    while (l.remaining) keys.push(parseKey(l, depth + 1));
    if (!keys.length) throw new ArgError('Empty search key list');
    return keys.length === 1 ? keys[0]! : { k: 'and', keys };
  }
  const raw = r.atom('search key');
  const key = raw.toUpperCase();
  const flag = FLAG_KEYS[key];
  if (flag) return { k: 'flag', flag: flag[0], set: flag[1] };
  const header = HEADER_KEYS[key];
  if (header) return { k: 'header', field: header, value: r.astring('search string') };
  const date = DATE_KEYS[key];
  if (date) return { k: 'date', field: date[0], op: date[1], day: parseSearchDate(r.astring('date')) };
  switch (key) {
    case 'ALL': return { k: 'all' };
    // \Recent is not kept (IMAP4rev2 removed it): nothing is recent, so NEW matches nothing.
    case 'RECENT': case 'NEW': return { k: 'none' };
    case 'OLD': return { k: 'all' };
    case 'KEYWORD': return { k: 'flag', flag: parseFlag(r.atom('keyword')), set: true };
    case 'UNKEYWORD': return { k: 'flag', flag: parseFlag(r.atom('keyword')), set: false };
    case 'HEADER': {
      const field = r.astring('header field name').toLowerCase();
      if (!/^[\x21-\x39\x3b-\x7e]+$/.test(field)) throw new ArgError('Invalid header field name');
      return { k: 'header', field, value: r.astring('search string') };
    }
    case 'TEXT': return { k: 'text', value: r.astring('search string') };
    case 'BODY': return { k: 'body', value: r.astring('search string') };
    case 'LARGER': return { k: 'size', op: 'larger', n: r.number('size') };
    case 'SMALLER': return { k: 'size', op: 'smaller', n: r.number('size') };
    case 'UID': return { k: 'uid', seq: r.seqSet() };
    case 'NOT': return { k: 'not', key: parseKey(r, depth + 1) };
    case 'OR': {
      const a = parseKey(r, depth + 1);
      return { k: 'or', a, b: parseKey(r, depth + 1) };
    }
    case 'MODSEQ': {
      // MODSEQ [entry-name entry-type-req] mod-sequence-valzer (RFC 7162 §3.1.5); the entry is ignored.
      if (r.peek()?.kind === 'string' || (r.peekAtom() !== null && !/^\d+$/.test(r.peekAtom()!))) {
        r.astring('entry name');
        const t = r.atom('entry type').toLowerCase();
        if (!['priv', 'shared', 'all'].includes(t)) throw new ArgError('Invalid MODSEQ entry type');
      }
      return { k: 'modseq', n: r.number('mod-sequence') };
    }
    case 'OLDER': return { k: 'older', seconds: r.number('interval') };
    case 'YOUNGER': return { k: 'younger', seconds: r.number('interval') };
    case '$': return { k: 'seq', seq: { saved: true } };
    default: {
      // A bare sequence set ("1:3,7") is a key too.
      if (/^[\d:*,]+$/.test(raw)) {
        const set = parseSequenceSet(raw);
        if (set) return { k: 'seq', seq: { saved: false, set } };
      }
      throw new ArgError(`Unknown search key ${raw.slice(0, 64)}`);
    }
  }
}

/** Does the key mention MODSEQ (then SEARCH results carry "(MODSEQ n)", RFC 7162 §3.1.5)? */
export function usesModseq(k: SearchKey): boolean {
  switch (k.k) {
    case 'modseq': return true;
    case 'not': return usesModseq(k.key);
    case 'or': return usesModseq(k.a) || usesModseq(k.b);
    case 'and': return k.keys.some(usesModseq);
    default: return false;
  }
}
