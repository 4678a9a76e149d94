// NAME directory-apply — writes what a directory says into the account model: accounts
// (source 'directory', found again by directoryId + externalId so renames keep the mailbox),
// their directory aliases (AliasEntity source 'directory'), distribution lists from groups with
// mail, flattened transitive membership, and the directory_entry copy (DN, login names,
// address-book attributes). Disables and marks deleted; never deletes an account or mail.
// Address conflicts (two directory users, or a directory user and a local account/alias/group,
// claiming one address) are returned to the caller and never merged.
// A group's further addresses (AD proxyAddresses `smtp:`, OpenLDAP `mail` values after the
// first) become directory aliases whose target is the list (alias_target.groupId).
// BUGS: an address held by a deleted-but-retained account stays taken until `directory purge`.
import type { EntityManager } from 'typeorm';
import {
  AccountEntity, AliasEntity, AliasTargetEntity, DirectoryEntryEntity, DomainEntity, GroupEntity, GroupMemberEntity,
} from '../../schemas/entities/index.js';
import { dnKey } from '../../connectors/ldap/escape.js';
import type { DirectoryGroup, DirectoryUser } from '../../connectors/ldap/profiles.js';
import { tryNormalizeAddress } from '../mail/address.js';
import type { MailStoreService } from './mail-store.service.js';
import { deleteDavGrantsToGroupIn } from './groupware/groupware.service.js';
import { forgetSubject } from './mailbox-access.service.js';

export interface Conflict {
  externalId: string;
  dn: string;
  address: string;
  reason: string;
}

export interface ApplyCounts {
  created: number;
  updated: number;
  unchanged: number;
  disabled: number;
  enabled: number;
  deleted: number;
  skipped: number;
  groups: number;
  conflicts: number;
}

export const emptyCounts = (): ApplyCounts => ({
  created: 0, updated: 0, unchanged: 0, disabled: 0, enabled: 0, deleted: 0, skipped: 0, groups: 0, conflicts: 0,
});

/** Longest display name the account row holds. */
const MAX_DISPLAY_NAME = 256;

interface AccRow {
  id: number; address: string; domainId: number; displayName: string; source: string;
  directoryId: string | null; externalId: string | null; enabled: boolean; deletedAt: number | null;
}
interface AliasTarget { id: number; accountId: number | null; groupId: number | null }
interface AliasRow { id: number; address: string; source: string; targets: ReadonlyArray<AliasTarget> }
interface GroupRow {
  id: number; address: string; source: string; directoryId: string | null; externalId: string | null; displayName: string;
}
interface EntryRow {
  id: number; kind: string; dn: string; dnKey: string; login: string | null; upn: string | null; mail: string | null;
  accountId: number | null; groupId: number | null; disabled: boolean; attributes: string; members: string; deletedAt: number | null;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const bool = (v: unknown): boolean => v === true || v === 1 || v === '1' || v === 't' || v === 'true';

/**
 * Everything the writer looks up, loaded once for a run that touches many entries (a full
 * sync): accounts, aliases, groups and this directory's entries, by the keys applyUser asks
 * for. Kept in step with the writes; changes of a batch are undone if its transaction does
 * not commit (journal), so a retried or failed batch never leaves the maps ahead of the store.
 */
class Snapshot {
  readonly accByAddr = new Map<string, AccRow>();
  readonly accByExt = new Map<string, AccRow>();
  readonly aliasByAddr = new Map<string, AliasRow>();
  /** accountId → addresses of aliases with a target on that account. */
  readonly aliasAddrsByAcc = new Map<number, Set<string>>();
  /** groupId → addresses of aliases with a target on that list. */
  readonly aliasAddrsByGroup = new Map<number, Set<string>>();
  readonly groupByAddr = new Map<string, GroupRow>();
  readonly groupByExt = new Map<string, GroupRow>();
  readonly entryByExt = new Map<string, EntryRow>();
  private journal: Array<() => void> | null = null;

  static async load(em: EntityManager, directoryId: string, p: (i: number) => string): Promise<Snapshot> {
    const s = new Snapshot();
    const accs = await em.query(`SELECT "id", "address", "domainId", "displayName", "source", "directoryId", "externalId", "enabled", "deletedAt" FROM "account"`) as Array<Record<string, unknown>>;
    for (const r of accs) {
      const a = toAccRow(r);
      s.accByAddr.set(a.address, a);
      if (a.directoryId === directoryId && a.externalId !== null) s.accByExt.set(a.externalId, a);
    }
    const aliases = await em.query(`SELECT "id", "address", "source" FROM "alias"`) as Array<Record<string, unknown>>;
    const targets = await em.query(`SELECT "id", "aliasId", "accountId", "groupId" FROM "alias_target"`) as Array<Record<string, unknown>>;
    const byAlias = new Map<number, AliasTarget[]>();
    for (const t of targets) {
      const k = Number(t.aliasId);
      let l = byAlias.get(k);
      if (!l) byAlias.set(k, (l = []));
      l.push({ id: Number(t.id), accountId: num(t.accountId), groupId: num(t.groupId) });
    }
    for (const r of aliases) {
      const a: AliasRow = { id: Number(r.id), address: String(r.address), source: String(r.source), targets: byAlias.get(Number(r.id)) ?? [] };
      s.aliasByAddr.set(a.address, a);
      for (const t of a.targets) {
        if (t.accountId !== null) s.addAliasOf(t.accountId, a.address);
        if (t.groupId !== null) {
          let set = s.aliasAddrsByGroup.get(t.groupId);
          if (!set) s.aliasAddrsByGroup.set(t.groupId, (set = new Set()));
          set.add(a.address);
        }
      }
    }
    const groups = await em.query(`SELECT "id", "address", "source", "directoryId", "externalId", "displayName" FROM "mail_group"`) as Array<Record<string, unknown>>;
    for (const r of groups) {
      const g = toGroupRow(r);
      s.groupByAddr.set(g.address, g);
      if (g.directoryId === directoryId && g.externalId !== null) s.groupByExt.set(g.externalId, g);
    }
    const entries = await em.query(
      `SELECT "id", "externalId", "kind", "dn", "dnKey", "login", "upn", "mail", "accountId", "groupId", "disabled", "attributes", "members", "deletedAt" FROM "directory_entry" WHERE "directoryId" = ${p(1)}`,
      [directoryId],
    ) as Array<Record<string, unknown>>;
    for (const r of entries) s.entryByExt.set(String(r.externalId), toEntryRow(r));
    return s;
  }

