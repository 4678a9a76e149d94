// Tells IMAP sessions that a mailbox changed: in-process changes arrive on app.events at once;
// changes made by other processes (another node on the same PostgreSQL, the CLI, a POP3
// process) are found by tailing the mail_change table every POLL_MS, only while some session
// is subscribed. Subscribers learn "mailbox N changed"; they read what changed from the
// store by MODSEQ, so a duplicate or early notice is harmless. Those reads go through
// changesSince() here, which shares one read among the sessions of a mailbox that are at the
// same MODSEQ.
// IDLE sessions are pushed to (fan-out): one timer per changed mailbox (PUSH_BATCH_MS, so a
// burst of changes is one push), one store read per mailbox and MODSEQ, and the result handed
// to every IDLE session of that mailbox synchronously, with no per-session timer or promise: a
// delivery reaches 10,000 IDLE connections at the cost of one socket write each.
// BUGS: polling, not LISTEN/NOTIFY; a change from another process is seen within POLL_MS.
import type { MailEvents } from '../../events/mail-events.js';
import type { MailStoreService } from '../../services/mail-store.service.js';
import type { MailboxChanges, MailOpsService } from '../../services/mail-ops.service.js';

export const POLL_MS = 500;
/** How long after a change notice the IDLE push waits, to batch a burst of changes. */
export const PUSH_BATCH_MS = 20;
/** How long a change read may be handed to other sessions (while no newer change was signalled). */
const SHARE_MS = 2000;

interface SharedRead { at: number; result: Promise<MailboxChanges> }

/** A session following one mailbox. */
export interface FeedListener {
  /** The mailbox may have changed (every notice). */
  changed(): void;
  /** The MODSEQ the session has seen if it takes pushed changes now (it is in IDLE), else null. */
  pushModseq(): number | null;
  /** The changes after `modseq` (shared with other sessions: read only). */
  push(modseq: number, changes: MailboxChanges): void;
  /** The push read failed: the session reads for itself. */
  pushFailed(): void;
}

export class ChangeFeed {
  private readonly subs = new Map<number, Set<FeedListener>>();
  /** Mailboxes with an IDLE push pending (one timer each). */
  private readonly pushTimers = new Map<number, NodeJS.Timeout>();
  private count = 0;
  private timer: NodeJS.Timeout | null = null;
  private lastId: number | null = null;
  private polling = false;
  private readonly offEvents: () => void;
  /**
   * Change reads shared by the sessions of one mailbox, keyed by mailbox and starting MODSEQ.
   * A change notice drops the mailbox's entries, so a read started before it is never reused after it.
   */
  private readonly reads = new Map<number, Map<number, SharedRead>>();
  /**
   * Highest MODSEQ per mailbox already announced by an in-process event, so the log tail does not
   * wake every session a second time for the same change (while sessions are subscribed).
   */
  private readonly localModseq = new Map<number, number>();

  constructor(private readonly ops: MailOpsService, private readonly mailStore: MailStoreService, events: MailEvents,
    private readonly pollMs = POLL_MS) {
    this.offEvents = events.on('mail.changed', (c) => {
      if (c.kind !== 'mailbox' && c.modseq > (this.localModseq.get(c.mailboxId) ?? 0)) this.localModseq.set(c.mailboxId, c.modseq);
      this.notify(c.mailboxId);
    });
  }

  /** Tells `fn` whenever mailbox `mailboxId` may have changed. Returns the unsubscribe function. */
  subscribe(mailboxId: number, fn: FeedListener): () => void {
    let set = this.subs.get(mailboxId);
    if (!set) this.subs.set(mailboxId, (set = new Set()));
    set.add(fn);
    this.count++;
    if (!this.timer) {
      // Start the tail where the log is now: the subscriber has just read the mailbox state.
      void this.ops.lastChangeId().then((id) => { if (this.lastId === null) this.lastId = id; }, () => undefined);
      this.timer = setInterval(() => void this.poll(), this.pollMs);
      this.timer.unref();
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      set!.delete(fn);
      if (!set!.size) this.subs.delete(mailboxId);
      if (--this.count === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
        this.lastId = null;
        // Changes by other processes are not followed from now on: nothing read so far may be reused.
        this.reads.clear();
        this.localModseq.clear();
      }
    };
  }

