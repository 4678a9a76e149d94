// Delivery: takes a received message and its recipients and makes it durable — stored in
// each local recipient's mailbox and/or queued for remote domains — in one transaction after
// the bytes are fsynced. Every path that accepts mail (SMTP MX, submission, DSNs, later
// iMIP and imports) ends here, and resolution always goes through resolveRecipient().
// After the commit, onStored (incoming iMIP) sees what was stored; it never fails a delivery.
import type { AccountService, Resolution } from '../services/account.service.js';
import type { MailStoreService } from '../services/mail-store.service.js';
import type { QueueService } from '../services/queue.service.js';
import type { TraceService } from '../services/trace.service.js';
import type { Store } from '../store/store.js';
import { parseMessageMetadata, type MessageMetadata, type MimePart } from '../mime/message-metadata.js';
import { buildSearchText, type SearchText } from '../mime/search-text.js';
import { withReturnPath } from './prepare-message.js';

export interface InboundMessage {
  queueId: string;
  /** Envelope sender, '' for the null reverse-path. */
  sender: string;
  /** Normalised envelope recipients (already accepted at RCPT time). */
  recipients: string[];
  /** The message as it leaves this hop (CRLF, trace headers added). */
  raw: Buffer;
  /** Submitting account, when authenticated. */
  accountId?: number | null;
  /** This message is a DSN: never bounce it. */
  isBounce?: boolean;
  /** Resolutions already made for these recipients moments ago (at RCPT time); others are resolved here. */
  resolved?: Map<string, Resolution>;
  /** Deliver local copies to this role mailbox instead of INBOX (e.g. 'Junk'). */
  folderRole?: string | null;
}

export interface DeliveryFailure { recipient: string; status: string; diagnostic: string }

export interface DeliveryResult {
  stored: Array<{ recipient: string; accountId: number; mailboxId: number; uid: number }>;
  queued: string[];
  failed: DeliveryFailure[];
}

/**
 * Called with recipients that failed permanently after the message was accepted (for a DSN).
 * `result` tells whether anything was accepted at all (if not, the caller rejects the message).
 */
export type FailureHandler = (msg: InboundMessage, failures: DeliveryFailure[], result: DeliveryResult) => Promise<void>;

/** Called after local copies were committed, with the bytes as stored (incoming iMIP). Must not throw. */
export type StoredHandler = (msg: InboundMessage, result: DeliveryResult, raw: Buffer, metadata: MessageMetadata) => Promise<void>;

export class DeliveryService {
  onFailures: FailureHandler | null = null;
  onStored: StoredHandler | null = null;

  constructor(
    private readonly store: Store,
    private readonly accounts: AccountService,
    private readonly mailStore: MailStoreService,
    private readonly queue: QueueService,
    private readonly trace: TraceService,
  ) {}

