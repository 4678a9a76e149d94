// DELETE (RFC 9051 §6.3.5): removes a mailbox and its messages; children stay. INBOX cannot be
// deleted. A session that has the mailbox selected is closed with BYE at its next update.
// Another account's mailbox needs the "x" right (RFC 4314 §4).
import { no, ok, type CommandHandler } from '../types.js';

export const deleteMailbox: CommandHandler = async (s, _req, args) => {
  const name = args.mailbox();
  args.end();
  if (name === 'INBOX') return no('INBOX cannot be deleted', 'CANNOT');
  const ref = await s.deps.access.open(s.account!, name, 'x');
  if (ref.name === 'INBOX') return no('INBOX cannot be deleted', 'CANNOT');
  if (s.selected?.mailboxId === ref.box.id) s.setSelected(null);
  await s.deps.ops.deleteMailbox(ref.owner.id, ref.name);
  return ok('DELETE completed');
};
