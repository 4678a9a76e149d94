// Mail store operations beyond delivery, used by IMAP (and open to any protocol): mailbox
// rename/delete/subscribe and counters, append of client-supplied messages, copy and move
// (with blob reference counts), flag stores with UNCHANGEDSINCE, change queries by MODSEQ for
// resynchronisation, and the rows and search text SEARCH needs. Every change goes through
// MailStoreService.logChange, so the change log and events stay the one source for live updates.
// No protocol syntax here. RFC 9051 §2.3.1.1 (UIDs never reused), RFC 7162 (MODSEQ), RFC 4315 (UIDPLUS).
// BUGS: a rename does not move the subscriptions of children that do not exist (subscriptions
// are a flag on existing mailboxes only).
import { In, type EntityManager } from 'typeorm';
import { AccountEntity, MailboxEntity, MailChangeEntity, MessageEntity } from '../../schemas/entities/index.js';
import { parseHeaderBlock, parseMessageMetadata, type Envelope, type HeaderField, type MimePart } from '../mime/message-metadata.js';
import { buildSearchText, normalizeForSearch, type SearchText } from '../mime/search-text.js';
import { buildSortKeys, type SortKeys } from '../mime/sort-keys.js';
import type { Store, WriteContext } from '../store/store.js';
import { ServiceError } from './errors.js';
import { forgetMailboxes } from './mailbox-access.service.js';
import { seenPattern, viewFlags, withSeen, type Viewer } from './seen-view.js';
import type { MailStoreService } from './mail-store.service.js';

/**
 * `flags` as stored (the owner's view); `seenBy` is set where a reader other than the owner needs
 * its own \Seen (seen-view.ts) and may be absent where every reader is the owner.
 */
export interface FlagState { uid: number; flags: string[]; modseq: number; seenBy?: string | null }
export interface MessageRow extends FlagState { internalDate: number; size: number; blobHash: string }
export interface MessageWithMeta extends MessageRow { envelope: Envelope; root: MimePart }
/** FETCH's light rows: flags (space-separated) as the reader sees them (seen-view.ts). */
export interface FlagRow { uid: number; flags: string; modseq: number }
/** What SORT and THREAD read per message (MailOpsService.sortRows). */
export interface SortRow { uid: number; internalDate: number; size: number; keys: SortKeys }
export interface SearchRow extends MessageRow { searchHeaders?: string; searchBody?: string; sentDate?: number | null }

export interface QuotaUsage { quotaBytes: number; usedBytes: number; quotaMessages: number; usedMessages: number }

export interface MailboxCounts {
  messages: number; unseen: number; deleted: number; size: number; uidNext: number; uidValidity: number; highestModseq: number;
}

export interface MailboxChanges {
  /** Everything with a MODSEQ up to this is included (read before the queries). */
  highestModseq: number;
  changed: FlagState[];
  expunged: number[];
  /** False when the mailbox no longer exists. */
  exists: boolean;
}

export interface NewRawMessage { raw: Buffer; flags: string[]; internalDate: number }

/**
 * Copy/move into another account's mailbox (a shared folder), the flags the destination keeps,
 * and whose \Seen is meant (seen-view.ts): the copier's view of the source, kept as the copier's
 * own in the destination.
 */
export interface MoveOptions { toAccountId?: number; keepFlag?: (flag: string) => boolean; fromViewer?: Viewer; toViewer?: Viewer }

/** Stored flags and seenBy of a message copied or moved under `opts`. */
function carriedFlags(flags: string, seenBy: string | null, opts: MoveOptions): { flags: string; seenBy: string | null } {
  let view = viewFlags(splitFlags(flags), seenBy, opts.fromViewer ?? null);
  if (opts.keepFlag) view = view.filter(opts.keepFlag);
  const toViewer = opts.toViewer ?? null;
  if (toViewer === null) return { flags: view.join(' '), seenBy: null };
  const seen = view.some((f) => f.toLowerCase() === '\\seen');
  return { flags: view.filter((f) => f.toLowerCase() !== '\\seen').join(' '), seenBy: seen ? withSeen(null, toViewer, true) : null };
}

/** The few methods of a better-sqlite3 connection and statement used here. */
interface SqliteStatement { all(...params: unknown[]): unknown[]; pluck(on: boolean): unknown; raw(on: boolean): unknown }
interface SqliteConnection { prepare(sql: string): SqliteStatement }
/** Prepared statements per SQLite connection (dropped with it). */
const statements = new WeakMap<SqliteConnection, Map<string, SqliteStatement>>();

/** Rows per IN (...) list: well under SQLite's variable limit. */
const CHUNK = 500;
/** Messages indexed per batch by the lazy search-text path (bounds how long one batch blocks the event loop). */
const INDEX_BATCH = 25;
/** Messages per batch when filling in SORT/THREAD keys (header blocks only: cheaper than search text). */
const SORT_INDEX_BATCH = 200;

const splitFlags = (s: string | null | undefined): string[] => (s ? s.split(' ').filter(Boolean) : []);

/** LIKE pattern for a substring, with "!" as the escape character (same on SQLite and PostgreSQL). */
export function likeContains(needle: string): string {
  return `%${needle.replace(/[!%_]/g, (c) => `!${c}`)}%`;
}

export class MailOpsService {
  constructor(private readonly store: Store, private readonly mailStore: MailStoreService) {}

  private p(i: number): string {
    return this.store.param(i);
  }

  private returning<T>(em: EntityManager, sql: string, params: unknown[]): Promise<T[]> {
    return this.store.returning<T>(em, sql, params);
  }

  // ---- mailboxes --------------------------------------------------------------------------------

