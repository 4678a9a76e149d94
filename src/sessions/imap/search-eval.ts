// Evaluates a parsed SEARCH program over the rows MailOpsService returns. Text keys are
// pre-narrowed in SQL (LIKE on the stored, lower-cased search text) when they are top-level
// conjuncts; the exact test happens here. No SQL, no MIME parsing.
// RFC 9051 §6.4.4 (case-insensitive substring match; dates ignore time and zone).
import { setContains } from '../../protocols/imap/sequence-set.js';
import type { SearchKey } from '../../protocols/imap/search-args.js';
import { normalizeForSearch } from '../../mime/search-text.js';
import type { SearchRow } from '../../services/mail-ops.service.js';

export interface EvalContext {
  seq: number;
  exists: number;
  maxUid: number;
  saved: Set<number>;
  now: number;
}

const DAY = 86_400_000;

export function needs(k: SearchKey): { text: boolean; sentDate: boolean } {
  switch (k.k) {
    case 'header': case 'text': case 'body': return { text: true, sentDate: false };
    case 'date': return { text: false, sentDate: k.field === 'sent' };
    case 'not': return needs(k.key);
    case 'or': {
      const a = needs(k.a);
      const b = needs(k.b);
      return { text: a.text || b.text, sentDate: a.sentDate || b.sentDate };
    }
    case 'and': return k.keys.map(needs).reduce((a, b) => ({ text: a.text || b.text, sentDate: a.sentDate || b.sentDate }), { text: false, sentDate: false });
    default: return { text: false, sentDate: false };
  }
}

/** SQL pre-filters: substrings every match must contain (top-level AND only). */
export function likeFilters(k: SearchKey): Array<{ headers?: string; body?: string }> {
  const keys = k.k === 'and' ? k.keys : [k];
  const out: Array<{ headers?: string; body?: string }> = [];
  for (const x of keys) {
    if (x.k === 'header' && x.value) out.push({ headers: x.value });
    else if (x.k === 'body' && x.value) out.push({ body: x.value });
    else if (x.k === 'text' && x.value) out.push({ headers: x.value, body: x.value });
  }
  return out;
}

function headerMatches(headers: string, field: string, needle: string): boolean {
  const prefix = `${field}: `;
  for (const line of headers.split('\n')) {
    if (!line.startsWith(prefix) && line !== `${field}:`) continue;
    if (!needle || line.slice(prefix.length).includes(needle)) return true;
  }
  return false;
}

export function matches(k: SearchKey, row: SearchRow, c: EvalContext): boolean {
  switch (k.k) {
    case 'all': return true;
    case 'none': return false;
    case 'flag': {
      const lower = k.flag.toLowerCase();
      return row.flags.some((f) => f.toLowerCase() === lower) === k.set;
    }
    case 'seq': return k.seq.saved ? c.saved.has(row.uid) : setContains(k.seq.set, c.seq, c.exists);
    case 'uid': return k.seq.saved ? c.saved.has(row.uid) : setContains(k.seq.set, row.uid, c.maxUid);
    case 'header': return headerMatches(row.searchHeaders ?? '', k.field, normalizeForSearch(k.value));
    case 'body': return (row.searchBody ?? '').includes(normalizeForSearch(k.value));
    case 'text': {
      const n = normalizeForSearch(k.value);
      return (row.searchHeaders ?? '').includes(n) || (row.searchBody ?? '').includes(n);
    }
    case 'date': {
      const t = k.field === 'internal' ? row.internalDate : row.sentDate;
      if (t === null || t === undefined) return false;
      const day = Math.floor(t / DAY) * DAY;
      return k.op === 'before' ? day < k.day : k.op === 'on' ? day === k.day : day >= k.day;
    }
    case 'size': return k.op === 'larger' ? row.size > k.n : row.size < k.n;
    case 'modseq': return row.modseq >= k.n;
    case 'older': return row.internalDate <= c.now - k.seconds * 1000;
    case 'younger': return row.internalDate >= c.now - k.seconds * 1000;
    case 'not': return !matches(k.key, row, c);
    case 'or': return matches(k.a, row, c) || matches(k.b, row, c);
    case 'and': return k.keys.every((x) => matches(x, row, c));
  }
}
