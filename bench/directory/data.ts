// Deterministic directory data for the directory benchmark: users with realistic attributes
// (two addresses, display name, title, department, phone numbers, office) and groups in a
// three-level nesting (divisions > departments > teams, users in teams and some directly in
// departments), written as LDIF for OpenLDAP (inetOrgPerson / groupOfNames, for slapadd or
// ldapadd) and for Active Directory (user / group with proxyAddresses and unicodePwd, for
// ldapadd over LDAPS). Also the LDIF of the "100 changes" and of the one new user.
import { createHash, randomBytes } from 'node:crypto';

export const PASSWORD = 'Passw0rd!';

const GIVEN = ['Anna', 'Boris', 'Chen', 'Dana', 'Emil', 'Fatima', 'Georg', 'Hana', 'Ivan', 'Julia', 'Kofi', 'Lena', 'Marek',
  'Nora', 'Oskar', 'Priya', 'Quentin', 'Rosa', 'Sven', 'Tamar', 'Umar', 'Vera', 'Wei', 'Xenia', 'Yusuf', 'Zoe'];
const FAMILY = ['Adams', 'Bauer', 'Costa', 'Dubois', 'Eriksen', 'Fischer', 'Garcia', 'Horvat', 'Ivanova', 'Jensen', 'Kowalski',
  'Lindqvist', 'Moreau', 'Novak', 'Olsen', 'Petrov', 'Quinn', 'Rossi', 'Schmidt', 'Tanaka', 'Ueda', 'Varga', 'Weber', 'Young'];
const TITLES = ['Engineer', 'Senior Engineer', 'Accountant', 'Sales Manager', 'Support Specialist', 'Designer', 'Analyst',
  'Team Lead', 'Recruiter', 'Technician', 'Product Owner', 'Office Manager'];

export interface Shape {
  users: number;
  groups: number;
  domain: string;
}

export interface BenchUser {
  index: number;
  login: string;
  given: string;
  family: string;
  mail: string;
  alias: string;
  displayName: string;
  title: string;
  department: string;
  phone: string;
  mobile: string;
  office: string;
}

export interface BenchGroup {
  index: number;
  name: string;
  mail: string;
  level: 'division' | 'department' | 'team';
  /** Indexes of users that are direct members. */
  users: number[];
  /** Indexes of groups that are direct members (nested groups). */
  groups: number[];
}

const pad = (n: number, w: number) => String(n).padStart(w, '0');

export function user(i: number, domain: string, depts: string[]): BenchUser {
  const given = GIVEN[i % GIVEN.length]!;
  const family = FAMILY[Math.floor(i / GIVEN.length) % FAMILY.length]!;
  const login = `u${pad(i, 5)}`;
  return {
    index: i, login, given, family,
    mail: `${login}@${domain}`,
    alias: `${given}.${family}.${pad(i, 5)}@${domain}`.toLowerCase(),
    displayName: `${given} ${family}`,
    title: TITLES[i % TITLES.length]!,
    department: depts.length ? depts[i % depts.length]! : 'General',
    phone: `+1 555 01${pad(i % 100000, 5)}`,
    mobile: `+1 555 02${pad(i % 100000, 5)}`,
    office: `B${1 + (i % 4)}-${pad(i % 400, 3)}`,
  };
}

/**
 * The group tree: 2 % divisions, 8 % departments, the rest teams (500 → 10 / 40 / 450). Each
 * team is in one department, each department in one division. Every user is a direct member
 * of one team; every 10th user also directly of a department. So each user reaches three
 * distribution lists, through up to two levels of nesting.
 */
