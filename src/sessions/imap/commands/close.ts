// CLOSE (RFC 9051 §6.4.1: expunge \Deleted messages silently unless read-only, then deselect)
// and UNSELECT (RFC 3691: deselect without expunging). Without the "e" right (RFC 4314 §4) CLOSE
// expunges nothing and still succeeds.
import { ok, type CommandHandler } from '../types.js';

export const close: CommandHandler = async (s, _req, args) => {
  args.end();
  const box = s.selected!;
  s.setSelected(null);
  if (!box.readOnly && box.access.rights.includes('e')) {
    const uids = await s.deps.ops.deletedUids(box.mailboxId);
    if (uids.length) await s.deps.app.mailStore.expunge(box.access.ownerId, box.mailboxId, uids);
  }
  return ok('CLOSE completed');
};

export const unselect: CommandHandler = async (s, _req, args) => {
  args.end();
  s.setSelected(null);
  return ok('UNSELECT completed');
};
