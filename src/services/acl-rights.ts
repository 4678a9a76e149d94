// Mailbox rights (RFC 4314 §2.1) as strings of letters, kept in the canonical order of ALL_RIGHTS.
// Pure: parsing, merging and formatting only. "c" and "d" are the RFC 2086 rights, virtual here
// (RFC 4314 §2.1.1): "c" given means "k" and "x", "d" means "e" and "t"; answers name "c" when
// "k" or "x" is held and "d" when "e" or "t" is, so RFC 2086 clients still understand them.
// Digits (implementation rights) are not used and refused like any unknown letter.

/** Every right, in canonical order: lookup, read, seen, write, insert, post, create, delete, deleted, expunge, admin. */
export const ALL_RIGHTS = 'lrswipkxtea';

export class RightsError extends Error {}

/** Canonical form of a set of letters (unknown letters dropped). */
export function normalizeRights(letters: string): string {
  let out = '';
  for (const c of ALL_RIGHTS) if (letters.includes(c)) out += c;
  return out;
}

/** Rights given in SETACL (without the +/- prefix): canonical letters. Throws RightsError for an unknown letter. */
export function parseRights(text: string): string {
  let set = '';
  for (const c of text) {
    if (ALL_RIGHTS.includes(c)) set += c;
    else if (c === 'c') set += 'kx';
    else if (c === 'd') set += 'et';
    else throw new RightsError(`Invalid right ${JSON.stringify(c).slice(1, -1).slice(0, 8)}`);
  }
  return normalizeRights(set);
}

export function unionRights(a: string, b: string): string {
  return normalizeRights(a + b);
}

export function removeRights(from: string, rights: string): string {
  return normalizeRights([...from].filter((c) => !rights.includes(c)).join(''));
}

/** Rights as sent in ACL and MYRIGHTS responses: canonical letters plus the virtual "c" and "d". */
export function formatRights(rights: string): string {
  let out = normalizeRights(rights);
  if (/[kx]/.test(out)) out += 'c';
  if (/[et]/.test(out)) out += 'd';
  return out;
}

/** True when `rights` holds every letter of `need`. */
export function hasRights(rights: string, need: string): boolean {
  for (const c of need) if (!rights.includes(c)) return false;
  return true;
}

/** May a session with `rights` set or clear `flag` (RFC 4314 §4, STORE/APPEND/COPY)? */
export function mayChangeFlag(rights: string, flag: string): boolean {
  const f = flag.toLowerCase();
  if (f === '\\seen') return rights.includes('s');
  if (f === '\\deleted') return rights.includes('t');
  return rights.includes('w');
}