export function groups(s: Shape): BenchGroup[] {
  const divs = Math.max(1, Math.round(s.groups * 0.02));
  const depts = Math.max(1, Math.round(s.groups * 0.08));
  const teams = Math.max(1, s.groups - divs - depts);
  const out: BenchGroup[] = [];
  const mk = (level: BenchGroup['level'], k: number): BenchGroup => {
    const name = `${level === 'division' ? 'div' : level === 'department' ? 'dept' : 'team'}-${pad(k, 3)}`;
    return { index: out.length, name, mail: `${name}@${s.domain}`, level, users: [], groups: [] };
  };
  const divG = Array.from({ length: divs }, (_, k) => { const g = mk('division', k); out.push(g); return g; });
  const deptG = Array.from({ length: depts }, (_, k) => { const g = mk('department', k); out.push(g); return g; });
  const teamG = Array.from({ length: teams }, (_, k) => { const g = mk('team', k); out.push(g); return g; });
  deptG.forEach((d, k) => divG[k % divs]!.groups.push(d.index));
  teamG.forEach((t, k) => deptG[k % depts]!.groups.push(t.index));
  for (let u = 0; u < s.users; u++) {
    teamG[u % teams]!.users.push(u);
    if (u % 10 === 0) deptG[Math.floor(u / 10) % depts]!.users.push(u);
  }
  return out;
}

export function departmentNames(gs: BenchGroup[]): string[] {
  return gs.filter((g) => g.level === 'department').map((g) => g.name);
}

/** Groups in an order where every nested group comes before the group that contains it. */
export function childrenFirst(gs: BenchGroup[]): BenchGroup[] {
  const order = { team: 0, department: 1, division: 2 } as const;
  return [...gs].sort((a, b) => order[a.level] - order[b.level] || a.index - b.index);
}

/** Transitive member count of each list (what Pochtamt should end with), summed. */
export function expectedMemberships(s: Shape, gs: BenchGroup[]): number {
  let sum = 0;
  const memo = new Map<number, Set<number>>();
  const walk = (g: BenchGroup): Set<number> => {
    const m = memo.get(g.index);
    if (m) return m;
    const out = new Set<number>(g.users.filter((u) => u < s.users));
    for (const c of g.groups) for (const u of walk(gs[c]!)) out.add(u);
    memo.set(g.index, out);
    return out;
  };
  for (const g of gs) sum += walk(g).size;
  return sum;
}

// ------------------------------------------------------------------ OpenLDAP

/** {SSHA} as slappasswd makes it: base64(SHA1(password + salt) + salt). */
export function ssha(password: string): string {
  const salt = randomBytes(8);
  const digest = createHash('sha1').update(password).update(salt).digest();
  return `{SSHA}${Buffer.concat([digest, salt]).toString('base64')}`;
}

export interface LdapLayout { people: string; groups: string }

function ldapUserLdif(u: BenchUser, layout: LdapLayout, memberOf: string[]): string {
  return [
    `dn: uid=${u.login},${layout.people}`,
    'objectClass: inetOrgPerson',
    `uid: ${u.login}`, `cn: ${u.displayName}`, `sn: ${u.family}`, `givenName: ${u.given}`, `displayName: ${u.displayName}`,
    `mail: ${u.mail}`, `mail: ${u.alias}`, `title: ${u.title}`, `departmentNumber: ${u.department}`, `ou: ${u.department}`,
    `telephoneNumber: ${u.phone}`, `mobile: ${u.mobile}`, `roomNumber: ${u.office}`,
    `userPassword: ${ssha(PASSWORD)}`,
    ...memberOf.map((g) => `memberOf: ${g}`),
  ].join('\n');
}

/**
 * The OpenLDAP data as LDIF. `withMemberOf`: write the memberOf back-links the memberof overlay
 * would maintain (needed for slapadd, which does not run overlays; ldapadd lets the overlay do it).
 */
