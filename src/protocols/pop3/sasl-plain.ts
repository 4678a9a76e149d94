// Decodes a SASL PLAIN client response (RFC 4616) as carried by POP3 AUTH (RFC 5034): base64
// of authzid NUL authcid NUL passwd. Must not do I/O or verify anything; it only splits.
// RFC 5034 §4: "=" is an empty initial response and "*" cancels; both are handled here as
// data so the session only has to act on the result.

export type PlainResponse =
  | { kind: 'credentials'; authzid: string; authcid: string; password: string }
  | { kind: 'cancel' }
  | { kind: 'invalid'; reason: string };

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function decodePlainResponse(text: string): PlainResponse {
  const t = text.trim();
  if (t === '*') return { kind: 'cancel' };
  if (t === '=' || t === '') return { kind: 'invalid', reason: 'empty response' };
  if (!BASE64.test(t)) return { kind: 'invalid', reason: 'not base64' };
  const parts = Buffer.from(t, 'base64').toString('utf8').split('\0');
  if (parts.length !== 3) return { kind: 'invalid', reason: 'malformed PLAIN message' };
  const [authzid, authcid, password] = parts as [string, string, string];
  if (!authcid || !password) return { kind: 'invalid', reason: 'malformed PLAIN message' };
  return { kind: 'credentials', authzid, authcid, password };
}