  private addAliasOf(accountId: number, address: string): void {
    let set = this.aliasAddrsByAcc.get(accountId);
    if (!set) this.aliasAddrsByAcc.set(accountId, (set = new Set()));
    set.add(address);
  }

  /** Sets (or with `value` undefined deletes) a key, remembering how to undo it. */
  put<K, V>(map: Map<K, V>, key: K, value: V | undefined): void {
    if (this.journal) {
      const had = map.has(key);
      const old = map.get(key);
      this.journal.push(() => { if (had) map.set(key, old as V); else map.delete(key); });
    }
    if (value === undefined) map.delete(key);
    else map.set(key, value);
  }

  /** Replaces the alias-address set of an account (copy on write, for the journal). */
  aliasOf(accountId: number, address: string, add: boolean): void {
    const next = new Set(this.aliasAddrsByAcc.get(accountId) ?? []);
    if (add) next.add(address);
    else next.delete(address);
    this.put(this.aliasAddrsByAcc, accountId, next);
  }

  /** The same for a list's alias addresses. */
  groupAliasOf(groupId: number, address: string, add: boolean): void {
    const next = new Set(this.aliasAddrsByGroup.get(groupId) ?? []);
    if (add) next.add(address);
    else next.delete(address);
    this.put(this.aliasAddrsByGroup, groupId, next);
  }

  setAccount(a: AccRow, previous: AccRow | null, directoryId: string): void {
    if (previous && previous.address !== a.address && this.accByAddr.get(previous.address) === previous) this.put(this.accByAddr, previous.address, undefined);
    this.put(this.accByAddr, a.address, a);
    if (a.directoryId === directoryId && a.externalId !== null) this.put(this.accByExt, a.externalId, a);
  }

  /** Starts a batch: undoes what a batch that did not commit left behind. */
  begin(): void {
    this.rollback();
    this.journal = [];
  }

  commit(): void {
    this.journal = null;
  }

  rollback(): void {
    const j = this.journal;
    this.journal = null;
    if (j) for (let i = j.length - 1; i >= 0; i--) j[i]!();
  }
}

function toEntryRow(r: Record<string, unknown>): EntryRow {
  return {
    id: Number(r.id), kind: String(r.kind), dn: String(r.dn), dnKey: String(r.dnKey), login: (r.login as string | null) ?? null,
    upn: (r.upn as string | null) ?? null, mail: (r.mail as string | null) ?? null, accountId: num(r.accountId), groupId: num(r.groupId),
    disabled: bool(r.disabled), attributes: String(r.attributes ?? '{}'), members: String(r.members ?? '{}'), deletedAt: num(r.deletedAt),
  };
}

function toAccRow(r: Record<string, unknown>): AccRow {
  return {
    id: Number(r.id), address: String(r.address), domainId: Number(r.domainId), displayName: String(r.displayName ?? ''),
    source: String(r.source), directoryId: (r.directoryId as string | null) ?? null, externalId: (r.externalId as string | null) ?? null,
    enabled: bool(r.enabled), deletedAt: num(r.deletedAt),
  };
}

function toGroupRow(r: Record<string, unknown>): GroupRow {
  return {
    id: Number(r.id), address: String(r.address), source: String(r.source), directoryId: (r.directoryId as string | null) ?? null,
    externalId: (r.externalId as string | null) ?? null, displayName: String(r.displayName ?? ''),
  };
}

export class DirectoryWriter {
  private snap: Snapshot | null = null;
  /**
   * What membership may depend on, for the entries this writer applied or deleted: user DN keys
   * and `uid:`logins (before and after), group DN keys (before and after). recomputeMembers
   * recomputes only the lists that reach one of these.
   */
  readonly affectedKeys = new Set<string>();
  /** DN keys of groups applied or deleted (their own members may have changed). */
  readonly touchedGroups = new Set<string>();

  constructor(
    readonly directoryId: string,
    private readonly mailStore: MailStoreService,
    /** Is mail for this domain accepted from this directory? Returns the domain row or null. */
    private readonly acceptDomain: (em: EntityManager, domain: string) => Promise<DomainEntity | null>,
    private readonly conflicts: Conflict[],
    private readonly counts: ApplyCounts,
    private readonly now: () => number = Date.now,
  ) {}

