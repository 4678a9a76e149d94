// EXPUNGE and UID EXPUNGE (RFC 9051 §6.4.3, RFC 4315 §2.1): removes \Deleted messages (within
// the UID set for UID EXPUNGE); the EXPUNGE / VANISHED responses come from the update flush.
import { resolveUids } from '../message-set.js';
import { no, ok, type CommandHandler } from '../types.js';

export const expunge: CommandHandler = async (s, req, args) => {
  const within = req.command === 'UID EXPUNGE' ? resolveUids(s, args.seqSet(), true) : undefined;
  args.end();
  const sel = s.selected!;
  if (sel.readOnly) return no('Mailbox is read-only', 'READ-ONLY');
  const uids = await s.deps.ops.deletedUids(sel.mailboxId, within);
  if (uids.length) await s.deps.app.mailStore.expunge(s.account!.id, sel.mailboxId, uids);
  await s.flushUpdates(true, true);
  return ok(`${req.command} completed`);
};
