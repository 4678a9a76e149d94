// The outbound queue worker: takes due recipients from the queue (QueueService), sends each
// message once per recipient domain through an OutboundTransport (connectors/smtp by default),
// DKIM-signs what our accounts submitted and our own DSNs (RFC 6376; never outside mail an
// alias forwards), ARC-seals outside mail an alias or group forwards (RFC 8617, arc.ts), records every attempt in the trace, reschedules temporary failures by
// config.delivery.retryMinutes, expires what outlives the queue lifetime, and sends one DSN
// per message (RFC 3464, src/delivery/dsn.ts) once no recipient is pending. Everything lives
// in the DB, so a restart resumes where it stopped; an attempt cut off by a crash is simply
// made again (at-least-once, RFC 5321 §6.1).
// Must not speak SMTP or resolve DNS itself, and must not call DeliveryService inside a
// store transaction (delivery opens its own).
// BUGS: one process per queue: several nodes on one PostgreSQL would attempt the same
// recipients (no lease on claimed rows). No "delayed" DSNs (RFC 3464 Action: delayed) yet.
import addressparser from 'nodemailer/lib/addressparser';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import {
  SmtpOutboundConnector, type OutboundTransport, type RecipientResult,
} from '../../connectors/smtp/smtp-outbound.connector.js';
import type { QueueMessageEntity, QueueRecipientEntity } from '../../schemas/entities/index.js';
import type { App } from '../instance/app.js';
import { domainOf } from '../mail/address.js';
import { arcSealHeaders, forwardingDomain, planArcSeal } from './arc.js';
import { parseStoredReply, sendDsn, type DsnRecipient } from './dsn.js';
import { headerBlockEnd } from './prepare-message.js';

/** How often the queue is polled for due recipients; finished attempts also trigger a poll at once. */
const POLL_MS = 1000;
/** How long stop() waits for attempts in flight before cutting their connections. */
const STOP_GRACE_MS = 10_000;
/** After cutting connections, how long stop() waits for the (deferred) results to be recorded. */
const STOP_ABORT_MS = 2_000;
/** Recipients per SMTP transaction; RFC 5321 §4.5.3.1.8 obliges servers to take at least 100. */
const MAX_RCPTS_PER_TRANSACTION = 100;
/** Due recipients fetched per poll, at most. */
const MAX_DUE_FETCH = 5000;
/** How often messages with no pending recipient but no completion (a crash in between) are finished. */
const RECOVER_EVERY_MS = 5 * 60_000;

interface Job { message: QueueMessageEntity; domain: string; recipients: QueueRecipientEntity[] }

export class OutboundWorker {
  private readonly transport: OutboundTransport;
  private timer: NodeJS.Timeout | null = null;
  /** Attempts (and recovery sweeps) in flight. */
  private readonly active = new Set<Promise<void>>();
  /** queue_recipient ids with an attempt in flight: still 'pending' in the DB, so due() returns them again. */
  private readonly claimed = new Set<number>();
  /** Per message: the completion/DSN step, serialised so two domains finishing together send one DSN. */
  private readonly finishing = new Map<number, Promise<void>>();
  private readonly abort = new AbortController();
  private tickRunning: Promise<void> | null = null;
  private tickAgain = false;
  private stopping = false;
  /** stop() gave up waiting: late results are dropped, the recipients stay pending and are retried after restart. */
  private abandoned = false;
  private lastRecoverAt = 0;

  constructor(private readonly app: App, transport?: OutboundTransport) {
    const d = app.config.delivery;
    this.transport = transport ?? new SmtpOutboundConnector({
      heloName: app.config.hostname, remotePort: d.remotePort, connectTimeoutSeconds: d.connectTimeoutSeconds,
      dnsServers: d.dnsServers, smarthost: d.smarthost,
    });
  }

  start(): void {
    if (this.timer || this.stopping) return;
    this.timer = setInterval(() => this.kick(), POLL_MS);
    this.timer.unref();
    this.kick();
  }

