// SUBSCRIBE / UNSUBSCRIBE (RFC 9051 §6.3.7, §6.3.8). A subscription is a flag on an existing
// mailbox. BUGS: subscribing to a mailbox that does not exist is refused ([NONEXISTENT]).
import { no, ok, type CommandHandler } from '../types.js';

const make = (on: boolean): CommandHandler => async (s, req, args) => {
  const name = args.mailbox();
  args.end();
  const done = await s.deps.ops.setSubscribed(s.account!.id, name, on);
  if (!done && on) return no('No such mailbox', 'NONEXISTENT');
  return ok(`${req.command} completed`);
};

export const subscribe = make(true);
export const unsubscribe = make(false);
