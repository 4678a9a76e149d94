// NAME directory-connector — reads one directory (AD or OpenLDAP/generic) for the sync engine:
// full scans, changes since a cursor, deletions, transitive group members, the current DN of
// a stable id, and password checks. Knows LDAP; knows nothing of accounts or the store.
// Cursors: AD highestCommittedUSN / uSNChanged (MS-ADTS §3.1.1.1.9), tombstones through the
// show-deleted control 1.2.840.113556.1.4.417; OpenLDAP contextCSN / entryCSN (RFC 4533 §2.1,
// read as plain attributes) or modifyTimestamp (RFC 4512). Nesting is expanded by the caller
// from the stored member DNs; for an AD list it cannot expand exactly (a member DN it does not
// know, ranged members) it asks the DC through LDAP_MATCHING_RULE_IN_CHAIN
// 1.2.840.113556.1.4.1941 (transitiveUserIds).
// BUGS: uSNChanged is per domain controller: point `url` at one DC, not a load-balanced name.
// No RFC 4533 syncrepl (ldapts has no IntermediateResponse), so OpenLDAP deletions are found
// by a periodic id scan.
// Ranged retrieval (MS-ADTS §3.1.1.3.1.3.3): AD sends at most MaxValRange (1,500) values of
// `member` per entry as `member;range=0-1499`; the rest is read back range by range with base
// searches of the group until a range ends in `*`.
import { dnKey, guidToBytes, ldapFilter, raw } from './escape.js';
import { LdapClient, SHOW_DELETED, type BindOutcome, type LdapClientOptions, type LdapEntry } from './ldap-client.js';
import {
  adAccountExpired, groupAttributes, profileFor, toGroup, toUser, userAttributes, type AttributeMap, type DirectoryGroup, type DirectoryType,
  type DirectoryUser, type Profile,
} from './profiles.js';

export interface ConnectorOptions extends LdapClientOptions {
  id: string;
  type: DirectoryType;
  baseDn: string;
  userBaseDn?: string | null;
  groupBaseDn?: string | null;
  userFilter?: string | null;
  groupFilter?: string | null;
  attributes?: Partial<AttributeMap> | null;
  /** OpenLDAP/generic: which attribute orders changes. */
  changeAttribute?: 'entryCSN' | 'modifyTimestamp';
  /**
   * AD: ask for group members in ranges of this many values (`member;range=0-N`) instead of
   * letting the DC choose (MaxValRange). Mainly for tests against a DC with the default limit.
   */
  memberRangeSize?: number;
}

/** Most range requests for one group's members (1,500 a range: 7.5 million values). */
const MAX_RANGE_STEPS = 5000;

export interface ChangeSet {
  users: DirectoryUser[];
  groups: DirectoryGroup[];
  /** Stable ids of entries the directory reports as deleted (AD tombstones). */
  deletedIds: string[];
}

export class DirectoryConnector {
  readonly profile: Profile;
  readonly client: LdapClient;

  constructor(readonly o: ConnectorOptions, client?: LdapClient) {
    this.profile = profileFor(o.type, o);
    this.client = client ?? new LdapClient(o);
  }

  get id(): string {
    return this.o.id;
  }

  private get userBase(): string {
    return this.o.userBaseDn || this.o.baseDn;
  }

  private get groupBase(): string {
    return this.o.groupBaseDn || this.o.baseDn;
  }

  private get changeAttr(): 'uSNChanged' | 'entryCSN' | 'modifyTimestamp' {
    return this.o.type === 'ad' ? 'uSNChanged' : (this.o.changeAttribute ?? 'entryCSN');
  }

  /**
   * The point in the directory's change order to resume from. Read before a scan, so a change
   * made during the scan is fetched again next time (re-applying an entry is harmless).
   * null when the server exposes none (then every cycle is a full scan).
   */
  async currentCursor(): Promise<string | null> {
    if (this.o.type === 'ad') {
      const dse = await this.client.rootDse(['highestCommittedUSN']);
      return dse.first('highestCommittedUSN') ?? null;
    }
    if (this.changeAttr === 'entryCSN') {
      // contextCSN sits on the database suffix entry, which may be above baseDn.
      const dse = await this.client.rootDse(['namingContexts']);
      const key = dnKey(this.o.baseDn);
      const suffix = dse.all('namingContexts').find((n) => key === dnKey(n) || key.endsWith(`,${dnKey(n)}`)) ?? this.o.baseDn;
      const [e] = await this.client.search({ base: suffix, scope: 'base', filter: '(objectClass=*)', attributes: ['contextCSN'], paged: false });
      const csns = e?.all('contextCSN') ?? [];
      return csns.length ? csns.sort().at(-1)! : null;
    }
    // modifyTimestamp: the server's clock is not readable portably; the caller keeps the
    // highest modifyTimestamp it saw instead (see cursorFrom()).
    return null;
  }

