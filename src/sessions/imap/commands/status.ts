// STATUS (RFC 9051 §6.3.11) with SIZE (RFC 8438), HIGHESTMODSEQ (RFC 7162), DELETED; also used
// by LIST ... RETURN (STATUS (...)) (RFC 5819). RECENT is always 0 (\Recent is not kept).
// Another account's mailbox needs the "r" right (RFC 4314 §4).
import { ArgError, type ArgReader } from '../../../protocols/imap/args.js';
import { atom, str, type Value } from '../../../protocols/imap/response.js';
import type { ImapSession } from '../session.js';
import { no, ok, type CommandHandler } from '../types.js';

const ITEMS = new Set(['MESSAGES', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', 'DELETED', 'SIZE', 'HIGHESTMODSEQ', 'RECENT']);

export function parseStatusItems(l: ArgReader): string[] {
  const items: string[] = [];
  while (l.remaining) {
    const i = l.atom('status item').toUpperCase();
    if (!ITEMS.has(i)) throw new ArgError(`Unknown status item ${i.slice(0, 32)}`);
    items.push(i);
  }
  if (!items.length) throw new ArgError('Empty status item list');
  return items;
}

/** Sends "* STATUS name (...)" (UNSEEN as `viewer` sees it: null for the owner); false when the mailbox is gone. */
export async function sendStatus(s: ImapSession, mailboxId: number, name: string, items: string[], viewer: number | null = null): Promise<boolean> {
  const c = await s.deps.ops.counts(mailboxId, viewer);
  if (!c) return false;
  if (items.includes('HIGHESTMODSEQ')) s.condstore = true;
  const vals: Value[] = [];
  for (const i of items) {
    const v = { MESSAGES: c.messages, UIDNEXT: c.uidNext, UIDVALIDITY: c.uidValidity, UNSEEN: c.unseen, DELETED: c.deleted,
      SIZE: c.size, HIGHESTMODSEQ: c.highestModseq, RECENT: 0 }[i]!;
    vals.push(atom(i), v);
  }
  s.untagged(atom('STATUS'), str(s.wireName(name)), vals);
  return true;
}

export const status: CommandHandler = async (s, _req, args) => {
  const name = args.mailbox();
  const items = parseStatusItems(args.list('status items'));
  args.end();
  const ref = await s.deps.access.resolve(s.account!, name);
  if (!ref?.box) return no('No such mailbox', 'NONEXISTENT');
  s.deps.access.require(ref, 'r');
  if (!(await sendStatus(s, ref.box.id, ref.display, items, ref.personal ? null : s.account!.id))) return no('No such mailbox', 'NONEXISTENT');
  return ok('STATUS completed');
};
