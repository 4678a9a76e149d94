// NAME directory-apply — writes what a directory says into the account model: accounts
// (source 'directory', found again by directoryId + externalId so renames keep the mailbox),
// their directory aliases (AliasEntity source 'directory'), distribution lists from groups with
// mail, flattened transitive membership, and the directory_entry copy (DN, login names,
// address-book attributes). Disables and marks deleted; never deletes an account or mail.
// Address conflicts (two directory users, or a directory user and a local account/alias/group,
// claiming one address) are returned to the caller and never merged.
// BUGS: extra addresses of a group (smtp: aliases of a DL) are not turned into aliases; an
// address held by a deleted-but-retained account stays taken until `directory purge`.
import { In, type EntityManager } from 'typeorm';
import {
  AccountEntity, AliasEntity, AliasTargetEntity, DirectoryEntryEntity, DomainEntity, GroupEntity, GroupMemberEntity,
} from '../../schemas/entities/index.js';
import { dnKey } from '../../connectors/ldap/escape.js';
import type { DirectoryGroup, DirectoryUser } from '../../connectors/ldap/profiles.js';
import { tryNormalizeAddress } from '../mail/address.js';
import type { MailStoreService } from './mail-store.service.js';

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

export class DirectoryWriter {
  constructor(
    readonly directoryId: string,
    private readonly mailStore: MailStoreService,
    /** Is mail for this domain accepted from this directory? Returns the domain row or null. */
    private readonly acceptDomain: (em: EntityManager, domain: string) => Promise<DomainEntity | null>,
    private readonly conflicts: Conflict[],
    private readonly counts: ApplyCounts,
    private readonly now: () => number = Date.now,
  ) {}

  private conflict(c: Conflict): void {
    this.conflicts.push(c);
    this.counts.conflicts++;
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
    const acc = await em.findOneBy(AccountEntity, { address });
    if (acc && acc.id !== selfId) {
      if (acc.source !== 'directory') return `used by local account ${acc.address}`;
      if (acc.directoryId !== this.directoryId) return `used by an account of directory ${acc.directoryId}`;
      return acc.deletedAt ? 'held by a deleted account kept for retention (purge it to free the address)'
        : `claimed by another directory user (${acc.externalId})`;
    }
    const alias = await em.findOneBy(AliasEntity, { address });
    if (alias) {
      const targets = await em.findBy(AliasTargetEntity, { aliasId: alias.id });
      const mine = alias.source === 'directory' && selfId !== null && targets.length > 0 && targets.every((t) => t.accountId === selfId);
      if (!mine) return alias.source === 'directory' ? 'alias of another directory user' : 'used by a local alias';
    }
    const group = await em.findOneBy(GroupEntity, { address });
    if (group) return group.source === 'directory' ? `used by directory group ${group.externalId}` : 'used by a local group';
    return null;
  }

  private async entryOf(em: EntityManager, externalId: string): Promise<DirectoryEntryEntity | null> {
    return em.findOneBy(DirectoryEntryEntity, { directoryId: this.directoryId, externalId });
  }

  private async saveEntry(em: EntityManager, e: DirectoryEntryEntity | null, x: DirectoryUser | DirectoryGroup,
    patch: Partial<DirectoryEntryEntity>): Promise<void> {
    const fields: Partial<DirectoryEntryEntity> = {
      directoryId: this.directoryId, externalId: x.externalId, kind: x.kind, dn: x.dn, dnKey: dnKey(x.dn).slice(0, 1024),
      login: x.kind === 'user' ? x.login?.toLowerCase().slice(0, 256) ?? null : x.name.toLowerCase().slice(0, 256),
      upn: x.kind === 'user' ? x.upn?.slice(0, 320) ?? null : null,
      mail: x.addresses[0] ?? null,
      disabled: x.kind === 'user' ? x.disabled : false,
      attributes: JSON.stringify({ book: x.book, addresses: x.addresses, ...(x.kind === 'user' && x.disabledReason ? { disabledReason: x.disabledReason } : {}) }),
      members: x.kind === 'group' ? JSON.stringify({ dns: x.memberDns, uids: x.memberUids }) : '{}',
      deletedAt: null, updatedAt: this.now(), ...patch,
    };
    if (e) await em.update(DirectoryEntryEntity, { id: e.id }, fields);
    else await em.save(em.create(DirectoryEntryEntity, fields));
  }

