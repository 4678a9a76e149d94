// Message trace: every step of a message's life is one pino line and one trace_event row,
// so `pochtamt trace` can answer "what happened to this message?". Rows are written in small
// batches off the hot path; the log line is written at once, so nothing is lost from the log
// even if the process dies before a batch is flushed.
import { randomBytes } from 'node:crypto';
import { Brackets } from 'typeorm';
import { TraceEventEntity } from '../../schemas/entities/index.js';
import type { Logger } from '../observability/logger.js';
import type { Store } from '../store/store.js';

export interface TraceFields {
  queueId: string;
  messageId?: string | null;
  sender?: string | null;
  recipient?: string | null;
  [k: string]: unknown;
}

export interface TraceQuery { queueId?: string; messageId?: string; from?: string; to?: string; since?: number; limit?: number }

const FLUSH_MS = 200;
const FLUSH_ROWS = 500;

/** A new queue id: time-ordered and unique across nodes, like Postfix long queue ids. */
export function newQueueId(): string {
  return Date.now().toString(36).toUpperCase().padStart(9, '0') + randomBytes(5).toString('hex').toUpperCase();
}

export class TraceService {
  private pending: Array<Omit<TraceEventEntity, 'id'>> = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly store: Store, private readonly log: Logger) {}

  record(event: string, f: TraceFields): void {
    const { queueId, messageId, sender, recipient, ...detail } = f;
    this.log.info({ event, queueId, messageId, sender, recipient, ...detail }, event);
    this.pending.push({
      queueId, at: Date.now(), event, messageIdHeader: messageId?.slice(0, 998) ?? null,
      sender: sender?.slice(0, 320) ?? null, recipient: recipient?.slice(0, 320) ?? null,
      detail: Object.keys(detail).length ? JSON.stringify(detail) : '',
    });
    if (this.pending.length >= FLUSH_ROWS) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
  }

  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending;
    this.pending = [];
    if (!batch.length) return this.flushing;
    this.flushing = this.flushing.then(() => this.store.write(async ({ em }) => {
      // updateEntity(false): nothing reads the generated ids back, and on SQLite TypeORM would
      // otherwise merge them into every row object (a third of the flush's CPU).
      for (let i = 0; i < batch.length; i += 100) {
        await em.createQueryBuilder().insert().into(TraceEventEntity).values(batch.slice(i, i + 100)).updateEntity(false).execute();
      }
    })).catch((e) => this.log.error({ event: 'trace.flush.failed', err: (e as Error).message }, 'trace.flush.failed'));
    return this.flushing;
  }

  /** Events of every message matching the query, grouped by queue id, oldest first. */
  async search(q: TraceQuery): Promise<Array<{ queueId: string; events: TraceEventEntity[] }>> {
    await this.flush();
    // The newest matching messages first (by their latest event), then shown oldest first.
    const qb = this.store.em.createQueryBuilder(TraceEventEntity, 't').select('t.queueId', 'queueId')
      .addSelect('MAX(t.at)', 'last').groupBy('t.queueId').orderBy('last', 'DESC');
    if (q.queueId) qb.andWhere('t.queueId = :queueId', { queueId: q.queueId });
    if (q.messageId) {
      const id = q.messageId.trim();
      const bracketed = id.startsWith('<') ? id : `<${id}>`;
      qb.andWhere('t.messageIdHeader IN (:...ids)', { ids: [id, bracketed] });
    }
    if (q.from) qb.andWhere('LOWER(t.sender) = :from', { from: q.from.toLowerCase() });
    if (q.to) qb.andWhere('LOWER(t.recipient) = :to', { to: q.to.toLowerCase() });
    if (q.since) qb.andWhere('t.at >= :since', { since: q.since });
    const ids = (await qb.limit(q.limit ?? 100).getRawMany<{ queueId: string }>()).map((r) => r.queueId);
    if (!ids.length) return [];
    const events = await this.store.em.createQueryBuilder(TraceEventEntity, 't')
      .where(new Brackets((b) => b.where('t.queueId IN (:...ids)', { ids })))
      .orderBy('t.at', 'ASC').addOrderBy('t.id', 'ASC').getMany();
    return ids.map((queueId) => ({ queueId, events: events.filter((e) => e.queueId === queueId) }))
      .sort((a, b) => (a.events[0]?.at ?? 0) - (b.events[0]?.at ?? 0));
  }
}
