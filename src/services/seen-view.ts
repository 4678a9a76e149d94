// Per-user \Seen in shared folders (as Dovecot and Cyrus keep it): the owner's \Seen is in the
// message's flags, every other user's in message.seenBy (" 12 34 ": the account ids that have
// read it). A viewer is null for the owner (flags as stored) and the account id for anyone else.
// Pure helpers; the SQL that uses the same encoding is in MailOpsService.

export type Viewer = number | null;

const SEEN = '\\Seen';

export function hasSeen(seenBy: string | null | undefined, viewer: number): boolean {
  return !!seenBy && seenBy.includes(` ${viewer} `);
}

/** The flags `viewer` sees: for someone other than the owner, \Seen is their own. */
export function viewFlags(flags: string[], seenBy: string | null | undefined, viewer: Viewer): string[] {
  if (viewer === null) return flags;
  const rest = flags.filter((f) => f.toLowerCase() !== '\\seen');
  return hasSeen(seenBy, viewer) ? [SEEN, ...rest] : rest;
}

/** seenBy with `viewer` added or removed; null when nobody is left. */
export function withSeen(seenBy: string | null | undefined, viewer: number, seen: boolean): string | null {
  const ids = (seenBy ?? '').split(' ').filter(Boolean).filter((x) => x !== String(viewer));
  if (seen) ids.push(String(viewer));
  return ids.length ? ` ${ids.join(' ')} ` : null;
}

/** LIKE pattern matching a seenBy that contains `viewer`. */
export function seenPattern(viewer: number): string {
  return `% ${viewer} %`;
}
