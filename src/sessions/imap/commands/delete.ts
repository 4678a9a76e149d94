// DELETE (RFC 9051 §6.3.5): removes a mailbox and its messages; children stay. INBOX cannot be
// deleted. A session that has the mailbox selected is closed with BYE at its next update.
import { no, ok, type CommandHandler } from '../types.js';

export const deleteMailbox: CommandHandler = async (s, _req, args) => {
  const name = args.mailbox();
  args.end();
  if (name === 'INBOX') return no('INBOX cannot be deleted', 'CANNOT');
  if (s.selected?.name === name) s.setSelected(null);
  await s.deps.ops.deleteMailbox(s.account!.id, name);
  return ok('DELETE completed');
};
