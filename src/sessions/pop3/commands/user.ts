// USER name (RFC 1939 §7). Always +OK when allowed, whether or not the name exists, so the
// reply reveals nothing about which accounts exist; PASS decides.
import type { Pop3CommandSpec } from '../types.js';
import { PLAINTEXT_REFUSED, plaintextAllowed } from './auth-policy.js';

export const user: Pop3CommandSpec = {
  name: 'USER',
  states: ['AUTHORIZATION'],
  minArgs: 1,
  maxArgs: 1,
  handle(ctx, cmd) {
    if (!plaintextAllowed(ctx)) return PLAINTEXT_REFUSED;
    ctx.pendingUser = cmd.args[0]!;
    return { kind: 'ok', text: 'Send PASS' };
  },
};
