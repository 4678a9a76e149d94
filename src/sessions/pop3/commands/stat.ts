// STAT (RFC 1939 §5): count and total octets of the messages not marked deleted. Sizes are
// the stored sizes, which are exact because messages are stored with CRLF line ends.
import type { Pop3CommandSpec } from '../types.js';

export const stat: Pop3CommandSpec = {
  name: 'STAT',
  states: ['TRANSACTION'],
  minArgs: 0,
  maxArgs: 0,
  handle(ctx) {
    const { count, octets } = ctx.maildrop!.stat();
    return { kind: 'ok', text: `${count} ${octets}` };
  },
};
