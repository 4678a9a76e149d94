// CAPABILITY (RFC 9051 §6.1.1): the list depends on the state and on TLS (session.capabilities()).
import { ok, type CommandHandler } from '../types.js';

export const capability: CommandHandler = async (s, _req, args) => {
  args.end();
  s.send(`* CAPABILITY ${s.capabilities().join(' ')}\r\n`);
  return ok('CAPABILITY completed');
};