  /** Stops polling and waits (bounded) for attempts in flight; whatever is unfinished stays in the queue. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const settled = () => Promise.allSettled([this.tickRunning, ...this.active]).then(() => true);
    if (await Promise.race([settled(), sleep(STOP_GRACE_MS)])) return;
    this.app.log.warn({ event: 'queue.worker.stop.timeout', inFlight: this.active.size }, 'cutting outbound connections');
    this.abort.abort();
    await Promise.race([settled(), sleep(STOP_ABORT_MS)]);
    this.abandoned = true;
  }

  private kick(): void {
    if (this.stopping) return;
    if (this.tickRunning) {
      this.tickAgain = true;
      return;
    }
    this.tickRunning = this.tick()
      .catch((e) => this.app.log.error({ event: 'queue.worker.error', err: (e as Error).message }, 'queue poll failed'))
      .finally(() => {
        this.tickRunning = null;
        if (this.tickAgain) {
          this.tickAgain = false;
          this.kick();
        }
      });
  }

  private async tick(): Promise<void> {
    if (Date.now() - this.lastRecoverAt >= RECOVER_EVERY_MS) {
      this.lastRecoverAt = Date.now();
      this.track(this.recover());
    }
    const free = this.app.config.delivery.concurrency - this.active.size;
    if (free <= 0) return;
    // Claimed recipients are the oldest due rows, so fetch past them.
    const entries = await this.app.queue.due(Math.min(MAX_DUE_FETCH, this.claimed.size + free * MAX_RCPTS_PER_TRANSACTION));
    const jobs: Job[] = [];
    for (const { message, recipients } of entries) {
      const byDomain = new Map<string, QueueRecipientEntity[]>();
      for (const r of recipients) {
        if (this.claimed.has(r.id)) continue;
        const list = byDomain.get(r.domain) ?? [];
        list.push(r);
        byDomain.set(r.domain, list);
      }
      for (const [domain, list] of byDomain) {
        for (let i = 0; i < list.length; i += MAX_RCPTS_PER_TRANSACTION) {
          jobs.push({ message, domain, recipients: list.slice(i, i + MAX_RCPTS_PER_TRANSACTION) });
        }
      }
    }
    for (const job of jobs.slice(0, free)) {
      if (this.stopping) break;
      for (const r of job.recipients) this.claimed.add(r.id);
      this.track(this.run(job).finally(() => {
        for (const r of job.recipients) this.claimed.delete(r.id);
        this.kick(); // a slot is free, and the finished job may have made more work due
      }));
    }
  }

  private track(p: Promise<void>): void {
    this.active.add(p);
    void p.finally(() => this.active.delete(p));
  }

  private async run(job: Job): Promise<void> {
    try {
      if (Date.now() >= job.message.expiresAt) await this.expire(job);
      else await this.attempt(job);
      if (!this.abandoned) await this.finish(job.message);
    } catch (e) {
      // The recipients stay pending and come back on a later poll.
      this.app.log.error({ event: 'queue.worker.error', queueId: job.message.queueId, err: (e as Error).message }, 'delivery attempt failed');
    }
  }

  private async attempt(job: Job): Promise<void> {
    const { message } = job;
    const recipients = job.recipients.map((r) => r.recipient);
    let results: RecipientResult[];
    try {
      const raw = await this.app.mailStore.getMessageBytes(message.blobHash);
      const signed = isRelayed(message) ? await this.seal(job, raw) : await this.sign(message, raw);
      results = await this.transport.deliver({ domain: job.domain, sender: message.sender, recipients, raw: signed, signal: this.abort.signal });
    } catch (e) {
      // A transport must not throw (see OutboundTransport); a bug or an unreadable blob defers.
      const reply = `4.3.0 ${(e as Error).message}`.slice(0, 1000);
      results = recipients.map((recipient) => ({ recipient, outcome: 'deferred', reply, status: '4.3.0', host: null }));
    }
    if (this.abandoned) return;
    await this.record(job, results);
  }

  /** Stores each recipient's verdict and traces it. Recipients the transport forgot count as deferred. */
  private async record(job: Job, results: RecipientResult[]): Promise<void> {
    const { message } = job;
    const byRecipient = new Map(results.map((r) => [r.recipient, r]));
    for (const r of job.recipients) {
      const res = byRecipient.get(r.recipient)
        ?? { recipient: r.recipient, outcome: 'deferred' as const, reply: 'no verdict from transport', status: '4.3.0', host: null };
      const now = Date.now();
      const attempts = r.attempts + 1;
      const lastReply = storedReply(res);
      const base = { attempts, lastReply, lastHost: res.host?.slice(0, 255) ?? null };
      const trace = {
        queueId: message.queueId, messageId: message.messageIdHeader, sender: message.sender, recipient: r.recipient,
        host: res.host, reply: lastReply, status: res.status, attempt: attempts,
      };
      if (res.outcome === 'delivered') {
        await this.app.queue.updateRecipient(r.id, { ...base, status: 'delivered' });
        this.app.trace.record('queue.attempt.delivered', trace);
      } else if (res.outcome === 'failed') {
        await this.app.queue.updateRecipient(r.id, { ...base, status: 'failed' });
        this.app.trace.record('queue.attempt.failed', trace);
      } else {
        // Never later than the expiry, so the sender hears about an expired message on time.
        const nextAttemptAt = Math.min(now + this.retryDelayMs(attempts), message.expiresAt);
        await this.app.queue.updateRecipient(r.id, { ...base, status: 'pending', nextAttemptAt });
        this.app.trace.record('queue.attempt.deferred', { ...trace, nextAttemptAt });
      }
    }
  }

