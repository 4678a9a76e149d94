// STLS (RFC 2595 §4): answer +OK, then the session starts the TLS handshake on the same
// connection and forgets everything from before it (a pending USER, any pipelined bytes).
import type { Pop3CommandSpec } from '../types.js';

export const stls: Pop3CommandSpec = {
  name: 'STLS',
  states: ['AUTHORIZATION'],
  minArgs: 0,
  maxArgs: 0,
  handle(ctx) {
    if (ctx.secure) return { kind: 'err', text: 'Already using TLS' };
    if (!ctx.stlsAvailable) return { kind: 'err', text: 'STLS not available' };
    ctx.pendingUser = null;
    return { kind: 'ok', text: 'Begin TLS negotiation', after: 'starttls' };
  },
};
