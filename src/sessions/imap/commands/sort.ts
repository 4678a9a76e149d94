// SORT and UID SORT (RFC 5256 §3) with the DISPLAYFROM/DISPLAYTO keys (RFC 5957) and ESORT's
// RETURN options (RFC 5267 §3: "* ESEARCH", numbers in sort order), THREAD and UID THREAD
// (RFC 5256 §3, ORDEREDSUBJECT and REFERENCES). The search criteria are SEARCH's; the keys were
// computed at delivery (MailOpsService.sortRows), so nothing here parses a message.
import { formatOrdered } from '../../../protocols/imap/sequence-set.js';
import type { SearchKey } from '../../../protocols/imap/search-args.js';
import { parseSortArgs, parseThreadArgs } from '../../../protocols/imap/sort-args.js';
import { likeFilters, matches, needs } from '../search-eval.js';
import type { ImapSession } from '../session.js';
import { formatThreads, sortItems, threadOrderedSubject, threadReferences, type SortItem } from '../sort-thread.js';
import { ok, type CommandHandler } from '../types.js';

/** The announced messages of the selected mailbox that match `key`, in mailbox order. */
async function candidates(s: ImapSession, key: SearchKey): Promise<SortItem[]> {
  const sel = s.selected!;
  const rows = await s.deps.ops.sortRows(sel.mailboxId);
  let match: Set<number> | null = null;
  if (key.k !== 'all') {
    const searchRows = await s.deps.ops.searchRows(sel.mailboxId, needs(key), likeFilters(key));
    const ctx = { seq: 0, exists: sel.exists, maxUid: sel.uids.length ? sel.uids[sel.uids.length - 1]! : 0,
      saved: new Set(s.savedSearch), now: Date.now() };
    match = new Set();
    for (const row of searchRows) {
      ctx.seq = sel.seqOf(row.uid);
      if (ctx.seq && matches(key, row, ctx)) match.add(row.uid);
    }
  }
  const out: SortItem[] = [];
  for (const r of rows) {
    const seq = sel.seqOf(r.uid);
    if (!seq || (match && !match.has(r.uid))) continue; // not announced yet, or not matching
    out.push({ seq, uid: r.uid, internalDate: r.internalDate, size: r.size, keys: r.keys });
  }
  return out;
}

export const sort: CommandHandler = async (s, req, args) => {
  const byUid = req.command === 'UID SORT';
  const sa = parseSortArgs(args);
  args.end();
  const sorted = sortItems(await candidates(s, sa.key), sa.program);
  const nums = sorted.map((m) => (byUid ? m.uid : m.seq));
  if (sa.returns === null) {
    s.send(`* SORT${nums.map((n) => ` ${n}`).join('')}\r\n`);
    return ok(`${req.command} completed`);
  }
  const returns = sa.returns.length ? sa.returns : ['ALL'];
  let line = `* ESEARCH (TAG "${req.tag.replace(/[\\"]/g, '\\$&')}")${byUid ? ' UID' : ''}`;
  // RFC 5267 §3.2: MIN and MAX are the first and last in sort order; ALL keeps the sort order.
  if (returns.includes('MIN') && nums.length) line += ` MIN ${nums[0]}`;
  if (returns.includes('MAX') && nums.length) line += ` MAX ${nums[nums.length - 1]}`;
  if (returns.includes('ALL') && nums.length) line += ` ALL ${formatOrdered(nums)}`;
  if (returns.includes('COUNT')) line += ` COUNT ${nums.length}`;
  s.send(`${line}\r\n`);
  return ok(`${req.command} completed`);
};

export const thread: CommandHandler = async (s, req, args) => {
  const byUid = req.command === 'UID THREAD';
  const ta = parseThreadArgs(args);
  args.end();
  const items = await candidates(s, ta.key);
  const roots = ta.algorithm === 'REFERENCES' ? threadReferences(items) : threadOrderedSubject(items);
  const data = formatThreads(roots, byUid);
  s.send(`* THREAD${data ? ` ${data}` : ''}\r\n`);
  return ok(`${req.command} completed`);
};
