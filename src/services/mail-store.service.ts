// The mail store: mailboxes and messages of every account, for every protocol. Message bytes
// are blobs; rows carry UID/MODSEQ/flags and the metadata parsed at delivery. Every change
// bumps the mailbox's MODSEQ, writes a mail_change row in the same transaction and emits a
// MailChange after commit. No protocol code issues SQL: POP3, IMAP and delivery call this.
import { In, type EntityManager } from 'typeorm';
import { AccountEntity, BlobEntity, MailChangeEntity, MailboxAclEntity, MailboxEntity, MessageEntity } from '../../schemas/entities/index.js';
import type { MailChange, MailEvents } from '../events/mail-events.js';
import type { MessageMetadata } from '../mime/message-metadata.js';
import { buildSortKeys } from '../mime/sort-keys.js';
import type { Store, WriteContext } from '../store/store.js';
import { ServiceError } from './errors.js';
import { forgetMailboxes } from './mailbox-access.service.js';

export const DEFAULT_MAILBOXES: ReadonlyArray<{ name: string; specialUse: string | null }> = [
  { name: 'INBOX', specialUse: null },
  { name: 'Drafts', specialUse: 'Drafts' },
  { name: 'Sent', specialUse: 'Sent' },
  { name: 'Trash', specialUse: 'Trash' },
  { name: 'Junk', specialUse: 'Junk' },
  { name: 'Archive', specialUse: 'Archive' },
];

export interface NewMessage {
  accountId: number;
  mailboxId: number;
  blobHash: string;
  size: number;
  metadata: MessageMetadata;
  internalDate: number;
  flags?: string[];
  queueId?: string | null;
  /** Searchable text (src/mime/search-text.ts) computed once per message; absent: computed at the first text SEARCH. */
  search?: { headers: string; body: string } | null;
  /** Per-user \Seen of readers other than the owner (src/services/seen-view.ts). */
  seenBy?: string | null;
}

export interface MessageSummary { id: number; uid: number; size: number; blobHash: string; flags: string[]; modseq: number }

export type QuotaCheck = { ok: true } | { ok: false; reason: string };

export class MailStoreService {
  private readonly inboxIds = new Map<number, number>();

  constructor(private readonly store: Store, private readonly events: MailEvents) {}

  private p(i: number): string {
    return this.store.param(i);
  }

  private returning<T>(em: EntityManager, sql: string, params: unknown[]): Promise<T[]> {
    return this.store.returning<T>(em, sql, params);
  }

  // ---- mailboxes ------------------------------------------------------------------------------

  async createDefaultMailboxes(em: EntityManager, accountId: number): Promise<void> {
    // Two statements for any number of folders (account creation in bulk, e.g. a directory sync
    // of thousands of users): the account's existing folders, then one INSERT of the missing ones.
    const existing = await em.query(`SELECT "name", "uidValidity" FROM "mailbox" WHERE "accountId" = ${this.p(1)}`, [accountId]) as
      Array<{ name: string; uidValidity: string | number }>;
    const have = new Set(existing.map((r) => r.name));
    const missing = DEFAULT_MAILBOXES.filter((m) => !have.has(m.name));
    if (!missing.length) return;
    // Same rule as insertMailbox, one value per folder: strictly above every earlier one of the
    // account (so values stay unique per account and name over time), distinct within the batch.
    const max = existing.reduce((a, r) => Math.max(a, Number(r.uidValidity)), 0);
    const base = Math.max(Math.floor(Date.now() / 1000), max + 1);
    const now = Date.now();
    const params: unknown[] = [];
    const rows = missing.map((m, i) => {
      const at = params.length;
      params.push(accountId, m.name, m.specialUse, base + i, now);
      return `(${this.p(at + 1)}, ${this.p(at + 2)}, ${this.p(at + 3)}, ${this.p(at + 4)}, 1, 1, 0, 0, TRUE, ${this.p(at + 5)})`;
    });
    await em.query(
      `INSERT INTO "mailbox" ("accountId", "name", "specialUse", "uidValidity", "uidNext", "highestModseq", "messageCount", "totalBytes", "subscribed", "createdAt") VALUES ${rows.join(', ')}`,
      params,
    );
  }