  /** The highest change marker among entries (for servers without a readable cursor). */
  cursorFrom(entries: LdapEntry[]): string | null {
    let max: string | null = null;
    for (const e of entries) {
      const v = e.first(this.changeAttr);
      if (v && (max === null || v > max)) max = v;
    }
    return max;
  }

  private changedFilter(base: string, cursor: string): string {
    switch (this.changeAttr) {
      case 'uSNChanged': {
        if (!/^\d+$/.test(cursor)) throw new Error(`bad AD cursor ${cursor}`);
        return ldapFilter`(&${raw(base)}(uSNChanged>=${String(BigInt(cursor) + 1n)}))`;
      }
      case 'entryCSN':
        return ldapFilter`(&${raw(base)}(entryCSN>=${cursor})(!(entryCSN=${cursor})))`;
      case 'modifyTimestamp':
        return ldapFilter`(&${raw(base)}(modifyTimestamp>=${cursor}))`;
    }
  }

  private async userEntries(filter: string): Promise<LdapEntry[]> {
    return this.client.search({ base: this.userBase, filter, attributes: userAttributes(this.profile), binary: this.profile.binary });
  }

  private async groupEntries(filter: string): Promise<LdapEntry[]> {
    const member = this.profile.attributes.member;
    const step = this.o.memberRangeSize;
    const attributes = groupAttributes(this.profile).map((a) => (step && member && a === member ? `${member};range=0-${step - 1}` : a));
    const entries = await this.client.search({ base: this.groupBase, filter, attributes, binary: this.profile.binary });
    if (member) for (const e of entries) await this.completeRanges(e, member);
    return entries;
  }

  /**
   * Reads the remaining ranges of a ranged attribute (`member;range=0-1499` → `member;range=1500-*`
   * → …) and stores the whole list under the plain name. On a failure mid-way the entry keeps
   * its range key, so the group is known to be incomplete (membersIncomplete) and is expanded
   * through the DC instead of losing members.
   */
  async completeRanges(e: LdapEntry, attr: string): Promise<void> {
    const prefix = `${attr.toLowerCase()};range=`;
    const key = [...e.attrs.keys()].find((k) => k.startsWith(prefix));
    if (!key) return;
    const values = [...e.all(attr), ...e.all(key)];
    let m = /^(\d+)-(\d+|\*)$/.exec(key.slice(prefix.length));
    for (let steps = 0; m && m[2] !== '*'; steps++) {
      if (steps >= MAX_RANGE_STEPS) return;
      const from = Number(m[2]) + 1;
      const [next] = await this.client.search({
        base: e.dn, scope: 'base', filter: '(objectClass=*)', attributes: [`${attr};range=${from}-*`], paged: false,
      });
      const nextKey = next && [...next.attrs.keys()].find((k) => k.startsWith(prefix));
      if (!nextKey) return; // the group changed or vanished meanwhile: leave it marked incomplete
      const nm = /^(\d+)-(\d+|\*)$/.exec(nextKey.slice(prefix.length));
      if (!nm || Number(nm[1]) !== from) return;
      values.push(...next!.all(nextKey));
      m = nm;
    }
    if (!m) return;
    e.attrs.delete(key);
    e.attrs.set(attr.toLowerCase(), values);
  }

  private users(entries: LdapEntry[]): DirectoryUser[] {
    const now = Date.now();
    return entries.map((e) => toUser(e, this.profile, now)).filter((u): u is DirectoryUser => u !== null);
  }

  private groups(entries: LdapEntry[]): DirectoryGroup[] {
    return entries.map((e) => toGroup(e, this.profile)).filter((g): g is DirectoryGroup => g !== null);
  }

  /** Every user and group (paged). `cursor` is the resume point for the next incremental run. */
  async fullScan(): Promise<{ users: DirectoryUser[]; groups: DirectoryGroup[]; cursor: string | null }> {
    const before = await this.currentCursor();
    const ue = await this.userEntries(this.profile.userFilter);
    const ge = await this.groupEntries(this.profile.groupFilter);
    return { users: this.users(ue), groups: this.groups(ge), cursor: before ?? this.cursorFrom([...ue, ...ge]) };
  }

  /** What changed after `cursor`. `next` replaces the cursor once the changes are applied. */
  async changesSince(cursor: string): Promise<ChangeSet & { next: string }> {
    const before = await this.currentCursor();
    if (before !== null && before === cursor) return { users: [], groups: [], deletedIds: [], next: cursor };
    const ue = await this.userEntries(this.changedFilter(this.profile.userFilter, cursor));
    const ge = await this.groupEntries(this.changedFilter(this.profile.groupFilter, cursor));
    const deletedIds = this.o.type === 'ad' ? await this.adDeletedSince(cursor) : [];
    const seen = this.cursorFrom([...ue, ...ge]);
    const next = before ?? (seen && seen > cursor ? seen : cursor);
    return { users: this.users(ue), groups: this.groups(ge), deletedIds, next };
  }

