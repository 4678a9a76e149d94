// Tells IMAP sessions that a mailbox changed: in-process changes arrive on app.events at once;
// changes made by other processes (another node on the same PostgreSQL, the CLI, a POP3
// process) are found by tailing the mail_change table every POLL_MS, only while some session
// is subscribed. Subscribers only learn "mailbox N changed"; they read what changed from the
// store by MODSEQ, so a duplicate or early notice is harmless.
// BUGS: polling, not LISTEN/NOTIFY; a change from another process is seen within POLL_MS.
import type { MailEvents } from '../../events/mail-events.js';
import type { MailStoreService } from '../../services/mail-store.service.js';
import type { MailOpsService } from '../../services/mail-ops.service.js';

export const POLL_MS = 500;

export class ChangeFeed {
  private readonly subs = new Map<number, Set<() => void>>();
  private count = 0;
  private timer: NodeJS.Timeout | null = null;
  private lastId: number | null = null;
  private polling = false;
  private readonly offEvents: () => void;

  constructor(private readonly ops: MailOpsService, private readonly mailStore: MailStoreService, events: MailEvents,
    private readonly pollMs = POLL_MS) {
    this.offEvents = events.on('mail.changed', (c) => this.notify(c.mailboxId));
  }

  /** Calls `fn` whenever mailbox `mailboxId` may have changed. Returns the unsubscribe function. */
  subscribe(mailboxId: number, fn: () => void): () => void {
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
      }
    };
  }

  private notify(mailboxId: number): void {
    const set = this.subs.get(mailboxId);
    if (set) for (const fn of [...set]) fn();
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
        const boxes = new Set(rows.map((r) => r.mailboxId));
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
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.offEvents();
  }
}
