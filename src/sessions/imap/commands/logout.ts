// LOGOUT (RFC 9051 §6.1.3): BYE, then the tagged OK, then the connection closes.
import { ok, type CommandHandler } from '../types.js';

export const logout: CommandHandler = async (s, _req, args) => {
  args.end();
  s.send('* BYE Logging out\r\n');
  return { ...ok('LOGOUT completed'), after: 'close' };
};
