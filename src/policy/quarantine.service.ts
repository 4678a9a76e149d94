// Quarantine: messages a policy step decided to hold (virus or attachment policy with
// action: quarantine) are kept here instead of in a mailbox; `pochtamt quarantine
// list|show|release|delete|expire` lets the admin look and decide. Release delivers the message
// as it was held (policy headers included) to its original envelope recipients, as the original
// submitting account (if any), skipping the filters, under the original queue id.
// Release is idempotent: a claim (releaseStartedAt, one conditional UPDATE) lets one caller
// deliver; the row then stays with releasedAt set, and a second release answers "already
// released" without delivering. A claim left by a crashed release is taken over after
// STALE_CLAIM_MS, and then delivers only if no mailbox or queue row carries the queue id yet.
// Held and released rows are deleted retentionDays after they were held (sweep(), hourly in a
// server process), with a policy.quarantine.expired trace line each.
// Must not be reachable by users (no protocol exposes it). BUGS: bytes are kept base64 in the
// row (portable, 4/3 the size; no blob to collect when a row goes).
import { IsNull, LessThan } from 'typeorm';
import { MessageEntity, QuarantineEntity, QueueMessageEntity } from '../../schemas/entities/index.js';
import type { DeliveryResult, DeliveryService } from '../delivery/delivery.service.js';
import { decodeWords } from '../mime/message-metadata.js';
import type { TraceService } from '../services/trace.service.js';
import type { Store } from '../store/store.js';

/** A release claim older than this is considered abandoned (the process died mid-release). */
export const STALE_CLAIM_MS = 10 * 60_000;
/** Rows deleted per transaction by the sweep. */
const SWEEP_BATCH = 500;

export interface HeldMessage {
  queueId: string; sender: string; recipients: string[]; raw: Buffer; step: string; reason: string;
  /** Authenticated submitter, if any. */
  accountId?: number | null;
}

export type ReleaseOutcome =
  | { kind: 'released'; result: DeliveryResult }
  /** Released before (at `releasedAt`), or found delivered after an abandoned claim: nothing sent now. */
  | { kind: 'already'; releasedAt: number }
  /** Another release of the same message is under way. */
  | { kind: 'busy'; since: number };

export type QuarantineSummary = Omit<QuarantineEntity, 'rawBase64'>;

export class QuarantineService {
  constructor(
    private readonly store: Store,
    private readonly delivery: DeliveryService,
    private readonly trace: TraceService,
    private readonly now: () => number = Date.now,
  ) {}

  async hold(m: HeldMessage): Promise<number> {
    const row = Object.assign(new QuarantineEntity(), {
      queueId: m.queueId, sender: m.sender, recipients: JSON.stringify(m.recipients), accountId: m.accountId ?? null, step: m.step.slice(0, 64),
      reason: m.reason.slice(0, 1000), subject: subjectOf(m.raw), size: m.raw.length, rawBase64: m.raw.toString('base64'),
      createdAt: this.now(), releaseStartedAt: null, releasedAt: null,
    });
    await this.store.write(({ em }) => em.insert(QuarantineEntity, row));
    this.trace.record('policy.quarantine.held', { queueId: m.queueId, sender: m.sender, id: row.id, step: m.step, reason: m.reason,
      recipients: m.recipients.length });
    return row.id;
  }

  /** Newest first; released ones only with `released`. */
  list(limit = 100, o: { released?: boolean } = {}): Promise<QuarantineSummary[]> {
    return this.store.em.find(QuarantineEntity, {
      select: { id: true, queueId: true, sender: true, recipients: true, accountId: true, step: true, reason: true, subject: true, size: true,
        createdAt: true, releaseStartedAt: true, releasedAt: true },
      ...(o.released ? {} : { where: { releasedAt: IsNull() } }),
      order: { id: 'DESC' }, take: limit,
    });
  }

  get(id: number): Promise<QuarantineEntity | null> {
    return this.store.em.findOneBy(QuarantineEntity, { id });
  }