  /** AD tombstones changed after `cursor`; they keep objectGUID, and live outside baseDn. */
  private async adDeletedSince(cursor: string): Promise<string[]> {
    const dse = await this.client.rootDse(['defaultNamingContext']);
    const root = dse.first('defaultNamingContext') ?? this.o.baseDn;
    const entries = await this.client.search({
      base: root, filter: ldapFilter`(&(isDeleted=TRUE)(uSNChanged>=${String(BigInt(cursor) + 1n)}))`,
      attributes: ['objectGUID', 'isDeleted'], binary: ['objectGUID'], controls: [SHOW_DELETED()],
    });
    return entries.map((e) => toUser(e, { ...this.profile, extraUserAttributes: [] })?.externalId)
      .filter((x): x is string => Boolean(x));
  }

  /** The ids of every user and group now in the directory (OpenLDAP deletions). */
  async allIds(): Promise<{ users: Set<string>; groups: Set<string> }> {
    const id = this.profile.attributes.id;
    const ids = async (base: string, filter: string) => {
      const out = new Set<string>();
      for await (const page of this.client.pages({ base, filter, attributes: [id], binary: this.profile.binary })) {
        for (const e of page) {
          const u = toUser(e, { ...this.profile, extraUserAttributes: [] });
          if (u) out.add(u.externalId);
        }
      }
      return out;
    };
    return { users: await ids(this.userBase, this.profile.userFilter), groups: await ids(this.groupBase, this.profile.groupFilter) };
  }

  /**
   * AD: ids of every user that is a member of `groupDn`, directly or through nested groups,
   * by LDAP_MATCHING_RULE_IN_CHAIN (the DC walks the chain; cycles are handled there).
   */
  async transitiveUserIds(groupDn: string): Promise<string[]> {
    const entries = await this.client.search({
      base: this.userBase,
      filter: ldapFilter`(&${raw(this.profile.userFilter)}(memberOf:1.2.840.113556.1.4.1941:=${groupDn}))`,
      attributes: [this.profile.attributes.id], binary: this.profile.binary,
    });
    return entries.map((e) => toUser(e, { ...this.profile, extraUserAttributes: [] })?.externalId).filter((x): x is string => Boolean(x));
  }

  /** The current DN of the entry with this stable id, or null when it is gone. */
  async dnOf(externalId: string): Promise<string | null> {
    const a = this.profile.attributes;
    const isBinary = this.profile.binary.some((b) => b.toLowerCase() === a.id.toLowerCase());
    const value: string | Buffer = isBinary ? guidToBytes(externalId) : externalId;
    const entries = await this.client.search({
      base: this.userBase, filter: ldapFilter`(${raw(a.id)}=${value})`, attributes: ['1.1'], paged: false, sizeLimit: 2,
    });
    return entries.length === 1 ? entries[0]!.dn : null;
  }

  verifyPassword(dn: string, password: string): Promise<BindOutcome> {
    return this.client.verifyPassword(dn, password);
  }

  /**
   * What a cached password check depends on, read live from the user's entry (one base search
   * on the service connection): AD pwdLastSet and userAccountControl (every password change or
   * reset sets pwdLastSet; not uSNChanged, which the DC bumps when a first logon in 14 days
   * writes lastLogonTimestamp); OpenLDAP entryCSN / modifyTimestamp (any change to the entry, a
   * password change included). null when only a bind can tell (disabled, locked out, expired,
   * must change, nothing readable).
   */
  async passwordStamp(dn: string, now = Date.now()): Promise<string | null> {
    const ad = this.o.type === 'ad';
    const attributes = ad ? ['pwdLastSet', 'userAccountControl', 'lockoutTime', 'accountExpires']
      : ['entryCSN', 'modifyTimestamp', 'pwdAccountLockedTime'];
    const [e] = await this.client.search({ base: dn, scope: 'base', filter: '(objectClass=*)', attributes, paged: false });
    if (!e) return null;
    if (ad) {
      const pwd = e.first('pwdLastSet');
      const uac = Number(e.first('userAccountControl') ?? 'NaN');
      if (!pwd || pwd === '0' || !Number.isFinite(uac) || uac & 0x2) return null;
      if ((e.first('lockoutTime') ?? '0') !== '0' || adAccountExpired(e.first('accountExpires'), now)) return null;
      return `${pwd}/${uac}`;
    }
    if (e.first('pwdAccountLockedTime')) return null;
    const stamp = e.first('entryCSN') ?? e.first('modifyTimestamp');
    return stamp ?? null;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
