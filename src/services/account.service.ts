// Accounts, domains, aliases and groups: the one account model every protocol uses, and the
// single `resolveRecipient()` that every delivery path asks where an address goes.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { In, IsNull, Not, type EntityManager } from 'typeorm';
import {
  AccountEntity, AliasEntity, AliasTargetEntity, DomainEntity, GroupEntity, GroupMemberEntity,
} from '../../schemas/entities/index.js';
import { AddressError, normalizeAddress, normalizeDomain, parseAddress, unicodeDomain } from '../mail/address.js';
import type { Store } from '../store/store.js';
import { ServiceError } from './errors.js';
import { deleteDavDataIn, deleteDavGrantsToGroupIn } from './groupware/groupware.service.js';
import type { MailStoreService } from './mail-store.service.js';
import { forgetSubject } from './mailbox-access.service.js';
import { hashPassword, verifyPassword } from './password.js';

/** Where mail for one address goes. */
export type Resolution =
  | { kind: 'local'; accountIds: number[]; forwards: string[]; via: 'account' | 'alias' | 'group' | 'role' }
  | { kind: 'unknown' }     // a local domain, but nobody has this address
  | { kind: 'remote' };     // not one of our domains

/** Role addresses every domain must have (RFC 5321 §4.5.1, RFC 2142). */
const ROLE_LOCALS = new Set(['postmaster', 'abuse']);
const MAX_GROUP_DEPTH = 10;

export interface NewAccount {
  address: string;
  password?: string | null;
  displayName?: string;
  quotaBytes?: number;
  quotaMessages?: number;
  isAdmin?: boolean;
  /** 'shared': a shared mailbox (support@, info@) that receives mail but never logs in; reached through ACL grants. */
  kind?: 'user' | 'shared';
}

/**
 * Bind-through logins for accounts with source 'directory' (src/services/directory-auth.ts).
 * findAccount() maps a login that is not an address (UPN user@REALM, DOMAIN\\name) to an account;
 * authenticate() verifies against the directory and throws ServiceError AUTH_FAILED, DISABLED
 * or TEMPORARY (directory unreachable), never succeeding on an empty password.
 */
export interface DirectoryLogin {
  findAccount(login: string): Promise<AccountEntity | null>;
  authenticate(account: AccountEntity, password: string): Promise<AccountEntity>;
}

export class AccountService {
  private directoryLogin: DirectoryLogin | null = null;

  constructor(
    private readonly store: Store,
    private readonly mailStore: MailStoreService,
    private readonly opts: { adminAddress?: string | null } = {},
  ) {}

  /** Directory accounts log in through this (set by openApp when directories are configured). */
  setDirectoryLogin(d: DirectoryLogin | null): void {
    this.directoryLogin = d;
  }

  private get em(): EntityManager {
    return this.store.em;
  }

  // ---- domains ------------------------------------------------------------------------------

  async addDomain(name: string): Promise<{ domain: DomainEntity; dkimRecord: string }> {
    const ascii = normalizeDomainOrThrow(name);
    if (await this.em.findOneBy(DomainEntity, { name: ascii })) throw new ServiceError('EXISTS', `domain ${ascii} exists`);
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const d = this.em.create(DomainEntity, {
      name: ascii,
      unicodeName: unicodeDomain(ascii),
      dkimSelector: `pt${new Date().toISOString().slice(0, 7).replace('-', '')}`,
      dkimPrivateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      createdAt: Date.now(),
    });
    await this.store.write(({ em }) => em.save(d));
    return { domain: d, dkimRecord: dkimRecord(d, publicKey.export({ type: 'spki', format: 'der' })) };
  }

  listDomains(): Promise<DomainEntity[]> {
    return this.em.find(DomainEntity, { order: { name: 'ASC' } });
  }

  async getDomain(name: string): Promise<DomainEntity | null> {
    const ascii = asciiDomainOrNull(name);
    return ascii === null ? null : this.em.findOneBy(DomainEntity, { name: ascii });
  }

