// NAME escape — RFC 4515 filter values, RFC 4514 DN attribute values, and AD binary GUIDs.
// Every LDAP filter this project builds from input (login names, ids, DNs, search terms) goes
// through `filterValue()` or the `ldapFilter` template tag; every DN built from input goes
// through `dnValue()`. Pure functions: no I/O.
// BUGS: dnValue() escapes only what RFC 4514 §2.4 requires (plus NUL); it does not produce the
// hex form for non-UTF-8 bytes because JS strings are always well-formed here.

/**
 * RFC 4515 §3: in an assertion value, `*`, `(`, `)`, `\` and NUL must be written as `\XX`.
 * Everything else (UTF-8 included) may appear as itself.
 */
export function filterValue(value: string): string {
  return value.replace(/[*()\\\u0000]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Escapes raw bytes (an objectGUID, say) as `\xx\xx…` for an octet-string assertion (RFC 4515 §3). */
export function filterBytes(value: Buffer): string {
  return [...value].map((b) => `\\${b.toString(16).padStart(2, '0')}`).join('');
}

/**
 * Template tag that escapes every interpolated value with filterValue() (Buffers as bytes):
 * ldapFilter`(&(objectClass=user)(sAMAccountName=${name}))`. Use `raw()` to splice a
 * configured, trusted filter fragment unchanged.
 */
export function ldapFilter(strings: TemplateStringsArray, ...values: Array<string | number | Buffer | RawFilter>): string {
  let out = strings[0]!;
  values.forEach((v, i) => {
    if (v instanceof RawFilter) out += v.text;
    else if (Buffer.isBuffer(v)) out += filterBytes(v);
    else out += filterValue(String(v));
    out += strings[i + 1]!;
  });
  return out;
}

export class RawFilter {
  constructor(readonly text: string) {}
}
/** A trusted fragment (from the config, never from a client) for ldapFilter. */
export const raw = (text: string): RawFilter => new RawFilter(text);

/**
 * RFC 4514 §2.4: in an RDN value, escape `"`, `+`, `,`, `;`, `<`, `>`, `\`, a leading space or
 * `#`, a trailing space, and NUL (as `\00`).
 */
export function dnValue(value: string): string {
  let out = value.replace(/["+,;<>\\]/g, (c) => `\\${c}`).replace(/\u0000/g, '\\00');
  if (out.startsWith(' ') || out.startsWith('#')) out = `\\${out}`;
  if (out.endsWith(' ') && !out.endsWith('\\ ')) out = `${out.slice(0, -1)}\\ `;
  return out;
}

/**
 * Canonical comparison key for a DN as servers return it: attribute types lower-cased, spaces
 * around `=` and `,` dropped, values lower-cased (AD and OpenLDAP compare DNs case-insensitively
 * for the attributes used in names). Escapes are kept, so `\,` stays distinct from a separator.
 */
export function dnKey(dn: string): string {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < dn.length; i++) {
    const c = dn[i]!;
    if (c === '\\' && i + 1 < dn.length) {
      cur += c + dn[++i]!;
    } else if (c === ',' || c === ';') {
      parts.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  parts.push(cur);
  return parts.map((p) => {
    const eq = p.indexOf('=');
    if (eq < 0) return p.trim().toLowerCase();
    return `${p.slice(0, eq).trim().toLowerCase()}=${p.slice(eq + 1).trim().toLowerCase()}`;
  }).join(',');
}

/**
 * objectGUID (16 bytes, MS-DTYP §2.3.4.2) → "8b732818-9347-4678-bd7d-47dd1981794c". The first
 * three groups are little-endian on the wire, the last two big-endian.
 */
export function guidToString(b: Buffer): string {
  if (b.length !== 16) throw new Error(`objectGUID must be 16 bytes, got ${b.length}`);
  const hex = (from: number, to: number, reverse: boolean) => {
    const s = [...b.subarray(from, to)];
    return (reverse ? s.reverse() : s).map((x) => x.toString(16).padStart(2, '0')).join('');
  };
  return `${hex(0, 4, true)}-${hex(4, 6, true)}-${hex(6, 8, true)}-${hex(8, 10, false)}-${hex(10, 16, false)}`;
}

/** Inverse of guidToString(). */
export function guidToBytes(s: string): Buffer {
  const m = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i.exec(s);
  if (!m) throw new Error(`not a GUID: ${s}`);
  const le = (h: string) => Buffer.from(h, 'hex').reverse();
  return Buffer.concat([le(m[1]!), le(m[2]!), le(m[3]!), Buffer.from(m[4]! + m[5]!, 'hex')]);
}