  /** Counters of a mailbox; UNSEEN as `viewer` sees it (null: the owner). */
  async counts(mailboxId: number, viewer: Viewer = null): Promise<MailboxCounts | null> {
    const box = await this.store.em.findOneBy(MailboxEntity, { id: mailboxId });
    if (!box) return null;
    const count = async (pattern: string, not: boolean, column = `(' ' || flags || ' ')`) => {
      const r = await this.store.em.query(`SELECT COUNT(*) AS n FROM message WHERE "mailboxId" = ${this.p(1)}
        AND ${column} ${not ? 'NOT ' : ''}LIKE ${this.p(2)} ESCAPE '!'`, [mailboxId, pattern]) as Array<{ n: number | string }>;
      return Number(r[0]?.n ?? 0);
    };
    const unseen = viewer === null ? await count('% \\Seen %', true) : await count(seenPattern(viewer), true, `COALESCE("seenBy", '')`);
    return {
      messages: box.messageCount, unseen, deleted: await count('% \\Deleted %', false),
      size: Number(box.totalBytes), uidNext: box.uidNext, uidValidity: Number(box.uidValidity), highestModseq: Number(box.highestModseq),
    };
  }

  async setSubscribed(accountId: number, name: string, subscribed: boolean): Promise<boolean> {
    return this.store.write(async ({ em }) => {
      const r = await em.update(MailboxEntity, { accountId, name }, { subscribed });
      return (r.affected ?? 0) > 0;
    });
  }

  /**
   * Renames a mailbox and its children ("a" -> "b" renames "a/x" to "b/x"). Renaming INBOX moves
   * its messages to a new mailbox and leaves INBOX empty (RFC 9051 §6.3.6).
   * Throws NOT_FOUND, EXISTS.
   */
  async renameMailbox(accountId: number, from: string, to: string): Promise<void> {
    if (from === 'INBOX') {
      const inbox = await this.mailStore.getMailbox(accountId, 'INBOX');
      if (!inbox) throw new ServiceError('NOT_FOUND', 'no INBOX');
      const target = await this.mailStore.createMailbox(accountId, to);
      const uids = await this.uids(inbox.id);
      if (uids.length) await this.move(accountId, inbox.id, target.id, uids);
      return;
    }
    await this.store.write(async (ctx) => {
      const { em } = ctx;
      const box = await em.findOneBy(MailboxEntity, { accountId, name: from });
      if (!box) throw new ServiceError('NOT_FOUND', `no mailbox ${from}`);
      if (await em.findOneBy(MailboxEntity, { accountId, name: to })) throw new ServiceError('EXISTS', `mailbox ${to} exists`);
      const children = (await em.find(MailboxEntity, { where: { accountId } })).filter((m) => m.name.startsWith(`${from}/`));
      for (const c of children) {
        const newName = to + c.name.slice(from.length);
        if (await em.findOneBy(MailboxEntity, { accountId, name: newName })) throw new ServiceError('EXISTS', `mailbox ${newName} exists`);
      }
      for (const m of [box, ...children]) {
        await em.update(MailboxEntity, { id: m.id }, { name: to + m.name.slice(from.length) });
        await this.mailStore.logChange(ctx, { accountId, mailboxId: m.id, kind: 'mailbox', uid: null, modseq: Number(m.highestModseq) });
      }
    });
  }

  /** Deletes a mailbox and its messages (children stay). Throws NOT_FOUND, FORBIDDEN for INBOX. */
  async deleteMailbox(accountId: number, name: string): Promise<void> {
    if (name === 'INBOX') throw new ServiceError('FORBIDDEN', 'INBOX cannot be deleted');
    await this.store.write(async (ctx) => {
      const box = await ctx.em.findOneBy(MailboxEntity, { accountId, name });
      if (!box) throw new ServiceError('NOT_FOUND', `no mailbox ${name}`);
      const msgs = await ctx.em.find(MessageEntity, { where: { mailboxId: box.id }, select: { id: true, size: true, blobHash: true } });
      for (const m of msgs) await this.mailStore.releaseBlob(ctx, m.blobHash);
      await ctx.em.delete(MessageEntity, { mailboxId: box.id });
      const bytes = msgs.reduce((s, m) => s + m.size, 0);
      await ctx.em.query(`UPDATE account SET "usedBytes" = "usedBytes" - ${this.p(1)}, "usedMessages" = "usedMessages" - ${this.p(2)} WHERE id = ${this.p(3)}`,
        [bytes, msgs.length, accountId]);
      await forgetMailboxes(ctx.em, [box.id]);
      await ctx.em.delete(MailboxEntity, { id: box.id });
      await this.mailStore.logChange(ctx, { accountId, mailboxId: box.id, kind: 'mailbox', uid: null, modseq: Number(box.highestModseq) + 1 });
    });
  }

  // ---- reading ----------------------------------------------------------------------------------

  /**
   * A prepared statement on the SQLite connection itself, bypassing TypeORM's per-row work, for
   * the two reads that return one row per message of a mailbox (SELECT's UID map and FETCH
   * FLAGS): `pluck` gives the first column, `raw` arrays instead of objects. Null on PostgreSQL
   * (or an unexpected driver): the callers then use em.query.
   */
  private sqliteStatement(sql: string, mode: 'pluck' | 'raw'): SqliteStatement | null {
    if (this.store.isPostgres) return null;
    const conn = (this.store.db.driver as unknown as { databaseConnection?: SqliteConnection }).databaseConnection;
    if (!conn || typeof conn.prepare !== 'function') return null;
    let cache = statements.get(conn);
    if (!cache) statements.set(conn, (cache = new Map()));
    const key = `${mode} ${sql}`;
    let st = cache.get(key);
    if (!st) {
      st = conn.prepare(sql);
      if (mode === 'pluck') st.pluck(true);
      else st.raw(true);
      cache.set(key, st);
    }
    return st;
  }

