// vCard 3.0 (RFC 2426) <-> 4.0 (RFC 6350) conversion and property selection for CardDAV
// address-data (RFC 6352 §10.4). Works on content lines (group, name, parameters, value) so
// everything it does not know passes through unchanged; what it maps is what clients trip
// over: VERSION, TYPE parameters (INTERNET/PREF vs PREF=1, case), binary PHOTO/LOGO/SOUND/KEY
// (ENCODING=b;TYPE=JPEG vs data: URIs), KIND vs X-ADDRESSBOOKSERVER-KIND, MEMBER vs
// X-ADDRESSBOOKSERVER-MEMBER, UID as urn:uuid:, BDAY/ANNIVERSARY formats (incl. Apple's
// X-APPLE-OMIT-YEAR for dates without a year), TEL tel: URIs, and the required N/FN.
// Must not: do I/O; it never changes stored data (callers convert a copy for one answer).
// RFCs: 2426, 6350 (§6.2.5 BDAY, §5.3 PREF, §6.1.4 KIND), 6352 §10.4, 2397 (data: URIs).
// Prior art read: sabre/vobject's VCardConverter (same mappings, independent code).

export type VCardVersion = '3.0' | '4.0';

interface Line { group: string; name: string; params: Array<[string, string[]]>; value: string }

/** Unfolds and splits a vCard into content lines (RFC 6350 §3.2); malformed lines are dropped. */
export function parseLines(text: string): Line[] {
  const unfolded = text.replace(/\r?\n[ \t]/g, '');
  const out: Line[] = [];
  for (const raw of unfolded.split(/\r?\n/)) {
    if (!raw.trim()) continue;
    const l = parseLine(raw);
    if (l) out.push(l);
  }
  return out;
}

function parseLine(raw: string): Line | null {
  // name[;params]:value, with quoted parameter values that may contain ; : and ,
  let i = 0;
  const nameEnd = raw.search(/[;:]/);
  if (nameEnd <= 0) return null;
  let name = raw.slice(0, nameEnd);
  let group = '';
  const dot = name.indexOf('.');
  if (dot > 0) {
    group = name.slice(0, dot);
    name = name.slice(dot + 1);
  }
  i = nameEnd;
  const params: Array<[string, string[]]> = [];
  while (raw[i] === ';') {
    i++;
    const eq = raw.indexOf('=', i);
    const stop = raw.slice(i).search(/[;:]/);
    if (eq < 0 || (stop >= 0 && i + stop < eq)) {
      // vCard 2.1 style bare parameter (e.g. ;PREF or ;JPEG): a TYPE value.
      const end = stop < 0 ? raw.length : i + stop;
      params.push(['TYPE', [raw.slice(i, end)]]);
      i = end;
      continue;
    }
    const pname = raw.slice(i, eq).toUpperCase();
    i = eq + 1;
    const values: string[] = [];
    for (;;) {
      let v = '';
      if (raw[i] === '"') {
        const close = raw.indexOf('"', i + 1);
        if (close < 0) return null;
        v = raw.slice(i + 1, close);
        i = close + 1;
      } else {
        while (i < raw.length && raw[i] !== ',' && raw[i] !== ';' && raw[i] !== ':') v += raw[i++];
      }
      values.push(v);
      if (raw[i] === ',') {
        i++;
        continue;
      }
      break;
    }
    params.push([pname, values]);
  }
  if (raw[i] !== ':') return null;
  return { group, name: name.toUpperCase(), params, value: raw.slice(i + 1) };
}

function formatLine(l: Line): string {
  let s = (l.group ? `${l.group}.` : '') + l.name;
  for (const [n, vs] of l.params) s += `;${n}=${vs.map((v) => (/[;:,"]/.test(v) ? `"${v.replace(/"/g, '')}"` : v)).join(',')}`;
  return fold(`${s}:${l.value}`);
}

/** Folds at 75 octets without splitting a UTF-8 sequence (RFC 6350 §3.2). */
function fold(line: string): string {
  if (Buffer.byteLength(line) <= 75) return line;
  const parts: string[] = [];
  let cur = '';
  let bytes = 0;
  for (const ch of line) {
    const b = Buffer.byteLength(ch);
    if (bytes + b > (parts.length ? 74 : 75)) {
      parts.push(cur);
      cur = '';
      bytes = 0;
    }
    cur += ch;
    bytes += b;
  }
  parts.push(cur);
  return parts.join('\r\n ');
}

