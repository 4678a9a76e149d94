// NAMESPACE (RFC 9051 §6.3.10, RFC 2342): the user's own mailboxes, other users' mailboxes
// shared with them ("Other Users/<address>/...") and shared mailboxes ("Shared Folders/<address>/...");
// "/" is the delimiter everywhere (src/services/mailbox-access.service.ts).
import { OTHER_USERS, SHARED_FOLDERS } from '../../../services/mailbox-access.service.js';
import { ok, type CommandHandler } from '../types.js';

export const namespace: CommandHandler = async (s, _req, args) => {
  args.end();
  s.send(`* NAMESPACE (("" "/")) (("${OTHER_USERS}/" "/")) (("${SHARED_FOLDERS}/" "/"))\r\n`);
  return ok('NAMESPACE completed');
};
