// IMAP response formatter: a small value tree (atoms, strings, literals, NIL, numbers, lists)
// compiled to bytes. Strings become quoted strings when they can be, literals otherwise, so
// 8-bit header text and CR/LF never break the syntax; literal bytes are emitted exactly.
// Pure: no I/O. RFC 9051 §4.3 (strings), §7 (responses), RFC 6855 (UTF-8 in quoted strings).

/** An atom written as is: flags, keywords, response codes, section names. */
export class Atom {
  constructor(readonly text: string) {}
}

/** A string: quoted when safe, else a literal. */
export class Str {
  constructor(readonly value: string | Buffer) {}
}

/** Always a literal (message bytes): "{n}\r\n" then the bytes; `binary` gives "~{n}" (RFC 3516). */
export class Literal {
  constructor(readonly data: Buffer, readonly binary = false) {}
}

export type Value = Atom | Str | Literal | number | null | Value[];

export const atom = (t: string) => new Atom(t);
export const str = (v: string | Buffer) => new Str(v);
export const nstr = (v: string | Buffer | null | undefined) => (v === null || v === undefined ? null : new Str(v));
export const lit = (d: Buffer, binary = false) => new Literal(d, binary);

/** Longest string sent quoted; longer ones go as literals (easier for clients to buffer). */
const MAX_QUOTED = 1024;

export interface FormatOptions {
  /** UTF8=ACCEPT enabled: 8-bit UTF-8 may be quoted (RFC 6855 §3). */
  utf8: boolean;
}

/** Appends the wire form of `v` to `out` (strings and buffers, joined later). */
export function compile(v: Value, out: Array<string | Buffer>, o: FormatOptions): void {
  if (v === null) {
    out.push('NIL');
  } else if (typeof v === 'number') {
    out.push(String(v));
  } else if (v instanceof Atom) {
    out.push(v.text);
  } else if (v instanceof Str) {
    compileString(v.value, out, o);
  } else if (v instanceof Literal) {
    out.push(`${v.binary ? '~' : ''}{${v.data.length}}\r\n`, v.data);
  } else {
    out.push('(');
    v.forEach((x, i) => {
      if (i) out.push(' ');
      compile(x, out, o);
    });
    out.push(')');
  }
}

function compileString(value: string | Buffer, out: Array<string | Buffer>, o: FormatOptions): void {
  const buf = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  let quotable = buf.length <= MAX_QUOTED;
  for (let i = 0; quotable && i < buf.length; i++) {
    const c = buf[i]!;
    if (c === 0 || c === 0x0d || c === 0x0a || (c >= 0x80 && !o.utf8)) quotable = false;
  }
  if (quotable && o.utf8 && typeof value !== 'string' && !isUtf8(buf)) quotable = false;
  if (!quotable) {
    out.push(`{${buf.length}}\r\n`, buf);
    return;
  }
  const raw = buf.toString('latin1');
  const escaped = raw.replace(/[\\"]/g, (m) => `\\${m}`);
  out.push('"', escaped === raw ? buf : Buffer.from(escaped, 'latin1'), '"');
}

function isUtf8(b: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(b);
    return true;
  } catch {
    return false;
  }
}

/** One response line: "* " or "tag " prefix, the values separated by spaces, CRLF. */
export function formatResponse(prefix: string, values: Value[], o: FormatOptions): Buffer {
  const out: Array<string | Buffer> = [prefix];
  values.forEach((v, i) => {
    if (i) out.push(' ');
    compile(v, out, o);
  });
  out.push('\r\n');
  return Buffer.concat(out.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p)));
}

/** A status response: "tag OK [CODE] text". Text must not contain CR/LF (it is stripped). */
export function formatStatus(tag: string, status: 'OK' | 'NO' | 'BAD' | 'BYE' | 'PREAUTH', code: string | undefined, text: string): Buffer {
  const safe = text.replace(/[\r\n]+/g, ' ');
  return Buffer.from(`${tag} ${status} ${code ? `[${code}] ` : ''}${safe}\r\n`, 'utf8');
}

/** The quoted form of a string for places that must be quoted (mailbox names in LIST). */
export function quoteOrLiteral(s: string, o: FormatOptions): Array<string | Buffer> {
  const out: Array<string | Buffer> = [];
  compileString(s, out, o);
  return out;
}