  /** Every UID of a mailbox, ascending (the sequence-number map of a SELECT). One query on the (mailboxId, uid) index. */
  async uids(mailboxId: number): Promise<number[]> {
    const sql = 'SELECT uid FROM message WHERE "mailboxId" = ? ORDER BY uid';
    const st = this.sqliteStatement(sql, 'pluck');
    if (st) return st.all(mailboxId) as number[];
    const rows = await this.store.em.query(`SELECT uid FROM message WHERE "mailboxId" = ${this.p(1)} ORDER BY uid`,
      [mailboxId]) as Array<{ uid: number | string }>;
    const out = new Array<number>(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = Number(rows[i]!.uid);
    return out;
  }

  /**
   * UID, flags (as stored: space-separated) and MODSEQ of the given UIDs (ascending), optionally
   * only those changed after `changedSince`: the columns FETCH (FLAGS UID MODSEQ) needs and no
   * more. A dense run of UIDs is read as one range on the (mailboxId, uid) index, a sparse one
   * with IN lists. Callers page through large sets (a few thousand UIDs per call).
   */
  async flagRows(mailboxId: number, uids: readonly number[], changedSince: number | null = null, viewer: Viewer = null): Promise<FlagRow[]> {
    // The owner's rows are returned as read (this is FETCH 1:* FLAGS on large mailboxes); another
    // reader's get their own \Seen, from the one extra column read only for them.
    const rows = await this.storedFlagRows(mailboxId, uids, changedSince, viewer !== null);
    if (viewer === null) return rows;
    for (const r of rows) r.flags = viewFlags(splitFlags(r.flags), r.seenBy, viewer).join(' ');
    return rows;
  }

  private async storedFlagRows(mailboxId: number, uids: readonly number[], changedSince: number | null,
    withSeenBy: boolean): Promise<Array<FlagRow & { seenBy?: string | null }>> {
    if (!uids.length) return [];
    const cols = withSeenBy ? 'uid, flags, modseq, "seenBy"' : 'uid, flags, modseq';
    const lo = uids[0]!;
    const hi = uids[uids.length - 1]!;
    const since = changedSince !== null ? ` AND modseq > ${this.p(4)}` : '';
    type Row = { uid: number | string; flags: string | null; modseq: number | string; seenBy?: string | null };
    const toRow = (r: Row): FlagRow & { seenBy?: string | null } => ({ uid: Number(r.uid), flags: r.flags ?? '', modseq: Number(r.modseq), seenBy: r.seenBy });
    if (hi - lo + 1 <= uids.length * 2) {
      const params: unknown[] = [mailboxId, lo, hi];
      if (changedSince !== null) params.push(changedSince);
      const st = this.sqliteStatement(`SELECT ${cols} FROM message WHERE "mailboxId" = ? AND uid >= ? AND uid <= ?${
        changedSince !== null ? ' AND modseq > ?' : ''} ORDER BY uid`, 'raw');
      if (st) {
        const rows = st.all(...params) as Array<[number, string | null, number | bigint, (string | null)?]>;
        const out: Array<FlagRow & { seenBy?: string | null }> = [];
        const all = hi - lo + 1 === uids.length;
        let j = 0;
        for (const r of rows) {
          const uid = r[0];
          if (!all) {
            while (j < uids.length && uids[j]! < uid) j++;
            if (j >= uids.length || uids[j] !== uid) continue;
          }
          out.push(withSeenBy ? { uid, flags: r[1] ?? '', modseq: Number(r[2]), seenBy: r[3] ?? null } : { uid, flags: r[1] ?? '', modseq: Number(r[2]) });
        }
        return out;
      }
      const rows = await this.store.em.query(`SELECT ${cols} FROM message WHERE "mailboxId" = ${this.p(1)}
        AND uid >= ${this.p(2)} AND uid <= ${this.p(3)}${since} ORDER BY uid`, params) as Row[];
      const out: Array<FlagRow & { seenBy?: string | null }> = [];
      if (hi - lo + 1 === uids.length) {
        for (const r of rows) out.push(toRow(r));
        return out;
      }
      // Keep only the requested UIDs (both lists ascending: one merge pass).
      let j = 0;
      for (const r of rows) {
        const uid = Number(r.uid);
        while (j < uids.length && uids[j]! < uid) j++;
        if (j < uids.length && uids[j] === uid) out.push(toRow(r));
      }
      return out;
    }
    const out: Array<FlagRow & { seenBy?: string | null }> = [];
    for (let i = 0; i < uids.length; i += CHUNK) {
      const part = uids.slice(i, i + CHUNK);
      const params: unknown[] = [mailboxId, ...part];
      const cond = changedSince !== null ? ` AND modseq > ${this.p(part.length + 2)}` : '';
      if (changedSince !== null) params.push(changedSince);
      const rows = await this.store.em.query(`SELECT ${cols} FROM message WHERE "mailboxId" = ${this.p(1)}
        AND uid IN (${this.store.params(2, part.length)})${cond} ORDER BY uid`, params) as Row[];
      for (const r of rows) out.push(toRow(r));
    }
    return out;
  }

  async fetchRows(mailboxId: number, uids: number[], withMeta: false, viewer?: Viewer): Promise<MessageRow[]>;
  async fetchRows(mailboxId: number, uids: number[], withMeta: true, viewer?: Viewer): Promise<MessageWithMeta[]>;
  async fetchRows(mailboxId: number, uids: number[], withMeta: boolean, viewer: Viewer = null): Promise<Array<MessageRow | MessageWithMeta>> {
    const out: Array<MessageRow | MessageWithMeta> = [];
    for (let i = 0; i < uids.length; i += CHUNK) {
      const rows = await this.store.em.find(MessageEntity, {
        where: { mailboxId, uid: In(uids.slice(i, i + CHUNK)) },
        select: { uid: true, flags: true, modseq: true, internalDate: true, size: true, blobHash: true, envelope: withMeta, bodyStructure: withMeta,
          seenBy: viewer !== null },
        order: { uid: 'ASC' },
      });
      for (const r of rows) {
        const base: MessageRow = { uid: r.uid, flags: viewFlags(splitFlags(r.flags), r.seenBy, viewer), modseq: Number(r.modseq), internalDate: Number(r.internalDate), size: r.size, blobHash: r.blobHash };
        out.push(withMeta ? { ...base, envelope: JSON.parse(r.envelope) as Envelope, root: JSON.parse(r.bodyStructure) as MimePart } : base);
      }
    }
    return out;
  }

  /**
   * Flag states of messages changed after `modseq` (new ones included) and UIDs expunged after it.
   * Plain SQL on indexes (mailbox id, message and mail_change by (mailboxId, modseq)): this is
   * the read behind every live update, once per changed mailbox however many sessions follow it.
   */
  async changesSince(mailboxId: number, modseq: number): Promise<MailboxChanges> {
    const hm = this.sqliteStatement('SELECT "highestModseq" FROM mailbox WHERE id = ?', 'pluck');
    const boxRows = hm ? (hm.all(mailboxId) as Array<number | bigint>)
      : (await this.store.em.query(`SELECT "highestModseq" FROM mailbox WHERE id = ${this.p(1)}`, [mailboxId]) as Array<{ highestModseq: number | string }>)
        .map((r) => r.highestModseq);
    if (!boxRows.length) return { highestModseq: modseq, changed: [], expunged: [], exists: false };
    const highestModseq = Number(boxRows[0]);
    if (highestModseq <= modseq) return { highestModseq, changed: [], expunged: [], exists: true };
    // Shared by every session of the mailbox (ChangeFeed): flags as stored, each reader applies its view (seen-view.ts).
    const changed: FlagState[] = [];
    const st = this.sqliteStatement('SELECT uid, flags, modseq, "seenBy" FROM message WHERE "mailboxId" = ? AND modseq > ? ORDER BY uid', 'raw');
    if (st) {
      for (const r of st.all(mailboxId, modseq) as Array<[number, string | null, number | bigint, string | null]>) {
        changed.push({ uid: r[0], flags: splitFlags(r[1]), modseq: Number(r[2]), seenBy: r[3] });
      }
    } else {
      const rows = await this.store.em.query(`SELECT uid, flags, modseq, "seenBy" FROM message WHERE "mailboxId" = ${this.p(1)} AND modseq > ${this.p(2)}
        ORDER BY uid`, [mailboxId, modseq]) as Array<{ uid: number | string; flags: string | null; modseq: number | string; seenBy: string | null }>;
      for (const r of rows) changed.push({ uid: Number(r.uid), flags: splitFlags(r.flags), modseq: Number(r.modseq), seenBy: r.seenBy });
    }
    return { highestModseq, exists: true, changed, expunged: await this.expungedSince(mailboxId, modseq) };
  }

  async expungedSince(mailboxId: number, modseq: number): Promise<number[]> {
    const st = this.sqliteStatement('SELECT uid FROM mail_change WHERE "mailboxId" = ? AND modseq > ? AND kind = \'expunge\'', 'pluck');
    const uids = st ? (st.all(mailboxId, modseq) as Array<number | null>).map(Number)
      : (await this.store.em.query(`SELECT uid FROM mail_change WHERE "mailboxId" = ${this.p(1)} AND modseq > ${this.p(2)} AND kind = 'expunge'`,
        [mailboxId, modseq]) as Array<{ uid: number | string }>).map((r) => Number(r.uid));
    return [...new Set(uids)].sort((a, b) => a - b);
  }

  /** UIDs carrying \Deleted, optionally limited to `within`. */
  async deletedUids(mailboxId: number, within?: number[]): Promise<number[]> {
    const rows = await this.store.em.query(`SELECT uid FROM message WHERE "mailboxId" = ${this.p(1)}
      AND (' ' || flags || ' ') LIKE ${this.p(2)} ESCAPE '!' ORDER BY uid`, [mailboxId, '% \\Deleted %']) as Array<{ uid: number | string }>;
    const uids = rows.map((r) => Number(r.uid));
    if (!within) return uids;
    const set = new Set(within);
    return uids.filter((u) => set.has(u));
  }

  lastChangeId(): Promise<number> {
    return this.store.em.createQueryBuilder(MailChangeEntity, 'c').select('MAX(c.id)', 'max').getRawOne<{ max: number | string | null }>()
      .then((r) => Number(r?.max ?? 0));
  }

  // ---- writing ----------------------------------------------------------------------------------

  /**
   * Sets flags; all messages changed by one call share one new MODSEQ (RFC 7162 §3.1.3 allows it).
   * With `unchangedSince`, messages whose MODSEQ is higher are left alone and listed in `modified`.
   * Returns the resulting state of every message found (changed or not). With `may`, flags it
   * refuses are left as they are (ACL rights of a shared mailbox, RFC 4314 §4 STORE): neither
   * set nor cleared, whatever the mode. A `viewer` other than the owner (shared folder) works on
   * its own view: its \Seen is kept in seenBy, the owner's \Seen is left alone; the states
   * returned are that view. A change of either bumps the MODSEQ, so CONDSTORE/QRESYNC clients of
   * every reader resynchronise correctly.
   */
  async storeFlags(accountId: number, mailboxId: number, uids: number[], flags: string[], mode: 'add' | 'remove' | 'set',
    unchangedSince: number | null = null, may: ((flag: string) => boolean) | null = null, viewer: Viewer = null,
  ): Promise<{ states: FlagState[]; modified: number[]; changed: Set<number> }> {
    return this.store.write(async (ctx) => {
      const states: FlagState[] = [];
      const modified: number[] = [];
      const changed = new Set<number>();
      const updates: Array<{ id: number; uid: number; flags: string[]; stored: string[]; seenBy: string | null }> = [];
      for (let i = 0; i < uids.length; i += CHUNK) {
        const msgs = await ctx.em.find(MessageEntity, {
          where: { mailboxId, accountId, uid: In(uids.slice(i, i + CHUNK)) }, select: { id: true, uid: true, flags: true, modseq: true, seenBy: true },
          order: { uid: 'ASC' },
        });
        for (const m of msgs) {
          const stored = splitFlags(m.flags);
          const cur = viewFlags(stored, m.seenBy, viewer);
          if (unchangedSince !== null && Number(m.modseq) > unchangedSince) {
            modified.push(m.uid);
            continue;
          }
          const lower = new Set(flags.map((f) => f.toLowerCase()));
          let next: string[];
          if (mode === 'set') next = [...new Set(flags)];
          else if (mode === 'add') next = [...cur, ...flags.filter((f) => !cur.some((c) => c.toLowerCase() === f.toLowerCase()))];
          else next = cur.filter((c) => !lower.has(c.toLowerCase()));
          if (may) next = [...cur.filter((c) => !may(c)), ...next.filter((f) => may(f))];
          next = [...new Map(next.map((f) => [f.toLowerCase(), f])).values()];
          const same = next.length === cur.length && next.every((f) => cur.includes(f));
          if (same) {
            states.push({ uid: m.uid, flags: cur, modseq: Number(m.modseq) });
            continue;
          }
          if (viewer === null) {
            updates.push({ id: m.id, uid: m.uid, flags: next, stored: next, seenBy: m.seenBy });
          } else {
            const isSeen = (f: string) => f.toLowerCase() === '\\seen';
            const ownerSeen = stored.filter(isSeen);
            updates.push({ id: m.id, uid: m.uid, flags: next, stored: [...ownerSeen, ...next.filter((f) => !isSeen(f))],
              seenBy: withSeen(m.seenBy, viewer, next.some(isSeen)) });
          }
        }
      }
      if (updates.length) {
        const [row] = await this.returning<{ highestModseq: number | string }>(ctx.em,
          `UPDATE mailbox SET "highestModseq" = "highestModseq" + 1 WHERE id = ${this.p(1)} RETURNING "highestModseq"`, [mailboxId]);
        const modseq = Number(row!.highestModseq);
        for (const u of updates) {
          const joined = u.stored.join(' ');
          if (joined.length > 2048) throw new ServiceError('INVALID', 'too many flags on one message');
          await ctx.em.update(MessageEntity, { id: u.id }, viewer === null ? { flags: joined, modseq } : { flags: joined, seenBy: u.seenBy, modseq });
          await this.mailStore.logChange(ctx, { accountId, mailboxId, kind: 'flags', uid: u.uid, modseq });
          states.push({ uid: u.uid, flags: u.flags, modseq });
          changed.add(u.uid);
        }
      }
      states.sort((a, b) => a.uid - b.uid);
      return { states, modified, changed };
    });
  }

  /** Limits (0: none) and usage of an account, for IMAP QUOTA (RFC 9208). Null when the account is gone. */
  async quotaUsage(accountId: number): Promise<QuotaUsage | null> {
    const a = await this.store.em.findOne(AccountEntity, {
      where: { id: accountId }, select: { id: true, quotaBytes: true, quotaMessages: true, usedBytes: true, usedMessages: true },
    });
    if (!a) return null;
    return { quotaBytes: Number(a.quotaBytes), usedBytes: Number(a.usedBytes), quotaMessages: Number(a.quotaMessages), usedMessages: Number(a.usedMessages) };
  }

  private async checkQuotaFor(em: EntityManager, accountId: number, bytes: number, count: number): Promise<void> {
    const a = await em.findOne(AccountEntity, {
      where: { id: accountId }, select: { id: true, quotaBytes: true, quotaMessages: true, usedBytes: true, usedMessages: true },
    });
    if (!a) throw new ServiceError('NOT_FOUND', 'no such account');
    if (Number(a.quotaBytes) > 0 && Number(a.usedBytes) + bytes > Number(a.quotaBytes)) throw new ServiceError('OVER_QUOTA', 'storage quota exceeded');
    if (a.quotaMessages > 0 && a.usedMessages + count > a.quotaMessages) throw new ServiceError('OVER_QUOTA', 'message quota exceeded');
  }

  /**
   * Appends client-supplied messages (IMAP APPEND / MULTIAPPEND) atomically: all or none.
   * Metadata and search text are computed here, bytes are stored before the rows commit.
   * Throws NOT_FOUND, OVER_QUOTA.
   */
  async appendMessages(accountId: number, mailboxId: number, items: NewRawMessage[], viewer: Viewer = null): Promise<{ uidValidity: number; uids: number[] }> {
    const prepared = items.map((it) => {
      const metadata = parseMessageMetadata(it.raw);
      return { ...it, metadata, search: buildSearchText(it.raw, metadata.root) };
    });
    const hashes: string[] = [];
    for (const p of prepared) hashes.push(await this.store.blobs.put(p.raw));
    return this.store.write(async (ctx) => {
      const box = await ctx.em.findOneBy(MailboxEntity, { id: mailboxId, accountId });
      if (!box) throw new ServiceError('NOT_FOUND', 'no such mailbox');
      await this.checkQuotaFor(ctx.em, accountId, prepared.reduce((s, p) => s + p.raw.length, 0), prepared.length);
      const uids: number[] = [];
      for (let i = 0; i < prepared.length; i++) {
        const p = prepared[i]!;
        // Appended by someone other than the owner: their \Seen is theirs (seenBy).
        const seen = viewer !== null && p.flags.some((f) => f.toLowerCase() === '\\seen');
        const { uid } = await this.mailStore.append(ctx, {
          accountId, mailboxId, blobHash: hashes[i]!, size: p.raw.length, metadata: p.metadata, internalDate: p.internalDate,
          flags: viewer === null ? p.flags : p.flags.filter((f) => f.toLowerCase() !== '\\seen'), search: p.search,
          seenBy: seen ? withSeen(null, viewer, true) : null,
        });
        uids.push(uid);
      }
      return { uidValidity: Number(box.uidValidity), uids };
    });
  }

  private async allocateUids(ctx: WriteContext, mailboxId: number, n: number, bytes: number): Promise<{ first: number; modseq: number }> {
    const [row] = await this.returning<{ uidNext: number | string; highestModseq: number | string }>(ctx.em,
      `UPDATE mailbox SET "uidNext" = "uidNext" + ${this.p(1)}, "highestModseq" = "highestModseq" + 1,
       "messageCount" = "messageCount" + ${this.p(2)}, "totalBytes" = "totalBytes" + ${this.p(3)}
       WHERE id = ${this.p(4)} RETURNING "uidNext", "highestModseq"`, [n, n, bytes, mailboxId]);
    if (!row) throw new ServiceError('NOT_FOUND', 'no such mailbox');
    return { first: Number(row.uidNext) - n, modseq: Number(row.highestModseq) };
  }

  /**
   * Copies messages to another mailbox (of the same account, or of `opts.toAccountId`: a shared
   * folder): new rows, new UIDs in source UID order, the same blob (one more reference each);
   * quota and usage are the destination account's. Flags `opts.keepFlag` refuses are dropped
   * (ACL rights on the destination). Throws NOT_FOUND, OVER_QUOTA.
   */
  async copy(accountId: number, fromId: number, toId: number, uids: number[], opts: MoveOptions = {}): Promise<{ uidValidity: number; from: number[]; to: number[] }> {
    const toAccount = opts.toAccountId ?? accountId;
    return this.store.write(async (ctx) => {
      const dest = await ctx.em.findOneBy(MailboxEntity, { id: toId, accountId: toAccount });
      if (!dest) throw new ServiceError('NOT_FOUND', 'no such mailbox');
      const msgs: MessageEntity[] = [];
      for (let i = 0; i < uids.length; i += CHUNK) {
        msgs.push(...await ctx.em.find(MessageEntity, { where: { mailboxId: fromId, accountId, uid: In(uids.slice(i, i + CHUNK)) }, order: { uid: 'ASC' } }));
      }
      msgs.sort((a, b) => a.uid - b.uid);
      if (!msgs.length) return { uidValidity: Number(dest.uidValidity), from: [], to: [] };
      const bytes = msgs.reduce((s, m) => s + m.size, 0);
      await this.checkQuotaFor(ctx.em, toAccount, bytes, msgs.length);
      const { first, modseq } = await this.allocateUids(ctx, toId, msgs.length, bytes);
      const to: number[] = [];
      for (let i = 0; i < msgs.length; i++) {
        const m = msgs[i]!;
        const uid = first + i;
        const { id: _id, ...rest } = m;
        const carried = carriedFlags(m.flags, m.seenBy, opts);
        await ctx.em.insert(MessageEntity, { ...rest, accountId: toAccount, mailboxId: toId, uid, modseq, ...carried });
        await this.mailStore.addBlobRef(ctx.em, m.blobHash, m.size);
        await this.mailStore.logChange(ctx, { accountId: toAccount, mailboxId: toId, kind: 'append', uid, modseq });
        to.push(uid);
      }
      await ctx.em.query(`UPDATE account SET "usedBytes" = "usedBytes" + ${this.p(1)}, "usedMessages" = "usedMessages" + ${this.p(2)} WHERE id = ${this.p(3)}`,
        [bytes, msgs.length, toAccount]);
      return { uidValidity: Number(dest.uidValidity), from: msgs.map((m) => m.uid), to };
    });
  }

  /**
   * Moves messages atomically (RFC 6851): the rows change mailbox and UID, the source logs an
   * expunge and the destination an append, all in one transaction. Blob references do not
   * change; within one account neither does quota usage, across accounts (`opts.toAccountId`, a
   * shared folder) the usage moves and the destination's quota applies. Flags `opts.keepFlag`
   * refuses are dropped. Throws NOT_FOUND, OVER_QUOTA.
   */
  async move(accountId: number, fromId: number, toId: number, uids: number[], opts: MoveOptions = {}): Promise<{ uidValidity: number; from: number[]; to: number[] }> {
    const toAccount = opts.toAccountId ?? accountId;
    return this.store.write(async (ctx) => {
      const dest = await ctx.em.findOneBy(MailboxEntity, { id: toId, accountId: toAccount });
      if (!dest) throw new ServiceError('NOT_FOUND', 'no such mailbox');
      const msgs: Array<Pick<MessageEntity, 'id' | 'uid' | 'size' | 'flags' | 'seenBy'>> = [];
      for (let i = 0; i < uids.length; i += CHUNK) {
        msgs.push(...await ctx.em.find(MessageEntity, {
          where: { mailboxId: fromId, accountId, uid: In(uids.slice(i, i + CHUNK)) }, select: { id: true, uid: true, size: true, flags: true, seenBy: true },
        }));
      }
      msgs.sort((a, b) => a.uid - b.uid);
      if (!msgs.length) return { uidValidity: Number(dest.uidValidity), from: [], to: [] };
      const bytes = msgs.reduce((s, m) => s + m.size, 0);
      if (toAccount !== accountId) {
        await this.checkQuotaFor(ctx.em, toAccount, bytes, msgs.length);
        await ctx.em.query(`UPDATE account SET "usedBytes" = "usedBytes" - ${this.p(1)}, "usedMessages" = "usedMessages" - ${this.p(2)} WHERE id = ${this.p(3)}`,
          [bytes, msgs.length, accountId]);
        await ctx.em.query(`UPDATE account SET "usedBytes" = "usedBytes" + ${this.p(1)}, "usedMessages" = "usedMessages" + ${this.p(2)} WHERE id = ${this.p(3)}`,
          [bytes, msgs.length, toAccount]);
      }
      const [src] = await this.returning<{ highestModseq: number | string }>(ctx.em,
        `UPDATE mailbox SET "highestModseq" = "highestModseq" + 1, "messageCount" = "messageCount" - ${this.p(1)},
         "totalBytes" = "totalBytes" - ${this.p(2)} WHERE id = ${this.p(3)} RETURNING "highestModseq"`, [msgs.length, bytes, fromId]);
      const srcModseq = Number(src!.highestModseq);
      const { first, modseq } = await this.allocateUids(ctx, toId, msgs.length, bytes);
      const to: number[] = [];
      for (let i = 0; i < msgs.length; i++) {
        const m = msgs[i]!;
        const uid = first + i;
        const patch: Partial<MessageEntity> = { accountId: toAccount, mailboxId: toId, uid, modseq };
        // Within one view (one's own folders) the row moves as it is; otherwise \Seen follows the mover.
        if (opts.keepFlag || (opts.fromViewer ?? null) !== null || (opts.toViewer ?? null) !== null) Object.assign(patch, carriedFlags(m.flags, m.seenBy, opts));
        await ctx.em.update(MessageEntity, { id: m.id }, patch);
        await this.mailStore.logChange(ctx, { accountId, mailboxId: fromId, kind: 'expunge', uid: m.uid, modseq: srcModseq });
        await this.mailStore.logChange(ctx, { accountId: toAccount, mailboxId: toId, kind: 'append', uid, modseq });
        to.push(uid);
      }
      return { uidValidity: Number(dest.uidValidity), from: msgs.map((m) => m.uid), to };
    });
  }

  // ---- search -----------------------------------------------------------------------------------

  /** Indexing jobs in flight, one per mailbox: concurrent searches of a mailbox share it. */
  private readonly indexing = new Map<number, Promise<void>>();

  /**
   * Computes the search text of messages stored without it (stored before delivery computed it,
   * or by a path that does not). Normally there is nothing to do: delivery and APPEND store the
   * text with the row. One job per mailbox at a time (later callers await the running one), in
   * small batches walking the UID index, yielding to the event loop between batches so other
   * sessions keep being served. Each message is parsed at most once ever; identical bytes (one
   * blob) are parsed once per job.
   */
  ensureSearchText(mailboxId: number): Promise<void> {
    const running = this.indexing.get(mailboxId);
    if (running) return running;
    const job = this.indexMailbox(mailboxId).finally(() => this.indexing.delete(mailboxId));
    this.indexing.set(mailboxId, job);
    return job;
  }

  private async indexMailbox(mailboxId: number): Promise<void> {
    const byBlob = new Map<string, SearchText>();
    let after = 0;
    for (;;) {
      const rows = await this.store.em.query(`SELECT id, uid, "blobHash", "bodyStructure" FROM message WHERE "mailboxId" = ${this.p(1)}
        AND uid > ${this.p(2)} AND "searchBody" IS NULL ORDER BY uid LIMIT ${INDEX_BATCH}`, [mailboxId, after]) as
        Array<{ id: number | string; uid: number | string; blobHash: string; bodyStructure: string }>;
      if (!rows.length) return;
      after = Number(rows[rows.length - 1]!.uid);
      const computed: Array<{ id: number; text: SearchText }> = [];
      for (const r of rows) {
        let text = byBlob.get(r.blobHash);
        if (!text) {
          text = { headers: '', body: '' };
          try {
            const buf = await this.store.blobs.get(r.blobHash);
            text = buildSearchText(buf, JSON.parse(r.bodyStructure) as MimePart);
          } catch {
            // unreadable blob: index as empty rather than retry on every search
          }
          if (byBlob.size >= 1000) byBlob.clear();
          byBlob.set(r.blobHash, text);
        }
        computed.push({ id: Number(r.id), text });
      }
      await this.store.write(async ({ em }) => {
        for (const c of computed) {
          await em.query(`UPDATE message SET "searchHeaders" = ${this.p(1)}, "searchBody" = ${this.p(2)} WHERE id = ${this.p(3)}`,
            [c.text.headers, c.text.body, c.id]);
        }
      });
      if (rows.length < INDEX_BATCH) return;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  // ---- sort and thread --------------------------------------------------------------------------

  private readonly sortIndexing = new Map<number, Promise<void>>();

  /**
   * Computes the SORT/THREAD keys of messages stored without them (before the column existed).
   * Delivery and APPEND store them with the row, so normally there is nothing to do. One job per
   * mailbox at a time, in batches on the UID index, yielding between batches. Only the header
   * block of each blob is parsed (for References).
   */
  ensureSortKeys(mailboxId: number): Promise<void> {
    const running = this.sortIndexing.get(mailboxId);
    if (running) return running;
    const job = this.indexSortKeys(mailboxId).finally(() => this.sortIndexing.delete(mailboxId));
    this.sortIndexing.set(mailboxId, job);
    return job;
  }

  private async indexSortKeys(mailboxId: number): Promise<void> {
    let after = 0;
    for (;;) {
      const rows = await this.store.em.query(`SELECT id, uid, "blobHash", envelope, "bodyStructure" FROM message WHERE "mailboxId" = ${this.p(1)}
        AND uid > ${this.p(2)} AND "sortKeys" IS NULL ORDER BY uid LIMIT ${SORT_INDEX_BATCH}`, [mailboxId, after]) as
        Array<{ id: number | string; uid: number | string; blobHash: string; envelope: string; bodyStructure: string }>;
      if (!rows.length) return;
      after = Number(rows[rows.length - 1]!.uid);
      const computed: Array<{ id: number; keys: string }> = [];
      for (const r of rows) {
        let headers: HeaderField[] = [];
        try {
          const root = JSON.parse(r.bodyStructure) as MimePart;
          const buf = await this.store.blobs.get(r.blobHash);
          headers = parseHeaderBlock(buf.subarray(root.headerStart, root.bodyStart));
        } catch {
          // unreadable blob: sort and thread by the envelope alone (no References)
        }
        let envelope: Envelope;
        try {
          envelope = JSON.parse(r.envelope) as Envelope;
        } catch {
          envelope = { date: null, subject: null, from: null, sender: null, replyTo: null, to: null, cc: null, bcc: null, inReplyTo: null, messageId: null };
        }
        computed.push({ id: Number(r.id), keys: JSON.stringify(buildSortKeys(envelope, headers)) });
      }
      await this.store.write(async ({ em }) => {
        for (const c of computed) await em.query(`UPDATE message SET "sortKeys" = ${this.p(1)} WHERE id = ${this.p(2)}`, [c.keys, c.id]);
      });
      if (rows.length < SORT_INDEX_BATCH) return;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /**
   * UID, INTERNALDATE, size and SORT/THREAD keys of every message of a mailbox, ascending by UID:
   * what SORT and THREAD order and link by, one short column per message (no envelope parsing).
   */
  async sortRows(mailboxId: number): Promise<SortRow[]> {
    await this.ensureSortKeys(mailboxId);
    const empty: SortKeys = { s: '', r: false, f: '', t: '', c: '', df: '', dt: '', d: null, m: null, x: [] };
    const parse = (json: string | null): SortKeys => {
      if (!json) return empty;
      try {
        return JSON.parse(json) as SortKeys;
      } catch {
        return empty;
      }
    };
    const sql = 'SELECT uid, "internalDate", size, "sortKeys" FROM message WHERE "mailboxId" = ? ORDER BY uid';
    const st = this.sqliteStatement(sql, 'raw');
    if (st) {
      const rows = st.all(mailboxId) as Array<[number, number | bigint, number, string | null]>;
      const out = new Array<SortRow>(rows.length);
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i]!;
        out[i] = { uid: r[0], internalDate: Number(r[1]), size: r[2], keys: parse(r[3]) };
      }
      return out;
    }
    const rows = await this.store.em.query(`SELECT uid, "internalDate", size, "sortKeys" FROM message WHERE "mailboxId" = ${this.p(1)} ORDER BY uid`,
      [mailboxId]) as Array<{ uid: number | string; internalDate: number | string; size: number | string; sortKeys: string | null }>;
    return rows.map((r) => ({ uid: Number(r.uid), internalDate: Number(r.internalDate), size: Number(r.size), keys: parse(r.sortKeys) }));
  }

  /**
   * Rows for evaluating a SEARCH. `like` narrows in SQL (every entry must match: a substring of
   * searchHeaders or of searchBody, as given); the caller still evaluates the exact program.
   * Text columns and the sent date are loaded only when asked for.
   */
  async searchRows(mailboxId: number, need: { text: boolean; sentDate: boolean },
    like: Array<{ headers?: string; body?: string }> = [], viewer: Viewer = null): Promise<SearchRow[]> {
    if (need.text || like.length) await this.ensureSearchText(mailboxId);
    const cols = ['m.uid', 'm.flags', 'm.modseq', 'm.internalDate', 'm.size', 'm.blobHash'];
    if (need.text) cols.push('m.searchHeaders', 'm.searchBody');
    if (need.sentDate) cols.push('m.envelope');
    if (viewer !== null) cols.push('m.seenBy');
    const qb = this.store.em.createQueryBuilder(MessageEntity, 'm').select(cols).where('m.mailboxId = :mailboxId', { mailboxId });
    like.forEach((l, i) => {
      const ors: string[] = [];
      if (l.headers !== undefined) ors.push(`m.searchHeaders LIKE :h${i} ESCAPE '!'`);
      if (l.body !== undefined) ors.push(`m.searchBody LIKE :b${i} ESCAPE '!'`);
      if (ors.length) qb.andWhere(`(${ors.join(' OR ')})`, {
        [`h${i}`]: likeContains(normalizeForSearch(l.headers ?? '')), [`b${i}`]: likeContains(normalizeForSearch(l.body ?? '')),
      });
    });
    const rows = await qb.orderBy('m.uid', 'ASC').getMany();
    return rows.map((r) => {
      const row: SearchRow = {
        uid: r.uid, flags: viewFlags(splitFlags(r.flags), r.seenBy, viewer), modseq: Number(r.modseq), internalDate: Number(r.internalDate), size: r.size,
        blobHash: r.blobHash,
      };
      if (need.text) {
        row.searchHeaders = r.searchHeaders ?? '';
        row.searchBody = r.searchBody ?? '';
      }
      if (need.sentDate) {
        try {
          const d = (JSON.parse(r.envelope) as Envelope).date;
          const t = d ? Date.parse(d.replace(/\([^)]*\)/g, '').trim()) : NaN;
          row.sentDate = Number.isNaN(t) ? null : t;
        } catch {
          row.sentDate = null;
        }
      }
      return row;
    });
  }
}
