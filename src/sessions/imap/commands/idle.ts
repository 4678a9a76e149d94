// IDLE (RFC 9051 §6.3.13, RFC 2177): "+ idling", then mailbox updates are pushed as they happen
// (the session's change feed triggers flushUpdates) until the client sends DONE.
import { bad, ok, type CommandHandler } from '../types.js';

export const idle: CommandHandler = async (s, _req, args) => {
  args.end();
  if (s.selected) await s.flushUpdates(true, true);
  s.send('+ idling\r\n');
  s.idling = true;
  // A change signalled while the initial updates were read has not been sent yet.
  if (s.selected?.dirty) void s.flushUpdates(true).catch(() => undefined);
  try {
    const line = await s.readLine();
    if (line === null) return ok('IDLE terminated');
    if (line.trim().toUpperCase() !== 'DONE') return bad('Expected DONE');
  } finally {
    s.idling = false;
  }
  return ok('IDLE terminated');
};