  private async insertMailbox(em: EntityManager, accountId: number, name: string, specialUse: string | null): Promise<MailboxEntity> {
    // UIDVALIDITY is the creation second, but strictly above any earlier one of this account, so a
    // folder deleted and re-created within a second still gets a new value (RFC 9051 §2.3.1.1).
    const { max } = (await em.createQueryBuilder(MailboxEntity, 'm').select('MAX(m.uidValidity)', 'max')
      .where('m.accountId = :accountId', { accountId }).getRawOne<{ max: string | number | null }>()) ?? { max: null };
    const uidValidity = Math.max(Math.floor(Date.now() / 1000), Number(max ?? 0) + 1);
    return em.save(em.create(MailboxEntity, {
      accountId, name, specialUse, uidValidity, uidNext: 1, highestModseq: 1, messageCount: 0, totalBytes: 0,
      subscribed: true, createdAt: Date.now(),
    }));
  }

  /**
   * Creates a mailbox. With `aclFrom` (the parent's id) the new mailbox starts with a copy of that
   * mailbox's ACL, in the same transaction, so a folder created inside a shared one is shared alike.
   */
  async createMailbox(accountId: number, name: string, specialUse: string | null = null, aclFrom: number | null = null): Promise<MailboxEntity> {
    return this.store.write(async ({ em }) => {
      if (await em.findOneBy(MailboxEntity, { accountId, name })) throw new ServiceError('EXISTS', `mailbox ${name} exists`);
      const box = await this.insertMailbox(em, accountId, name, specialUse);
      if (aclFrom !== null) {
        const entries = await em.find(MailboxAclEntity, { where: { mailboxId: aclFrom } });
        for (const e of entries) await em.insert(MailboxAclEntity, { mailboxId: box.id, subjectKind: e.subjectKind, subjectId: e.subjectId, rights: e.rights });
      }
      return box;
    });
  }

  listMailboxes(accountId: number): Promise<MailboxEntity[]> {
    return this.store.em.find(MailboxEntity, { where: { accountId }, order: { name: 'ASC' } });
  }

  getMailbox(accountId: number, name: string): Promise<MailboxEntity | null> {
    // INBOX is case-insensitive (RFC 9051 §5.1); other names are exact.
    return this.store.em.findOneBy(MailboxEntity, { accountId, name: name.toUpperCase() === 'INBOX' ? 'INBOX' : name });
  }

  getMailboxById(id: number): Promise<MailboxEntity | null> {
    return this.store.em.findOneBy(MailboxEntity, { id });
  }

  /**
   * The INBOX's mailbox id, cached: INBOX cannot be deleted or renamed away (RFC 9051 §6.3.4/§6.3.5),
   * so its id only changes when the whole account goes.
   */
  async inboxId(accountId: number, em: EntityManager = this.store.em): Promise<number> {
    const cached = this.inboxIds.get(accountId);
    if (cached !== undefined) return cached;
    const id = (await this.inbox(accountId, em)).id;
    if (this.inboxIds.size > 100_000) this.inboxIds.clear();
    this.inboxIds.set(accountId, id);
    return id;
  }

  async inbox(accountId: number, em: EntityManager = this.store.em): Promise<MailboxEntity> {
    const box = await em.findOneBy(MailboxEntity, { accountId, name: 'INBOX' });
    if (box) return box;
    await this.createDefaultMailboxes(em, accountId);
    return (await em.findOneBy(MailboxEntity, { accountId, name: 'INBOX' }))!;
  }

  // ---- quota ----------------------------------------------------------------------------------

  /** Would `bytes` more (in one more message) exceed the account's quota? */
  async checkQuota(accountId: number, bytes: number, em: EntityManager = this.store.em): Promise<QuotaCheck> {
    const a = await em.findOne(AccountEntity, {
      where: { id: accountId }, select: { id: true, quotaBytes: true, quotaMessages: true, usedBytes: true, usedMessages: true },
    });
    if (!a) return { ok: false, reason: 'no such account' };
    if (a.quotaBytes > 0 && a.usedBytes + bytes > a.quotaBytes) return { ok: false, reason: 'mailbox full (storage quota)' };
    if (a.quotaMessages > 0 && a.usedMessages + 1 > a.quotaMessages) return { ok: false, reason: 'mailbox full (message quota)' };
    return { ok: true };
  }

  // ---- messages -------------------------------------------------------------------------------