const param = (l: Line, n: string) => l.params.find(([k]) => k === n)?.[1];
const dropParam = (l: Line, n: string) => { l.params = l.params.filter(([k]) => k !== n); };
function setParam(l: Line, n: string, vs: string[]): void {
  dropParam(l, n);
  if (vs.length) l.params.push([n, vs]);
}
/** TYPE values, flattened (TYPE=a,b;TYPE=c). */
const typesOf = (l: Line) => l.params.filter(([k]) => k === 'TYPE').flatMap(([, v]) => v.flatMap((x) => x.split(',')));

const BINARY = new Set(['PHOTO', 'LOGO', 'SOUND', 'KEY']);
const MEDIA: Record<string, string> = { JPEG: 'image/jpeg', JPG: 'image/jpeg', PNG: 'image/png', GIF: 'image/gif', BMP: 'image/bmp', TIFF: 'image/tiff', WEBP: 'image/webp', OGG: 'audio/ogg', MP3: 'audio/mpeg', WAV: 'audio/wav', PGP: 'application/pgp-keys', X509: 'application/pkix-cert' };
/** vCard 4.0 TYPE values per property (RFC 6350 §6.4.1, §5.6); the rest are 3.0-only. */
const TEL_TYPES = new Set(['text', 'voice', 'fax', 'cell', 'video', 'pager', 'textphone', 'work', 'home']);
const PLAIN_TYPES = new Set(['work', 'home']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Properties of one version with no counterpart in the other; dropped when converting. */
const ONLY_3 = new Set(['NAME', 'MAILER', 'LABEL', 'CLASS', 'SORT-STRING', 'AGENT', 'PROFILE']);
const ONLY_4 = new Set(['CLIENTPIDMAP', 'XML']);

function versionOf(lines: Line[]): string {
  return lines.find((l) => l.name === 'VERSION')?.value.trim() ?? '';
}

/** Unescaped text of a vCard text value's first component. */
const unescape = (v: string) => v.replace(/\\([\\,;nN])/g, (_, c: string) => (c === 'n' || c === 'N' ? '\n' : c));
const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/([,;])/g, '\\$1');

/**
 * The vCard in the requested version. Text already in that version comes back unchanged
 * (byte for byte); anything that does not look like a vCard too.
 */
export function convertVCard(text: string, to: VCardVersion): string {
  const lines = parseLines(text);
  const from = versionOf(lines);
  if (from === to || (from !== '3.0' && from !== '4.0')) return text;
  const out = to === '4.0' ? to4(lines) : to3(lines);
  return out.map(formatLine).join('\r\n') + '\r\n';
}

function to4(lines: Line[]): Line[] {
  const out: Line[] = [];
  let kind: string | null = null;
  for (const src of lines) {
    const l: Line = { ...src, params: src.params.map(([k, v]) => [k, [...v]]) };
    if (ONLY_3.has(l.name)) continue;
    dropParam(l, 'CHARSET');
    if (l.name === 'VERSION') l.value = '4.0';
    else if (l.name === 'X-ADDRESSBOOKSERVER-KIND') { kind = l.value.trim().toLowerCase(); continue; }
    else if (l.name === 'X-ADDRESSBOOKSERVER-MEMBER') l.name = 'MEMBER';
    else if (l.name === 'X-ANNIVERSARY') l.name = 'ANNIVERSARY';
    else if (l.name === 'UID') {
      const v = l.value.trim();
      if (UUID.test(v)) l.value = `urn:uuid:${v}`;
      else if (!/^[a-z][a-z0-9+.-]*:/i.test(v)) setParam(l, 'VALUE', ['text']);
    }
    if (l.name === 'BDAY' || l.name === 'ANNIVERSARY') dateTo4(l);
    if (BINARY.has(l.name)) binaryTo4(l);
    // TYPE: lower case, PREF → PREF=1, INTERNET/X400 and other 3.0-only values dropped.
    const types = typesOf(l).map((t) => t.toLowerCase());
    if (types.length) {
      const allowed = l.name === 'TEL' ? TEL_TYPES : BINARY.has(l.name) ? new Set<string>() : PLAIN_TYPES;
      const keep = [...new Set(types.filter((t) => allowed.has(t) || t.startsWith('x-')))];
      if (l.name === 'TEL' && types.includes('msg')) keep.push('text');
      setParam(l, 'TYPE', keep);
      if (types.includes('pref') && !param(l, 'PREF')) l.params.push(['PREF', ['1']]);
    }
    out.push(l);
  }
  const at = out.findIndex((l) => l.name === 'VERSION') + 1 || 1;
  if (kind && kind !== 'individual') out.splice(at, 0, { group: '', name: 'KIND', params: [], value: kind });
  ensureFn(out);
  return out;
}

