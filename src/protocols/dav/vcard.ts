// vCard for CardDAV: validates an address object resource (stored exactly as sent, 3.0 or
// 4.0), evaluates addressbook-query filters, and renders vCards for the Global Address List.
// Must not: do I/O or convert stored data. RFCs: 6350, 2426, 6352 §5.1 (one vCard, UID), §10.5.
// Version conversion for answers is in vcard-convert.ts.
import ICAL from 'ical.js';
import { propertyText, textMatches } from './icalendar.js';
import type { AddressbookQuery, CardPropFilter, ParamFilter } from './requests.js';

type Component = InstanceType<typeof ICAL.Component>;

export type VCardCheck = { ok: true; uid: string; version: string; card: Component } | { ok: false; condition: 'valid-address-data' | 'supported-address-data'; message: string };

export function parseVCard(text: string): Component {
  const j = ICAL.parse(text);
  if (!Array.isArray(j) || typeof j[0] !== 'string') throw new Error('expected exactly one VCARD');
  const c = new ICAL.Component(j as unknown as unknown[]);
  if (c.name !== 'vcard') throw new Error('not a VCARD');
  return c;
}

export function checkVCard(text: string): VCardCheck {
  let card: Component;
  try {
    if (!/^\s*BEGIN:VCARD\r?\n/i.test(text)) throw new Error('does not start with BEGIN:VCARD');
    card = parseVCard(text);
    for (const p of card.getAllProperties()) p.getValues();
  } catch (e) {
    return { ok: false, condition: 'valid-address-data', message: (e as Error).message };
  }
  const version = String(card.getFirstPropertyValue('version') ?? '');
  if (version !== '3.0' && version !== '4.0') return { ok: false, condition: 'supported-address-data', message: `vCard version ${version || '(none)'} not supported` };
  const uid = String(card.getFirstPropertyValue('uid') ?? '').trim();
  if (!uid) return { ok: false, condition: 'valid-address-data', message: 'a vCard needs a UID (RFC 6352 §5.1)' };
  return { ok: true, uid, version, card };
}

function paramMatches(p: InstanceType<typeof ICAL.Property>, f: ParamFilter): boolean {
  const v = p.getParameter(f.name.toLowerCase()) as string | string[] | undefined;
  if (f.isNotDefined) return v === undefined;
  if (v === undefined) return false;
  if (!f.textMatch) return true;
  return (Array.isArray(v) ? v : [v]).some((x) => textMatches(String(x), f.textMatch!));
}

function propFilterMatches(card: Component, f: CardPropFilter): boolean {
  const props = card.getAllProperties(f.name.toLowerCase());
  if (f.isNotDefined) return props.length === 0;
  if (!props.length) return false;
  if (!f.textMatches.length && !f.paramFilters.length) return true;
  return props.some((p) => {
    const tests = [
      ...f.textMatches.map((m) => () => textMatches(propertyText(p), m)),
      ...f.paramFilters.map((pf) => () => paramMatches(p, pf)),
    ];
    return f.test === 'allof' ? tests.every((t) => t()) : tests.some((t) => t());
  });
}

/** RFC 6352 §10.5: an empty filter matches every card. */
export function matchesAddressbookQuery(text: string, q: AddressbookQuery): boolean {
  if (!q.filters.length) return true;
  let card: Component;
  try {
    card = parseVCard(text);
  } catch {
    return false;
  }
  return q.test === 'allof' ? q.filters.every((f) => propFilterMatches(card, f)) : q.filters.some((f) => propFilterMatches(card, f));
}

const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/([,;])/g, '\\$1');

export interface GalEntry {
  uid: string;
  kind: 'individual' | 'group';
  displayName: string;
  email: string;
  members?: string[];
  rev: number;
  /** Further addresses (directory aliases), after the primary one. */
  emails?: string[];
  // Directory attributes (directory-synced accounts only).
  givenName?: string;
  familyName?: string;
  title?: string;
  department?: string;
  workPhone?: string;
  mobile?: string;
  office?: string;
}

/** A vCard 3.0 (RFC 2426) for a GAL entry; groups use the Apple X-ADDRESSBOOKSERVER-* form clients read. */
export function galVCard(e: GalEntry): string {
  const name = e.displayName || e.email;
  const lines = ['BEGIN:VCARD', 'VERSION:3.0', 'PRODID:-//Pochtamt//GAL//EN', `UID:${esc(e.uid)}`, `FN:${esc(name)}`];
  if (e.kind === 'individual') {
    if (e.givenName || e.familyName) lines.push(`N:${esc(e.familyName ?? '')};${esc(e.givenName ?? '')};;;`);
    else {
      const parts = name.split(/\s+/);
      const family = parts.length > 1 ? parts[parts.length - 1]! : name;
      const given = parts.length > 1 ? parts.slice(0, -1).join(' ') : '';
      lines.push(`N:${esc(family)};${esc(given)};;;`);
    }
  } else {
    lines.push(`N:${esc(name)};;;;`, 'X-ADDRESSBOOKSERVER-KIND:group');
    for (const m of e.members ?? []) lines.push(`X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:${m}`);
  }
  lines.push(`EMAIL;TYPE=INTERNET,WORK:${e.email}`);
  for (const a of e.emails ?? []) lines.push(`EMAIL;TYPE=INTERNET,WORK:${a}`);
  if (e.title) lines.push(`TITLE:${esc(e.title)}`);
  // ORG is organization;unit (RFC 2426 §3.5.5): the directory gives the department, not the company.
  if (e.department) lines.push(`ORG:;${esc(e.department)}`);
  if (e.workPhone) lines.push(`TEL;TYPE=WORK,VOICE:${esc(e.workPhone)}`);
  if (e.mobile) lines.push(`TEL;TYPE=CELL,VOICE:${esc(e.mobile)}`);
  // The office (room) is the extended-address part of a work ADR (RFC 2426 §3.2.1).
  if (e.office) lines.push(`ADR;TYPE=WORK:;${esc(e.office)};;;;;`, `X-OFFICE:${esc(e.office)}`);
  lines.push(`REV:${new Date(e.rev).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')}`, 'END:VCARD');
  return lines.join('\r\n') + '\r\n';
}
