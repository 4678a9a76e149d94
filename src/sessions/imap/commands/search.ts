// SEARCH and UID SEARCH (RFC 9051 §6.4.4) with ESEARCH return options (RFC 4731), SAVE and "$"
// (RFC 5182 SEARCHRES) and MODSEQ (RFC 7162 §3.1.5). The plain "* SEARCH" reply is used unless
// RETURN was given or IMAP4rev2 is enabled (then "* ESEARCH", RFC 9051 §7.3.4).
import { parseSearchArgs, usesModseq } from '../../../protocols/imap/search-args.js';
import { formatSequenceSet } from '../../../protocols/imap/sequence-set.js';
import { likeFilters, matches, needs } from '../search-eval.js';
import { ok, type CommandHandler } from '../types.js';

export const search: CommandHandler = async (s, req, args) => {
  const byUid = req.command === 'UID SEARCH';
  const sa = parseSearchArgs(args);
  args.end();
  const sel = s.selected!;
  const withModseq = usesModseq(sa.key);
  if (withModseq) s.condstore = true;
  const rows = await s.deps.ops.searchRows(sel.mailboxId, needs(sa.key), likeFilters(sa.key), sel.access.viewer);
  const ctx = { seq: 0, exists: sel.exists, maxUid: sel.uids.length ? sel.uids[sel.uids.length - 1]! : 0,
    saved: new Set(s.savedSearch), now: Date.now() };
  const hits: Array<{ uid: number; seq: number; modseq: number }> = [];
  for (const row of rows) {
    const seq = sel.seqOf(row.uid);
    if (!seq) continue; // not announced yet (or being expunged)
    ctx.seq = seq;
    if (matches(sa.key, row, ctx)) hits.push({ uid: row.uid, seq, modseq: row.modseq });
  }
  const nums = hits.map((h) => (byUid ? h.uid : h.seq));
  const maxModseq = hits.reduce((m, h) => Math.max(m, h.modseq), 0);
  const useEsearch = sa.returns !== null || s.enabled.has('IMAP4rev2');
  if (!useEsearch) {
    s.send(`* SEARCH${nums.map((n) => ` ${n}`).join('')}${withModseq && hits.length ? ` (MODSEQ ${maxModseq})` : ''}\r\n`);
    return ok(`${req.command} completed`);
  }
  const returns = sa.returns && sa.returns.length ? sa.returns : ['ALL'];
  const result = returns.filter((r) => r !== 'SAVE');
  if (returns.includes('SAVE')) {
    // RFC 5182 §2.4: with only MIN and/or MAX beside SAVE, only those are saved.
    const onlyMinMax = result.length > 0 && result.every((r) => r === 'MIN' || r === 'MAX');
    const saved = onlyMinMax && hits.length
      ? [...new Set([result.includes('MIN') ? hits[0]!.uid : null, result.includes('MAX') ? hits[hits.length - 1]!.uid : null])].filter((x): x is number => x !== null)
      : hits.map((h) => h.uid);
    s.savedSearch = saved;
  }
  if (result.length) {
    let line = `* ESEARCH (TAG "${req.tag.replace(/[\\"]/g, '\\$&')}")${byUid ? ' UID' : ''}`;
    if (result.includes('MIN') && nums.length) line += ` MIN ${nums[0]}`;
    if (result.includes('MAX') && nums.length) line += ` MAX ${nums[nums.length - 1]}`;
    if (result.includes('ALL') && nums.length) line += ` ALL ${formatSequenceSet(nums)}`;
    if (result.includes('COUNT')) line += ` COUNT ${nums.length}`;
    if (withModseq && hits.length) line += ` MODSEQ ${maxModseq}`;
    s.send(`${line}\r\n`);
  }
  return ok(`${req.command} completed`);
};
