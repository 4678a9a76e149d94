// COPY / MOVE and their UID forms (RFC 9051 §6.4.7, §6.4.8; RFC 6851 MOVE) with COPYUID
// (RFC 4315 UIDPLUS). A missing target is [TRYCREATE]. MOVE reports COPYUID in an untagged OK
// and then the expunges, as RFC 6851 §4.3 describes. Rights (RFC 4314 §4): the target needs "i"
// and keeps only the flags its rights allow; MOVE also needs "t" and "e" on the source. The
// source and the target may belong to different accounts (shared folders).
import { formatOrdered } from '../../../protocols/imap/sequence-set.js';
import { resolveUids } from '../message-set.js';
import { mayChangeFlag } from '../../../services/acl-rights.js';
import { no, ok, type CommandHandler } from '../types.js';

const make = (isMove: boolean): CommandHandler => async (s, req, args) => {
  const byUid = req.command.startsWith('UID ');
  const seq = args.seqSet();
  const name = args.mailbox();
  args.end();
  const sel = s.selected!;
  if (isMove && sel.readOnly) return no('Mailbox is read-only', 'READ-ONLY');
  const ref = await s.deps.access.resolve(s.account!, name);
  if (!ref?.box) return ref?.personal ? no('No such mailbox', 'TRYCREATE') : no('No such mailbox', 'NONEXISTENT');
  s.deps.access.require(ref, 'i');
  if (isMove && !(sel.access.rights.includes('t') && sel.access.rights.includes('e'))) return no('Permission denied', 'NOPERM');
  const uids = resolveUids(s, seq, byUid);
  if (!uids.length) return ok(`${req.command} completed (nothing to do)`);
  const ownerId = sel.access.ownerId;
  const opts = {
    toAccountId: ref.owner.id, keepFlag: ref.personal ? undefined : (f: string) => mayChangeFlag(ref.rights, f),
    fromViewer: sel.access.viewer, toViewer: ref.personal ? null : s.account!.id,
  };
  const r = isMove
    ? await s.deps.ops.move(ownerId, sel.mailboxId, ref.box.id, uids, opts)
    : await s.deps.ops.copy(ownerId, sel.mailboxId, ref.box.id, uids, opts);
  const code = r.from.length ? `COPYUID ${r.uidValidity} ${formatOrdered(r.from)} ${formatOrdered(r.to)}` : undefined;
  if (!isMove) return ok('COPY completed', code);
  if (code) s.send(`* OK [${code}] Moved\r\n`);
  await s.flushUpdates(true, true);
  return ok(`${req.command} completed`);
};

export const copy = make(false);
export const move = make(true);
