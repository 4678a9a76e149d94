// RSET (RFC 1939 §5): unmarks every message marked by DELE in this session.
import type { Pop3CommandSpec } from '../types.js';

export const rset: Pop3CommandSpec = {
  name: 'RSET',
  states: ['TRANSACTION'],
  minArgs: 0,
  maxArgs: 0,
  handle(ctx) {
    const md = ctx.maildrop!;
    md.reset();
    const { count, octets } = md.stat();
    return { kind: 'ok', text: `Maildrop has ${count} messages (${octets} octets)` };
  },
};
