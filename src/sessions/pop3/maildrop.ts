// A POP3 maildrop: the INBOX as it was when the session logged in (RFC 1939 §4: message
// numbers and sizes stay fixed for the session), the deletion marks, and the per-process
// exclusive lock on it. Reads and changes go through MailStoreService only, never SQL.
// BUGS: the lock is per process; two nodes on one PostgreSQL can each hold a POP3 session for
// the same account. Deletions then still apply once (expunge ignores UIDs already gone).
import type { MailStoreService, MessageSummary } from '../../services/mail-store.service.js';

export interface MaildropEntry {
  /** Message number, 1-based. */
  readonly n: number;
  readonly uid: number;
  readonly size: number;
  readonly blobHash: string;
  deleted: boolean;
}

export type EntryLookup =
  | { kind: 'found'; entry: MaildropEntry }
  | { kind: 'deleted' }
  | { kind: 'none' };

export class Maildrop {
  private constructor(
    readonly accountId: number,
    readonly mailboxId: number,
    readonly uidValidity: number,
    private readonly entries: MaildropEntry[],
  ) {}

  static async open(mailStore: Pick<MailStoreService, 'inbox' | 'listMessages'>, accountId: number): Promise<Maildrop> {
    const box = await mailStore.inbox(accountId);
    const msgs: MessageSummary[] = await mailStore.listMessages(box.id);
    return new Maildrop(accountId, box.id, box.uidValidity,
      msgs.map((m, i) => ({ n: i + 1, uid: m.uid, size: m.size, blobHash: m.blobHash, deleted: false })));
  }

  lookup(n: number): EntryLookup {
    const e = this.entries[n - 1];
    if (!e) return { kind: 'none' };
    return e.deleted ? { kind: 'deleted' } : { kind: 'found', entry: e };
  }

  /** Messages not marked deleted, in order. */
  live(): MaildropEntry[] {
    return this.entries.filter((e) => !e.deleted);
  }

  stat(): { count: number; octets: number } {
    const live = this.live();
    return { count: live.length, octets: live.reduce((s, e) => s + e.size, 0) };
  }

  /**
   * Unique-id (RFC 1939 §7 UIDL): UIDVALIDITY.UID. A UID is never reused within one UIDVALIDITY
   * and INBOX is never re-created with an old UIDVALIDITY, so the pair is unique and stable,
   * and IMAP and POP3 name a message alike.
   */
  uniqueId(e: MaildropEntry): string {
    return `${this.uidValidity}.${e.uid}`;
  }

  /** RSET: unmark every deletion. */
  reset(): void {
    for (const e of this.entries) e.deleted = false;
  }

  deletedUids(): number[] {
    return this.entries.filter((e) => e.deleted).map((e) => e.uid);
  }
}

/** Exclusive access to maildrops within this process (RFC 1939 §4: "exclusive-access lock"). */
export class MaildropLocks {
  private readonly held = new Set<number>();

  acquire(accountId: number): boolean {
    if (this.held.has(accountId)) return false;
    this.held.add(accountId);
    return true;
  }

  release(accountId: number): void {
    this.held.delete(accountId);
  }
}
