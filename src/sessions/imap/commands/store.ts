// STORE and UID STORE (RFC 9051 §6.4.6) with UNCHANGEDSINCE (RFC 7162 §3.1.3): the reply
// FETCHes carry the resulting flags (unless .SILENT), MODSEQ once CONDSTORE is in use, and
// UID for UID STORE; messages changed since UNCHANGEDSINCE are listed in [MODIFIED ...].
// Rights (RFC 4314 §4): "s" for \Seen, "t" for \Deleted, "w" for the others. Flags the rights do
// not cover are left as they are; when none of the named flags may change: [NOPERM].
import { ArgError } from '../../../protocols/imap/args.js';
import { formatSequenceSet } from '../../../protocols/imap/sequence-set.js';
import { atom, formatResponse, type Value } from '../../../protocols/imap/response.js';
import { resolveUids } from '../message-set.js';
import { mayChangeFlag } from '../../../services/acl-rights.js';
import { no, ok, type CommandHandler } from '../types.js';

export const store: CommandHandler = async (s, req, args) => {
  const byUid = req.command === 'UID STORE';
  const seq = args.seqSet();
  let unchangedSince: number | null = null;
  const mods = args.optionalList();
  if (mods) {
    while (mods.remaining) {
      const m = mods.atom('store modifier').toUpperCase();
      if (m !== 'UNCHANGEDSINCE') throw new ArgError(`Unknown store modifier ${m.slice(0, 32)}`);
      unchangedSince = mods.number('mod-sequence');
    }
    s.condstore = true;
  }
  const action = args.atom('store action').toUpperCase();
  const m = /^([+-]?)FLAGS(\.SILENT)?$/.exec(action);
  if (!m) throw new ArgError(`Invalid store action ${action.slice(0, 32)}`);
  const flags = args.flags(true);
  args.end();
  const sel = s.selected!;
  if (sel.readOnly) return no('Mailbox is read-only', 'READ-ONLY');
  const uids = resolveUids(s, seq, byUid);
  const mode = m[1] === '+' ? 'add' : m[1] === '-' ? 'remove' : 'set';
  const silent = !!m[2];
  const rights = sel.access.rights;
  const full = /w/.test(rights) && /s/.test(rights) && /t/.test(rights);
  const may = full ? null : (f: string) => mayChangeFlag(rights, f);
  // With no flag named, FLAGS () clears what the rights allow; otherwise some named flag must be allowed.
  if (may && (flags.length ? !flags.some(may) : !/[wst]/.test(rights))) return no('Permission denied', 'NOPERM');
  const res = await s.deps.ops.storeFlags(sel.access.ownerId, sel.mailboxId, uids, flags, mode, unchangedSince, may, sel.access.viewer);
  const out: Buffer[] = [];
  for (const st of res.states) {
    sel.markReported(st.uid, st.modseq);
    const n = sel.seqOf(st.uid);
    if (!n) continue;
    // RFC 7162 §3.1.3: with UNCHANGEDSINCE, even a silent STORE reports the new MODSEQ.
    if (silent && !(unchangedSince !== null && res.changed.has(st.uid))) continue;
    const items: Value[] = [];
    if (!silent) items.push(atom('FLAGS'), st.flags.map((f) => atom(f)));
    if (byUid) items.push(atom('UID'), st.uid);
    if (s.condstore) items.push(atom('MODSEQ'), [st.modseq]);
    out.push(formatResponse('* ', [n, atom('FETCH'), items], s.fmt));
  }
  if (out.length) s.send(Buffer.concat(out));
  if (res.modified.length) {
    const set = byUid ? res.modified : res.modified.map((u) => sel.seqOf(u)).filter((x) => x > 0);
    return ok('Some messages were modified', `MODIFIED ${formatSequenceSet(set)}`);
  }
  return ok(`${req.command} completed`);
};