  /**
   * Asked for every recipient and, with the policy on, for the sender of every message: plain
   * SQL on the unique name index, not a find() (TypeORM's query building cost ten times the lookup).
   */
  async isLocalDomain(name: string): Promise<boolean> {
    const ascii = asciiDomainOrNull(name);
    if (ascii === null) return false;
    const rows = await this.em.query(`SELECT 1 AS "hit" FROM "domain" WHERE "name" = ${this.store.param(1)}`, [ascii]) as unknown[];
    return rows.length > 0;
  }

  /** DNS TXT record for the domain's DKIM key. */
  dkimRecordOf(d: DomainEntity): string | null {
    if (!d.dkimPrivateKey || !d.dkimSelector) return null;
    return dkimRecord(d, createPublicKey(d.dkimPrivateKey).export({ type: 'spki', format: 'der' }));
  }

  /** DNS TXT record for the key `dkim-rotate` replaced, while it is kept (null otherwise). */
  dkimPreviousRecordOf(d: DomainEntity): string | null {
    if (!d.dkimPreviousPrivateKey || !d.dkimPreviousSelector) return null;
    return dkimRecord({ name: d.name, dkimSelector: d.dkimPreviousSelector },
      createPublicKey(d.dkimPreviousPrivateKey).export({ type: 'spki', format: 'der' }));
  }

  /**
   * DKIM key rotation: a new key under a new selector signs from now on; the replaced key is
   * kept (its DNS record should stay published) until retireDkim() or, when the next rotation
   * comes after the grace period, dropped then. Within the grace period a second rotation is
   * refused unless `force` (it would drop a key that mail in flight may still be signed with).
   */
  async rotateDkim(name: string, opts: { selector?: string; force?: boolean; graceMs?: number; now?: number } = {}): Promise<{
    domain: DomainEntity; record: string; previousRecord: string | null; dropped: string | null;
  }> {
    const d = await this.getDomain(name);
    if (!d) throw new ServiceError('NOT_FOUND', `no domain ${name}`);
    const now = opts.now ?? Date.now();
    const grace = opts.graceMs ?? DKIM_RETIRE_GRACE_MS;
    if (d.dkimPreviousPrivateKey && !opts.force && (d.dkimRotatedAt ?? 0) + grace > now) {
      throw new ServiceError('FORBIDDEN', `the previous DKIM key of ${d.name} (selector ${d.dkimPreviousSelector}) is kept until `
        + `${new Date((d.dkimRotatedAt ?? 0) + grace).toISOString()}; retire it first (--retire) or rotate with --force`);
    }
    const dropped = d.dkimPreviousPrivateKey ? d.dkimPreviousSelector : null;
    const taken = new Set([d.dkimSelector, d.dkimPreviousSelector].filter((x): x is string => !!x).map((x) => x.toLowerCase()));
    let selector: string;
    if (opts.selector !== undefined) {
      selector = opts.selector.trim().toLowerCase();
      if (!/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(selector)) throw new ServiceError('INVALID', `invalid DKIM selector '${opts.selector}'`);
      if (taken.has(selector)) throw new ServiceError('EXISTS', `selector ${selector} is already used by ${d.name}`);
    } else {
      const base = `pt${new Date(now).toISOString().slice(0, 10).replaceAll('-', '')}`;
      selector = base;
      for (let n = 2; taken.has(selector); n++) selector = `${base}-${n}`;
    }
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const patch = {
      dkimPreviousSelector: d.dkimPrivateKey ? d.dkimSelector : null,
      dkimPreviousPrivateKey: d.dkimPrivateKey ? d.dkimPrivateKey : null,
      dkimSelector: selector,
      dkimPrivateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      dkimRotatedAt: now,
    };
    await this.store.write(({ em }) => em.update(DomainEntity, { id: d.id }, patch));
    Object.assign(d, patch);
    return {
      domain: d, record: dkimRecord(d, publicKey.export({ type: 'spki', format: 'der' })),
      previousRecord: this.dkimPreviousRecordOf(d), dropped,
    };
  }

