// Who may do what in which mailbox: access control lists (RFC 4314) and the names under which a
// user reaches other accounts' mailboxes. A user's own mailboxes keep their plain names; another
// person's appear as "Other Users/<address>/<name>" and a shared mailbox's (account kind
// 'shared') as "Shared Folders/<address>/<name>" (RFC 2342 namespaces, "/" as the delimiter).
// The owner always has every right; anyone else has the union of the ACL entries naming them,
// a group they belong to (nested groups resolved at each check, so membership changes apply at
// once) or "anyone". Rights are read from the store at every check: a revocation applies to the
// next command. Every IMAP command resolves its mailbox names here (resolve/open) and so gets
// the one rights check. ACL changes are written to the change log ('mailbox' kind), so sessions
// that have the mailbox selected (IDLE included, other processes too) re-check at once.
import { In, type EntityManager } from 'typeorm';
import {
  AccountEntity, GroupEntity, GroupMemberEntity, MailboxAclEntity, MailboxEntity, MailboxSubscriptionEntity,
} from '../../schemas/entities/index.js';
import { tryNormalizeAddress } from '../mail/address.js';
import type { Store } from '../store/store.js';
import { ALL_RIGHTS, hasRights, normalizeRights, removeRights, unionRights } from './acl-rights.js';
import { ServiceError } from './errors.js';
import type { MailStoreService } from './mail-store.service.js';

export const OTHER_USERS = 'Other Users';
export const SHARED_FOLDERS = 'Shared Folders';
/** The special identifier of RFC 4314 §3: every authenticated user. */
export const ANYONE = 'anyone';
const MAX_GROUP_DEPTH = 10;
const CHUNK = 500;

export interface Viewer { id: number; address: string }
export interface Owner { id: number; address: string; kind: 'user' | 'shared' }

/** A mailbox name as one user gave it, resolved. */
export interface MailboxRef {
  /** The name as the user sees it (namespace prefix included for other accounts' mailboxes). */
  display: string;
  owner: Owner;
  /** The name inside the owner's account. */
  name: string;
  /** The user's own mailbox. */
  personal: boolean;
  box: MailboxEntity | null;
  /** The user's effective rights (canonical letters); every right on their own mailboxes. */
  rights: string;
}

export interface VisibleMailbox { box: MailboxEntity; owner: Owner; display: string; rights: string }
export interface AclEntry { identifier: string; rights: string }
type Subject = { kind: 'account' | 'group' | 'anyone'; id: number };

/** "Other Users/alice@example.org" or "Shared Folders/support@example.org": where others see an owner's mailboxes. */
export function ownerPrefix(owner: Owner): string {
  return `${owner.kind === 'shared' ? SHARED_FOLDERS : OTHER_USERS}/${owner.address}`;
}

export class MailboxAccessService {
  constructor(private readonly store: Store, private readonly mailStore: MailStoreService) {}

  private get em(): EntityManager {
    return this.store.em;
  }

  // ---- names ------------------------------------------------------------------------------------

  /** The name `viewer` uses for mailbox `name` of `owner`. */
  displayName(viewer: Viewer, owner: Owner, name: string): string {
    return owner.id === viewer.id ? name : `${ownerPrefix(owner)}/${name}`;
  }