  /** Loads everything lookups need once (for runs touching many entries); later lookups are in memory. */
  async preload(em: EntityManager): Promise<void> {
    this.snap = await Snapshot.load(em, this.directoryId, (i) => this.p(em, i));
  }

  /** Call at the start of each write transaction; `afterCommit` must call commitBatch(). */
  beginBatch(): void {
    this.snap?.begin();
    this.pendingEntries = [];
    this.pendingTargets = [];
  }

  commitBatch(): void {
    this.snap?.commit();
  }

  /** Call when a batch failed for good. */
  abortBatch(): void {
    this.snap?.rollback();
    this.pendingEntries = [];
    this.pendingTargets = [];
  }

  // With a snapshot, rows nobody reads back by id in this run (directory entries, alias targets)
  // are inserted many to a statement: at the end of the batch (flush(), same transaction), or
  // before any statement that could touch them.
  private pendingEntries: Array<Record<string, unknown>> = [];
  private pendingTargets: Array<[number, number]> = [];

  /** Writes the deferred rows; call before the batch's transaction ends. */
  async flush(em: EntityManager): Promise<void> {
    const entries = this.pendingEntries;
    const targets = this.pendingTargets;
    this.pendingEntries = [];
    this.pendingTargets = [];
    for (let i = 0; i < entries.length; i += 200) await this.insertMany(em, 'directory_entry', entries.slice(i, i + 200));
    for (let i = 0; i < targets.length; i += 500) {
      await this.insertMany(em, 'alias_target', targets.slice(i, i + 500).map(([aliasId, accountId]) => ({ aliasId, accountId, forwardTo: null })));
    }
  }

  private async insertMany(em: EntityManager, table: string, rows: Array<Record<string, unknown>>): Promise<void> {
    if (!rows.length) return;
    const cols = Object.keys(rows[0]!);
    const params: unknown[] = [];
    const values = rows.map((row) => `(${cols.map((c) => {
      const v = row[c];
      params.push(typeof v === 'boolean' ? this.b(em, v) : v);
      return this.p(em, params.length);
    }).join(', ')})`);
    await em.query(`INSERT INTO "${table}" (${cols.map((c) => `"${c}"`).join(', ')}) VALUES ${values.join(', ')}`, params);
  }

  private pg(em: EntityManager): boolean {
    return em.connection.options.type === 'postgres';
  }

  private p(em: EntityManager, i: number): string {
    return this.pg(em) ? `$${i}` : '?';
  }

  /** A boolean as the driver binds it (better-sqlite3 binds no booleans). */
  private b(em: EntityManager, v: boolean): boolean | number {
    return this.pg(em) ? v : v ? 1 : 0;
  }

  /** INSERT … RETURNING "id" in plain SQL (no TypeORM entity round trip). */
  private async insert(em: EntityManager, table: string, row: Record<string, unknown>): Promise<number> {
    const cols = Object.keys(row);
    const sql = `INSERT INTO "${table}" (${cols.map((c) => `"${c}"`).join(', ')}) VALUES (${cols.map((_, i) => this.p(em, i + 1)).join(', ')}) RETURNING "id"`;
    const res = await em.query(sql, cols.map((c) => {
      const v = row[c];
      return typeof v === 'boolean' ? this.b(em, v) : v;
    })) as unknown;
    const rows = (Array.isArray(res) && res.length === 2 && Array.isArray(res[0]) && typeof res[1] === 'number' ? res[0] : res) as Array<{ id: number | string }>;
    return Number(rows[0]!.id);
  }

  private conflict(c: Conflict): void {
    this.conflicts.push(c);
    this.counts.conflicts++;
  }

  // ---- lookups (in memory after preload(), else one query each) ------------------------------

  // Without a snapshot each lookup is one plain SELECT (an incremental run touches few entries).
  private async rows(em: EntityManager, sql: string, params: unknown[]): Promise<Array<Record<string, unknown>>> {
    let i = 0;
    return await em.query(sql.replace(/\?/g, () => this.p(em, ++i)), params) as Array<Record<string, unknown>>;
  }

  private static readonly ACC = `SELECT "id", "address", "domainId", "displayName", "source", "directoryId", "externalId", "enabled", "deletedAt" FROM "account"`;
  private static readonly GRP = `SELECT "id", "address", "source", "directoryId", "externalId", "displayName" FROM "mail_group"`;

  private async accountByAddress(em: EntityManager, address: string): Promise<AccRow | null> {
    if (this.snap) return this.snap.accByAddr.get(address) ?? null;
    const [r] = await this.rows(em, `${DirectoryWriter.ACC} WHERE "address" = ?`, [address]);
    return r ? toAccRow(r) : null;
  }

  private async accountByExt(em: EntityManager, externalId: string): Promise<AccRow | null> {
    if (this.snap) return this.snap.accByExt.get(externalId) ?? null;
    const [r] = await this.rows(em, `${DirectoryWriter.ACC} WHERE "directoryId" = ? AND "externalId" = ?`, [this.directoryId, externalId]);
    return r ? toAccRow(r) : null;
  }

  private async aliasTargets(em: EntityManager, aliasId: number): Promise<AliasTarget[]> {
    const rows = await this.rows(em, `SELECT "id", "accountId", "groupId" FROM "alias_target" WHERE "aliasId" = ? ORDER BY "id"`, [aliasId]);
    return rows.map((t) => ({ id: Number(t.id), accountId: num(t.accountId), groupId: num(t.groupId) }));
  }

