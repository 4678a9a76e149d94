// AUTHENTICATE PLAIN (RFC 9051 §6.2.2, RFC 4616) with an initial response (SASL-IR, RFC 4959)
// or after an empty "+" challenge. "*" cancels (BAD). Other mechanisms: NO.
import { decodePlainResponse } from '../../../protocols/pop3/sasl-plain.js';
import { bad, no, type CommandHandler } from '../types.js';
import { completeLogin } from './login.js';

export const authenticate: CommandHandler = async (s, _req, args) => {
  const mech = args.atom('mechanism').toUpperCase();
  const initial = args.remaining ? args.atom('initial response') : null;
  args.end();
  if (mech !== 'PLAIN') return no(`Unsupported mechanism ${mech.slice(0, 20)}`, 'CANNOT');
  if (!s.plaintextAllowed) return no('Use STARTTLS first', 'PRIVACYREQUIRED');
  let response = initial;
  if (response === null) {
    s.send('+ \r\n');
    response = await s.readLine();
    if (response === null) return bad('Connection closed');
  }
  // SASL-IR: "=" is an empty initial response (RFC 4959 §3); PLAIN then has nothing to verify.
  const r = decodePlainResponse(response === '=' ? '' : response);
  if (r.kind === 'cancel') return bad('Authentication cancelled');
  if (r.kind === 'invalid') return bad(`Invalid SASL response: ${r.reason}`);
  if (r.authzid && r.authzid.toLowerCase() !== r.authcid.toLowerCase()) return no('Proxy authorization not supported', 'AUTHORIZATIONFAILED');
  return completeLogin(s, r.authcid, r.password, 'PLAIN');
};