function to3(lines: Line[]): Line[] {
  const out: Line[] = [];
  for (const src of lines) {
    const l: Line = { ...src, params: src.params.map(([k, v]) => [k, [...v]]) };
    if (ONLY_4.has(l.name)) continue;
    dropParam(l, 'PID');
    dropParam(l, 'ALTID');
    if (l.name === 'VERSION') l.value = '3.0';
    else if (l.name === 'KIND') {
      const k = l.value.trim().toLowerCase();
      if (k === 'individual') continue;
      l.name = 'X-ADDRESSBOOKSERVER-KIND';
      l.value = k;
    } else if (l.name === 'MEMBER') l.name = 'X-ADDRESSBOOKSERVER-MEMBER';
    else if (l.name === 'ANNIVERSARY') l.name = 'X-ANNIVERSARY';
    else if (l.name === 'UID') {
      const m = /^urn:uuid:(.+)$/i.exec(l.value.trim());
      if (m) l.value = m[1]!;
      dropParam(l, 'VALUE');
    } else if (l.name === 'TEL' && /^tel:/i.test(l.value)) {
      l.value = l.value.replace(/^tel:/i, '');
      dropParam(l, 'VALUE');
    }
    if (l.name === 'BDAY' || l.name === 'X-ANNIVERSARY') dateTo3(l);
    if (BINARY.has(l.name)) binaryTo3(l);
    const pref = param(l, 'PREF');
    const types = typesOf(l).map((t) => t.toUpperCase());
    if (pref || types.length) {
      dropParam(l, 'PREF');
      const all = [...types];
      if (l.name === 'EMAIL' && !all.includes('INTERNET')) all.unshift('INTERNET');
      if (pref && Number(pref[0]) === 1) all.push('PREF');
      setParam(l, 'TYPE', [...new Set(all)]);
    } else if (l.name === 'EMAIL') {
      l.params.push(['TYPE', ['INTERNET']]);
    }
    out.push(l);
  }
  ensureFn(out);
  // RFC 2426 §3.1.2: N is required in 3.0 (it is optional in 4.0).
  if (!out.some((l) => l.name === 'N')) {
    const fn = unescape(out.find((l) => l.name === 'FN')?.value ?? '');
    const kind = out.find((l) => l.name === 'X-ADDRESSBOOKSERVER-KIND')?.value;
    const parts = fn.trim().split(/\s+/).filter(Boolean);
    const value = kind || parts.length < 2 ? `${escape(fn.trim())};;;;` : `${escape(parts[parts.length - 1]!)};${escape(parts.slice(0, -1).join(' '))};;;`;
    const at = out.findIndex((l) => l.name === 'FN') + 1;
    out.splice(at, 0, { group: '', name: 'N', params: [], value });
  }
  return out;
}

/** FN is required in both versions: derived from N, ORG or EMAIL when a card lacks it. */
function ensureFn(out: Line[]): void {
  if (out.some((l) => l.name === 'FN')) return;
  const n = out.find((l) => l.name === 'N');
  let fn = '';
  if (n) {
    const [family = '', given = '', additional = '', prefix = '', suffix = ''] = n.value.split(/(?<!\\);/).map(unescape);
    fn = [prefix, given, additional, family, suffix].map((s) => s.trim()).filter(Boolean).join(' ');
  }
  fn ||= unescape(out.find((l) => l.name === 'ORG')?.value.split(/(?<!\\);/)[0] ?? '') || out.find((l) => l.name === 'EMAIL')?.value || '';
  const at = out.findIndex((l) => l.name === 'VERSION') + 1 || 1;
  out.splice(at, 0, { group: '', name: 'FN', params: [], value: escape(fn) });
}

/** 3.0 BDAY 1985-04-12 / 19850412 / 1604-04-12 with X-APPLE-OMIT-YEAR → 4.0 19850412 / --0412. */
function dateTo4(l: Line): void {
  const omit = param(l, 'X-APPLE-OMIT-YEAR')?.[0];
  dropParam(l, 'X-APPLE-OMIT-YEAR');
  const m = /^(\d{4})-?(\d{2})-?(\d{2})(T.*)?$/.exec(l.value.trim());
  if (!m) return;
  if (omit && omit === m[1] && !m[4]) l.value = `--${m[2]}${m[3]}`;
  else l.value = `${m[1]}${m[2]}${m[3]}${m[4] ? m[4].replace(/[-:]/g, '') : ''}`;
}

