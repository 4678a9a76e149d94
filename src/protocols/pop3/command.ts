// Parses one POP3 command line into a keyword and arguments (RFC 1939 §3, RFC 2449 §3).
// Must not do I/O or decide what a command means or when it is legal; sessions do that.
// Keywords are case-insensitive and 3-4 characters (RFC 2449 allows longer extensions; we
// accept up to MAX_KEYWORD_CHARS). Arguments are separated by single spaces; `rest` keeps the
// text after the keyword verbatim because a PASS argument may contain spaces (RFC 1939 §7).

/** Longest keyword accepted (RFC 2449 §3 lets extension keywords be longer than 4). */
export const MAX_KEYWORD_CHARS = 16;

export interface Pop3Command {
  /** Upper-cased keyword, e.g. 'RETR'. */
  name: string;
  /** Space-separated arguments (empty ones from doubled spaces dropped). */
  args: string[];
  /** Everything after the first space, verbatim ('' when none). */
  rest: string;
}

export type ParseResult = { ok: true; command: Pop3Command } | { ok: false; reason: string };

export function parseCommand(line: string): ParseResult {
  const sp = line.indexOf(' ');
  const keyword = sp === -1 ? line : line.slice(0, sp);
  if (!keyword) return { ok: false, reason: 'empty command' };
  if (keyword.length > MAX_KEYWORD_CHARS || !/^[A-Za-z0-9-]+$/.test(keyword)) return { ok: false, reason: 'malformed command' };
  const rest = sp === -1 ? '' : line.slice(sp + 1);
  return { ok: true, command: { name: keyword.toUpperCase(), args: rest.split(' ').filter((a) => a !== ''), rest } };
}

/**
 * A message number argument (RFC 1939 §5): a positive decimal integer without sign or leading
 * zeros. Returns null when it is not one.
 */
export function parseMessageNumber(s: string | undefined): number | null {
  if (s === undefined || !/^[1-9][0-9]{0,9}$/.test(s)) return null;
  return Number(s);
}

/** A non-negative decimal integer (the line count of TOP), or null. */
export function parseNonNegative(s: string | undefined): number | null {
  if (s === undefined || !/^[0-9]{1,10}$/.test(s)) return null;
  return Number(s);
}
