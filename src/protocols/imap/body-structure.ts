// ENVELOPE, BODY and BODYSTRUCTURE as response values, from the envelope and MIME tree that
// src/mime/message-metadata.ts stored at delivery (no MIME parsing here). Pure: no I/O.
// RFC 9051 §7.5.2 (body, body-type-1part, body-type-mpart, body-ext-*, envelope).
// Conventions followed (as Dovecot and Cyrus do): type, subtype, encoding and parameter
// names in upper case; sizes are of the encoded body bytes; RFC 3501 erratum 1599 (BODY never
// carries extension data, BODYSTRUCTURE always carries md5/disposition/language/location).
import type { Envelope, EnvelopeAddress, MimePart } from '../../mime/message-metadata.js';
import { atom, nstr, str, type Value } from './response.js';

export function envelopeValue(e: Envelope): Value[] {
  return [
    nstr(e.date), nstr(e.subject), addresses(e.from), addresses(e.sender), addresses(e.replyTo),
    addresses(e.to), addresses(e.cc), addresses(e.bcc), nstr(e.inReplyTo), nstr(e.messageId),
  ];
}

function addresses(list: EnvelopeAddress[] | null): Value {
  if (!list || !list.length) return null;
  // RFC 9051 §7.5.2: address = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"; groups
  // are a NIL-host entry with the group name as mailbox, closed by an all-NIL entry.
  return list.map((a) => [nstr(a.name), null, nstr(a.mailbox), nstr(a.host)]);
}

function params(p: Record<string, string>): Value {
  const entries = Object.entries(p);
  if (!entries.length) return null;
  const out: Value[] = [];
  for (const [k, v] of entries) out.push(str(k.toUpperCase()), str(v));
  return out;
}

function disposition(part: MimePart): Value {
  if (!part.disposition) return null;
  return [str(part.disposition.type.toUpperCase()), params(part.disposition.params)];
}

function language(part: MimePart): Value {
  if (!part.language || !part.language.length) return null;
  return part.language.map((l) => str(l));
}

/** BODYSTRUCTURE (extensible = true) or BODY (false) of a part. */
export function bodyStructureValue(part: MimePart, extensible: boolean): Value[] {
  if (part.type === 'multipart') {
    const out: Value[] = part.children.map((c) => bodyStructureValue(c, extensible));
    out.push(str(part.subtype.toUpperCase()));
    if (extensible) out.push(params(part.params), disposition(part), language(part), nstr(part.location));
    return out;
  }
  const size = Math.max(0, part.bodyEnd - part.bodyStart);
  const out: Value[] = [
    str(part.type.toUpperCase()), str(part.subtype.toUpperCase()), params(part.params), nstr(part.id),
    nstr(part.description), str(part.encoding.toUpperCase()), size,
  ];
  if (part.type === 'message' && (part.subtype === 'rfc822' || part.subtype === 'global') && part.message) {
    out.push(envelopeValue(part.message.envelope), bodyStructureValue(part.message.root, extensible), part.lines);
  } else if (part.type === 'text') {
    out.push(part.lines);
  }
  if (extensible) out.push(nstr(part.md5), disposition(part), language(part), nstr(part.location));
  return out;
}

/** Flags as a list of atoms. */
export function flagsValue(flags: readonly string[]): Value[] {
  return flags.map((f) => atom(f));
}