  private async aliasByAddress(em: EntityManager, address: string): Promise<AliasRow | null> {
    if (this.snap) return this.snap.aliasByAddr.get(address) ?? null;
    const [r] = await this.rows(em, `SELECT "id", "address", "source" FROM "alias" WHERE "address" = ?`, [address]);
    if (!r) return null;
    return { id: Number(r.id), address: String(r.address), source: String(r.source), targets: await this.aliasTargets(em, Number(r.id)) };
  }

  /** The directory aliases with a target on this account. */
  private directoryAliasesOf(em: EntityManager, accountId: number): Promise<AliasRow[]> {
    return this.directoryAliasesTo(em, 'accountId', accountId);
  }

  /** The directory aliases with a target on this list. */
  private directoryAliasesOfGroup(em: EntityManager, groupId: number): Promise<AliasRow[]> {
    return this.directoryAliasesTo(em, 'groupId', groupId);
  }

  private async directoryAliasesTo(em: EntityManager, column: 'accountId' | 'groupId', id: number): Promise<AliasRow[]> {
    if (this.snap) {
      const addrs = (column === 'accountId' ? this.snap.aliasAddrsByAcc : this.snap.aliasAddrsByGroup).get(id) ?? [];
      return [...addrs].map((a) => this.snap!.aliasByAddr.get(a))
        .filter((a): a is AliasRow => a !== undefined && a.source === 'directory' && a.targets.some((t) => t[column] === id));
    }
    const rows = await this.rows(em,
      `SELECT DISTINCT a."id", a."address", a."source" FROM "alias" a JOIN "alias_target" t ON t."aliasId" = a."id" WHERE t."${column}" = ? AND a."source" = 'directory' ORDER BY a."id"`,
      [id]);
    const out: AliasRow[] = [];
    for (const r of rows) out.push({ id: Number(r.id), address: String(r.address), source: String(r.source), targets: await this.aliasTargets(em, Number(r.id)) });
    return out;
  }

  private async groupByAddress(em: EntityManager, address: string): Promise<GroupRow | null> {
    if (this.snap) return this.snap.groupByAddr.get(address) ?? null;
    const [r] = await this.rows(em, `${DirectoryWriter.GRP} WHERE "address" = ?`, [address]);
    return r ? toGroupRow(r) : null;
  }

  private async groupByExt(em: EntityManager, externalId: string): Promise<GroupRow | null> {
    if (this.snap) return this.snap.groupByExt.get(externalId) ?? null;
    const [r] = await this.rows(em, `${DirectoryWriter.GRP} WHERE "directoryId" = ? AND "externalId" = ?`, [this.directoryId, externalId]);
    return r ? toGroupRow(r) : null;
  }

  private async entryOf(em: EntityManager, externalId: string): Promise<EntryRow | null> {
    if (this.snap) return this.snap.entryByExt.get(externalId) ?? null;
    const [r] = await this.rows(em,
      `SELECT "id", "externalId", "kind", "dn", "dnKey", "login", "upn", "mail", "accountId", "groupId", "disabled", "attributes", "members", "deletedAt" FROM "directory_entry" WHERE "directoryId" = ? AND "externalId" = ?`,
      [this.directoryId, externalId]);
    return r ? toEntryRow(r) : null;
  }

  // ---- writes that keep the snapshot in step ---------------------------------------------------

  private async updateAccount(em: EntityManager, a: AccRow, patch: Partial<AccountEntity>): Promise<void> {
    await em.update(AccountEntity, { id: a.id }, patch);
    if (this.snap) this.snap.setAccount({ ...a, ...(patch as Partial<AccRow>) }, a, this.directoryId);
  }

  private async deleteAliasTarget(em: EntityManager, alias: AliasRow, accountId: number | null): Promise<void> {
    // Removes the alias's targets on `accountId` (null: all of them) and the alias once it has none.
    await this.flush(em);
    const gone = alias.targets.filter((t) => accountId === null || t.accountId === accountId);
    const left = alias.targets.filter((t) => !gone.includes(t));
    if (accountId === null) await em.delete(AliasTargetEntity, { aliasId: alias.id });
    else await em.delete(AliasTargetEntity, { aliasId: alias.id, accountId });
    const none = this.snap ? left.length === 0 : !(await em.countBy(AliasTargetEntity, { aliasId: alias.id }));
    if (none) await em.delete(AliasEntity, { id: alias.id });
    if (this.snap) {
      this.snap.put(this.snap.aliasByAddr, alias.address, none ? undefined : { ...alias, targets: left });
      for (const t of gone) if (t.accountId !== null) this.snap.aliasOf(t.accountId, alias.address, false);
    }
  }

