// SUBSCRIBE / UNSUBSCRIBE (RFC 9051 §6.3.7, §6.3.8). A subscription is a flag on an existing
// mailbox; to another account's mailbox (shared folders) it is a row of the subscriber's, allowed
// with the "l" right. BUGS: subscribing to a mailbox that does not exist is refused ([NONEXISTENT]).
import { no, ok, type CommandHandler } from '../types.js';

const make = (on: boolean): CommandHandler => async (s, req, args) => {
  const name = args.mailbox();
  args.end();
  const ref = await s.deps.access.resolve(s.account!, name);
  if (ref && !ref.personal) {
    if (!ref.box || !ref.rights.includes('l')) return on ? no('No such mailbox', 'NONEXISTENT') : ok(`${req.command} completed`);
    await s.deps.access.setSubscribed(s.account!.id, ref.box.id, on);
    return ok(`${req.command} completed`);
  }
  if (!ref) return on ? no('No such mailbox', 'NONEXISTENT') : ok(`${req.command} completed`);
  const done = await s.deps.ops.setSubscribed(s.account!.id, ref.name, on);
  if (!done && on) return no('No such mailbox', 'NONEXISTENT');
  return ok(`${req.command} completed`);
};

export const subscribe = make(true);
export const unsubscribe = make(false);
