// COPY / MOVE and their UID forms (RFC 9051 §6.4.7, §6.4.8; RFC 6851 MOVE) with COPYUID
// (RFC 4315 UIDPLUS). A missing target is [TRYCREATE]. MOVE reports COPYUID in an untagged OK
// and then the expunges, as RFC 6851 §4.3 describes.
import { formatOrdered } from '../../../protocols/imap/sequence-set.js';
import { resolveUids } from '../message-set.js';
import { no, ok, type CommandHandler } from '../types.js';

const make = (isMove: boolean): CommandHandler => async (s, req, args) => {
  const byUid = req.command.startsWith('UID ');
  const seq = args.seqSet();
  const name = args.mailbox();
  args.end();
  const sel = s.selected!;
  if (isMove && sel.readOnly) return no('Mailbox is read-only', 'READ-ONLY');
  const dest = await s.deps.app.mailStore.getMailbox(s.account!.id, name);
  if (!dest) return no('No such mailbox', 'TRYCREATE');
  const uids = resolveUids(s, seq, byUid);
  if (!uids.length) return ok(`${req.command} completed (nothing to do)`);
  const r = isMove
    ? await s.deps.ops.move(s.account!.id, sel.mailboxId, dest.id, uids)
    : await s.deps.ops.copy(s.account!.id, sel.mailboxId, dest.id, uids);
  const code = r.from.length ? `COPYUID ${r.uidValidity} ${formatOrdered(r.from)} ${formatOrdered(r.to)}` : undefined;
  if (!isMove) return ok('COPY completed', code);
  if (code) s.send(`* OK [${code}] Moved\r\n`);
  await s.flushUpdates(true, true);
  return ok(`${req.command} completed`);
};

export const copy = make(false);
export const move = make(true);
