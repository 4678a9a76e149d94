// PASS string (RFC 1939 §7). The password is the whole rest of the line, spaces included.
// Only valid right after USER; a failed PASS needs a new USER.
import { login } from '../login.js';
import type { Pop3CommandSpec } from '../types.js';
import { PLAINTEXT_REFUSED, plaintextAllowed } from './auth-policy.js';

export const pass: Pop3CommandSpec = {
  name: 'PASS',
  states: ['AUTHORIZATION'],
  minArgs: 1,
  maxArgs: Number.POSITIVE_INFINITY,
  sensitive: true,
  async handle(ctx, cmd) {
    if (!plaintextAllowed(ctx)) return PLAINTEXT_REFUSED;
    const username = ctx.pendingUser;
    if (username === null) return { kind: 'err', text: 'Send USER first', bad: true };
    ctx.pendingUser = null;
    return login(ctx, username, cmd.rest, 'USER');
  },
};