  /** Drops the key a rotation replaced; returns its selector (whose DNS record can now go). */
  async retireDkim(name: string): Promise<{ domain: DomainEntity; retired: string }> {
    const d = await this.getDomain(name);
    if (!d) throw new ServiceError('NOT_FOUND', `no domain ${name}`);
    if (!d.dkimPreviousPrivateKey || !d.dkimPreviousSelector) throw new ServiceError('NOT_FOUND', `${d.name} has no previous DKIM key to retire`);
    const retired = d.dkimPreviousSelector;
    const patch = { dkimPreviousSelector: null, dkimPreviousPrivateKey: null };
    await this.store.write(({ em }) => em.update(DomainEntity, { id: d.id }, patch));
    Object.assign(d, patch);
    return { domain: d, retired };
  }

  async removeDomain(name: string): Promise<void> {
    const d = await this.getDomain(name);
    if (!d) throw new ServiceError('NOT_FOUND', `no domain ${name}`);
    const users = await this.em.countBy(AccountEntity, { domainId: d.id });
    const aliases = await this.em.countBy(AliasEntity, { domainId: d.id });
    const groups = await this.em.countBy(GroupEntity, { domainId: d.id });
    if (users + aliases + groups > 0) {
      throw new ServiceError('FORBIDDEN', `domain ${d.name} still has ${users} accounts, ${aliases} aliases, ${groups} groups`);
    }
    await this.store.write(({ em }) => em.delete(DomainEntity, { id: d.id }));
  }

  // ---- accounts -----------------------------------------------------------------------------

  private async domainFor(address: string): Promise<{ address: string; domain: DomainEntity }> {
    let parsed;
    try {
      parsed = parseAddress(address);
    } catch (e) {
      throw new ServiceError('INVALID', (e as Error).message);
    }
    const domain = await this.em.findOneBy(DomainEntity, { name: parsed.domain });
    if (!domain) throw new ServiceError('NOT_FOUND', `${parsed.domain} is not a local domain (add it with 'pochtamt domain add')`);
    return { address: parsed.address, domain };
  }

  private async assertAddressFree(em: EntityManager, address: string): Promise<void> {
    const taken = (await em.countBy(AccountEntity, { address })) + (await em.countBy(AliasEntity, { address }))
      + (await em.countBy(GroupEntity, { address }));
    if (taken) throw new ServiceError('EXISTS', `${address} is already in use`);
  }

  async addAccount(input: NewAccount): Promise<AccountEntity> {
    const { address, domain } = await this.domainFor(input.address);
    const kind = input.kind ?? 'user';
    if (kind === 'shared' && input.password) throw new ServiceError('INVALID', 'a shared mailbox has no password: it never logs in');
    const passwordHash = input.password ? await hashPassword(input.password) : null;
    return this.store.write(async ({ em }) => {
      await this.assertAddressFree(em, address);
      const now = Date.now();
      const account = em.create(AccountEntity, {
        address, domainId: domain.id, displayName: input.displayName ?? '', passwordHash, source: 'local',
        directoryId: null, externalId: null, enabled: true, isAdmin: input.isAdmin ?? false, kind,
        quotaBytes: input.quotaBytes ?? 0, quotaMessages: input.quotaMessages ?? 0, usedBytes: 0, usedMessages: 0,
        createdAt: now, updatedAt: now, deletedAt: null,
      });
      await em.save(account);
      await this.mailStore.createDefaultMailboxes(em, account.id);
      return account;
    });
  }

  listAccounts(domain?: string): Promise<AccountEntity[]> {
    if (!domain) return this.em.find(AccountEntity, { order: { address: 'ASC' } });
    return this.getDomain(domain).then((d) =>
      d ? this.em.find(AccountEntity, { where: { domainId: d.id }, order: { address: 'ASC' } }) : []);
  }