  /** Appends one message inside the caller's transaction. Allocates UID and MODSEQ atomically. */
  async append(ctx: WriteContext, m: NewMessage): Promise<{ uid: number; modseq: number }> {
    const { em } = ctx;
    const [row] = await this.returning<{ uidNext: number | string; highestModseq: number | string }>(em,
      `UPDATE mailbox SET "uidNext" = "uidNext" + 1, "highestModseq" = "highestModseq" + 1, "messageCount" = "messageCount" + 1,
       "totalBytes" = "totalBytes" + ${this.p(1)} WHERE id = ${this.p(2)} RETURNING "uidNext", "highestModseq"`, [m.size, m.mailboxId]);
    if (!row) throw new ServiceError('NOT_FOUND', `no mailbox ${m.mailboxId}`);
    const uid = Number(row.uidNext) - 1;
    const modseq = Number(row.highestModseq);
    // Plain SQL on this hot path: the query builder costs more CPU than SQLite does here.
    await em.query(`INSERT INTO message ("mailboxId", "accountId", uid, modseq, flags, "internalDate", size, "blobHash", "queueId",
       "messageIdHeader", subject, envelope, "bodyStructure", "searchHeaders", "searchBody", "seenBy", "sortKeys")
       VALUES (${[...Array(17).keys()].map((i) => this.p(i + 1)).join(', ')})`, [
      m.mailboxId, m.accountId, uid, modseq, (m.flags ?? []).join(' '), m.internalDate, m.size, m.blobHash, m.queueId ?? null,
      m.metadata.messageId?.slice(0, 998) ?? null, m.metadata.subject.slice(0, 4000), JSON.stringify(m.metadata.envelope),
      JSON.stringify(m.metadata.root), m.search?.headers ?? null, m.search?.body ?? null, m.seenBy ?? null,
      JSON.stringify(buildSortKeys(m.metadata.envelope, m.metadata.headers)),
    ]);
    await this.addBlobRef(em, m.blobHash, m.size);
    await em.query(`UPDATE account SET "usedBytes" = "usedBytes" + ${this.p(1)}, "usedMessages" = "usedMessages" + 1 WHERE id = ${this.p(2)}`,
      [m.size, m.accountId]);
    await this.logChange(ctx, { accountId: m.accountId, mailboxId: m.mailboxId, kind: 'append', uid, modseq });
    return { uid, modseq };
  }

  async addBlobRef(em: EntityManager, hash: string, size: number): Promise<void> {
    await em.query(`INSERT INTO blob (hash, size, "refCount", "createdAt") VALUES (${this.p(1)}, ${this.p(2)}, 1, ${this.p(3)})
      ON CONFLICT (hash) DO UPDATE SET "refCount" = blob."refCount" + 1`, [hash, size, Date.now()]);
  }

  /**
   * Drops one reference. The file itself is left to collectGarbage(), which removes files with
   * no row once they are old enough: unlinking here could race with a delivery of identical
   * bytes that found the file present and is about to commit a new reference to it.
   */
  async releaseBlob(ctx: WriteContext, hash: string): Promise<void> {
    const [row] = await this.returning<{ refCount: number | string }>(ctx.em,
      `UPDATE blob SET "refCount" = "refCount" - 1 WHERE hash = ${this.p(1)} RETURNING "refCount"`, [hash]);
    if (row && Number(row.refCount) <= 0) await ctx.em.delete(BlobEntity, { hash });
  }

  async logChange(ctx: WriteContext, change: MailChange): Promise<void> {
    await ctx.em.query(`INSERT INTO mail_change ("accountId", "mailboxId", kind, uid, modseq, at) VALUES (${this.p(1)}, ${this.p(2)},
      ${this.p(3)}, ${this.p(4)}, ${this.p(5)}, ${this.p(6)})`,
    [change.accountId, change.mailboxId, change.kind, change.uid, change.modseq, Date.now()]);
    ctx.afterCommit(() => this.events.emit('mail.changed', change));
  }

  async listMessages(mailboxId: number): Promise<MessageSummary[]> {
    const rows = await this.store.em.find(MessageEntity, {
      where: { mailboxId }, order: { uid: 'ASC' },
      select: { id: true, uid: true, size: true, blobHash: true, flags: true, modseq: true },
    });
    return rows.map((r) => ({ id: r.id, uid: r.uid, size: r.size, blobHash: r.blobHash, modseq: r.modseq, flags: r.flags ? r.flags.split(' ') : [] }));
  }

  /** One message of a mailbox by UID, or null when it is gone (expunged). One indexed lookup. */
  async getMessage(mailboxId: number, uid: number): Promise<MessageSummary | null> {
    const r = await this.store.em.findOne(MessageEntity, {
      where: { mailboxId, uid }, select: { id: true, uid: true, size: true, blobHash: true, flags: true, modseq: true },
    });
    return r ? { id: r.id, uid: r.uid, size: r.size, blobHash: r.blobHash, modseq: r.modseq, flags: r.flags ? r.flags.split(' ') : [] } : null;
  }

  getMessageBytes(blobHash: string): Promise<Buffer> {
    return this.store.blobs.get(blobHash);
  }

