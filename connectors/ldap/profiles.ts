// NAME profiles — what an Active Directory and an OpenLDAP/generic directory look like: default
// filters, attribute maps (overridable per directory), and the conversion of one search entry
// into a DirectoryUser or DirectoryGroup. Pure: no I/O, no store.
// AD: objectGUID (MS-ADTS §3.1.1.1.5), userAccountControl ACCOUNTDISABLE 0x2 and accountExpires
// (MS-ADTS §2.2.16, 100 ns ticks since 1601), proxyAddresses `SMTP:` primary / `smtp:` alias.
// OpenLDAP: entryUUID (RFC 4530), inetOrgPerson (RFC 2798), groupOfNames/groupOfUniqueNames
// (RFC 4519), posixGroup memberUid (RFC 2307), ppolicy pwdAccountLockedTime (draft-behera).
// BUGS: AD lockoutTime is not read (a locked-out user is refused at bind time with 775 instead).
import { guidToString } from './escape.js';
import type { LdapEntry } from './ldap-client.js';

export type DirectoryType = 'ad' | 'ldap';

/** Directory attribute names for each field; an empty string switches a field off. */
export interface AttributeMap {
  id: string;
  login: string;
  upn: string;
  mail: string;
  proxyAddresses: string;
  /** Extra alias addresses (e.g. mailAlternateAddress); values are plain addresses. */
  aliases: string;
  displayName: string;
  givenName: string;
  sn: string;
  title: string;
  department: string;
  telephoneNumber: string;
  mobile: string;
  office: string;
  groupName: string;
  member: string;
  uniqueMember: string;
  memberUid: string;
}

export interface Profile {
  type: DirectoryType;
  userFilter: string;
  groupFilter: string;
  attributes: AttributeMap;
  /** Binary attributes to ask ldapts for as bytes. */
  binary: string[];
  /** Operational attributes that must be named to be returned. */
  extraUserAttributes: string[];
}

const COMMON = {
  mail: 'mail', displayName: 'displayName', givenName: 'givenName', sn: 'sn', title: 'title',
  telephoneNumber: 'telephoneNumber', mobile: 'mobile', groupName: 'cn', member: 'member',
};

export const PROFILES: Record<DirectoryType, Profile> = {
  ad: {
    type: 'ad',
    userFilter: '(&(objectCategory=person)(objectClass=user))',
    groupFilter: '(objectClass=group)',
    attributes: {
      ...COMMON, id: 'objectGUID', login: 'sAMAccountName', upn: 'userPrincipalName', proxyAddresses: 'proxyAddresses',
      aliases: '', department: 'department', office: 'physicalDeliveryOfficeName', uniqueMember: '', memberUid: '',
    },
    binary: ['objectGUID'],
    extraUserAttributes: ['userAccountControl', 'accountExpires', 'uSNChanged'],
  },
  ldap: {
    type: 'ldap',
    userFilter: '(objectClass=inetOrgPerson)',
    groupFilter: '(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))',
    attributes: {
      ...COMMON, id: 'entryUUID', login: 'uid', upn: '', proxyAddresses: '', aliases: '',
      department: 'departmentNumber', office: 'roomNumber', uniqueMember: 'uniqueMember', memberUid: 'memberUid',
    },
    binary: [],
    extraUserAttributes: ['pwdAccountLockedTime', 'entryCSN', 'modifyTimestamp'],
  },
};

export function profileFor(type: DirectoryType, o: { userFilter?: string | null; groupFilter?: string | null; attributes?: Partial<AttributeMap> | null } = {}): Profile {
  const p = PROFILES[type];
  return {
    ...p,
    userFilter: o.userFilter || p.userFilter,
    groupFilter: o.groupFilter || p.groupFilter,
    attributes: { ...p.attributes, ...(o.attributes ?? {}) },
  };
}

/** Longest value kept for any attribute (a directory may hold megabytes in one value). */
export const MAX_VALUE_CHARS = 1024;
/** Most values kept for a multi-valued address attribute. */
export const MAX_VALUES = 200;

/** Address-book fields kept for the Global Address List (read-only copy of the directory). */
export interface AddressBookFields {
  displayName?: string;
  givenName?: string;
  sn?: string;
  title?: string;
  department?: string;
  telephoneNumber?: string;
  mobile?: string;
  office?: string;
  mail?: string;
}

export interface DirectoryUser {
  kind: 'user';
  externalId: string;
  dn: string;
  /** sAMAccountName or uid. */
  login: string | null;
  upn: string | null;
  /** Mail addresses, primary first, lower-cased domain, deduplicated; not yet filtered by domain. */
  addresses: string[];
  disabled: boolean;
  disabledReason: string | null;
  book: AddressBookFields;
}

export interface DirectoryGroup {
  kind: 'group';
  externalId: string;
  dn: string;
  name: string;
  addresses: string[];
  /** Member DNs (member and uniqueMember). */
  memberDns: string[];
  /** posixGroup memberUid values (login names). */
  memberUids: string[];
  /**
   * True when the server sent only part of the members (AD ranged retrieval, `member;range=0-1499`
   * for groups over MaxValRange): memberDns is then not the whole list.
   */
  membersIncomplete?: boolean;
  book: AddressBookFields;
}

const clip = (s: string | undefined): string | undefined => (s === undefined ? undefined : s.length > MAX_VALUE_CHARS ? s.slice(0, MAX_VALUE_CHARS) : s);

function idOf(e: LdapEntry, p: Profile): string | null {
  const name = p.attributes.id;
  if (p.binary.some((b) => b.toLowerCase() === name.toLowerCase())) {
    const b = e.buffer(name);
    return b && b.length === 16 ? guidToString(b) : null;
  }
  const v = e.first(name);
  return v ? v.toLowerCase() : null;
}