  async getAccount(address: string): Promise<AccountEntity | null> {
    let a: string;
    try {
      a = normalizeAddress(address);
    } catch {
      return null;
    }
    return this.em.findOneBy(AccountEntity, { address: a });
  }

  getAccountById(id: number): Promise<AccountEntity | null> {
    return this.em.findOneBy(AccountEntity, { id });
  }

  private async mustGet(address: string): Promise<AccountEntity> {
    const a = await this.getAccount(address);
    if (!a) throw new ServiceError('NOT_FOUND', `no account ${address}`);
    return a;
  }

  async setPassword(address: string, password: string): Promise<void> {
    const a = await this.mustGet(address);
    if (a.source !== 'local') throw new ServiceError('FORBIDDEN', `${a.address} comes from a directory; change the password there`);
    if (a.kind === 'shared') throw new ServiceError('FORBIDDEN', `${a.address} is a shared mailbox: it never logs in`);
    const passwordHash = await hashPassword(password);
    await this.store.write(({ em }) => em.update(AccountEntity, { id: a.id }, { passwordHash, updatedAt: Date.now() }));
  }

  async setEnabled(address: string, enabled: boolean): Promise<void> {
    const a = await this.mustGet(address);
    await this.store.write(({ em }) => em.update(AccountEntity, { id: a.id }, { enabled, updatedAt: Date.now() }));
  }

  async setQuota(address: string, quotaBytes: number | undefined, quotaMessages: number | undefined): Promise<void> {
    const a = await this.mustGet(address);
    const patch: Partial<AccountEntity> = { updatedAt: Date.now() };
    if (quotaBytes !== undefined) patch.quotaBytes = quotaBytes;
    if (quotaMessages !== undefined) patch.quotaMessages = quotaMessages;
    await this.store.write(({ em }) => em.update(AccountEntity, { id: a.id }, patch));
  }

  /** Deletes the account, its mailboxes and messages, its alias/group memberships and its DAV data, in one transaction. */
  async removeAccount(address: string): Promise<void> {
    const a = await this.mustGet(address);
    await this.store.write(async (ctx) => {
      await this.mailStore.deleteAllMail(ctx, a.id);
      await deleteDavDataIn(ctx.em, a.id);
      await ctx.em.delete(AliasTargetEntity, { accountId: a.id });
      await ctx.em.delete(GroupMemberEntity, { accountId: a.id });
      await forgetSubject(ctx.em, 'account', a.id);
      await ctx.em.delete(AccountEntity, { id: a.id });
    });
  }

  // ---- aliases ------------------------------------------------------------------------------

  /** Adds targets to an alias (creating it): each target is a local account address or an external forward. */
  async addAlias(address: string, targets: string[]): Promise<void> {
    const { address: alias, domain } = await this.domainFor(address);
    if (!targets.length) throw new ServiceError('INVALID', 'an alias needs at least one target');
    const resolved: Array<{ accountId: number | null; forwardTo: string | null }> = [];
    for (const t of targets) {
      const norm = normalizeAddressOrThrow(t);
      const acc = await this.em.findOneBy(AccountEntity, { address: norm });
      if (acc) resolved.push({ accountId: acc.id, forwardTo: null });
      else if (await this.isLocalDomain(norm.split('@')[1]!)) throw new ServiceError('NOT_FOUND', `no account ${norm}`);
      else resolved.push({ accountId: null, forwardTo: norm });
    }
    await this.store.write(async ({ em }) => {
      let row = await em.findOneBy(AliasEntity, { address: alias });
      if (!row) {
        await this.assertAddressFree(em, alias);
        row = await em.save(em.create(AliasEntity, { address: alias, domainId: domain.id, source: 'local', createdAt: Date.now() }));
      }
      const existing = await em.findBy(AliasTargetEntity, { aliasId: row.id });
      for (const r of resolved) {
        if (existing.some((e) => e.accountId === r.accountId && e.forwardTo === r.forwardTo)) continue;
        await em.save(em.create(AliasTargetEntity, { aliasId: row.id, ...r }));
      }
    });
  }

