// STARTTLS (RFC 9051 §6.2.1): the tagged OK, then the session wraps the socket in TLS and
// drops anything the client pipelined after the command.
import { bad, ok, type CommandHandler } from '../types.js';

export const starttls: CommandHandler = async (s, _req, args) => {
  args.end();
  if (s.secure) return bad('TLS is already active');
  if (!s.deps.starttls) return bad('STARTTLS not available here');
  return { ...ok('Begin TLS negotiation now'), after: 'starttls' };
};
