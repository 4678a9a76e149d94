// Quarantine: messages a policy step decided to hold (virus or attachment policy with
// action: quarantine) are kept here instead of in a mailbox; `pochtamt quarantine
// list|show|release|delete` lets the admin look and decide. Release delivers the message
// as it was held (policy headers included) to its original recipients, skipping the filters.
// Must not be reachable by users (no protocol exposes it). BUGS: no automatic expiry yet;
// bytes are kept base64 in the row (portable, 4/3 the size).
import { QuarantineEntity } from '../../schemas/entities/index.js';
import type { DeliveryResult, DeliveryService } from '../delivery/delivery.service.js';
import { decodeWords } from '../mime/message-metadata.js';
import type { TraceService } from '../services/trace.service.js';
import type { Store } from '../store/store.js';

export interface HeldMessage { queueId: string; sender: string; recipients: string[]; raw: Buffer; step: string; reason: string }

export class QuarantineService {
  constructor(private readonly store: Store, private readonly delivery: DeliveryService, private readonly trace: TraceService) {}

  async hold(m: HeldMessage): Promise<number> {
    const row = Object.assign(new QuarantineEntity(), {
      queueId: m.queueId, sender: m.sender, recipients: JSON.stringify(m.recipients), step: m.step.slice(0, 64),
      reason: m.reason.slice(0, 1000), subject: subjectOf(m.raw), size: m.raw.length, rawBase64: m.raw.toString('base64'),
      createdAt: Date.now(),
    });
    await this.store.write(({ em }) => em.insert(QuarantineEntity, row));
    this.trace.record('policy.quarantine.held', { queueId: m.queueId, sender: m.sender, id: row.id, step: m.step, reason: m.reason,
      recipients: m.recipients.length });
    return row.id;
  }

  list(limit = 100): Promise<Array<Omit<QuarantineEntity, 'rawBase64'>>> {
    return this.store.em.find(QuarantineEntity, {
      select: { id: true, queueId: true, sender: true, recipients: true, step: true, reason: true, subject: true, size: true, createdAt: true },
      order: { id: 'DESC' }, take: limit,
    });
  }

  get(id: number): Promise<QuarantineEntity | null> {
    return this.store.em.findOneBy(QuarantineEntity, { id });
  }

  /** Delivers a held message to its recipients and removes it from quarantine. */
  async release(id: number): Promise<DeliveryResult | null> {
    const row = await this.get(id);
    if (!row) return null;
    const result = await this.delivery.deliver({
      queueId: row.queueId, sender: row.sender, recipients: JSON.parse(row.recipients) as string[], raw: Buffer.from(row.rawBase64, 'base64'),
    });
    await this.store.write(({ em }) => em.delete(QuarantineEntity, { id }));
    this.trace.record('policy.quarantine.released', { queueId: row.queueId, sender: row.sender, id, stored: result.stored.length,
      queued: result.queued.length });
    return result;
  }

  async delete(id: number): Promise<boolean> {
    const row = await this.get(id);
    if (!row) return false;
    await this.store.write(({ em }) => em.delete(QuarantineEntity, { id }));
    this.trace.record('policy.quarantine.deleted', { queueId: row.queueId, sender: row.sender, id });
    return true;
  }
}

function subjectOf(raw: Buffer): string | null {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end === -1 ? Math.min(raw.length, 65536) : end).toString('utf8');
  const m = /^subject:[ \t]*(.*(?:\r\n[ \t].*)*)/im.exec(head);
  return m ? decodeWords(m[1]!.replace(/\r\n[ \t]/g, ' ')).slice(0, 998) : null;
}
