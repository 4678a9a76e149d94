// RENAME (RFC 9051 §6.3.6): renames a mailbox and its children; renaming INBOX moves its
// messages to the new mailbox and leaves INBOX empty.
import { no, ok, type CommandHandler } from '../types.js';
import { invalidName } from './create.js';

export const rename: CommandHandler = async (s, _req, args) => {
  const from = args.mailbox('existing mailbox name');
  const to = args.mailbox('new mailbox name').replace(/\/+$/, '');
  args.end();
  if (to === 'INBOX' || to === from) return no('Target mailbox exists', 'ALREADYEXISTS');
  if (to.startsWith(`${from}/`)) return no('Cannot rename a mailbox into itself', 'CANNOT');
  const invalid = invalidName(to);
  if (invalid) return invalid;
  await s.deps.ops.renameMailbox(s.account!.id, from, to);
  if (s.selected && from !== 'INBOX' && (s.selected.name === from || s.selected.name.startsWith(`${from}/`))) {
    s.selected.name = to + s.selected.name.slice(from.length);
  }
  return ok('RENAME completed');
};