  async deliver(msg: InboundMessage): Promise<DeliveryResult> {
    const messageId = extractMessageId(msg.raw);
    // Resolve every recipient; one account reached through several addresses gets one copy.
    const localTargets = new Map<number, string>(); // accountId -> recipient that reached it
    const remote = new Set<string>();
    const result: DeliveryResult = { stored: [], queued: [], failed: [] };
    for (const rcpt of msg.recipients) {
      const r = msg.resolved?.get(rcpt) ?? await this.accounts.resolveRecipient(rcpt);
      if (r.kind === 'remote') remote.add(rcpt);
      else if (r.kind === 'local') {
        for (const id of r.accountIds) if (!localTargets.has(id)) localTargets.set(id, rcpt);
        for (const f of r.forwards) remote.add(f);
        if (!r.accountIds.length && !r.forwards.length) {
          result.failed.push({ recipient: rcpt, status: '5.1.1', diagnostic: 'address has no members' });
        }
      } else {
        result.failed.push({ recipient: rcpt, status: '5.1.1', diagnostic: 'no such user' });
      }
    }

    const localRaw = localTargets.size ? withReturnPath(msg.raw, msg.sender) : null;
    const metadata = localRaw ? parseMessageMetadata(localRaw) : null;
    // Search text once per message (not per recipient, not at the first SEARCH); bounded by MAX_*_CHARS.
    const search = localRaw && metadata ? searchTextOf(localRaw, metadata.root) : null;
    // Bytes reach the disk before any row that points at them is committed.
    const [localHash, remoteHash] = await Promise.all([
      localRaw ? this.store.blobs.put(localRaw) : null,
      remote.size ? this.store.blobs.put(msg.raw) : null,
    ]);

    // Accounts in id order: every transaction locks mailbox and account rows in the same order,
    // so concurrent deliveries to overlapping recipients cannot deadlock on PostgreSQL.
    const targets = [...localTargets].sort((a, b) => a[0] - b[0]);
    const resolveFailures = result.failed;
    const outcome = await this.store.write(async (ctx) => {
      // Built inside the transaction: a retried transaction starts again from scratch.
      const stored: DeliveryResult['stored'] = [];
      const failed: DeliveryFailure[] = [];
      const now = Date.now();
      for (const [accountId, rcpt] of targets) {
        const quota = await this.mailStore.checkQuota(accountId, localRaw!.length, ctx.em);
        if (!quota.ok) {
          failed.push({ recipient: rcpt, status: '5.2.2', diagnostic: quota.reason });
          continue;
        }
        const box = await this.targetMailbox(ctx.em, accountId, msg.folderRole ?? null);
        const { uid } = await this.mailStore.append(ctx, {
          accountId, mailboxId: box, blobHash: localHash!, size: localRaw!.length, metadata: metadata!, internalDate: now,
          queueId: msg.queueId, search,
        });
        stored.push({ recipient: rcpt, accountId, mailboxId: box, uid });
      }
      if (remote.size) {
        await this.queue.enqueue(ctx, {
          queueId: msg.queueId, sender: msg.sender, recipients: [...remote], blobHash: remoteHash!, size: msg.raw.length,
          messageId, accountId: msg.accountId ?? null, isBounce: msg.isBounce ?? false,
        });
      }
      return { stored, failed };
    });
    result.stored = outcome.stored;
    result.failed = [...resolveFailures, ...outcome.failed];
    result.queued = [...remote];

    for (const s of result.stored) {
      this.trace.record('delivery.local.stored', { queueId: msg.queueId, messageId, sender: msg.sender, recipient: s.recipient,
        accountId: s.accountId, mailboxId: s.mailboxId, uid: s.uid, size: localRaw!.length });
    }
    for (const r of result.queued) {
      this.trace.record('queue.message.queued', { queueId: msg.queueId, messageId, sender: msg.sender, recipient: r, size: msg.raw.length });
    }
    for (const f of result.failed) {
      this.trace.record('delivery.local.failed', { queueId: msg.queueId, messageId, sender: msg.sender, recipient: f.recipient,
        status: f.status, reason: f.diagnostic });
    }
    if (result.failed.length && msg.sender && !msg.isBounce && this.onFailures) await this.onFailures(msg, result.failed, result);
    if (result.stored.length && this.onStored && !msg.isBounce) await this.onStored(msg, result, localRaw!, metadata!).catch(() => undefined);
    return result;
  }

  private async targetMailbox(em: import('typeorm').EntityManager, accountId: number, role: string | null): Promise<number> {
    if (role) {
      const boxes = await this.mailStore.listMailboxes(accountId);
      const m = boxes.find((b) => b.specialUse === role);
      if (m) return m.id;
    }
    return this.mailStore.inboxId(accountId, em);
  }
}

/** The Message-ID of the top-level header block, for trace (cheap scan, no MIME parse). */
export function extractMessageId(raw: Buffer): string | null {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end === -1 ? Math.min(raw.length, 65536) : end).toString('latin1');
  const m = /^message-id:[ \t]*(.*(?:\r\n[ \t].*)*)/im.exec(head);
  return m ? m[1]!.replace(/\r\n[ \t]/g, ' ').trim().slice(0, 998) || null : null;
}

/** The search text of a message, or null (then the first text SEARCH computes it) if it cannot be built. */
function searchTextOf(raw: Buffer, root: MimePart): SearchText | null {
  try {
    return buildSearchText(raw, root);
  } catch {
    return null;
  }
}
