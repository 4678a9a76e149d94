// The outbound queue's storage: messages waiting for remote delivery and their per-recipient
// retry state. Enqueueing happens inside the delivery transaction, so a message acknowledged
// with 250 is either stored locally or queued — never neither. The worker that sends lives
// in src/delivery/outbound-worker.ts.
import { In, IsNull, LessThanOrEqual } from 'typeorm';
import { QueueMessageEntity, QueueRecipientEntity } from '../../schemas/entities/index.js';
import { domainOf } from '../mail/address.js';
import type { Store, WriteContext } from '../store/store.js';
import type { MailStoreService } from './mail-store.service.js';

export interface EnqueueRequest {
  queueId: string;
  sender: string;
  recipients: string[];
  blobHash: string;
  size: number;
  messageId: string | null;
  accountId?: number | null;
  isBounce?: boolean;
}

export interface QueueEntry { message: QueueMessageEntity; recipients: QueueRecipientEntity[] }

export class QueueService {
  constructor(private readonly store: Store, private readonly mailStore: MailStoreService,
    private readonly lifetimeMs: number) {}

  async enqueue(ctx: WriteContext, r: EnqueueRequest): Promise<void> {
    const now = Date.now();
    const msg = await ctx.em.save(ctx.em.create(QueueMessageEntity, {
      queueId: r.queueId, sender: r.sender, blobHash: r.blobHash, size: r.size, messageIdHeader: r.messageId?.slice(0, 998) ?? null,
      accountId: r.accountId ?? null, isBounce: r.isBounce ?? false, createdAt: now, expiresAt: now + this.lifetimeMs, completedAt: null,
    }));
    await this.mailStore.addBlobRef(ctx.em, r.blobHash, r.size);
    for (const rcpt of [...new Set(r.recipients)]) {
      await ctx.em.insert(QueueRecipientEntity, {
        queueMessageId: msg.id, recipient: rcpt, domain: domainOf(rcpt), status: 'pending', attempts: 0,
        nextAttemptAt: now, lastReply: null, lastHost: null, updatedAt: now,
      });
    }
  }

  /** Pending recipients due now, grouped by message. */
  async due(limit: number, now = Date.now()): Promise<QueueEntry[]> {
    const rcpts = await this.store.em.find(QueueRecipientEntity, {
      where: { status: 'pending', nextAttemptAt: LessThanOrEqual(now) }, order: { nextAttemptAt: 'ASC' }, take: limit,
    });
    return this.group(rcpts);
  }

  private async group(rcpts: QueueRecipientEntity[]): Promise<QueueEntry[]> {
    if (!rcpts.length) return [];
    const msgs = await this.store.em.findBy(QueueMessageEntity, { id: In([...new Set(rcpts.map((r) => r.queueMessageId))]) });
    return msgs.map((message) => ({ message, recipients: rcpts.filter((r) => r.queueMessageId === message.id) }));
  }

  /** Every message not yet completed (or all, with `all`), newest first. */
  async list(opts: { all?: boolean; limit?: number } = {}): Promise<QueueEntry[]> {
    const msgs = await this.store.em.find(QueueMessageEntity, {
      where: opts.all ? {} : { completedAt: IsNull() }, order: { id: 'DESC' }, take: opts.limit ?? 1000,
    });
    if (!msgs.length) return [];
    const rcpts = await this.store.em.findBy(QueueRecipientEntity, { queueMessageId: In(msgs.map((m) => m.id)) });
    return msgs.map((message) => ({ message, recipients: rcpts.filter((r) => r.queueMessageId === message.id) }));
  }

  async get(queueId: string): Promise<QueueEntry | null> {
    const message = await this.store.em.findOneBy(QueueMessageEntity, { queueId });
    if (!message) return null;
    return { message, recipients: await this.store.em.findBy(QueueRecipientEntity, { queueMessageId: message.id }) };
  }

  async updateRecipient(id: number, patch: Partial<QueueRecipientEntity>): Promise<void> {
    await this.store.write(({ em }) => em.update(QueueRecipientEntity, { id }, { ...patch, updatedAt: Date.now() }));
  }

  /** Makes every pending recipient of a message (or of all messages) due now. Returns how many. */
  async retryNow(queueId?: string): Promise<number> {
    return this.store.write(async ({ em }) => {
      const where: Record<string, unknown> = { status: 'pending' };
      if (queueId) {
        const m = await em.findOneBy(QueueMessageEntity, { queueId });
        if (!m) return 0;
        where.queueMessageId = m.id;
      }
      const res = await em.update(QueueRecipientEntity, where, { nextAttemptAt: Date.now() });
      return res.affected ?? 0;
    });
  }

  /**
   * Marks the message complete once no recipient is pending, releasing its blob. Returns the
   * recipients that failed (for a DSN), or null if the message is still in flight.
   */
  async completeIfDone(ctx: WriteContext, queueMessageId: number): Promise<QueueRecipientEntity[] | null> {
    const msg = await ctx.em.findOneBy(QueueMessageEntity, { id: queueMessageId });
    if (!msg || msg.completedAt) return null;
    const rcpts = await ctx.em.findBy(QueueRecipientEntity, { queueMessageId });
    if (rcpts.some((r) => r.status === 'pending')) return null;
    await ctx.em.update(QueueMessageEntity, { id: msg.id }, { completedAt: Date.now() });
    await this.mailStore.releaseBlob(ctx, msg.blobHash);
    return rcpts.filter((r) => r.status === 'failed' || r.status === 'expired');
  }

  /** Removes a message from the queue without a DSN (admin action). */
  async remove(queueId: string): Promise<boolean> {
    return this.store.write(async (ctx) => {
      const msg = await ctx.em.findOneBy(QueueMessageEntity, { queueId });
      if (!msg) return false;
      await ctx.em.delete(QueueRecipientEntity, { queueMessageId: msg.id });
      await ctx.em.delete(QueueMessageEntity, { id: msg.id });
      if (!msg.completedAt) await this.mailStore.releaseBlob(ctx, msg.blobHash);
      return true;
    });
  }
}
