// CAPA (RFC 2449 §5). Lists only what may be used right now: before TLS on a connection that
// refuses plaintext credentials, USER and SASL are left out and STLS is offered (RFC 2595 §4),
// so clients do not try to log in in the clear.
import { textLines } from '../../../protocols/pop3/response.js';
import type { Pop3CommandSpec } from '../types.js';

export const capa: Pop3CommandSpec = {
  name: 'CAPA',
  states: ['AUTHORIZATION', 'TRANSACTION'],
  minArgs: 0,
  maxArgs: 0,
  handle(ctx) {
    const lines = ['TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING'];
    if (ctx.state === 'AUTHORIZATION') {
      const plaintext = ctx.secure || ctx.deps.allowPlaintextWithoutTls;
      if (plaintext) lines.push('USER', 'SASL PLAIN');
      if (ctx.stlsAvailable) lines.push('STLS');
    }
    lines.push('IMPLEMENTATION Pochtamt');
    return { kind: 'multi', text: 'Capability list follows', content: textLines(lines) };
  },
};