  async listAliases(): Promise<Array<{ address: string; targets: string[] }>> {
    const aliases = await this.em.find(AliasEntity, { order: { address: 'ASC' } });
    const targets = aliases.length ? await this.em.findBy(AliasTargetEntity, { aliasId: In(aliases.map((a) => a.id)) }) : [];
    const accounts = await this.accountAddresses(targets.map((t) => t.accountId));
    const groupIds = [...new Set(targets.flatMap((t) => (t.groupId ? [t.groupId] : [])))];
    const groups = new Map(groupIds.length ? (await this.em.findBy(GroupEntity, { id: In(groupIds) })).map((g) => [g.id, g.address]) : []);
    return aliases.map((a) => ({
      address: a.address,
      targets: targets.filter((t) => t.aliasId === a.id)
        .map((t) => (t.accountId ? accounts.get(t.accountId)! : t.groupId ? `list ${groups.get(t.groupId) ?? `#${t.groupId}`}` : t.forwardTo!)),
    }));
  }

  /** Removes the whole alias, or only the given targets. */
  async removeAlias(address: string, targets: string[] = []): Promise<void> {
    const norm = normalizeAddressOrThrow(address);
    const row = await this.em.findOneBy(AliasEntity, { address: norm });
    if (!row) throw new ServiceError('NOT_FOUND', `no alias ${norm}`);
    await this.store.write(async ({ em }) => {
      if (!targets.length) {
        await em.delete(AliasTargetEntity, { aliasId: row.id });
        await em.delete(AliasEntity, { id: row.id });
        return;
      }
      for (const t of targets.map(normalizeAddressOrThrow)) {
        const acc = await em.findOneBy(AccountEntity, { address: t });
        await em.delete(AliasTargetEntity, acc ? { aliasId: row.id, accountId: acc.id } : { aliasId: row.id, forwardTo: t });
      }
      if (!(await em.countBy(AliasTargetEntity, { aliasId: row.id }))) await em.delete(AliasEntity, { id: row.id });
    });
  }

  // ---- groups (distribution lists) ------------------------------------------------------------

  async addGroup(address: string, opts: { displayName?: string; membersMaySendAs?: boolean; members?: string[] } = {}): Promise<void> {
    const { address: group, domain } = await this.domainFor(address);
    await this.store.write(async ({ em }) => {
      await this.assertAddressFree(em, group);
      await em.save(em.create(GroupEntity, {
        address: group, domainId: domain.id, displayName: opts.displayName ?? '', membersMaySendAs: opts.membersMaySendAs ?? false,
        source: 'local', directoryId: null, externalId: null, createdAt: Date.now(),
      }));
    });
    if (opts.members?.length) await this.setGroupMembers(group, opts.members, 'add');
  }

  async setGroupMembers(address: string, members: string[], mode: 'add' | 'remove' | 'set'): Promise<void> {
    const norm = normalizeAddressOrThrow(address);
    const group = await this.em.findOneBy(GroupEntity, { address: norm });
    if (!group) throw new ServiceError('NOT_FOUND', `no group ${norm}`);
    const rows: Array<Pick<GroupMemberEntity, 'accountId' | 'memberGroupId' | 'externalAddress'>> = [];
    for (const m of members.map(normalizeAddressOrThrow)) {
      const acc = await this.em.findOneBy(AccountEntity, { address: m });
      const sub = acc ? null : await this.em.findOneBy(GroupEntity, { address: m });
      if (sub && sub.id === group.id) throw new ServiceError('INVALID', 'a group cannot contain itself');
      if (!acc && !sub && await this.isLocalDomain(m.split('@')[1]!)) throw new ServiceError('NOT_FOUND', `no account or group ${m}`);
      rows.push({ accountId: acc?.id ?? null, memberGroupId: sub?.id ?? null, externalAddress: acc || sub ? null : m });
    }
    const same = (a: typeof rows[number], b: typeof rows[number]) =>
      a.accountId === b.accountId && a.memberGroupId === b.memberGroupId && a.externalAddress === b.externalAddress;
    await this.store.write(async ({ em }) => {
      const existing = await em.findBy(GroupMemberEntity, { groupId: group.id });
      if (mode === 'set') await em.delete(GroupMemberEntity, { groupId: group.id });
      for (const r of rows) {
        const found = existing.find((e) => same(e, r));
        if (mode === 'remove') {
          if (found) await em.delete(GroupMemberEntity, { id: found.id });
        } else if (mode === 'set' || !found) {
          await em.save(em.create(GroupMemberEntity, { groupId: group.id, ...r }));
        }
      }
    });
  }

  async listGroups(): Promise<Array<{ address: string; displayName: string; membersMaySendAs: boolean; members: string[] }>> {
    const groups = await this.em.find(GroupEntity, { order: { address: 'ASC' } });
    const members = groups.length ? await this.em.findBy(GroupMemberEntity, { groupId: In(groups.map((g) => g.id)) }) : [];
    const accounts = await this.accountAddresses(members.map((m) => m.accountId));
    const byId = new Map(groups.map((g) => [g.id, g.address]));
    return groups.map((g) => ({
      address: g.address,
      displayName: g.displayName,
      membersMaySendAs: g.membersMaySendAs,
      members: members.filter((m) => m.groupId === g.id)
        .map((m) => (m.accountId ? accounts.get(m.accountId)! : m.memberGroupId ? byId.get(m.memberGroupId)! : m.externalAddress!)),
    }));
  }

  async removeGroup(address: string): Promise<void> {
    const norm = normalizeAddressOrThrow(address);
    const group = await this.em.findOneBy(GroupEntity, { address: norm });
    if (!group) throw new ServiceError('NOT_FOUND', `no group ${norm}`);
    await this.store.write(async ({ em }) => {
      await em.delete(GroupMemberEntity, { groupId: group.id });
      await em.delete(GroupMemberEntity, { memberGroupId: group.id });
      await forgetSubject(em, 'group', group.id);
      await deleteDavGrantsToGroupIn(em, group.id);
      // Its further addresses (aliases whose target is this list) go with it.
      const listAliases = new Set((await em.findBy(AliasTargetEntity, { groupId: group.id })).map((t) => t.aliasId));
      await em.delete(AliasTargetEntity, { groupId: group.id });
      for (const aliasId of listAliases) if (!(await em.countBy(AliasTargetEntity, { aliasId }))) await em.delete(AliasEntity, { id: aliasId });
      await em.delete(GroupEntity, { id: group.id });
    });
  }

  private async accountAddresses(ids: Array<number | null>): Promise<Map<number, string>> {
    const wanted = [...new Set(ids.filter((x): x is number => x !== null))];
    if (!wanted.length) return new Map();
    const rows = await this.em.find(AccountEntity, { where: { id: In(wanted) }, select: { id: true, address: true } });
    return new Map(rows.map((r) => [r.id, r.address]));
  }

  // ---- resolution -----------------------------------------------------------------------------

  /**
   * Where mail to `address` goes. Subaddresses (user+tag@) reach user@. Accounts marked deleted
   * by a directory no longer receive; disabled ones still do (disabling stops logins only).
   */
  async resolveRecipient(address: string): Promise<Resolution> {
    let parsed;
    try {
      parsed = parseAddress(address);
    } catch {
      return { kind: 'unknown' };
    }
    if (!(await this.isLocalDomain(parsed.domain))) return { kind: 'remote' };
    const direct = await this.resolveExact(parsed.address);
    if (direct) return direct;
    const plus = parsed.local.indexOf('+');
    if (plus > 0) {
      const base = await this.resolveExact(`${parsed.local.slice(0, plus)}@${parsed.domain}`);
      if (base) return base;
    }
    if (ROLE_LOCALS.has(parsed.local)) {
      const admin = await this.adminAccount();
      if (admin) return { kind: 'local', accountIds: [admin.id], forwards: [], via: 'role' };
    }
    return { kind: 'unknown' };
  }

  private async resolveExact(address: string): Promise<Resolution | null> {
    const acc = await this.em.findOneBy(AccountEntity, { address });
    if (acc) return acc.deletedAt ? { kind: 'unknown' } : { kind: 'local', accountIds: [acc.id], forwards: [], via: 'account' };
    const alias = await this.em.findOneBy(AliasEntity, { address });
    if (alias) {
      const targets = await this.em.findBy(AliasTargetEntity, { aliasId: alias.id });
      // A target may be a distribution list (a directory group's secondary address): its members.
      const acc = new Set<number>(targets.flatMap((t) => (t.accountId ? [t.accountId] : [])));
      const ext = new Set<string>(targets.flatMap((t) => (t.forwardTo ? [t.forwardTo] : [])));
      const seen = new Set<number>();
      for (const t of targets) if (t.groupId) await this.expandGroup(t.groupId, acc, ext, seen, 0);
      return { kind: 'local', accountIds: await this.liveAccounts([...acc]), forwards: [...ext], via: targets.some((t) => t.groupId) ? 'group' : 'alias' };
    }
    const group = await this.em.findOneBy(GroupEntity, { address });
    if (group) {
      const acc = new Set<number>();
      const ext = new Set<string>();
      await this.expandGroup(group.id, acc, ext, new Set(), 0);
      return { kind: 'local', accountIds: await this.liveAccounts([...acc]), forwards: [...ext], via: 'group' };
    }
    return null;
  }

  private async liveAccounts(ids: Array<number | null>): Promise<number[]> {
    const wanted = [...new Set(ids.filter((x): x is number => x !== null))];
    if (!wanted.length) return [];
    const rows = await this.em.find(AccountEntity, { where: { id: In(wanted) }, select: { id: true, deletedAt: true } });
    return rows.filter((r) => !r.deletedAt).map((r) => r.id);
  }

  private async expandGroup(groupId: number, acc: Set<number>, ext: Set<string>, seen: Set<number>, depth: number): Promise<void> {
    if (seen.has(groupId) || depth > MAX_GROUP_DEPTH) return; // cycles and runaway nesting stop here
    seen.add(groupId);
    for (const m of await this.em.findBy(GroupMemberEntity, { groupId })) {
      if (m.accountId) acc.add(m.accountId);
      else if (m.externalAddress) ext.add(m.externalAddress);
      else if (m.memberGroupId) await this.expandGroup(m.memberGroupId, acc, ext, seen, depth + 1);
    }
  }

  /** The account that receives postmaster@ and abuse@: the configured one, else the first admin. */
  async adminAccount(): Promise<AccountEntity | null> {
    if (this.opts.adminAddress) {
      const a = await this.getAccount(this.opts.adminAddress);
      if (a) return a;
    }
    return this.em.findOne(AccountEntity, { where: { isAdmin: true }, order: { id: 'ASC' } });
  }

  // ---- authentication and sending rights -----------------------------------------------------

  /**
   * Verifies a login. Throws AUTH_FAILED for unknown users and wrong passwords alike (the same
   * work is done either way), DISABLED for a disabled or deleted account with a right password.
   */
  async authenticate(username: string, password: string): Promise<AccountEntity> {
    const acc = (await this.getAccount(username)) ?? (await this.directoryLogin?.findAccount(username)) ?? (await this.accountOfAlias(username));
    if (acc?.source === 'directory' && this.directoryLogin) return this.directoryLogin.authenticate(acc, password);
    const ok = await verifyPassword(acc?.passwordHash ?? null, password);
    // A shared mailbox never logs in (it has no password; this holds even if one were set).
    if (!acc || !ok || acc.kind === 'shared') throw new ServiceError('AUTH_FAILED', 'invalid credentials');
    if (!acc.enabled || acc.deletedAt) throw new ServiceError('DISABLED', 'account disabled');
    return acc;
  }

  /**
   * The account an alias address names, for logins by alias (e.g. an AD proxyAddresses
   * `smtp:` address): only an alias whose targets are exactly one live account, so a shared
   * alias, a list address or a forward never names a login.
   */
  private async accountOfAlias(username: string): Promise<AccountEntity | null> {
    let a: string;
    try {
      a = normalizeAddress(username);
    } catch {
      return null;
    }
    const alias = await this.em.findOneBy(AliasEntity, { address: a });
    if (!alias) return null;
    const targets = await this.em.findBy(AliasTargetEntity, { aliasId: alias.id });
    if (targets.length !== 1 || !targets[0]!.accountId) return null;
    const acc = await this.em.findOneBy(AccountEntity, { id: targets[0]!.accountId });
    return acc && !acc.deletedAt ? acc : null;
  }

  /** May this account use `address` as its envelope sender or From? Primary, its aliases, groups allowing it. */
  async canSendAs(accountId: number, address: string): Promise<boolean> {
    let norm: string;
    try {
      norm = normalizeAddress(address);
    } catch {
      return false;
    }
    const acc = await this.getAccountById(accountId);
    if (!acc) return false;
    if (norm === acc.address) return true;
    const [local, domain] = [norm.slice(0, norm.lastIndexOf('@')), norm.slice(norm.lastIndexOf('@') + 1)];
    const plus = local.indexOf('+');
    if (plus > 0 && `${local.slice(0, plus)}@${domain}` === acc.address) return true;
    const alias = await this.em.findOneBy(AliasEntity, { address: norm });
    if (alias && (await this.em.countBy(AliasTargetEntity, { aliasId: alias.id, accountId }))) return true;
    // A further address of a list counts as the list's own address.
    const listTarget = alias ? await this.em.findOne(AliasTargetEntity, { where: { aliasId: alias.id, groupId: Not(IsNull()) } }) : null;
    const group = listTarget ? await this.em.findOneBy(GroupEntity, { id: listTarget.groupId! }) : await this.em.findOneBy(GroupEntity, { address: norm });
    if (group?.membersMaySendAs) {
      const members = new Set<number>();
      await this.expandGroup(group.id, members, new Set(), new Set(), 0);
      if (members.has(accountId)) return true;
    }
    return false;
  }
}



/** How long a key replaced by `domain dkim-rotate` is kept before the next rotation may drop it. */
export const DKIM_RETIRE_GRACE_MS = 7 * 86_400_000;

function dkimRecord(d: Pick<DomainEntity, 'name' | 'dkimSelector'>, spkiDer: Buffer | string): string {
  const p = Buffer.isBuffer(spkiDer) ? spkiDer.toString('base64') : spkiDer;
  return `${d.dkimSelector}._domainkey.${d.name}. IN TXT "v=DKIM1; k=rsa; p=${p}"`;
}

/** The ASCII form of a domain, or null when it is not one (lookups of such a name find nothing). */
function asciiDomainOrNull(name: string): string | null {
  try {
    return normalizeDomain(name);
  } catch {
    return null;
  }
}

function normalizeDomainOrThrow(name: string): string {
  try {
    return normalizeDomain(name);
  } catch (e) {
    throw new ServiceError('INVALID', (e as AddressError).message);
  }
}

function normalizeAddressOrThrow(a: string): string {
  try {
    return normalizeAddress(a);
  } catch (e) {
    throw new ServiceError('INVALID', (e as AddressError).message);
  }
}