  private async saveEntry(em: EntityManager, e: EntryRow | null, x: DirectoryUser | DirectoryGroup,
    patch: Partial<DirectoryEntryEntity>): Promise<boolean> {
    const fields = {
      directoryId: this.directoryId, externalId: x.externalId, kind: x.kind, dn: x.dn, dnKey: dnKey(x.dn).slice(0, 1024),
      login: x.kind === 'user' ? x.login?.toLowerCase().slice(0, 256) ?? null : x.name.toLowerCase().slice(0, 256),
      upn: x.kind === 'user' ? x.upn?.slice(0, 320) ?? null : null,
      mail: x.addresses[0] ?? null,
      disabled: x.kind === 'user' ? x.disabled : false,
      attributes: JSON.stringify({ book: x.book, addresses: x.addresses, ...(x.kind === 'user' && x.disabledReason ? { disabledReason: x.disabledReason } : {}) }),
      members: x.kind === 'group' ? JSON.stringify({ dns: x.memberDns, uids: x.memberUids, ...(x.membersIncomplete ? { incomplete: true } : {}) }) : '{}',
      deletedAt: null as number | null, updatedAt: this.now(), ...patch,
    };
    // Membership depends on DNs and logins: remember the old and new ones.
    const keyOf = (k: string, login: string | null) => {
      this.affectedKeys.add(k);
      if (x.kind === 'user' && login) this.affectedKeys.add(`uid:${login}`);
      if (x.kind === 'group') this.touchedGroups.add(k);
    };
    keyOf(fields.dnKey, fields.login);
    if (e) keyOf(e.dnKey, e.login);
    const next: EntryRow = {
      id: e?.id ?? 0, kind: fields.kind, dn: fields.dn, dnKey: fields.dnKey, login: fields.login, upn: fields.upn, mail: fields.mail,
      accountId: fields.accountId === undefined ? e?.accountId ?? null : fields.accountId ?? null,
      groupId: fields.groupId === undefined ? e?.groupId ?? null : fields.groupId ?? null,
      disabled: fields.disabled, attributes: fields.attributes, members: fields.members, deletedAt: fields.deletedAt ?? null,
    };
    if (e) {
      const same = e.kind === next.kind && e.dn === next.dn && e.dnKey === next.dnKey && e.login === next.login && e.upn === next.upn
        && e.mail === next.mail && e.accountId === next.accountId && e.groupId === next.groupId && e.disabled === next.disabled
        && e.attributes === next.attributes && e.members === next.members && e.deletedAt === next.deletedAt;
      if (same) return false; // nothing to write
      await this.flush(em);
      // Only the columns that changed (each indexed column rewritten costs index updates).
      const set: Partial<DirectoryEntryEntity> = { updatedAt: fields.updatedAt };
      for (const k of ['kind', 'dn', 'dnKey', 'login', 'upn', 'mail', 'accountId', 'groupId', 'disabled', 'attributes', 'members', 'deletedAt'] as const) {
        if (e[k] !== next[k]) (set as Record<string, unknown>)[k] = next[k];
      }
      await em.update(DirectoryEntryEntity, { directoryId: this.directoryId, externalId: x.externalId }, set);
    } else {
      const row = {
        directoryId: fields.directoryId, externalId: fields.externalId, kind: fields.kind, dn: fields.dn, dnKey: fields.dnKey,
        login: fields.login, upn: fields.upn, mail: fields.mail, accountId: next.accountId, groupId: next.groupId,
        disabled: fields.disabled, attributes: fields.attributes, members: fields.members, deletedAt: fields.deletedAt ?? null,
        updatedAt: fields.updatedAt,
      };
      if (this.snap) this.pendingEntries.push(row); // id unused: later writes address (directoryId, externalId)
      else next.id = await this.insert(em, 'directory_entry', row);
    }
    if (this.snap) this.snap.put(this.snap.entryByExt, x.externalId, next);
    return true;
  }

  private async accepted(em: EntityManager, addresses: string[]): Promise<Array<{ address: string; domainId: number }>> {
    const out: Array<{ address: string; domainId: number }> = [];
    for (const raw of addresses) {
      const a = tryNormalizeAddress(raw); // the model's own rules (IDN domains, RFC 5321 local parts)
      if (!a || out.some((o) => o.address === a)) continue;
      const d = await this.acceptDomain(em, a.slice(a.lastIndexOf('@') + 1));
      if (d) out.push({ address: a, domainId: d.id });
    }
    return out;
  }

  /** Who holds `address` now, other than account `selfId` (and its own directory aliases). */
  private async holder(em: EntityManager, address: string, selfId: number | null): Promise<string | null> {
    const acc = await this.accountByAddress(em, address);
    if (acc && acc.id !== selfId) {
      if (acc.source !== 'directory') return `used by local account ${acc.address}`;
      if (acc.directoryId !== this.directoryId) return `used by an account of directory ${acc.directoryId}`;
      return acc.deletedAt ? 'held by a deleted account kept for retention (purge it to free the address)'
        : `claimed by another directory user (${acc.externalId})`;
    }
    const alias = await this.aliasByAddress(em, address);
    if (alias) {
      const targets = alias.targets;
      const mine = alias.source === 'directory' && selfId !== null && targets.length > 0 && targets.every((t) => t.accountId === selfId);
      if (!mine) {
        if (targets.some((t) => t.groupId !== null)) return 'a further address of a distribution list';
        return alias.source === 'directory' ? 'alias of another directory user' : 'used by a local alias';
      }
    }
    const group = await this.groupByAddress(em, address);
    if (group) return group.source === 'directory' ? `used by directory group ${group.externalId}` : 'used by a local group';
    return null;
  }

