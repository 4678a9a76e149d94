// Typed reading of command arguments: a cursor over the token tree with one method per IMAP
// syntax element (atom, astring, nstring, number, sequence set, mailbox, flag list, date).
// Every method throws ArgError on a mismatch, which the session answers with BAD.
// Pure: no I/O. RFC 9051 §9 (formal syntax), RFC 3501 §5.1.3 (mailbox names), RFC 6855 (UTF-8).
import { decodeMutf7, Mutf7Error } from './mutf7.js';
import { parseSequenceSet, type SequenceSet } from './sequence-set.js';
import type { Token } from './tokens.js';

export class ArgError extends Error {}

export const SYSTEM_FLAGS = ['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft'] as const;
const SYSTEM_BY_LOWER = new Map<string, string>(SYSTEM_FLAGS.map((f) => [f.toLowerCase(), f]));
const ATOM_RE = /^[^\x00-\x20\x7f(){%*"\\\]]+$/;

export interface ArgOptions {
  /** UTF8=ACCEPT enabled: mailbox names are UTF-8, not modified UTF-7 (RFC 6855 §3). */
  utf8: boolean;
}

/** Sequence set or "$" (the saved search result, RFC 5182). */
export type SeqArg = { saved: true } | { saved: false; set: SequenceSet };

export class ArgReader {
  private i = 0;
  constructor(private readonly tokens: Token[], readonly opts: ArgOptions = { utf8: false }) {}

  get remaining(): number {
    return this.tokens.length - this.i;
  }

  peek(): Token | undefined {
    return this.tokens[this.i];
  }

  peekAtom(): string | null {
    const t = this.tokens[this.i];
    return t && t.kind === 'atom' ? t.value.toUpperCase() : null;
  }

  isListNext(): boolean {
    return this.tokens[this.i]?.kind === 'list';
  }

  end(): void {
    if (this.i < this.tokens.length) throw new ArgError('Too many arguments');
  }

  private take(what: string): Token {
    const t = this.tokens[this.i++];
    if (!t) throw new ArgError(`Missing ${what}`);
    return t;
  }

  atom(what = 'argument'): string {
    const t = this.take(what);
    if (t.kind !== 'atom') throw new ArgError(`Expected ${what}`);
    return t.value;
  }

  /** An atom or a string, as text (UTF-8). */
  astring(what = 'argument'): string {
    const t = this.take(what);
    if (t.kind === 'atom') return t.value;
    if (t.kind === 'string') return t.value.toString('utf8');
    throw new ArgError(`Expected ${what}`);
  }

  /** A string (or atom) as raw bytes. */
  bytes(what = 'argument'): Buffer {
    const t = this.take(what);
    if (t.kind === 'string') return t.value;
    if (t.kind === 'atom') return Buffer.from(t.value, 'utf8');
    throw new ArgError(`Expected ${what}`);
  }

  literal(what = 'message literal'): { data: Buffer; binary: boolean } {
    const t = this.take(what);
    if (t.kind !== 'string' || !t.literal) throw new ArgError(`Expected ${what}`);
    return { data: t.value, binary: !!t.binary };
  }

  number(what = 'number'): number {
    const v = this.atom(what);
    if (!/^\d{1,20}$/.test(v) || !Number.isSafeInteger(Number(v))) throw new ArgError(`Invalid ${what}`);
    return Number(v);
  }

  list(what = 'list'): ArgReader {
    const t = this.take(what);
    if (t.kind !== 'list') throw new ArgError(`Expected ${what}`);
    return new ArgReader(t.items, this.opts);
  }

  /** An optional parenthesised list: returns null when the next token is not a list. */
  optionalList(): ArgReader | null {
    return this.isListNext() ? this.list() : null;
  }

  seqSet(what = 'sequence set'): SeqArg {
    const v = this.atom(what);
    if (v === '$') return { saved: true };
    const set = parseSequenceSet(v);
    if (!set) throw new ArgError(`Invalid ${what}`);
    return { saved: false, set };
  }

  /** A mailbox name, decoded: modified UTF-7 (or UTF-8 with UTF8=ACCEPT); INBOX in any case is INBOX. */
  mailbox(what = 'mailbox name'): string {
    const raw = this.astring(what);
    return decodeMailboxName(raw, this.opts.utf8);
  }

  /** A flag list "(\Seen $Label)" or a single flag; returns canonical flags. */
  flags(allowBare = true): string[] {
    if (this.isListNext()) {
      const l = this.list('flag list');
      const out: string[] = [];
      while (l.remaining) out.push(parseFlag(l.atom('flag')));
      return out;
    }
    if (!allowBare) throw new ArgError('Expected flag list');
    const out: string[] = [];
    while (this.remaining) out.push(parseFlag(this.atom('flag')));
    if (!out.length) throw new ArgError('Missing flags');
    return out;
  }
}

export function decodeMailboxName(raw: string, utf8: boolean): string {
  let name = raw;
  if (!utf8) {
    try {
      name = decodeMutf7(raw);
    } catch (e) {
      if (e instanceof Mutf7Error) throw new ArgError(`Invalid mailbox name: ${e.message}`);
      throw e;
    }
  } else if (name.includes('\uFFFD')) {
    throw new ArgError('Invalid UTF-8 in mailbox name');
  }
  if (/[\x00-\x1f\x7f]/.test(name)) throw new ArgError('Control character in mailbox name');
  return name.toUpperCase() === 'INBOX' ? 'INBOX' : name.replace(/^INBOX\//i, 'INBOX/');
}

/** Canonical form of a flag: system flags in their usual case, keywords as given. */
export function parseFlag(f: string): string {
  if (f.startsWith('\\')) {
    const sys = SYSTEM_BY_LOWER.get(f.toLowerCase());
    if (sys) return sys;
    if (f.toLowerCase() === '\\recent') throw new ArgError('\\Recent cannot be stored');
    throw new ArgError(`Invalid flag ${f}`);
  }
  if (!ATOM_RE.test(f) || f.length > 128) throw new ArgError(`Invalid keyword ${f}`);
  return f;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** SEARCH date "1-Feb-1994" as the UTC midnight epoch ms of that day (RFC 9051 §6.4.4: dates ignore time and zone). */
export function parseSearchDate(s: string): number {
  const m = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(s);
  const month = m ? MONTHS.indexOf(m[2]!.toLowerCase()) : -1;
  if (!m || month < 0) throw new ArgError(`Invalid date ${s}`);
  const t = Date.UTC(Number(m[3]), month, Number(m[1]));
  if (new Date(t).getUTCDate() !== Number(m[1])) throw new ArgError(`Invalid date ${s}`);
  return t;
}

/** APPEND date-time "17-Jul-1996 02:44:25 -0700" as epoch ms. */
export function parseDateTime(s: string): number {
  const m = /^ ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(s);
  const month = m ? MONTHS.indexOf(m[2]!.toLowerCase()) : -1;
  if (!m || month < 0) throw new ArgError(`Invalid date-time ${s}`);
  const offset = (m[7] === '-' ? -1 : 1) * (Number(m[8]) * 60 + Number(m[9])) * 60_000;
  const t = Date.UTC(Number(m[3]), month, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6])) - offset;
  if (Number.isNaN(t) || Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 60) throw new ArgError(`Invalid date-time ${s}`);
  return t;
}

/** INTERNALDATE wire form "17-Jul-1996 09:44:25 +0000" (always UTC here). */
export function formatDateTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  const mon = MONTHS[d.getUTCMonth()]!;
  return `${p(d.getUTCDate())}-${mon[0]!.toUpperCase()}${mon.slice(1)}-${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}
