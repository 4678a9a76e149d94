// NAMESPACE (RFC 9051 §6.3.10, RFC 2342): one personal namespace with "/" as the delimiter.
// BUGS: no "Other Users" or "Shared Folders" namespace until shared folders exist (issue 3).
import { ok, type CommandHandler } from '../types.js';

export const namespace: CommandHandler = async (s, _req, args) => {
  args.end();
  s.send('* NAMESPACE (("" "/")) NIL NIL\r\n');
  return ok('NAMESPACE completed');
};