  /** Creates or updates the account of one directory user. */
  async applyUser(em: EntityManager, u: DirectoryUser): Promise<void> {
    const entry = await this.entryOf(em, u.externalId);
    let account = await this.accountByExt(em, u.externalId);
    const addrs = await this.accepted(em, u.addresses);
    const displayName = (u.book.displayName ?? [u.book.givenName, u.book.sn].filter(Boolean).join(' ')).slice(0, MAX_DISPLAY_NAME);
    const now = this.now();

    if (!addrs.length) {
      // No address in an accepted domain: in the address book only. An account it had is disabled.
      if (account && account.enabled) {
        await this.updateAccount(em, account, { enabled: false, updatedAt: now });
        this.counts.disabled++;
      } else this.counts.skipped++;
      await this.saveEntry(em, entry, u, { accountId: account?.id ?? null });
      return;
    }

    const primary = addrs[0]!;
    const taken = await this.holder(em, primary.address, account?.id ?? null);
    let changed = false;
    const isNew = !account;
    if (!account) {
      if (taken) {
        this.conflict({ externalId: u.externalId, dn: u.dn, address: primary.address, reason: taken });
        await this.saveEntry(em, entry, u, { accountId: null });
        return;
      }
      await this.dropOwnAlias(em, primary.address, null);
      const row = {
        address: primary.address, domainId: primary.domainId, displayName, passwordHash: null, source: 'directory',
        directoryId: this.directoryId, externalId: u.externalId, enabled: !u.disabled, isAdmin: false,
        quotaBytes: 0, quotaMessages: 0, usedBytes: 0, usedMessages: 0, createdAt: now, updatedAt: now, deletedAt: null,
      };
      const id = await this.insert(em, 'account', row);
      account = { id, address: row.address, domainId: row.domainId, displayName, source: 'directory', directoryId: this.directoryId,
        externalId: u.externalId, enabled: row.enabled, deletedAt: null };
      if (this.snap) this.snap.setAccount(account, null, this.directoryId);
      await this.mailStore.createDefaultMailboxes(em, account.id);
      this.counts.created++;
    } else {
      const patch: Partial<AccountEntity> = {};
      if (account.address !== primary.address) {
        if (taken) this.conflict({ externalId: u.externalId, dn: u.dn, address: primary.address, reason: `rename refused: ${taken}` });
        else {
          await this.dropOwnAlias(em, primary.address, account.id);
          patch.address = primary.address;
          patch.domainId = primary.domainId;
        }
      }
      if (account.displayName !== displayName) patch.displayName = displayName;
      if (account.enabled === u.disabled) {
        patch.enabled = !u.disabled;
        this.counts[u.disabled ? 'disabled' : 'enabled']++;
      }
      if (account.deletedAt) patch.deletedAt = null; // back from the dead (AD tombstone reanimation)
      if (Object.keys(patch).length) {
        await this.updateAccount(em, account, { ...patch, updatedAt: now });
        account = { ...account, ...(patch as Partial<AccRow>) };
        changed = true;
      }
    }
    if (await this.syncAliases(em, account.id, u, addrs.slice(1))) changed = true;
    if (await this.saveEntry(em, entry, u, { accountId: account.id })) changed = true;
    // An existing account whose row, aliases or address-book attributes changed counts as updated.
    if (!isNew) this.counts[changed ? 'updated' : 'unchanged']++;
  }

  /** Removes a directory alias of `accountId` (or an orphan one) so its address can become primary. */
  private async dropOwnAlias(em: EntityManager, address: string, accountId: number | null): Promise<void> {
    const alias = await this.aliasByAddress(em, address);
    if (!alias || alias.source !== 'directory') return;
    if (alias.targets.every((t) => (t.accountId === accountId || t.accountId === null) && t.groupId === null)) await this.deleteAliasTarget(em, alias, null);
  }

  /** Makes the account's directory aliases exactly `wanted` (conflicting ones are reported, not taken). Returns whether any changed. */
  private async syncAliases(em: EntityManager, accountId: number, u: DirectoryUser, wanted: Array<{ address: string; domainId: number }>): Promise<boolean> {
    const aliases = await this.directoryAliasesOf(em, accountId);
    let changed = false;
    for (const a of aliases) {
      if (wanted.some((w) => w.address === a.address)) continue;
      await this.deleteAliasTarget(em, a, accountId);
      changed = true;
    }
    for (const w of wanted) {
      if (aliases.some((a) => a.address === w.address)) continue;
      const taken = await this.holder(em, w.address, accountId);
      if (taken) {
        this.conflict({ externalId: u.externalId, dn: u.dn, address: w.address, reason: `alias: ${taken}` });
        continue;
      }
      const aliasId = await this.insert(em, 'alias', { address: w.address, domainId: w.domainId, source: 'directory', createdAt: this.now() });
      let targetId = 0; // with a snapshot the target is inserted at flush() and never addressed by id
      if (this.snap) this.pendingTargets.push([aliasId, accountId]);
      else targetId = await this.insert(em, 'alias_target', { aliasId, accountId, forwardTo: null });
      if (this.snap) {
        this.snap.put(this.snap.aliasByAddr, w.address, { id: aliasId, address: w.address, source: 'directory', targets: [{ id: targetId, accountId, groupId: null }] });
        this.snap.aliasOf(accountId, w.address, true);
      }
      changed = true;
    }
    return changed;
  }