  /** retryMinutes[attempts-1]; the last value repeats (config.schema.json). */
  private retryDelayMs(attempts: number): number {
    const list = this.app.config.delivery.retryMinutes;
    const minutes = list.length ? list[Math.min(attempts - 1, list.length - 1)]! : 5;
    return Math.round(minutes * 60_000);
  }

  private async expire(job: Job): Promise<void> {
    const { message } = job;
    for (const r of job.recipients) {
      await this.app.queue.updateRecipient(r.id, { status: 'expired' });
      this.app.trace.record('queue.recipient.expired', {
        queueId: message.queueId, messageId: message.messageIdHeader, sender: message.sender, recipient: r.recipient,
        host: r.lastHost, reply: r.lastReply, attempts: r.attempts,
      });
    }
  }

  /**
   * DKIM-signs with the key of the domain in From: when it is ours (DMARC alignment, RFC 7489
   * §3.1), else of the envelope sender's domain when that is ours; otherwise sends as is.
   * A signing error sends the message unsigned rather than not at all.
   * Only what we vouch for is signed: mail submitted by an authenticated local account
   * (accountId set) and our own DSNs. Mail from outside that an alias forwards keeps whatever
   * signatures it came with; ours would make us answer for it (and let a forged local From
   * pass DMARC at the next hop).
   */
  private async sign(message: QueueMessageEntity, raw: Buffer): Promise<Buffer> {
    if (message.accountId === null && !message.isBounce) {
      this.app.log.debug({ event: 'queue.dkim.skipped', queueId: message.queueId, reason: 'not submitted by a local account' }, 'not DKIM-signing relayed mail');
      return raw;
    }
    const candidates = [fromHeaderDomain(raw), message.sender ? domainOf(message.sender) : null];
    for (const name of candidates) {
      if (!name) continue;
      const d = await this.app.accounts.getDomain(name);
      if (!d?.dkimPrivateKey || !d.dkimSelector) continue;
      try {
        const key = { signingDomain: d.name, selector: d.dkimSelector, privateKey: d.dkimPrivateKey, canonicalization: 'relaxed/relaxed' };
        // mailauth 4 signs only what is listed in signatureData; the top-level fields just satisfy its typings.
        const res = await dkimSign(raw, { ...key, signatureData: [key] });
        if (res.errors?.length || !res.signatures.trim()) throw res.errors?.[0] ?? new Error('no signature produced');
        return Buffer.concat([Buffer.from(res.signatures, 'latin1'), raw]);
      } catch (e) {
        this.app.log.warn({ event: 'queue.dkim.failed', queueId: message.queueId, domain: d.name, err: (e as Error).message }, 'DKIM signing failed');
        return raw;
      }
    }
    return raw;
  }

  /**
   * ARC-seals outside mail that an alias or group forwards (arc.ts): the results of our inbound
   * verification, signed with the forwarding domain's current DKIM key. Sealed per attempt
   * (each recipient domain, each retry). Anything that prevents sealing sends the message as is.
   */
  private async seal(job: Job, raw: Buffer): Promise<Buffer> {
    const { message } = job;
    const log = { event: 'queue.arc.skipped', queueId: message.queueId };
    try {
      const decision = planArcSeal(raw, this.app.config.hostname);
      if (!decision.seal) {
        this.app.log.debug({ ...log, reason: decision.reason }, 'not ARC-sealing forwarded mail');
        return raw;
      }
      const d = await forwardingDomain(this.app.store.em, job.recipients.map((r) => r.recipient), raw);
      if (!d?.dkimPrivateKey || !d.dkimSelector) {
        this.app.log.debug({ ...log, reason: 'no forwarding domain with a DKIM key' }, 'not ARC-sealing forwarded mail');
        return raw;
      }
      const { plan } = decision;
      const headers = await arcSealHeaders(raw, plan, { signingDomain: d.name, selector: d.dkimSelector, privateKey: d.dkimPrivateKey });
      this.app.log.debug({ event: 'queue.arc.sealed', queueId: message.queueId, domain: d.name, i: plan.instance, cv: plan.cv }, 'ARC-sealed forwarded mail');
      return Buffer.concat([headers, raw]);
    } catch (e) {
      this.app.log.warn({ event: 'queue.arc.failed', queueId: message.queueId, err: (e as Error).message }, 'ARC sealing failed');
      return raw;
    }
  }