  /** Creates or updates the account of one directory user. */
  async applyUser(em: EntityManager, u: DirectoryUser): Promise<void> {
    const entry = await this.entryOf(em, u.externalId);
    let account = await em.findOneBy(AccountEntity, { directoryId: this.directoryId, externalId: u.externalId });
    const addrs = await this.accepted(em, u.addresses);
    const displayName = (u.book.displayName ?? [u.book.givenName, u.book.sn].filter(Boolean).join(' ')).slice(0, MAX_DISPLAY_NAME);
    const now = this.now();

    if (!addrs.length) {
      // No address in an accepted domain: in the address book only. An account it had is disabled.
      if (account && account.enabled) {
        await em.update(AccountEntity, { id: account.id }, { enabled: false, updatedAt: now });
        this.counts.disabled++;
      } else this.counts.skipped++;
      await this.saveEntry(em, entry, u, { accountId: account?.id ?? null });
      return;
    }

    const primary = addrs[0]!;
    const taken = await this.holder(em, primary.address, account?.id ?? null);
    if (!account) {
      if (taken) {
        this.conflict({ externalId: u.externalId, dn: u.dn, address: primary.address, reason: taken });
        await this.saveEntry(em, entry, u, { accountId: null });
        return;
      }
      await this.dropOwnAlias(em, primary.address, null);
      account = await em.save(em.create(AccountEntity, {
        address: primary.address, domainId: primary.domainId, displayName, passwordHash: null, source: 'directory',
        directoryId: this.directoryId, externalId: u.externalId, enabled: !u.disabled, isAdmin: false,
        quotaBytes: 0, quotaMessages: 0, usedBytes: 0, usedMessages: 0, createdAt: now, updatedAt: now, deletedAt: null,
      }));
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
        await em.update(AccountEntity, { id: account.id }, { ...patch, updatedAt: now });
        this.counts.updated++;
      } else this.counts.unchanged++;
    }
    await this.syncAliases(em, account.id, u, addrs.slice(1));
    await this.saveEntry(em, entry, u, { accountId: account.id });
  }

  /** Removes a directory alias of `accountId` (or an orphan one) so its address can become primary. */
  private async dropOwnAlias(em: EntityManager, address: string, accountId: number | null): Promise<void> {
    const alias = await em.findOneBy(AliasEntity, { address, source: 'directory' });
    if (!alias) return;
    const targets = await em.findBy(AliasTargetEntity, { aliasId: alias.id });
    if (targets.every((t) => t.accountId === accountId || t.accountId === null)) {
      await em.delete(AliasTargetEntity, { aliasId: alias.id });
      await em.delete(AliasEntity, { id: alias.id });
    }
  }

  /** Makes the account's directory aliases exactly `wanted` (conflicting ones are reported, not taken). */
  private async syncAliases(em: EntityManager, accountId: number, u: DirectoryUser, wanted: Array<{ address: string; domainId: number }>): Promise<void> {
    const targets = await em.findBy(AliasTargetEntity, { accountId });
    const aliases = targets.length ? await em.findBy(AliasEntity, { id: In(targets.map((t) => t.aliasId)), source: 'directory' }) : [];
    for (const a of aliases) {
      if (wanted.some((w) => w.address === a.address)) continue;
      await em.delete(AliasTargetEntity, { aliasId: a.id, accountId });
      if (!(await em.countBy(AliasTargetEntity, { aliasId: a.id }))) await em.delete(AliasEntity, { id: a.id });
    }
    for (const w of wanted) {
      if (aliases.some((a) => a.address === w.address)) continue;
      const taken = await this.holder(em, w.address, accountId);
      if (taken) {
        this.conflict({ externalId: u.externalId, dn: u.dn, address: w.address, reason: `alias: ${taken}` });
        continue;
      }
      const row = await em.save(em.create(AliasEntity, { address: w.address, domainId: w.domainId, source: 'directory', createdAt: this.now() }));
      await em.save(em.create(AliasTargetEntity, { aliasId: row.id, accountId, forwardTo: null }));
    }
  }

  /**
   * The user is gone from the directory: the account is disabled and marked deleted (mail kept
   * until an admin purges it), its directory aliases and list memberships go.
   */
  async deleteUser(em: EntityManager, externalId: string): Promise<void> {
    const now = this.now();
    const entry = await this.entryOf(em, externalId);
    if (entry && !entry.deletedAt) await em.update(DirectoryEntryEntity, { id: entry.id }, { deletedAt: now, updatedAt: now });
    const account = await em.findOneBy(AccountEntity, { directoryId: this.directoryId, externalId });
    if (!account || account.deletedAt) return;
    await em.update(AccountEntity, { id: account.id }, { enabled: false, deletedAt: now, updatedAt: now });
    const targets = await em.findBy(AliasTargetEntity, { accountId: account.id });
    for (const t of targets) {
      const alias = await em.findOneBy(AliasEntity, { id: t.aliasId });
      if (alias?.source !== 'directory') continue;
      await em.delete(AliasTargetEntity, { id: t.id });
      if (!(await em.countBy(AliasTargetEntity, { aliasId: alias.id }))) await em.delete(AliasEntity, { id: alias.id });
    }
    await em.delete(GroupMemberEntity, { accountId: account.id });
    this.counts.deleted++;
  }

  /** Creates, updates or removes the distribution list of one directory group. */
  async applyGroup(em: EntityManager, g: DirectoryGroup): Promise<void> {
    const entry = await this.entryOf(em, g.externalId);
    let group = await em.findOneBy(GroupEntity, { directoryId: this.directoryId, externalId: g.externalId });
    const addrs = await this.accepted(em, g.addresses);
    const displayName = (g.book.displayName ?? g.name).slice(0, MAX_DISPLAY_NAME);
    if (!addrs.length) {
      if (group) await this.dropGroup(em, group.id);
      await this.saveEntry(em, entry, g, { groupId: null });
      return;
    }
    const primary = addrs[0]!;
    const acc = await em.findOneBy(AccountEntity, { address: primary.address });
    const alias = await em.findOneBy(AliasEntity, { address: primary.address });
    const other = await em.findOneBy(GroupEntity, { address: primary.address });
    const taken = acc ? `used by account ${acc.address}` : alias ? 'used by an alias'
      : other && other.id !== group?.id ? `used by ${other.source} group ${other.externalId ?? other.address}` : null;
    if (taken) {
      this.conflict({ externalId: g.externalId, dn: g.dn, address: primary.address, reason: taken });
    } else if (!group) {
      group = await em.save(em.create(GroupEntity, {
        address: primary.address, domainId: primary.domainId, displayName, membersMaySendAs: false, source: 'directory',
        directoryId: this.directoryId, externalId: g.externalId, createdAt: this.now(),
      }));
    } else if (group.address !== primary.address || group.displayName !== displayName) {
      await em.update(GroupEntity, { id: group.id }, { address: primary.address, domainId: primary.domainId, displayName });
    }
    this.counts.groups++;
    await this.saveEntry(em, entry, g, { groupId: group?.id ?? null });
  }

  private async dropGroup(em: EntityManager, groupId: number): Promise<void> {
    await em.delete(GroupMemberEntity, { groupId });
    await em.delete(GroupMemberEntity, { memberGroupId: groupId });
    await em.delete(GroupEntity, { id: groupId });
  }

  /** The group is gone: its distribution list goes (it holds no mail); the entry is marked deleted. */
  async deleteGroup(em: EntityManager, externalId: string): Promise<void> {
    const now = this.now();
    const entry = await this.entryOf(em, externalId);
    if (entry && !entry.deletedAt) await em.update(DirectoryEntryEntity, { id: entry.id }, { deletedAt: now, updatedAt: now, groupId: null });
    const group = await em.findOneBy(GroupEntity, { directoryId: this.directoryId, externalId });
    if (group) await this.dropGroup(em, group.id);
  }

  /** Makes the list's members exactly these accounts (already flattened and filtered). */
  async setMembers(em: EntityManager, groupId: number, accountIds: number[]): Promise<boolean> {
    const existing = await em.findBy(GroupMemberEntity, { groupId });
    const want = new Set(accountIds);
    let changed = false;
    for (const m of existing) {
      if (m.accountId !== null && want.has(m.accountId)) {
        want.delete(m.accountId);
        continue;
      }
      await em.delete(GroupMemberEntity, { id: m.id });
      changed = true;
    }
    for (const id of want) {
      await em.save(em.create(GroupMemberEntity, { groupId, accountId: id, memberGroupId: null, externalAddress: null }));
      changed = true;
    }
    return changed;
  }
}
