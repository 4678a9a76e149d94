// FETCH arguments: data items (with the ALL/FAST/FULL macros), body sections with partial
// ranges ("BODY.PEEK[1.2.HEADER.FIELDS (FROM TO)]<0.100>") and modifiers (CHANGEDSINCE,
// VANISHED). Pure: no I/O. RFC 9051 §6.4.5, RFC 3516 (BINARY), RFC 7162 §3.1.4 / §3.2.6.

import { ArgError, type ArgReader } from './args.js';

export type SectionText = 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME' | null;

export interface Section {
  /** Part numbers, [] for the whole message. */
  path: number[];
  text: SectionText;
  /** Upper-cased field names for HEADER.FIELDS(.NOT). */
  fields: string[];
}

export type FetchItem =
  | { kind: 'UID' | 'FLAGS' | 'INTERNALDATE' | 'RFC822.SIZE' | 'ENVELOPE' | 'BODYSTRUCTURE' | 'BODY' | 'MODSEQ'
      | 'RFC822' | 'RFC822.HEADER' | 'RFC822.TEXT' }
  | { kind: 'BODY[]'; peek: boolean; section: Section; partial: { start: number; length: number | null } | null; raw: string }
  | { kind: 'BINARY[]'; peek: boolean; section: Section; partial: { start: number; length: number | null } | null; raw: string }
  | { kind: 'BINARY.SIZE'; section: Section; raw: string };

export interface FetchArgs {
  items: FetchItem[];
  changedSince: number | null;
  vanished: boolean;
}

const SIMPLE = new Set(['UID', 'FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODYSTRUCTURE', 'BODY', 'MODSEQ',
  'RFC822', 'RFC822.HEADER', 'RFC822.TEXT']);
const MACROS: Record<string, string[]> = {
  ALL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'],
  FAST: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'],
  FULL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY'],
};

/** Reads "items [(modifiers)]" after the sequence set. */
export function parseFetchArgs(r: ArgReader): FetchArgs {
  const items: FetchItem[] = [];
  if (r.isListNext()) {
    const l = r.list('fetch items');
    if (!l.remaining) throw new ArgError('Empty fetch item list');
    while (l.remaining) items.push(parseItem(l.atom('fetch item')));
  } else {
    const a = r.atom('fetch items');
    const macro = MACROS[a.toUpperCase()];
    if (macro) items.push(...macro.map((m) => ({ kind: m }) as FetchItem));
    else items.push(parseItem(a));
  }
  let changedSince: number | null = null;
  let vanished = false;
  const mods = r.optionalList();
  if (mods) {
    while (mods.remaining) {
      const m = mods.atom('fetch modifier').toUpperCase();
      if (m === 'CHANGEDSINCE') changedSince = mods.number('mod-sequence');
      else if (m === 'VANISHED') vanished = true;
      else throw new ArgError(`Unknown fetch modifier ${m}`);
    }
  }
  r.end();
  if (vanished && changedSince === null) throw new ArgError('VANISHED requires CHANGEDSINCE');
  return { items, changedSince, vanished };
}

export function parseItem(text: string): FetchItem {
  const up = text.toUpperCase();
  if (SIMPLE.has(up)) return { kind: up } as FetchItem;
  const m = /^(BODY|BODY\.PEEK|BINARY|BINARY\.PEEK|BINARY\.SIZE)\[([^\]]*)\](?:<(\d{1,10})(?:\.(\d{1,10}))?>)?$/i.exec(text);
  if (!m) throw new ArgError(`Unknown fetch item ${text.slice(0, 64)}`);
  const name = m[1]!.toUpperCase();
  const binary = name.startsWith('BINARY');
  const section = parseSection(m[2]!, binary);
  const partial = m[3] !== undefined ? { start: Number(m[3]), length: m[4] !== undefined ? Number(m[4]) : null } : null;
  if (partial && m[4] === undefined) throw new ArgError('Partial range needs a length'); // RFC 9051 §6.4.5: <start.count>
  if (name === 'BINARY.SIZE') {
    if (partial) throw new ArgError('BINARY.SIZE takes no partial range');
    return { kind: 'BINARY.SIZE', section, raw: m[2]! };
  }
  return { kind: binary ? 'BINARY[]' : 'BODY[]', peek: name.endsWith('.PEEK'), section, partial, raw: m[2]! };
}

export function parseSection(spec: string, binary: boolean): Section {
  const section: Section = { path: [], text: null, fields: [] };
  if (!spec) return section;
  const fm = /^((?:\d+\.)*)(HEADER\.FIELDS(?:\.NOT)?) \(([^()]*)\)$/i.exec(spec);
  let rest = spec;
  if (fm) {
    rest = fm[1]!.replace(/\.$/, '');
    section.text = fm[2]!.toUpperCase() as SectionText;
    const names = fm[3]!.trim().split(/ +/).filter(Boolean);
    if (!names.length) throw new ArgError('Empty header field list');
    for (const n of names) {
      const name = n.replace(/^"(.*)"$/, '$1');
      if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name)) throw new ArgError(`Invalid header field name ${n}`);
      section.fields.push(name.toUpperCase());
    }
  }
  if (rest) {
    const parts = rest.split('.');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (/^[1-9]\d{0,5}$/.test(p)) {
        section.path.push(Number(p));
        continue;
      }
      const t = parts.slice(i).join('.').toUpperCase();
      if (section.text || !['HEADER', 'TEXT', 'MIME'].includes(t)) throw new ArgError(`Invalid section ${spec.slice(0, 64)}`);
      if (t === 'MIME' && !section.path.length) throw new ArgError('MIME needs a part number');
      section.text = t as SectionText;
      break;
    }
  }
  if (binary && section.text) throw new ArgError('BINARY takes part numbers only'); // RFC 3516 §4.2
  return section;
}
