// EXPUNGE and UID EXPUNGE (RFC 9051 §6.4.3, RFC 4315 §2.1): removes \Deleted messages (within
// the UID set for UID EXPUNGE); the EXPUNGE / VANISHED responses come from the update flush.
// Needs the "e" right (RFC 4314 §4) on another account's mailbox.
import { resolveUids } from '../message-set.js';
import { no, ok, type CommandHandler } from '../types.js';

export const expunge: CommandHandler = async (s, req, args) => {
  const within = req.command === 'UID EXPUNGE' ? resolveUids(s, args.seqSet(), true) : undefined;
  args.end();
  const sel = s.selected!;
  if (sel.readOnly) return no('Mailbox is read-only', 'READ-ONLY');
  if (!sel.access.rights.includes('e')) return no('Permission denied', 'NOPERM');
  const uids = await s.deps.ops.deletedUids(sel.mailboxId, within);
  if (uids.length) await s.deps.app.mailStore.expunge(sel.access.ownerId, sel.mailboxId, uids);
  await s.flushUpdates(true, true);
  return ok(`${req.command} completed`);
};