/** Attributes to request for users with this profile. */
export function userAttributes(p: Profile): string[] {
  const a = p.attributes;
  return [...new Set([a.id, a.login, a.upn, a.mail, a.proxyAddresses, a.aliases, a.displayName, a.givenName, a.sn, a.title,
    a.department, a.telephoneNumber, a.mobile, a.office, ...p.extraUserAttributes].filter(Boolean))];
}

export function groupAttributes(p: Profile): string[] {
  const a = p.attributes;
  return [...new Set([a.id, a.groupName, a.mail, a.proxyAddresses, a.displayName, a.member, a.uniqueMember, a.memberUid,
    ...(p.type === 'ad' ? ['uSNChanged'] : ['entryCSN', 'modifyTimestamp'])].filter(Boolean))];
}

/** Lower-cases a syntactically plausible address (local parts compare case-insensitively here); null for anything else. */
export function cleanAddress(raw: string): string | null {
  const s = raw.trim();
  if (s.length > 320 || /[\s\u0000-\u001f<>()",;\\]/.test(s)) return null;
  const at = s.lastIndexOf('@');
  if (at < 1 || at === s.length - 1) return null;
  return `${s.slice(0, at).toLowerCase()}@${s.slice(at + 1).toLowerCase()}`;
}

/** Primary first: proxyAddresses `SMTP:`, then mail, then `smtp:` aliases and extra aliases. */
function addressesOf(e: LdapEntry, p: Profile): string[] {
  const a = p.attributes;
  const primary: string[] = [];
  const rest: string[] = [];
  if (a.proxyAddresses) {
    for (const v of e.all(a.proxyAddresses).slice(0, MAX_VALUES)) {
      const colon = v.indexOf(':');
      if (colon < 0) continue;
      const type = v.slice(0, colon);
      if (type === 'SMTP') primary.push(v.slice(colon + 1));
      else if (type === 'smtp') rest.push(v.slice(colon + 1));
      // X400:, X500:, SIP: and other types are not mail addresses.
    }
  }
  const mails = a.mail ? e.all(a.mail).slice(0, MAX_VALUES) : [];
  const ordered = [...primary, ...mails, ...rest, ...(a.aliases ? e.all(a.aliases).slice(0, MAX_VALUES) : [])];
  const out: string[] = [];
  for (const r of ordered) {
    const c = cleanAddress(r);
    if (c && !out.includes(c)) out.push(c);
  }
  return out;
}

function bookOf(e: LdapEntry, p: Profile, addresses: string[]): AddressBookFields {
  const a = p.attributes;
  const pick = (name: string) => (name ? clip(e.first(name)) : undefined);
  const book: AddressBookFields = {
    displayName: pick(a.displayName), givenName: pick(a.givenName), sn: pick(a.sn), title: pick(a.title),
    department: pick(a.department), telephoneNumber: pick(a.telephoneNumber), mobile: pick(a.mobile), office: pick(a.office),
    mail: addresses[0],
  };
  for (const k of Object.keys(book) as Array<keyof AddressBookFields>) if (book[k] === undefined || book[k] === '') delete book[k];
  return book;
}

/** AD accountExpires: 0 and 0x7FFFFFFFFFFFFFFF mean never; otherwise 100 ns ticks since 1601-01-01. */
export function adAccountExpired(value: string | undefined, now: number): boolean {
  if (!value || value === '0' || value === '9223372036854775807') return false;
  const ticks = BigInt(value);
  const ms = Number(ticks / 10_000n) - 11_644_473_600_000;
  return ms <= now;
}

export function toUser(e: LdapEntry, p: Profile, now = Date.now()): DirectoryUser | null {
  const externalId = idOf(e, p);
  if (!externalId) return null;
  const a = p.attributes;
  const addresses = addressesOf(e, p);
  let disabled = false;
  let disabledReason: string | null = null;
  if (p.type === 'ad') {
    const uac = Number(e.first('userAccountControl') ?? '0');
    if (uac & 0x2) [disabled, disabledReason] = [true, 'userAccountControl ACCOUNTDISABLE'];
    else if (adAccountExpired(e.first('accountExpires'), now)) [disabled, disabledReason] = [true, 'accountExpires passed'];
  } else if (e.first('pwdAccountLockedTime')) {
    [disabled, disabledReason] = [true, 'ppolicy pwdAccountLockedTime'];
  }
  return {
    kind: 'user', externalId, dn: e.dn,
    login: (a.login && clip(e.first(a.login))) || null,
    upn: (a.upn && clip(e.first(a.upn))?.toLowerCase()) || null,
    addresses, disabled, disabledReason, book: bookOf(e, p, addresses),
  };
}

export function toGroup(e: LdapEntry, p: Profile): DirectoryGroup | null {
  const externalId = idOf(e, p);
  if (!externalId) return null;
  const a = p.attributes;
  const addresses = addressesOf(e, p);
  return {
    kind: 'group', externalId, dn: e.dn,
    name: clip(e.first(a.groupName)) ?? e.dn,
    addresses,
    memberDns: [...(a.member ? e.all(a.member) : []), ...(a.uniqueMember ? e.all(a.uniqueMember).map((v) => v.replace(/#'[01]*'B$/, '')) : [])],
    memberUids: a.memberUid ? e.all(a.memberUid) : [],
    ...(a.member && [...e.attrs.keys()].some((k) => k.startsWith(`${a.member!.toLowerCase()};range=`)) ? { membersIncomplete: true } : {}),
    book: bookOf(e, p, addresses),
  };
}