  /** Delivers a held message to its recipients, once; null if there is no such message. */
  async release(id: number): Promise<ReleaseOutcome | null> {
    const row = await this.get(id);
    if (!row) return null;
    if (row.releasedAt !== null) return { kind: 'already', releasedAt: row.releasedAt };
    const now = this.now();
    // The claim: exactly one caller gets affected = 1 (a row lock on PostgreSQL, the write lock on SQLite).
    const claimed = await this.store.write(({ em }) => em.createQueryBuilder().update(QuarantineEntity).set({ releaseStartedAt: now })
      .where('id = :id AND "releasedAt" IS NULL AND ("releaseStartedAt" IS NULL OR "releaseStartedAt" < :stale)', { id, stale: now - STALE_CLAIM_MS })
      .execute());
    if (!claimed.affected) {
      const again = await this.get(id);
      if (!again) return null;
      if (again.releasedAt !== null) return { kind: 'already', releasedAt: again.releasedAt };
      return { kind: 'busy', since: again.releaseStartedAt ?? now };
    }
    // Taking over an abandoned claim: that release may have delivered before it died.
    if (row.releaseStartedAt !== null && (await this.deliveredBefore(row.queueId))) {
      await this.markReleased(id, now);
      this.trace.record('policy.quarantine.released', { queueId: row.queueId, sender: row.sender, id, already: true,
        reason: 'found delivered after an abandoned release' });
      return { kind: 'already', releasedAt: now };
    }
    let result: DeliveryResult;
    try {
      result = await this.delivery.deliver({
        queueId: row.queueId, sender: row.sender, recipients: JSON.parse(row.recipients) as string[], accountId: row.accountId,
        raw: Buffer.from(row.rawBase64, 'base64'),
      });
    } catch (e) {
      // Nothing was committed: let the next release try again at once.
      await this.store.write(({ em }) => em.update(QuarantineEntity, { id }, { releaseStartedAt: null }));
      throw e;
    }
    await this.markReleased(id, this.now());
    this.trace.record('policy.quarantine.released', { queueId: row.queueId, sender: row.sender, id, stored: result.stored.length,
      queued: result.queued.length, failed: result.failed.length });
    return { kind: 'released', result };
  }

  async delete(id: number): Promise<boolean> {
    const row = await this.store.em.findOne(QuarantineEntity, { where: { id }, select: { id: true, queueId: true, sender: true } });
    if (!row) return false;
    await this.store.write(({ em }) => em.delete(QuarantineEntity, { id }));
    this.trace.record('policy.quarantine.deleted', { queueId: row.queueId, sender: row.sender, id });
    return true;
  }

  /** Deletes every row held more than retentionDays ago (released or not); returns how many. */
  async sweep(retentionDays: number): Promise<number> {
    const cutoff = this.now() - retentionDays * 86_400_000;
    let removed = 0;
    for (;;) {
      const rows = await this.store.em.find(QuarantineEntity, {
        where: { createdAt: LessThan(cutoff) }, select: { id: true, queueId: true, sender: true, createdAt: true, releasedAt: true, releaseStartedAt: true },
        order: { id: 'ASC' }, take: SWEEP_BATCH,
      });
      // A release under way keeps its row until it finishes (or its claim goes stale).
      const gone = rows.filter((r) => r.releaseStartedAt === null || r.releasedAt !== null || r.releaseStartedAt < this.now() - STALE_CLAIM_MS);
      if (gone.length) {
        await this.store.write(async ({ em }) => {
          for (let i = 0; i < gone.length; i += 100) await em.delete(QuarantineEntity, gone.slice(i, i + 100).map((r) => r.id));
        });
      }
      for (const r of gone) {
        this.trace.record('policy.quarantine.expired', { queueId: r.queueId, sender: r.sender, id: r.id, retentionDays,
          heldAt: new Date(r.createdAt).toISOString(), released: r.releasedAt !== null });
      }
      removed += gone.length;
      if (rows.length < SWEEP_BATCH) return removed;
    }
  }

  private async markReleased(id: number, at: number): Promise<void> {
    await this.store.write(({ em }) => em.update(QuarantineEntity, { id }, { releasedAt: at }));
  }

  private async deliveredBefore(queueId: string): Promise<boolean> {
    const em = this.store.em;
    return (await em.exists(MessageEntity, { where: { queueId } })) || (await em.exists(QueueMessageEntity, { where: { queueId } }));
  }
}

function subjectOf(raw: Buffer): string | null {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end === -1 ? Math.min(raw.length, 65536) : end).toString('utf8');
  const m = /^subject:[ \t]*(.*(?:\r\n[ \t].*)*)/im.exec(head);
  return m ? decodeWords(m[1]!.replace(/\r\n[ \t]/g, ' ')).slice(0, 998) : null;
}
