// SELECT and EXAMINE (RFC 9051 §6.3.2, §6.3.3) with CONDSTORE (RFC 7162 §3.1.8) and QRESYNC
// (RFC 7162 §3.2.5: VANISHED (EARLIER) and FETCH of what changed since the client's MODSEQ).
// Another account's mailbox needs the "r" right (RFC 4314 §4); it opens read-write only with a
// right that changes something (s, w, t or e), and PERMANENTFLAGS lists what the rights allow.
import { ArgError } from '../../../protocols/imap/args.js';
import { formatSequenceSet, parseSequenceSet } from '../../../protocols/imap/sequence-set.js';
import { atom, str } from '../../../protocols/imap/response.js';
import { viewFlags } from '../../../services/seen-view.js';
import { SelectedMailbox } from '../selected-mailbox.js';
import { bad, no, ok, type CommandHandler } from '../types.js';

/** Keywords announced in FLAGS: the system flags and the keywords common clients set. */
export const ANNOUNCED_FLAGS = '\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded $MDNSent $Junk $NotJunk $Phishing';

export const select: CommandHandler = async (s, req, args) => {
  let readOnly = req.command === 'EXAMINE';
  const name = args.mailbox();
  let qresync: { uidValidity: number; modseq: number; knownUids: number[] | null } | null = null;
  const params = args.optionalList();
  if (params) {
    while (params.remaining) {
      const p = params.atom('select parameter').toUpperCase();
      if (p === 'CONDSTORE') {
        s.condstore = true;
      } else if (p === 'QRESYNC') {
        if (!s.qresync) return bad('ENABLE QRESYNC first');
        const q = params.list('QRESYNC parameters');
        const uidValidity = q.number('uidvalidity');
        const modseq = q.number('mod-sequence');
        let knownUids: number[] | null = null;
        if (q.remaining && !q.isListNext()) {
          const set = parseSequenceSet(q.atom('known UIDs'));
          if (!set || set.some((r) => r.to === Infinity)) throw new ArgError('Invalid known UIDs');
          knownUids = set.flatMap((r) => (r.to - r.from > 1_000_000 ? [] : Array.from({ length: r.to - r.from + 1 }, (_, i) => r.from + i)));
        }
        if (q.remaining) q.list('sequence match data'); // accepted, not needed: we answer from the log
        q.end();
        qresync = { uidValidity, modseq, knownUids };
      } else {
        throw new ArgError(`Unknown select parameter ${p.slice(0, 32)}`);
      }
    }
  }
  args.end();
  if (s.selected) {
    s.setSelected(null);
    s.send('* OK [CLOSED] Previous mailbox closed\r\n');
  }
  const ref = await s.deps.access.resolve(s.account!, name);
  if (!ref?.box) return no('No such mailbox', 'NONEXISTENT');
  s.deps.access.require(ref, 'r');
  const box = ref.box;
  const rights = ref.rights;
  readOnly ||= !/[swte]/.test(rights);
  const highestModseq = Number(box.highestModseq);
  const uids = await s.deps.ops.uids(box.id);
  const sel = new SelectedMailbox(box.id, ref.display, readOnly, Number(box.uidValidity), uids, highestModseq);
  sel.access = { ownerId: ref.owner.id, personal: ref.personal, rights, viewer: ref.personal ? null : s.account!.id };
  s.setSelected(sel);
  s.send(`* FLAGS (${ANNOUNCED_FLAGS})\r\n`);
  s.send(readOnly ? '* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n' : `* OK [PERMANENTFLAGS (${permanentFlags(rights)})] Flags permitted\r\n`);
  s.send(`* ${uids.length} EXISTS\r\n`);
  if (!s.enabled.has('IMAP4rev2')) s.send('* 0 RECENT\r\n');
  s.send(`* OK [UIDVALIDITY ${box.uidValidity}] UIDs valid\r\n`);
  s.send(`* OK [UIDNEXT ${box.uidNext}] Predicted next UID\r\n`);
  s.send(`* OK [HIGHESTMODSEQ ${highestModseq}] Highest\r\n`);
  if (s.enabled.has('IMAP4rev2')) {
    s.untagged(atom('LIST'), [], str('/'), str(s.wireName(ref.display)));
  }
  if (qresync && qresync.uidValidity === Number(box.uidValidity)) {
    let vanished = await s.deps.ops.expungedSince(box.id, qresync.modseq);
    if (qresync.knownUids) {
      const known = new Set(qresync.knownUids);
      vanished = vanished.filter((u) => known.has(u));
    }
    if (vanished.length) s.send(`* VANISHED (EARLIER) ${formatSequenceSet(vanished)}\r\n`);
    const ch = await s.deps.ops.changesSince(box.id, qresync.modseq);
    for (const c of ch.changed) {
      const seq = sel.seqOf(c.uid);
      if (!seq) continue;
      const flags = viewFlags(c.flags, c.seenBy, sel.access.viewer);
      s.untagged(seq, atom('FETCH'), [atom('UID'), c.uid, atom('FLAGS'), flags.map((f) => atom(f)), atom('MODSEQ'), [c.modseq]]);
      sel.markReported(c.uid, c.modseq);
    }
  }
  return ok(`${req.command} completed`, readOnly ? 'READ-ONLY' : 'READ-WRITE');
};

/** The flags the rights let the session change (RFC 4314 §4: s for \Seen, t for \Deleted, w for the rest). */
function permanentFlags(rights: string): string {
  const out: string[] = [];
  if (rights.includes('w')) out.push('\\Answered', '\\Flagged');
  if (rights.includes('t')) out.push('\\Deleted');
  if (rights.includes('s')) out.push('\\Seen');
  if (rights.includes('w')) out.push('\\Draft', '\\*');
  return out.join(' ');
}