  /**
   * Owner and mailbox a name given by `viewer` stands for; null when it names no mailbox of any
   * account (a namespace root, an unknown owner, the viewer's own address under Other Users).
   */
  async locate(viewer: Viewer, display: string): Promise<{ owner: Owner; name: string; personal: boolean } | null> {
    for (const prefix of [OTHER_USERS, SHARED_FOLDERS]) {
      if (display !== prefix && !display.startsWith(`${prefix}/`)) continue;
      const rest = display.slice(prefix.length + 1);
      const slash = rest.indexOf('/');
      if (slash <= 0 || slash === rest.length - 1) return null;
      const address = tryNormalizeAddress(rest.slice(0, slash));
      if (!address) return null;
      const acc = await this.em.findOne(AccountEntity, { where: { address }, select: { id: true, address: true, kind: true, deletedAt: true } });
      if (!acc || acc.deletedAt || acc.id === viewer.id || (acc.kind === 'shared') !== (prefix === SHARED_FOLDERS)) return null;
      const name = rest.slice(slash + 1);
      return { owner: { id: acc.id, address: acc.address, kind: acc.kind }, name: name.toUpperCase() === 'INBOX' ? 'INBOX' : name, personal: false };
    }
    return {
      owner: { id: viewer.id, address: viewer.address, kind: 'user' }, personal: true,
      name: display.toUpperCase() === 'INBOX' ? 'INBOX' : display,
    };
  }

  /** Resolves a name to its mailbox (null if missing) and the viewer's rights on it. Null when it names no account's mailbox. */
  async resolve(viewer: Viewer, display: string): Promise<MailboxRef | null> {
    const loc = await this.locate(viewer, display);
    if (!loc) return null;
    const box = await this.mailStore.getMailbox(loc.owner.id, loc.name);
    const rights = loc.personal ? ALL_RIGHTS : box ? await this.rightsFor(viewer.id, box) : '';
    return { ...loc, display, box, rights };
  }

  /**
   * Resolves an existing mailbox and requires `need`: NOT_FOUND when it does not exist or the
   * viewer may not even see it (no "l": its existence is not revealed), NO_PERMISSION when the
   * viewer sees it but lacks a right.
   */
  async open(viewer: Viewer, display: string, need: string): Promise<MailboxRef & { box: MailboxEntity }> {
    const ref = await this.resolve(viewer, display);
    if (!ref || !ref.box) throw new ServiceError('NOT_FOUND', 'No such mailbox');
    this.require(ref, need);
    return ref as MailboxRef & { box: MailboxEntity };
  }

  /** Throws NOT_FOUND (not visible) or NO_PERMISSION unless `ref.rights` holds `need`. */
  require(ref: Pick<MailboxRef, 'rights'>, need: string): void {
    if (hasRights(ref.rights, need)) return;
    if (!ref.rights.includes('l')) throw new ServiceError('NOT_FOUND', 'No such mailbox');
    throw new ServiceError('NO_PERMISSION', 'Permission denied');
  }

  // ---- rights -----------------------------------------------------------------------------------

  /** Ids of every group `accountId` belongs to, directly or through nested groups. */
  async groupIdsOf(accountId: number): Promise<number[]> {
    const seen = new Set<number>();
    let frontier = (await this.em.find(GroupMemberEntity, { where: { accountId }, select: { id: true, groupId: true } })).map((m) => m.groupId);
    for (let depth = 0; frontier.length && depth <= MAX_GROUP_DEPTH; depth++) {
      const fresh = [...new Set(frontier)].filter((g) => !seen.has(g));
      fresh.forEach((g) => seen.add(g));
      if (!fresh.length) break;
      frontier = [];
      for (let i = 0; i < fresh.length; i += CHUNK) {
        const parents = await this.em.find(GroupMemberEntity, { where: { memberGroupId: In(fresh.slice(i, i + CHUNK)) }, select: { id: true, groupId: true } });
        frontier.push(...parents.map((m) => m.groupId));
      }
    }
    return [...seen];
  }

  /** The rights `accountId` has on a mailbox now. */
  async rightsFor(accountId: number, box: { id: number; accountId: number }): Promise<string> {
    if (box.accountId === accountId) return ALL_RIGHTS;
    const rows = await this.em.find(MailboxAclEntity, { where: { mailboxId: box.id } });
    if (!rows.length) return '';
    const groups = rows.some((r) => r.subjectKind === 'group') ? new Set(await this.groupIdsOf(accountId)) : new Set<number>();
    let rights = '';
    for (const r of rows) {
      if (r.subjectKind === 'anyone' || (r.subjectKind === 'account' && r.subjectId === accountId)
        || (r.subjectKind === 'group' && groups.has(r.subjectId))) rights += r.rights;
    }
    return normalizeRights(rights);
  }

