// Incoming iMIP wired into delivery. After a message was committed to local mailboxes (it is
// delivered to INBOX as usual), DeliveryService calls afterDelivery(): if the message carries
// an iTIP REQUEST / REPLY / CANCEL part and proves its From address (protocols/dav/imip-in.ts),
// one dav_itip_inbound row per recipient account is written in a small transaction of its own,
// and the rows are applied asynchronously by SchedulingService.processIncoming(), which checks
// that a REPLY speaks only for that sender and a REQUEST / CANCEL comes from the organizer.
// Reliability: a row survives a restart (start() drains what is left; failures are retried
// RETRY_MS later, up to MAX_ATTEMPTS). A crash between the mail's commit and the row's loses the
// calendar update only; the mail itself is in INBOX, from which the user can still act.
// Must not: fail or delay a delivery on error (log + trace line instead), or act on mail that
// was junked (policy verdict or DMARC) or delivered to any folder other than INBOX.
import { DavItipInboundEntity } from '../../../schemas/entities/index.js';
import type { DeliveryResult, InboundMessage } from '../../delivery/delivery.service.js';
import type { MessageMetadata } from '../../mime/message-metadata.js';
import type { Logger } from '../../observability/logger.js';
import { authenticatedSender, findItip } from '../../protocols/dav/imip-in.js';
import type { Store } from '../../store/store.js';
import type { AccountService } from '../account.service.js';
import type { TraceService } from '../trace.service.js';
import type { SchedulingService } from './scheduling.service.js';

export const MAX_ATTEMPTS = 5;
export const RETRY_MS = 60_000;
const BATCH = 50;

export class ImipInboundService {
  private running: Promise<void> | null = null;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = true;

  constructor(
    private readonly store: Store,
    private readonly accounts: AccountService,
    private readonly sched: SchedulingService,
    private readonly trace: TraceService,
    private readonly hostname: string,
    private readonly log: Logger,
  ) {}

  /** DeliveryService hook, after the mail's transaction committed. Never throws. */
  async afterDelivery(msg: InboundMessage, result: DeliveryResult, raw: Buffer, metadata: MessageMetadata): Promise<void> {
    try {
      if (!result.stored.length) return;
      const itip = findItip(raw, metadata.root);
      if (!itip) return;
      const skip = (reason: string) => {
        for (const s of result.stored) this.trace.record('dav.imip.skipped', { queueId: msg.queueId, sender: msg.sender, recipient: s.recipient, method: itip.method, reason });
      };
      if (msg.folderRole) return skip(`delivered to ${msg.folderRole}, not INBOX`);
      const end = raw.indexOf('\r\n\r\n');
      const verdict = await authenticatedSender({
        header: raw.subarray(0, end === -1 ? raw.length : end + 2), envelopeSender: msg.sender, accountId: msg.accountId ?? null,
        hostname: this.hostname, isLocalDomain: (d) => this.accounts.isLocalDomain(d),
      });
      if (!verdict.ok) return skip(verdict.reason);
      const now = Date.now();
      await this.store.write(async ({ em }) => {
        for (const s of result.stored) {
          await em.insert(DavItipInboundEntity, { accountId: s.accountId, queueId: msg.queueId, sender: verdict.sender, itip: itip.text, attempts: 0, createdAt: now });
        }
      });
      for (const s of result.stored) {
        this.trace.record('dav.imip.queued', { queueId: msg.queueId, sender: msg.sender, recipient: s.recipient, method: itip.method, from: verdict.sender, how: verdict.how });
      }
      this.kick();
    } catch (e) {
      this.log.warn({ event: 'dav.imip.failed', queueId: msg.queueId, err: (e as Error).message }, 'iMIP message not queued');
      this.trace.record('dav.imip.failed', { queueId: msg.queueId, sender: msg.sender, reason: (e as Error).message });
    }
  }

  /** Serve mode: apply what a previous run left, then retry failures periodically. */
  start(): void {
    this.stopped = false;
    this.kick();
    this.timer = setInterval(() => this.kick(), RETRY_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Applies queued rows now (tests, and after each delivery); resolves when the queue ran dry. */
  drain(): Promise<void> {
    this.kick();
    return this.running ?? Promise.resolve();
  }

  private kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.run().finally(() => {
      this.running = null;
      if (this.again && !this.stopped) {
        this.again = false;
        this.kick();
      }
    });
  }

  private async run(): Promise<void> {
    const now = Date.now();
    let done = 0;
    const rows = await this.store.em.find(DavItipInboundEntity, { order: { id: 'ASC' }, take: BATCH });
    for (const row of rows) {
      // A failed row (createdAt = its last attempt) waits RETRY_MS per attempt before the next.
      if (row.attempts > 0 && row.createdAt > now - RETRY_MS * row.attempts) continue;
      done++;
      try {
        const outcome = await this.sched.processIncoming(row.accountId, row.itip, row.sender);
        await this.store.write(({ em }) => em.delete(DavItipInboundEntity, { id: row.id }));
        this.trace.record(`dav.imip.${outcome}`, { queueId: row.queueId, sender: row.sender, accountId: row.accountId });
      } catch (e) {
        const attempts = row.attempts + 1;
        const last = attempts >= MAX_ATTEMPTS;
        await this.store.write(({ em }) => (last ? em.delete(DavItipInboundEntity, { id: row.id }) : em.update(DavItipInboundEntity, { id: row.id }, { attempts, createdAt: Date.now() })));
        this.log.warn({ event: 'dav.imip.failed', queueId: row.queueId, attempts, err: (e as Error).message }, 'iMIP message not applied');
        this.trace.record('dav.imip.failed', { queueId: row.queueId, sender: row.sender, accountId: row.accountId, attempts, gaveUp: last, reason: (e as Error).message });
      }
    }
    if (rows.length === BATCH && done) this.again = true;
  }
}
