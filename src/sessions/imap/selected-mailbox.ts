// The selected mailbox of one session: the sequence-number <-> UID map, the MODSEQ up to which
// the session has seen changes, and the updates (EXISTS, EXPUNGE/VANISHED, FETCH FLAGS) not
// yet sent to the client. Changes are read from the store by MODSEQ (refresh), queued, and
// sent when the session may send them (flush). No protocol parsing; no SQL (MailOpsService).
// RFC 9051 §7.5.1 (EXPUNGE renumbering), §7.4.1 (EXISTS), RFC 7162 §3.1.3 / §3.2.10 (MODSEQ, VANISHED).
import { lowerBound } from '../../protocols/imap/sequence-set.js';
import type { FlagState, MailboxChanges } from '../../services/mail-ops.service.js';

/** Where refresh() reads changes: MailOpsService itself or the ChangeFeed's shared reads. */
export interface ChangeSource {
  changesSince(mailboxId: number, modseq: number): Promise<MailboxChanges>;
}

export interface MailboxUpdate {
  expunged: Array<{ seq: number; uid: number }>;
  /** Set when expunges are reported as one VANISHED (QRESYNC) instead. */
  vanished: number[];
  exists: number | null;
  flags: Array<{ seq: number; state: FlagState }>;
}

/**
 * Whose mailbox is selected (the account every change is made in: the session's own, or the owner
 * of a shared folder) and the session's rights on it (re-read before every command when not its own).
 */
export interface SelectedAccess {
  ownerId: number;
  personal: boolean;
  rights: string;
  /** Whose \Seen the session shows (src/services/seen-view.ts): null for the owner, else the session's account. */
  viewer: number | null;
}

export class SelectedMailbox {
  /** uids[i] is the UID of sequence number i + 1. */
  uids: number[];
  knownModseq: number;
  dirty = false;
  /** The mailbox is gone (deleted or renamed by another session). */
  gone = false;
  /** Set by SELECT (ownerId 0 until then). */
  access: SelectedAccess = { ownerId: 0, personal: true, rights: 'lrswipkxtea', viewer: null };
  private readonly pendingExpunge = new Set<number>();
  private readonly pendingFlags = new Map<number, FlagState>();
  private readonly pendingNew: number[] = [];
  /** MODSEQ of the flags this session already reported per UID (its own STOREs), to skip echoes. */
  private readonly reported = new Map<number, number>();

  constructor(
    readonly mailboxId: number,
    public name: string,
    readonly readOnly: boolean,
    readonly uidValidity: number,
    uids: number[],
    modseq: number,
  ) {
    this.uids = uids;
    this.knownModseq = modseq;
  }

  get exists(): number {
    return this.uids.length;
  }

  /** Sequence number of a UID, or 0. */
  seqOf(uid: number): number {
    const i = lowerBound(this.uids, uid);
    return this.uids[i] === uid ? i + 1 : 0;
  }

  markReported(uid: number, modseq: number): void {
    this.reported.set(uid, modseq);
  }

  isPendingExpunge(uid: number): boolean {
    return this.pendingExpunge.has(uid);
  }

  /**
   * Reads changes after knownModseq from the store (through the change feed, which shares one
   * read among the sessions of a mailbox) into the pending queues. `ch` is shared: read only.
   */
  async refresh(source: ChangeSource): Promise<void> {
    this.dirty = false;
    this.apply(await source.changesSince(this.mailboxId, this.knownModseq));
  }

  /** Queues changes read after knownModseq (by refresh, or pushed by the change feed). `ch` is shared: read only. */
  apply(ch: MailboxChanges): void {
    if (!ch.exists) {
      this.gone = true;
      return;
    }
    const last = this.uids.length ? this.uids[this.uids.length - 1]! : 0;
    const pendingMax = this.pendingNew.length ? this.pendingNew[this.pendingNew.length - 1]! : last;
    for (const uid of ch.expunged) {
      if (this.seqOf(uid)) this.pendingExpunge.add(uid);
      const ni = this.pendingNew.indexOf(uid);
      if (ni !== -1) this.pendingNew.splice(ni, 1);
      this.pendingFlags.delete(uid);
    }
    const expunged = new Set(ch.expunged);
    for (const st of ch.changed) {
      if (expunged.has(st.uid)) continue;
      if (st.uid > pendingMax) {
        this.pendingNew.push(st.uid);
        continue;
      }
      if (!this.seqOf(st.uid) || this.reported.get(st.uid) === st.modseq) continue;
      this.pendingFlags.set(st.uid, st);
    }
    this.pendingNew.sort((a, b) => a - b);
    this.knownModseq = Math.max(this.knownModseq, ch.highestModseq);
  }

  /**
   * Takes the queued updates that may be sent now, applying them to the sequence map.
   * `allowExpunge` false keeps expunges queued (after FETCH, STORE, SEARCH).
   */
  take(allowExpunge: boolean, qresync: boolean): MailboxUpdate {
    const out: MailboxUpdate = { expunged: [], vanished: [], exists: null, flags: [] };
    if (allowExpunge && this.pendingExpunge.size) {
      const gone = [...this.pendingExpunge].sort((a, b) => a - b);
      this.pendingExpunge.clear();
      if (qresync) {
        out.vanished = gone;
        const set = new Set(gone);
        this.uids = this.uids.filter((u) => !set.has(u));
      } else {
        // Report highest first so every sequence number is valid when it is read: removing a
        // higher one does not renumber a lower one, so each is its position in the current map.
        const set = new Set<number>();
        for (let i = gone.length - 1; i >= 0; i--) {
          const uid = gone[i]!;
          const seq = this.seqOf(uid);
          if (!seq) continue;
          out.expunged.push({ seq, uid });
          set.add(uid);
        }
        if (set.size) this.uids = this.uids.filter((u) => !set.has(u));
      }
      for (const uid of gone) this.reported.delete(uid);
    }
    if (this.pendingNew.length) {
      for (const uid of this.pendingNew) if (!this.uids.length || uid > this.uids[this.uids.length - 1]!) this.uids.push(uid);
      this.pendingNew.length = 0;
      out.exists = this.uids.length;
    }
    for (const [uid, st] of this.pendingFlags) {
      if (this.pendingExpunge.has(uid)) continue;
      const seq = this.seqOf(uid);
      if (seq) out.flags.push({ seq, state: st });
      this.reported.set(uid, st.modseq);
    }
    this.pendingFlags.clear();
    out.flags.sort((a, b) => a.seq - b.seq);
    return out;
  }
}
