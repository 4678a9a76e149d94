// IMAP argument tokenizer: turns the text of one command (split where literals were) into a
// token tree of atoms, strings (quoted or literal) and parenthesised lists. Bracketed parts of
// an atom ("BODY[HEADER.FIELDS (FROM TO)]<0.100>") stay in the atom, spaces and all, so the
// FETCH parser reads the section itself. Pure: no I/O. RFC 9051 §4, §9 (formal syntax).
// Lenient where clients differ and nothing is ambiguous: repeated spaces between arguments.

export type Token =
  | { kind: 'atom'; value: string }
  | { kind: 'string'; value: Buffer; literal: boolean; binary?: boolean }
  | { kind: 'list'; items: Token[] };

export type TokenizeResult = { ok: true; tokens: Token[] } | { ok: false; error: string };

/** Deepest list nesting we accept (SEARCH programs nest; nothing legitimate goes this deep). */
export const MAX_LIST_DEPTH = 64;
/** Most tokens in one command. */
export const MAX_TOKENS = 100_000;

class TokenError extends Error {}

export function tokenize(segments: Buffer[], literals: Array<{ data: Buffer; binary: boolean }>): TokenizeResult {
  let seg = 0;
  let pos = 0;
  let count = 0;
  const atEnd = () => seg >= segments.length - 1 && pos >= segments[seg]!.length;
  const atSegmentEnd = () => pos >= segments[seg]!.length;

  const parseList = (depth: number, closing: boolean): Token[] => {
    if (depth > MAX_LIST_DEPTH) throw new TokenError('Lists nested too deeply');
    const items: Token[] = [];
    let needSep = false;
    for (;;) {
      if (atSegmentEnd()) {
        if (seg < literals.length) {
          if (needSep) throw new TokenError('Missing space before literal');
          const l = literals[seg]!;
          items.push({ kind: 'string', value: l.data, literal: true, binary: l.binary });
          if (++count > MAX_TOKENS) throw new TokenError('Too many arguments');
          seg++;
          pos = 0;
          needSep = true;
          continue;
        }
        if (closing) throw new TokenError('Unbalanced parentheses: missing ")"');
        return items;
      }
      const s = segments[seg]!;
      const c = s[pos]!;
      if (c === 0x20) {
        pos++;
        needSep = false;
        continue;
      }
      if (c === 0x29) { // ")"
        if (!closing) throw new TokenError('Unbalanced parentheses: unexpected ")"');
        pos++;
        return items;
      }
      if (needSep) throw new TokenError('Missing space between arguments');
      if (++count > MAX_TOKENS) throw new TokenError('Too many arguments');
      if (c === 0x28) { // "("
        pos++;
        items.push({ kind: 'list', items: parseList(depth + 1, true) });
      } else if (c === 0x22) { // '"'
        items.push({ kind: 'string', value: readQuoted(s), literal: false });
      } else {
        items.push({ kind: 'atom', value: readAtom(s) });
      }
      needSep = true;
    }
  };

  const readQuoted = (s: Buffer): Buffer => {
    const out: number[] = [];
    pos++;
    for (;;) {
      if (pos >= s.length) throw new TokenError('Unterminated quoted string');
      const c = s[pos++]!;
      if (c === 0x22) return Buffer.from(out);
      if (c === 0x5c) { // backslash: only \" and \\ are escapes (RFC 9051 §4.3)
        const n = s[pos++];
        if (n !== 0x22 && n !== 0x5c) throw new TokenError('Invalid escape in quoted string');
        out.push(n);
        continue;
      }
      if (c === 0x00) throw new TokenError('NUL in quoted string');
      out.push(c);
    }
  };

  const readAtom = (s: Buffer): string => {
    const start = pos;
    let bracket = 0;
    while (pos < s.length) {
      const c = s[pos]!;
      if (c < 0x20 || c === 0x7f) throw new TokenError('Control character in argument');
      if (bracket > 0) {
        if (c === 0x5b) bracket++;
        else if (c === 0x5d) bracket--;
        pos++;
        continue;
      }
      if (c === 0x20 || c === 0x28 || c === 0x29) break;
      if (c === 0x22 || c === 0x7b) throw new TokenError(`Unexpected "${String.fromCharCode(c)}" in atom`);
      if (c === 0x5b) bracket++;
      pos++;
    }
    if (bracket > 0) throw new TokenError('Unbalanced brackets');
    return s.subarray(start, pos).toString('utf8');
  };

  try {
    const tokens = parseList(0, false);
    if (!atEnd()) throw new TokenError('Trailing data');
    return { ok: true, tokens };
  } catch (e) {
    if (e instanceof TokenError) return { ok: false, error: e.message };
    throw e;
  }
}