  /** Removes messages by UID. Returns the UIDs actually removed (others were already gone). */
  async expunge(accountId: number, mailboxId: number, uids: number[]): Promise<number[]> {
    if (!uids.length) return [];
    return this.store.write(async (ctx) => {
      const box = await ctx.em.findOneBy(MailboxEntity, { id: mailboxId, accountId });
      if (!box) throw new ServiceError('NOT_FOUND', 'no such mailbox');
      const gone: number[] = [];
      for (let i = 0; i < uids.length; i += 500) {
        const msgs = await ctx.em.find(MessageEntity, {
          where: { mailboxId, uid: In(uids.slice(i, i + 500)) }, select: { id: true, uid: true, size: true, blobHash: true },
        });
        if (!msgs.length) continue;
        const [row] = await this.returning<{ highestModseq: number | string }>(ctx.em,
          `UPDATE mailbox SET "highestModseq" = "highestModseq" + 1, "messageCount" = "messageCount" - ${this.p(1)},
           "totalBytes" = "totalBytes" - ${this.p(2)} WHERE id = ${this.p(3)} RETURNING "highestModseq"`,
          [msgs.length, msgs.reduce((s, m) => s + m.size, 0), mailboxId]);
        const modseq = Number(row!.highestModseq);
        await ctx.em.delete(MessageEntity, { id: In(msgs.map((m) => m.id)) });
        await ctx.em.query(`UPDATE account SET "usedBytes" = "usedBytes" - ${this.p(1)}, "usedMessages" = "usedMessages" - ${this.p(2)} WHERE id = ${this.p(3)}`,
          [msgs.reduce((s, m) => s + m.size, 0), msgs.length, accountId]);
        for (const m of msgs) {
          await this.releaseBlob(ctx, m.blobHash);
          await this.logChange(ctx, { accountId, mailboxId, kind: 'expunge', uid: m.uid, modseq });
          gone.push(m.uid);
        }
      }
      return gone;
    });
  }

  /** Adds, removes or replaces flags on messages; each changed message gets a new MODSEQ. */
  async setFlags(accountId: number, mailboxId: number, uids: number[], flags: string[], mode: 'add' | 'remove' | 'set'): Promise<void> {
    if (!uids.length) return;
    await this.store.write(async (ctx) => {
      const msgs = await ctx.em.find(MessageEntity, { where: { mailboxId, accountId, uid: In(uids) }, select: { id: true, uid: true, flags: true } });
      for (const m of msgs) {
        const cur = new Set(m.flags ? m.flags.split(' ') : []);
        const next = mode === 'set' ? new Set(flags) : new Set(cur);
        if (mode === 'add') flags.forEach((f) => next.add(f));
        if (mode === 'remove') flags.forEach((f) => next.delete(f));
        if (next.size === cur.size && [...next].every((f) => cur.has(f))) continue;
        const [row] = await this.returning<{ highestModseq: number | string }>(ctx.em,
          `UPDATE mailbox SET "highestModseq" = "highestModseq" + 1 WHERE id = ${this.p(1)} RETURNING "highestModseq"`, [mailboxId]);
        const modseq = Number(row!.highestModseq);
        await ctx.em.update(MessageEntity, { id: m.id }, { flags: [...next].join(' '), modseq });
        await this.logChange(ctx, { accountId, mailboxId, kind: 'flags', uid: m.uid, modseq });
      }
    });
  }

  /** Deletes every mailbox and message of an account (account removal), inside the caller's transaction. */
  async deleteAllMail(ctx: WriteContext, accountId: number): Promise<void> {
    this.inboxIds.delete(accountId);
    const msgs = await ctx.em.find(MessageEntity, { where: { accountId }, select: { id: true, blobHash: true } });
    for (const m of msgs) await this.releaseBlob(ctx, m.blobHash);
    await ctx.em.delete(MessageEntity, { accountId });
    const boxes = await ctx.em.find(MailboxEntity, { where: { accountId }, select: { id: true } });
    await forgetMailboxes(ctx.em, boxes.map((b) => b.id));
    await ctx.em.delete(MailChangeEntity, { accountId });
    await ctx.em.delete(MailboxEntity, { accountId });
  }

  /** Changes after `afterId` in the change log (for other nodes and for resuming sessions). */
  changesSince(afterId: number, limit = 1000): Promise<MailChangeEntity[]> {
    return this.store.em.createQueryBuilder(MailChangeEntity, 'c').where('c.id > :afterId', { afterId })
      .orderBy('c.id', 'ASC').limit(limit).getMany();
  }
}
