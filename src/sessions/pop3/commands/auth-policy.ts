// When credentials may be sent, shared by CAPA's siblings USER, PASS and AUTH.
// Choice of response code: RFC 3206 §4 [AUTH] ("authentication credentials ... problem") fits
// best: it tells the client the login itself was refused, not that the system is down
// ([SYS/TEMP] would invite blind retries, [SYS/PERM] would send the user to the admin). The
// text says what to do. Dovecot answers the same case with [AUTH] as well.
import type { Pop3Context, Pop3Result } from '../types.js';

export function plaintextAllowed(ctx: Pop3Context): boolean {
  return ctx.secure || ctx.deps.allowPlaintextWithoutTls;
}

export const PLAINTEXT_REFUSED: Pop3Result = {
  kind: 'err', code: 'AUTH', text: 'Plaintext authentication disallowed on a connection without TLS; use STLS first', bad: true,
};
