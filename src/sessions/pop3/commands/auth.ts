// AUTH mechanism [initial-response] (RFC 5034), PLAIN only (RFC 4616): the password travels
// as in PASS, so the same TLS rule applies. Without an initial response the server sends
// "+ " and the next line is the response; "*" cancels. Bare AUTH lists the mechanisms (the
// RFC 1734 form that Outlook and others still send).
import { decodePlainResponse } from '../../../protocols/pop3/sasl-plain.js';
import { login } from '../login.js';
import type { Pop3CommandSpec, Pop3Context, Pop3Result } from '../types.js';
import { PLAINTEXT_REFUSED, plaintextAllowed } from './auth-policy.js';

async function finish(ctx: Pop3Context, response: string): Promise<Pop3Result> {
  const r = decodePlainResponse(response);
  if (r.kind === 'cancel') return { kind: 'err', text: 'Authentication cancelled' };
  if (r.kind === 'invalid') return { kind: 'err', text: `Invalid SASL response: ${r.reason}`, bad: true };
  // No proxy logins: an authorization identity, if given, must name the same user.
  if (r.authzid && r.authzid.toLowerCase() !== r.authcid.toLowerCase()) {
    return { kind: 'err', code: 'AUTH', text: 'Authorization identity not permitted' };
  }
  return login(ctx, r.authcid, r.password, 'PLAIN');
}

export const auth: Pop3CommandSpec = {
  name: 'AUTH',
  states: ['AUTHORIZATION'],
  minArgs: 0,
  maxArgs: 2,
  sensitive: true,
  handle(ctx, cmd) {
    if (!cmd.args.length) {
      const mechs = plaintextAllowed(ctx) ? 'PLAIN\r\n' : '';
      return { kind: 'multi', text: 'Supported mechanisms follow', content: Buffer.from(mechs) };
    }
    if (cmd.args[0]!.toUpperCase() !== 'PLAIN') return { kind: 'err', text: 'Unsupported authentication mechanism' };
    if (!plaintextAllowed(ctx)) return PLAINTEXT_REFUSED;
    ctx.pendingUser = null;
    const initial = cmd.args[1];
    if (initial !== undefined) return finish(ctx, initial);
    return { kind: 'continue', challenge: '', next: (line) => finish(ctx, line) };
  },
};