  private notify(mailboxId: number): void {
    this.reads.delete(mailboxId);
    const set = this.subs.get(mailboxId);
    if (!set) return;
    for (const l of set) l.changed();
    if (!this.pushTimers.has(mailboxId)) {
      this.pushTimers.set(mailboxId, setTimeout(() => {
        this.pushTimers.delete(mailboxId);
        void this.fanOut(mailboxId);
      }, PUSH_BATCH_MS));
    }
  }

  /** One read per MODSEQ the IDLE sessions of the mailbox are at (normally one), pushed to each. */
  private async fanOut(mailboxId: number): Promise<void> {
    const set = this.subs.get(mailboxId);
    if (!set) return;
    const groups = new Map<number, FeedListener[]>();
    for (const l of set) {
      const m = l.pushModseq();
      if (m === null) continue;
      const g = groups.get(m);
      if (g) g.push(l);
      else groups.set(m, [l]);
    }
    await Promise.all([...groups].map(async ([modseq, listeners]) => {
      let ch: MailboxChanges;
      try {
        ch = await this.changesSince(mailboxId, modseq);
      } catch {
        for (const l of listeners) l.pushFailed();
        return;
      }
      for (const l of listeners) l.push(modseq, ch);
    }));
  }

  /**
   * What changed in a mailbox after `modseq` (MailOpsService.changesSince), shared: the sessions
   * selected on one mailbox are usually all at the same MODSEQ when a change is signalled, and
   * they get one store read between them instead of one each (IDLE fan-out to thousands of
   * connections). A read is reused only if it started after the last change notice for that
   * mailbox, and for at most SHARE_MS. The result is shared: callers must not modify it.
   */
  changesSince(mailboxId: number, modseq: number): Promise<MailboxChanges> {
    const now = Date.now();
    let byModseq = this.reads.get(mailboxId);
    const hit = byModseq?.get(modseq);
    if (hit && now - hit.at < SHARE_MS) return hit.result;
    if (!byModseq) this.reads.set(mailboxId, (byModseq = new Map()));
    else if (byModseq.size > 64) byModseq.clear();
    const result = this.ops.changesSince(mailboxId, modseq);
    const entry: SharedRead = { at: now, result };
    byModseq.set(modseq, entry);
    const forget = () => {
      if (this.reads.get(mailboxId)?.get(modseq) === entry) {
        this.reads.get(mailboxId)!.delete(modseq);
        if (!this.reads.get(mailboxId)!.size) this.reads.delete(mailboxId);
      }
    };
    // Failed reads are not shared; successful ones are dropped once stale.
    result.then(() => setTimeout(forget, SHARE_MS).unref(), forget);
    return result;
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      if (this.lastId === null) {
        this.lastId = await this.ops.lastChangeId();
        return;
      }
      for (;;) {
        const rows = await this.mailStore.changesSince(this.lastId, 1000);
        if (!rows.length) break;
        const boxes = new Set<number>();
        for (const r of rows) {
          if (r.kind !== 'mailbox' && Number(r.modseq) <= (this.localModseq.get(r.mailboxId) ?? 0)) continue; // announced already
          boxes.add(r.mailboxId);
        }
        this.lastId = rows[rows.length - 1]!.id;
        for (const b of boxes) this.notify(b);
        if (rows.length < 1000) break;
      }
    } catch {
      // the store is closing or busy; the next tick retries
    } finally {
      this.polling = false;
    }
  }

  close(): void {
    for (const t of this.pushTimers.values()) clearTimeout(t);
    this.pushTimers.clear();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.offEvents();
  }
}
