// RENAME (RFC 9051 §6.3.6): renames a mailbox and its children; renaming INBOX moves its
// messages to the new mailbox and leaves INBOX empty. Within another account (shared folders) it
// needs "x" on the mailbox and "k" on the new parent (RFC 4314 §4); across accounts: [CANNOT].
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
  const src = await s.deps.access.open(s.account!, from, 'x');
  const dst = await s.deps.access.locate(s.account!, to);
  if (!dst || dst.owner.id !== src.owner.id) return no('Mailboxes cannot be renamed into another account', 'CANNOT');
  if (!src.personal) {
    const slash = dst.name.lastIndexOf('/');
    const parent = slash > 0 ? await s.deps.access.resolve(s.account!, to.slice(0, to.length - (dst.name.length - slash))) : null;
    if (!parent?.box) return no('Mailboxes are moved inside an existing shared folder', 'NOPERM');
    s.deps.access.require(parent, 'k');
  }
  await s.deps.ops.renameMailbox(src.owner.id, src.name, dst.name);
  if (s.selected && from !== 'INBOX' && (s.selected.name === from || s.selected.name.startsWith(`${from}/`))) {
    s.selected.name = to + s.selected.name.slice(from.length);
  }
  return ok('RENAME completed');
};