  /**
   * The user is gone from the directory: the account is disabled and marked deleted (mail kept
   * until an admin purges it), its directory aliases and list memberships go.
   */
  async deleteUser(em: EntityManager, externalId: string): Promise<void> {
    const now = this.now();
    const entry = await this.entryOf(em, externalId);
    if (entry) {
      this.affectedKeys.add(entry.dnKey);
      if (entry.login) this.affectedKeys.add(`uid:${entry.login}`);
    }
    if (entry && !entry.deletedAt) {
      await this.flush(em);
      await em.update(DirectoryEntryEntity, { directoryId: this.directoryId, externalId }, { deletedAt: now, updatedAt: now });
      if (this.snap) this.snap.put(this.snap.entryByExt, externalId, { ...entry, deletedAt: now });
    }
    const account = await this.accountByExt(em, externalId);
    if (!account || account.deletedAt) return;
    await this.updateAccount(em, account, { enabled: false, deletedAt: now, updatedAt: now });
    for (const alias of await this.directoryAliasesOf(em, account.id)) await this.deleteAliasTarget(em, alias, account.id);
    await em.delete(GroupMemberEntity, { accountId: account.id });
    this.counts.deleted++;
  }

  /** Creates, updates or removes the distribution list of one directory group. */
  async applyGroup(em: EntityManager, g: DirectoryGroup): Promise<void> {
    const entry = await this.entryOf(em, g.externalId);
    let group = await this.groupByExt(em, g.externalId);
    const addrs = await this.accepted(em, g.addresses);
    const displayName = (g.book.displayName ?? g.name).slice(0, MAX_DISPLAY_NAME);
    if (!addrs.length) {
      if (group) await this.dropGroup(em, group);
      await this.saveEntry(em, entry, g, { groupId: null });
      return;
    }
    const primary = addrs[0]!;
    const acc = await this.accountByAddress(em, primary.address);
    let alias = await this.aliasByAddress(em, primary.address);
    if (alias && group && alias.source === 'directory' && alias.targets.every((t) => t.groupId === group!.id)) {
      // A further address of this list becomes its primary one.
      await this.deleteGroupAlias(em, alias, group.id);
      alias = null;
    }
    const other = await this.groupByAddress(em, primary.address);
    const taken = acc ? `used by account ${acc.address}` : alias ? 'used by an alias'
      : other && other.id !== group?.id ? `used by ${other.source} group ${other.externalId ?? other.address}` : null;
    if (taken) {
      this.conflict({ externalId: g.externalId, dn: g.dn, address: primary.address, reason: taken });
    } else if (!group) {
      const row = {
        address: primary.address, domainId: primary.domainId, displayName, membersMaySendAs: false, source: 'directory',
        directoryId: this.directoryId, externalId: g.externalId, createdAt: this.now(),
      };
      const id = await this.insert(em, 'mail_group', row);
      group = { id, address: row.address, source: 'directory', directoryId: this.directoryId, externalId: g.externalId, displayName };
      if (this.snap) {
        this.snap.put(this.snap.groupByAddr, group.address, group);
        this.snap.put(this.snap.groupByExt, g.externalId, group);
      }
    } else if (group.address !== primary.address || group.displayName !== displayName) {
      await em.update(GroupEntity, { id: group.id }, { address: primary.address, domainId: primary.domainId, displayName });
      if (this.snap) {
        const next = { ...group, address: primary.address, displayName };
        if (this.snap.groupByAddr.get(group.address) === group) this.snap.put(this.snap.groupByAddr, group.address, undefined);
        this.snap.put(this.snap.groupByAddr, next.address, next);
        this.snap.put(this.snap.groupByExt, g.externalId, next);
        group = next;
      }
    }
    this.counts.groups++;
    // A list whose primary address is in conflict keeps its further addresses as they were.
    if (group && !taken) await this.syncGroupAliases(em, group, g, addrs.slice(1));
    await this.saveEntry(em, entry, g, { groupId: group?.id ?? null });
  }

  /** Makes the list's directory aliases exactly `wanted` (addresses held elsewhere are reported, not taken). */
  private async syncGroupAliases(em: EntityManager, group: GroupRow, g: DirectoryGroup, wanted: Array<{ address: string; domainId: number }>): Promise<void> {
    const have = await this.directoryAliasesOfGroup(em, group.id);
    for (const a of have) if (!wanted.some((w) => w.address === a.address)) await this.deleteGroupAlias(em, a, group.id);
    for (const w of wanted) {
      if (have.some((a) => a.address === w.address)) continue;
      const acc = await this.accountByAddress(em, w.address);
      const alias = await this.aliasByAddress(em, w.address);
      const other = await this.groupByAddress(em, w.address);
      const taken = acc ? `used by account ${acc.address}` : alias ? 'used by an alias' : other ? `used by ${other.source} group ${other.externalId ?? other.address}` : null;
      if (taken) {
        this.conflict({ externalId: g.externalId, dn: g.dn, address: w.address, reason: `list address: ${taken}` });
        continue;
      }
      await this.flush(em);
      const aliasId = await this.insert(em, 'alias', { address: w.address, domainId: w.domainId, source: 'directory', createdAt: this.now() });
      const targetId = await this.insert(em, 'alias_target', { aliasId, accountId: null, forwardTo: null, groupId: group.id });
      if (this.snap) {
        this.snap.put(this.snap.aliasByAddr, w.address, { id: aliasId, address: w.address, source: 'directory', targets: [{ id: targetId, accountId: null, groupId: group.id }] });
        this.snap.groupAliasOf(group.id, w.address, true);
      }
    }
  }

