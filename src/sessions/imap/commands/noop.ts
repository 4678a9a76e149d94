// NOOP and CHECK (RFC 9051 §6.1.2; CHECK is IMAP4rev1 §6.4.1): nothing but a chance to send
// mailbox updates, so the store is always re-read here, not only when a change was signalled.
import { ok, type CommandHandler } from '../types.js';

export const noop: CommandHandler = async (s, req, args) => {
  args.end();
  if (s.selected) await s.flushUpdates(true, true);
  return ok(`${req.command} completed`);
};