/** 4.0 --0412 → 3.0 1604-04-12;X-APPLE-OMIT-YEAR=1604 (Apple's form); 19850412 → 1985-04-12. */
function dateTo3(l: Line): void {
  const v = l.value.trim();
  if (param(l, 'VALUE')?.[0]?.toLowerCase() === 'text') return;
  let m = /^--(\d{2})-?(\d{2})$/.exec(v);
  if (m) {
    l.value = `1604-${m[1]}-${m[2]}`;
    setParam(l, 'X-APPLE-OMIT-YEAR', ['1604']);
    return;
  }
  m = /^(\d{4})-?(\d{2})-?(\d{2})(T.*)?$/.exec(v);
  if (m) l.value = `${m[1]}-${m[2]}-${m[3]}${m[4] ?? ''}`;
}

/** ENCODING=b;TYPE=JPEG:<base64> → data:image/jpeg;base64,<base64>; VALUE=uri dropped (default). */
function binaryTo4(l: Line): void {
  const enc = param(l, 'ENCODING')?.[0]?.toLowerCase();
  if (enc === 'b' || enc === 'base64') {
    const t = typesOf(l).find((x) => x.toLowerCase() !== 'pref');
    const media = t ? MEDIA[t.toUpperCase()] ?? (t.includes('/') ? t.toLowerCase() : `image/${t.toLowerCase()}`) : 'application/octet-stream';
    l.value = `data:${media};base64,${l.value.replace(/\s+/g, '')}`;
    dropParam(l, 'ENCODING');
    dropParam(l, 'TYPE');
  }
  dropParam(l, 'VALUE');
}

/** data:image/png;base64,<b64> → ENCODING=b;TYPE=PNG:<b64>; other URIs get VALUE=uri. */
function binaryTo3(l: Line): void {
  const m = /^data:([^;,]+)?(;base64)?,(.*)$/is.exec(l.value.trim());
  dropParam(l, 'MEDIATYPE');
  if (m && m[2]) {
    const media = (m[1] ?? 'application/octet-stream').toLowerCase();
    const short = Object.entries(MEDIA).find(([, v]) => v === media)?.[0] ?? media.split('/').pop()!.toUpperCase();
    l.value = m[3]!;
    dropParam(l, 'VALUE');
    setParam(l, 'ENCODING', ['b']);
    setParam(l, 'TYPE', [short === 'JPG' ? 'JPEG' : short]);
  } else if (/^[a-z][a-z0-9+.-]*:/i.test(l.value.trim())) {
    setParam(l, 'VALUE', ['uri']);
  }
}

/**
 * RFC 6352 §10.4.2: only the listed properties (names upper case; novalue: name and
 * parameters only). BEGIN/END, VERSION and UID are always kept: without them the result is no
 * vCard a client can match to the resource.
 */
export function selectVCardProps(text: string, props: Array<{ name: string; novalue: boolean }>): string {
  const keep = new Map(props.map((p) => [p.name, p.novalue]));
  const out: string[] = [];
  for (const l of parseLines(text)) {
    if (['BEGIN', 'END', 'VERSION', 'UID'].includes(l.name)) {
      out.push(formatLine(l));
      continue;
    }
    if (!keep.has(l.name)) continue;
    out.push(formatLine(keep.get(l.name) ? { ...l, value: '' } : l));
  }
  return out.join('\r\n') + '\r\n';
}

/**
 * The vCard version a GET's Accept header asks for (RFC 6352 §6.3.2.1 content negotiation, as
 * sabre/dav does it): the acceptable `text/vcard` range with the highest q that names
 * `version=3.0` or `4.0`, if it is preferred over every range without a version; null = serve
 * the card as stored.
 */
export function acceptedVCardVersion(accept: string | undefined): VCardVersion | null {
  if (!accept) return null;
  let best: { q: number; version: VCardVersion | null } | null = null;
  for (const range of accept.split(',').slice(0, 32)) {
    const [type, ...params] = range.split(';').map((x) => x.trim().toLowerCase());
    if (type !== 'text/vcard' && type !== 'text/x-vcard' && type !== '*/*' && type !== 'text/*') continue;
    let q = 1;
    let version: VCardVersion | null = null;
    for (const p of params) {
      const [k, v = ''] = p.split('=').map((x) => x.trim().replace(/^"|"$/g, ''));
      if (k === 'q') q = Number.isFinite(Number(v)) ? Number(v) : 0;
      else if (k === 'version' && (v === '3.0' || v === '4.0')) version = v;
    }
    if (q <= 0) continue;
    if (!best || q > best.q || (q === best.q && version && !best.version)) best = { q, version };
  }
  return best?.version ?? null;
}