  /** Removes the alias's target on the list, and the alias once it has no target left. */
  private async deleteGroupAlias(em: EntityManager, alias: AliasRow, groupId: number): Promise<void> {
    await this.flush(em);
    await em.delete(AliasTargetEntity, { aliasId: alias.id, groupId });
    const left = alias.targets.filter((t) => t.groupId !== groupId);
    const none = this.snap ? left.length === 0 : !(await em.countBy(AliasTargetEntity, { aliasId: alias.id }));
    if (none) await em.delete(AliasEntity, { id: alias.id });
    if (this.snap) {
      this.snap.put(this.snap.aliasByAddr, alias.address, none ? undefined : { ...alias, targets: left });
      this.snap.groupAliasOf(groupId, alias.address, false);
    }
  }

  private async dropGroup(em: EntityManager, group: GroupRow): Promise<void> {
    for (const a of await this.directoryAliasesOfGroup(em, group.id)) await this.deleteGroupAlias(em, a, group.id);
    await em.delete(GroupMemberEntity, { groupId: group.id });
    await em.delete(GroupMemberEntity, { memberGroupId: group.id });
    await forgetSubject(em, 'group', group.id); // mailbox rights granted to the group go with it
    await deleteDavGrantsToGroupIn(em, group.id); // and its calendar/address book shares and delegations
    await em.delete(GroupEntity, { id: group.id });
    if (this.snap) {
      if (this.snap.groupByAddr.get(group.address) === group) this.snap.put(this.snap.groupByAddr, group.address, undefined);
      if (group.externalId !== null && group.directoryId === this.directoryId) this.snap.put(this.snap.groupByExt, group.externalId, undefined);
    }
  }

  /** The group is gone: its distribution list goes (it holds no mail); the entry is marked deleted. */
  async deleteGroup(em: EntityManager, externalId: string): Promise<void> {
    const now = this.now();
    const entry = await this.entryOf(em, externalId);
    if (entry) {
      this.affectedKeys.add(entry.dnKey);
      this.touchedGroups.add(entry.dnKey);
    }
    if (entry && !entry.deletedAt) {
      await this.flush(em);
      await em.update(DirectoryEntryEntity, { directoryId: this.directoryId, externalId }, { deletedAt: now, updatedAt: now, groupId: null });
      if (this.snap) this.snap.put(this.snap.entryByExt, externalId, { ...entry, deletedAt: now, groupId: null });
    }
    const group = await this.groupByExt(em, externalId);
    if (group) await this.dropGroup(em, group);
  }

  /**
   * Makes each list's members exactly these accounts (already flattened and filtered), in a few
   * statements for all lists. Returns how many lists changed.
   */
  async setMembersMany(em: EntityManager, wanted: Map<number, number[]>): Promise<number> {
    const groupIds = [...wanted.keys()];
    const existing: Array<{ id: number; groupId: number; accountId: number | null }> = [];
    for (let i = 0; i < groupIds.length; i += 500) {
      const chunk = groupIds.slice(i, i + 500);
      const rows = await em.query(
        `SELECT "id", "groupId", "accountId" FROM "mail_group_member" WHERE "groupId" IN (${chunk.map((_, j) => this.p(em, j + 1)).join(', ')}) ORDER BY "id"`,
        chunk,
      ) as Array<Record<string, unknown>>;
      for (const r of rows) existing.push({ id: Number(r.id), groupId: Number(r.groupId), accountId: num(r.accountId) });
    }
    const byGroup = new Map<number, typeof existing>();
    for (const m of existing) {
      let l = byGroup.get(m.groupId);
      if (!l) byGroup.set(m.groupId, (l = []));
      l.push(m);
    }
    const drop: number[] = [];
    const add: Array<[number, number]> = [];
    let changed = 0;
    for (const [groupId, ids] of wanted) {
      const want = new Set(ids);
      let c = false;
      for (const m of byGroup.get(groupId) ?? []) {
        if (m.accountId !== null && want.has(m.accountId)) {
          want.delete(m.accountId);
          continue;
        }
        drop.push(m.id);
        c = true;
      }
      for (const id of want) {
        add.push([groupId, id]);
        c = true;
      }
      if (c) changed++;
    }
    for (let i = 0; i < drop.length; i += 500) {
      const chunk = drop.slice(i, i + 500);
      await em.query(`DELETE FROM "mail_group_member" WHERE "id" IN (${chunk.map((_, j) => this.p(em, j + 1)).join(', ')})`, chunk);
    }
    for (let i = 0; i < add.length; i += 500) {
      const chunk = add.slice(i, i + 500);
      await em.query(
        `INSERT INTO "mail_group_member" ("groupId", "accountId", "memberGroupId", "externalAddress") VALUES ${chunk.map((_, j) => `(${this.p(em, 2 * j + 1)}, ${this.p(em, 2 * j + 2)}, NULL, NULL)`).join(', ')}`,
        chunk.flat(),
      );
    }
    return changed;
  }

  /** Makes the list's members exactly these accounts (already flattened and filtered). */
  async setMembers(em: EntityManager, groupId: number, accountIds: number[]): Promise<boolean> {
    return (await this.setMembersMany(em, new Map([[groupId, accountIds]]))) > 0;
  }
}