export function ldapLdif(s: Shape, gs: BenchGroup[], layout: LdapLayout, withMemberOf: boolean): string {
  const gdn = (g: BenchGroup) => `cn=${g.name},${layout.groups}`;
  const udn = (i: number) => `uid=u${pad(i, 5)},${layout.people}`;
  const memberOf = new Map<number, string[]>();
  if (withMemberOf) {
    for (const g of gs) for (const u of g.users) { if (!memberOf.has(u)) memberOf.set(u, []); memberOf.get(u)!.push(gdn(g)); }
  }
  const depts = departmentNames(gs);
  const parts: string[] = [];
  for (let i = 0; i < s.users; i++) parts.push(ldapUserLdif(user(i, s.domain, depts), layout, memberOf.get(i) ?? []));
  for (const g of childrenFirst(gs)) {
    const members = [...g.groups.map((c) => gdn(gs[c]!)), ...g.users.map(udn)];
    // groupOfNames needs at least one member (RFC 4519); an empty team gets the admin as placeholder.
    if (!members.length) members.push(`cn=admin,${layout.people.replace(/^ou=people,/, '')}`);
    parts.push([
      `dn: ${gdn(g)}`, 'objectClass: groupOfNames', 'objectClass: extensibleObject', `cn: ${g.name}`, `mail: ${g.mail}`,
      `description: ${g.level} ${g.name}`, ...members.map((m) => `member: ${m}`),
    ].join('\n'));
  }
  return `${parts.join('\n\n')}\n`;
}

/**
 * The incremental workload as one ldapmodify LDIF: 70 % attribute changes on users (title and
 * phone; every 7th also swaps its second address) and 30 % membership changes on teams (half
 * adds of a user from another team, half removals). Returns the LDIF and what it touches.
 */
export function changesLdif(kind: 'ldap' | 'ad', s: Shape, gs: BenchGroup[], n: number, dnOfUser: (i: number) => string,
  dnOfGroup: (g: BenchGroup) => string, round = 1): { ldif: string; users: number; groups: number } {
  const userChanges = Math.round(n * 0.7);
  const groupChanges = n - userChanges;
  const out: string[] = [];
  const step = Math.max(1, Math.floor(s.users / Math.max(1, userChanges)));
  for (let k = 0; k < userChanges; k++) {
    const i = (k * step + round) % s.users;
    const lines = [`dn: ${dnOfUser(i)}`, 'changetype: modify',
      'replace: title', `title: ${TITLES[(i + round + 1) % TITLES.length]} (r${round})`, '-',
      'replace: telephoneNumber', `telephoneNumber: +1 555 03${pad((i + round) % 100000, 5)}`, '-'];
    if (k % 7 === 0) {
      const u = user(i, s.domain, departmentNames(gs));
      const alias = `${u.given}.${u.family}.${pad(i, 5)}.r${round}@${s.domain}`.toLowerCase();
      if (kind === 'ldap') lines.push('replace: mail', `mail: ${u.mail}`, `mail: ${alias}`, '-');
      else lines.push('replace: proxyAddresses', `proxyAddresses: SMTP:${u.mail}`, `proxyAddresses: smtp:${alias}`, '-');
    }
    out.push(lines.join('\n'));
  }
  const teams = gs.filter((g) => g.level === 'team' && g.users.length > 1);
  for (let k = 0; k < groupChanges && teams.length; k++) {
    const t = teams[(k * 7 + round) % teams.length]!;
    if (k % 2 === 0) {
      // add a user who is not in this team yet
      let cand = (t.users[0]! + 1 + k + round) % s.users;
      while (t.users.includes(cand)) cand = (cand + 1) % s.users;
      t.users.push(cand);
      out.push([`dn: ${dnOfGroup(t)}`, 'changetype: modify', 'add: member', `member: ${dnOfUser(cand)}`, '-'].join('\n'));
    } else {
      const gone = t.users.pop()!;
      out.push([`dn: ${dnOfGroup(t)}`, 'changetype: modify', 'delete: member', `member: ${dnOfUser(gone)}`, '-'].join('\n'));
    }
  }
  return { ldif: `${out.join('\n\n')}\n`, users: userChanges, groups: groupChanges };
}