  /** Completion and DSN, one at a time per message. */
  private finish(message: QueueMessageEntity): Promise<void> {
    const prev = this.finishing.get(message.id) ?? Promise.resolve();
    const next = prev.then(() => this.finishNow(message.queueId));
    this.finishing.set(message.id, next);
    void next.catch(() => undefined).finally(() => {
      if (this.finishing.get(message.id) === next) this.finishing.delete(message.id);
    });
    return next;
  }

  /**
   * When no recipient is pending: send the DSN first, then mark the message complete. A crash
   * in between leaves it incomplete, and recover() sends the DSN again — a duplicate notice
   * rather than a lost one.
   */
  private async finishNow(queueId: string): Promise<void> {
    const entry = await this.app.queue.get(queueId);
    if (!entry || entry.message.completedAt || entry.recipients.some((r) => r.status === 'pending')) return;
    const m = entry.message;
    const failed = entry.recipients.filter((r) => r.status === 'failed' || r.status === 'expired');
    let dsnQueueId: string | null = null;
    if (failed.length && m.sender && !m.isBounce) {
      const original = await this.app.mailStore.getMessageBytes(m.blobHash).catch(() => null);
      dsnQueueId = await sendDsn(this.app, {
        originalQueueId: m.queueId, originalSender: m.sender, originalIsBounce: m.isBounce, arrivalDate: m.createdAt,
        original, messageId: m.messageIdHeader, recipients: failed.map((r) => dsnRecipient(r, m)),
      });
    }
    const done = await this.app.store.write((ctx) => this.app.queue.completeIfDone(ctx, m.id));
    if (done) {
      this.app.trace.record('queue.message.completed', {
        queueId: m.queueId, messageId: m.messageIdHeader, sender: m.sender,
        delivered: entry.recipients.filter((r) => r.status === 'delivered').length, failed: done.length, dsnQueueId,
      });
    }
  }

  /** Finishes messages whose last recipient became final but which were never completed (crash in between). */
  private async recover(): Promise<void> {
    const entries = await this.app.queue.list({ limit: 1000 });
    for (const { message, recipients } of entries) {
      if (this.stopping) return;
      if (recipients.length && !recipients.some((r) => r.status === 'pending')) await this.finish(message).catch(() => undefined);
    }
  }
}

/**
 * What the queue keeps as lastReply: the remote reply as received ("550 5.1.1 ..."), or, when
 * there was none (DNS, connection refused), our own text prefixed with its status ("4.4.1 ...")
 * so the DSN can tell the two apart (dsn.ts parseStoredReply).
 */
function storedReply(r: RecipientResult): string {
  return (/^[245]\d\d(?:[ -]|$)/.test(r.reply) ? r.reply : `${r.status} ${r.reply}`).slice(0, 1000);
}

function dsnRecipient(r: QueueRecipientEntity, m: QueueMessageEntity): DsnRecipient {
  const expired = r.status === 'expired';
  // An expired recipient keeps its last temporary status (as Postfix does); without one, 4.4.7 "delivery time expired".
  const p = parseStoredReply(r.lastReply, expired ? '4.4.7' : '5.0.0');
  const hours = Math.round(((m.expiresAt - m.createdAt) / 3600_000) * 100) / 100;
  const explanation = expired
    ? `message expired after ${hours} hours in the queue${p.explanation ? `; last error: ${p.explanation}` : ''}`
    : p.explanation;
  return {
    recipient: r.recipient, action: 'failed', status: r.lastReply ? p.status : expired ? '4.4.7' : '5.0.0',
    remoteMta: r.lastHost ? r.lastHost.replace(/\[.*$|:\d+$/, '') : null, smtpReply: p.smtpReply, explanation,
    lastAttemptAt: r.attempts ? r.updatedAt : null,
  };
}

/** Mail from outside on its way on (an alias/group forward): neither submitted by an account nor our DSN. */
function isRelayed(m: QueueMessageEntity): boolean {
  return m.accountId === null && !m.isBounce;
}

/** Domain of the (first) From: address of the top-level header block, if any. */
function fromHeaderDomain(raw: Buffer): string | null {
  const head = raw.subarray(0, headerBlockEnd(raw)).toString('utf8');
  const m = /^from:[ \t]*(.*(?:\r\n[ \t].*)*)/im.exec(head);
  if (!m) return null;
  const list = addressparser(m[1]!.replace(/\r\n[ \t]/g, ' '), { flatten: true });
  const first = list.find((a) => 'address' in a && a.address);
  const addr = first && 'address' in first ? first.address : null;
  return addr && addr.includes('@') ? domainOf(addr).toLowerCase() : null;
}

function sleep(ms: number): Promise<false> {
  return new Promise((resolve) => setTimeout(() => resolve(false), ms).unref());
}