  /** Other accounts' mailboxes `viewer` may see (right "l"), with the names the viewer uses. */
  async visibleMailboxes(viewer: Viewer): Promise<VisibleMailbox[]> {
    const groups = await this.groupIdsOf(viewer.id);
    const qb = this.em.createQueryBuilder(MailboxAclEntity, 'a').select(['a.mailboxId', 'a.rights'])
      .where('a.subjectKind = :anyone', { anyone: 'anyone' })
      .orWhere('(a.subjectKind = :account AND a.subjectId = :viewer)', { account: 'account', viewer: viewer.id });
    if (groups.length) qb.orWhere('(a.subjectKind = :group AND a.subjectId IN (:...groups))', { group: 'group', groups });
    const byBox = new Map<number, string>();
    for (const r of await qb.getMany()) byBox.set(r.mailboxId, (byBox.get(r.mailboxId) ?? '') + r.rights);
    const ids = [...byBox].filter(([, rights]) => rights.includes('l')).map(([id]) => id);
    const boxes: MailboxEntity[] = [];
    for (let i = 0; i < ids.length; i += CHUNK) boxes.push(...await this.em.find(MailboxEntity, { where: { id: In(ids.slice(i, i + CHUNK)) } }));
    const ownerIds = [...new Set(boxes.map((b) => b.accountId).filter((id) => id !== viewer.id))];
    const owners = new Map<number, Owner>();
    for (let i = 0; i < ownerIds.length; i += CHUNK) {
      const rows = await this.em.find(AccountEntity, {
        where: { id: In(ownerIds.slice(i, i + CHUNK)) }, select: { id: true, address: true, kind: true, deletedAt: true },
      });
      for (const a of rows) if (!a.deletedAt) owners.set(a.id, { id: a.id, address: a.address, kind: a.kind });
    }
    const out: VisibleMailbox[] = [];
    for (const box of boxes) {
      const owner = owners.get(box.accountId);
      if (!owner) continue;
      out.push({ box, owner, display: this.displayName(viewer, owner, box.name), rights: normalizeRights(byBox.get(box.id)!) });
    }
    return out;
  }

  // ---- administration (SETACL, DELETEACL, GETACL; the CLI) ----------------------------------------

  /** An identifier as given in SETACL/DELETEACL/LISTRIGHTS: "anyone", an account's or a group's address. */
  async subjectOf(identifier: string): Promise<Subject | null> {
    if (identifier.toLowerCase() === ANYONE) return { kind: 'anyone', id: 0 };
    const address = tryNormalizeAddress(identifier);
    if (!address) return null;
    const acc = await this.em.findOne(AccountEntity, { where: { address }, select: { id: true } });
    if (acc) return { kind: 'account', id: acc.id };
    const group = await this.em.findOne(GroupEntity, { where: { address }, select: { id: true } });
    return group ? { kind: 'group', id: group.id } : null;
  }

  /** The ACL of a mailbox, the owner first (always every right; a shared mailbox has no owner entry). */
  async getAcl(ownerOf: Owner, boxId: number): Promise<AclEntry[]> {
    const rows = await this.em.find(MailboxAclEntity, { where: { mailboxId: boxId }, order: { id: 'ASC' } });
    const accountIds = rows.filter((r) => r.subjectKind === 'account').map((r) => r.subjectId);
    const groupIds = rows.filter((r) => r.subjectKind === 'group').map((r) => r.subjectId);
    const accounts = new Map((accountIds.length ? await this.em.find(AccountEntity, { where: { id: In(accountIds) }, select: { id: true, address: true } }) : [])
      .map((a) => [a.id, a.address]));
    const groups = new Map((groupIds.length ? await this.em.find(GroupEntity, { where: { id: In(groupIds) }, select: { id: true, address: true } }) : [])
      .map((g) => [g.id, g.address]));
    const out: AclEntry[] = ownerOf.kind === 'user' ? [{ identifier: ownerOf.address, rights: ALL_RIGHTS }] : [];
    for (const r of rows) {
      const identifier = r.subjectKind === 'anyone' ? ANYONE : (r.subjectKind === 'account' ? accounts : groups).get(r.subjectId);
      if (identifier) out.push({ identifier, rights: r.rights });
    }
    return out;
  }

