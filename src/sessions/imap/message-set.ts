// Turns a sequence set (or "$") from a command into the UIDs of the selected mailbox.
// Sequence numbers beyond the mailbox are a client error (RFC 9051 §9 seq-number: BAD);
// UID sets simply match what exists.
import { ArgError, type SeqArg } from '../../protocols/imap/args.js';
import { selectFrom } from '../../protocols/imap/sequence-set.js';
import type { ImapSession } from './session.js';

export function resolveUids(s: ImapSession, seq: SeqArg, byUid: boolean): number[] {
  const sel = s.selected!;
  if (seq.saved) return s.savedSearch.filter((u) => sel.seqOf(u) > 0);
  if (byUid) return selectFrom(seq.set, sel.uids);
  const n = sel.uids.length;
  if (seq.set.length === 1) {
    // The common case (1:*, a:b): a slice of the sequence map, no set or sort.
    const r = seq.set[0]!;
    const from = r.from === Infinity ? n : r.from;
    const to = r.to === Infinity ? n : r.to;
    const lo = Math.min(from, to);
    const hi = Math.max(from, to);
    if (hi > n || lo < 1) {
      if (n === 0 && r.to === Infinity) return [];
      throw new ArgError('Invalid message sequence number');
    }
    return sel.uids.slice(lo - 1, hi);
  }
  const out = new Set<number>();
  for (const r of seq.set) {
    const from = r.from === Infinity ? n : r.from;
    const to = r.to === Infinity ? n : r.to;
    const lo = Math.min(from, to);
    const hi = Math.max(from, to);
    if (hi > n || lo < 1) {
      // "*" in an empty mailbox or a number past the end.
      if (n === 0 && r.to === Infinity) continue;
      throw new ArgError('Invalid message sequence number');
    }
    for (let i = lo; i <= hi; i++) out.add(sel.uids[i - 1]!);
  }
  return [...out].sort((a, b) => a - b);
}
