// Mail address and domain normalisation. Every address the store keeps or looks up goes
// through here: domains become lower-case ASCII (IDNA/punycode), local parts are compared
// case-insensitively (we fold them to lower case, as most servers do), and anything that is
// not a plain RFC 5321 mailbox is refused rather than guessed at.
import { domainToASCII, domainToUnicode } from 'node:url';

const MAX_LOCAL = 64; // RFC 5321 §4.5.3.1.1
const MAX_DOMAIN = 253;
const MAX_ADDRESS = 320;
// Dot-atom local part, or a quoted string without controls. UTF-8 (RFC 6531) letters allowed.
const DOT_ATOM = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\uFFFF]+(\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\uFFFF]+)*$/u;
const QUOTED = /^"([\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"$/;
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

export class AddressError extends Error {}

/** Lower-case ASCII form of a domain name, or throws. Accepts Unicode (IDN) input. */
export function normalizeDomain(input: string): string {
  const trimmed = input.trim().replace(/\.$/, '');
  if (!trimmed || trimmed.length > MAX_DOMAIN * 4) throw new AddressError(`invalid domain '${input}'`);
  const ascii = domainToASCII(trimmed.toLowerCase());
  if (!ascii || ascii.length > MAX_DOMAIN) throw new AddressError(`invalid domain '${input}'`);
  const labels = ascii.split('.');
  if (labels.length < 1 || !labels.every((l) => LABEL.test(l))) throw new AddressError(`invalid domain '${input}'`);
  return ascii;
}

export function unicodeDomain(ascii: string): string {
  return domainToUnicode(ascii) || ascii;
}

export interface ParsedAddress { local: string; domain: string; address: string }

/** Splits and normalises `local@domain`. Throws AddressError on anything else. */
export function parseAddress(input: string): ParsedAddress {
  const s = input.trim();
  const at = s.lastIndexOf('@');
  if (at <= 0 || at === s.length - 1 || s.length > MAX_ADDRESS * 2) throw new AddressError(`invalid address '${input}'`);
  const local = s.slice(0, at);
  if (Buffer.byteLength(local) > MAX_LOCAL || !(DOT_ATOM.test(local) || QUOTED.test(local))) {
    throw new AddressError(`invalid address '${input}'`);
  }
  const domain = normalizeDomain(s.slice(at + 1));
  const address = `${local.toLowerCase()}@${domain}`;
  if (address.length > MAX_ADDRESS) throw new AddressError(`invalid address '${input}'`);
  return { local: local.toLowerCase(), domain, address };
}

export function normalizeAddress(input: string): string {
  return parseAddress(input).address;
}

export function tryNormalizeAddress(input: string): string | null {
  try {
    return normalizeAddress(input);
  } catch {
    return null;
  }
}

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1);
}