  /**
   * Sets, adds to or removes from the rights of `identifier` on a mailbox (no rights left: the
   * entry goes). Throws INVALID for an unknown identifier, FORBIDDEN for the owner (whose rights
   * are fixed). Returns the identifier's new rights.
   */
  async setRights(owner: Owner, box: MailboxEntity, identifier: string, rights: string, mode: 'set' | 'add' | 'remove'): Promise<string> {
    const subject = await this.subjectOf(identifier);
    if (!subject) throw new ServiceError('INVALID', `Unknown identifier ${identifier.slice(0, 64)}`);
    if (subject.kind === 'account' && subject.id === owner.id) throw new ServiceError('FORBIDDEN', 'The owner always has all rights');
    return this.store.write(async (ctx) => {
      const where = { mailboxId: box.id, subjectKind: subject.kind, subjectId: subject.id };
      const row = await ctx.em.findOneBy(MailboxAclEntity, where);
      const cur = row?.rights ?? '';
      const next = mode === 'set' ? normalizeRights(rights) : mode === 'add' ? unionRights(cur, rights) : removeRights(cur, rights);
      if (next === cur) return next;
      if (!next) await ctx.em.delete(MailboxAclEntity, { id: row!.id });
      else if (row) await ctx.em.update(MailboxAclEntity, { id: row.id }, { rights: next });
      else await ctx.em.insert(MailboxAclEntity, { ...where, rights: next });
      // Sessions that have the mailbox selected learn of it (and re-check their rights) at once.
      await this.mailStore.logChange(ctx, { accountId: owner.id, mailboxId: box.id, kind: 'mailbox', uid: null, modseq: Number(box.highestModseq) });
      return next;
    });
  }

  // ---- subscriptions to other accounts' mailboxes ----------------------------------------------

  async setSubscribed(viewerId: number, mailboxId: number, on: boolean): Promise<void> {
    await this.store.write(async ({ em }) => {
      const row = await em.findOneBy(MailboxSubscriptionEntity, { accountId: viewerId, mailboxId });
      if (on && !row) await em.insert(MailboxSubscriptionEntity, { accountId: viewerId, mailboxId });
      if (!on && row) await em.delete(MailboxSubscriptionEntity, { id: row.id });
    });
  }

  async subscribedIds(viewerId: number): Promise<Set<number>> {
    const rows = await this.em.find(MailboxSubscriptionEntity, { where: { accountId: viewerId }, select: { id: true, mailboxId: true } });
    return new Set(rows.map((r) => r.mailboxId));
  }
}

/** Removes the ACL and the subscriptions of mailboxes being deleted (inside the caller's transaction). */
export async function forgetMailboxes(em: EntityManager, mailboxIds: number[]): Promise<void> {
  for (let i = 0; i < mailboxIds.length; i += CHUNK) {
    const part = mailboxIds.slice(i, i + CHUNK);
    await em.delete(MailboxAclEntity, { mailboxId: In(part) });
    await em.delete(MailboxSubscriptionEntity, { mailboxId: In(part) });
  }
}

/** Removes what names an account or group being deleted: its ACL entries (and an account's subscriptions). */
export async function forgetSubject(em: EntityManager, kind: 'account' | 'group', id: number): Promise<void> {
  await em.delete(MailboxAclEntity, { subjectKind: kind, subjectId: id });
  if (kind === 'account') await em.delete(MailboxSubscriptionEntity, { accountId: id });
}