export function newLdapUserLdif(login: string, domain: string, layout: LdapLayout): string {
  return [`dn: uid=${login},${layout.people}`, 'objectClass: inetOrgPerson', `uid: ${login}`, `cn: New User ${login}`, 'sn: User',
    'givenName: New', `displayName: New User ${login}`, `mail: ${login}@${domain}`, `mail: new.${login}@${domain}`,
    'title: Intern', `telephoneNumber: +1 555 0400000`, `userPassword: ${ssha(PASSWORD)}`].join('\n') + '\n';
}

// ------------------------------------------------------------------ Active Directory

/** unicodePwd: the password in double quotes, UTF-16LE (MS-ADTS §3.1.1.3.1.5.1); needs an encrypted connection. */
export const unicodePwd = (pw: string) => Buffer.from(`"${pw}"`, 'utf16le').toString('base64');

export interface AdLayout { ou: string; upnSuffix: string }

function adUserLdif(u: BenchUser, layout: AdLayout): string {
  return [
    `dn: CN=${u.login},${layout.ou}`, 'objectClass: user', `cn: ${u.login}`, `sAMAccountName: ${u.login}`,
    `userPrincipalName: ${u.login}@${layout.upnSuffix}`, `givenName: ${u.given}`, `sn: ${u.family}`, `displayName: ${u.displayName}`,
    `mail: ${u.mail}`, `proxyAddresses: SMTP:${u.mail}`, `proxyAddresses: smtp:${u.alias}`, 'proxyAddresses: X500:/o=Bench/cn=' + u.login,
    `title: ${u.title}`, `department: ${u.department}`, `telephoneNumber: ${u.phone}`, `mobile: ${u.mobile}`,
    `physicalDeliveryOfficeName: ${u.office}`, `unicodePwd:: ${unicodePwd(PASSWORD)}`, 'userAccountControl: 512',
  ].join('\n');
}

export function adOuLdif(layout: AdLayout): string {
  const name = /^OU=([^,]+)/i.exec(layout.ou)![1];
  return `dn: ${layout.ou}\nobjectClass: organizationalUnit\nou: ${name}\n`;
}

export function adUsersLdif(s: Shape, gs: BenchGroup[], layout: AdLayout, from: number, to: number): string {
  const depts = departmentNames(gs);
  const parts: string[] = [];
  for (let i = from; i < Math.min(to, s.users); i++) parts.push(adUserLdif(user(i, s.domain, depts), layout));
  return `${parts.join('\n\n')}\n`;
}

export function adGroupsLdif(gs: BenchGroup[], layout: AdLayout): string {
  const gdn = (g: BenchGroup) => `CN=${g.name},${layout.ou}`;
  const parts = childrenFirst(gs).map((g) => [
    `dn: ${gdn(g)}`, 'objectClass: group', `cn: ${g.name}`, `sAMAccountName: ${g.name}`, `mail: ${g.mail}`,
    `description: ${g.level} ${g.name}`,
    ...g.groups.map((c) => `member: ${gdn(gs[c]!)}`), ...g.users.map((u) => `member: CN=u${pad(u, 5)},${layout.ou}`),
  ].join('\n'));
  return `${parts.join('\n\n')}\n`;
}

export function newAdUserLdif(login: string, domain: string, layout: AdLayout): string {
  return [`dn: CN=${login},${layout.ou}`, 'objectClass: user', `cn: ${login}`, `sAMAccountName: ${login}`,
    `userPrincipalName: ${login}@${layout.upnSuffix}`, 'givenName: New', 'sn: User', `displayName: New User ${login}`,
    `mail: ${login}@${domain}`, `proxyAddresses: SMTP:${login}@${domain}`, `proxyAddresses: smtp:new.${login}@${domain}`,
    'title: Intern', `unicodePwd:: ${unicodePwd(PASSWORD)}`, 'userAccountControl: 512'].join('\n') + '\n';
}
