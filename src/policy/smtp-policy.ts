// The SMTP side of the security baseline: what the smtp-server hooks in
// src/sessions/smtp/smtp-listener.ts ask at each stage, answered with an SMTP reply or null.
//   connect: access list, ban (submission only: the MX stays open), connection rate;
//   MAIL:    per-IP and per-account message rates (shared buckets), DNSBL/RHSBL (MX);
//   RCPT:    directory-harvest tarpit (delay after N unknown recipients, 421 after M),
//            greylisting (MX, untrusted, unauthenticated);
//   DATA:    recipient rates, then the filter pipeline; the caller maps the outcome to a reply,
//            Junk delivery, quarantine and prepended headers.
// Must not write SMTP itself and must not keep state beyond the session (WeakMap).
// BUGS: the harvest counters are per node; see guard.ts.
import { runPipeline, type MessageFacts, type PipelineResult } from './pipeline.js';
import type { PolicyService } from './policy.service.js';
import type { Verdict } from './verdict.js';

export interface SmtpReply { code: number; enhanced: string; text: string; reason: string }

export interface SmtpClient {
  /** Listener name for access lists: smtp | submission | submissions. */
  listener: string;
  submission: boolean;
  ip: string;
  helo: string;
  accountId: number | null;
  tls: boolean;
}

interface SessionState { trusted: boolean; mailHeaders: string[]; mailJunk: string | null; mailQueueId: string | null }

export type DataOutcome =
  | { kind: 'deliver'; headers: string[]; junk: boolean; result: PipelineResult }
  | { kind: 'refuse'; reply: SmtpReply }
  | { kind: 'quarantine'; step: string; reason: string; headers: string[] };

const RATE_REPLY = (what: string): SmtpReply => ({ code: 451, enhanced: '4.7.1', text: `Rate limit exceeded: too many ${what}, try again later`, reason: `rate limit: ${what}` });

export class SmtpPolicy {
  private readonly sessions = new WeakMap<object, SessionState>();

  constructor(private readonly p: PolicyService) {}

  private state(session: object, ip: string): SessionState {
    let s = this.sessions.get(session);
    if (!s) {
      s = { trusted: this.p.guard.isTrusted(ip), mailHeaders: [], mailJunk: null, mailQueueId: null };
      this.sessions.set(session, s);
    }
    return s;
  }

  isBanned(ip: string): boolean {
    return this.p.guard.isBanned(ip);
  }

  async connect(session: object, c: SmtpClient): Promise<SmtpReply | null> {
    const a = await this.p.guard.admit(c.listener, c.ip, { checkBan: c.submission });
    if (!a.ok) {
      this.p.log.warn({ event: 'policy.connection.refused', listener: c.listener, ip: c.ip, reason: a.reason }, a.text);
      return a.reason === 'access'
        ? { code: 554, enhanced: '5.7.1', text: a.text, reason: 'access list' }
        : { code: 421, enhanced: '4.7.0', text: a.text, reason: a.reason };
    }
    this.state(session, c.ip);
    return null;
  }

  async mailFrom(session: object, c: SmtpClient, queueId: string, sender: string): Promise<SmtpReply | null> {
    const st = this.state(session, c.ip);
    st.mailHeaders = [];
    st.mailJunk = null;
    st.mailQueueId = queueId;
    const cfg = this.p.config;
    if (!cfg.enabled) return null;
    if (!st.trusted && cfg.rateLimits.enabled) {
      const short = await this.p.rates.take([
        { key: `msg:ip:${c.ip}`, perHour: cfg.rateLimits.messagesPerHourPerIp, cost: 1 },
        ...(c.accountId !== null ? [{ key: `msg:acct:${c.accountId}`, perHour: cfg.rateLimits.messagesPerHourPerAccount, cost: 1 }] : []),
      ]);
      if (short) return this.refuse(queueId, 'rate-limit', RATE_REPLY('messages'), { bucket: short.key });
    }
    if (!this.p.mailSteps.length) return null;
    const r = await runPipeline(this.p.mailSteps, this.facts(c, st, queueId, sender, [], Buffer.alloc(0)));
    this.p.traceResult(queueId, 'mail', r, { ip: c.ip });
    st.mailHeaders = r.headers;
    if (r.junk && r.final.action === 'junk') st.mailJunk = r.final.reason;
    return replyOf(r.final);
  }

  /** Delay (ms) before answering any RCPT from this client: the harvest tarpit. */
  rcptDelayMs(session: object, c: SmtpClient): number {
    const h = this.p.config.harvest;
    if (!this.p.config.enabled || !h.enabled || c.submission || this.state(session, c.ip).trusted) return 0;
    const over = this.p.guard.harvestOf(c.ip).unknown - h.delayAfter;
    return over < 0 ? 0 : Math.min(h.maxDelayMs, (over + 1) * h.delayMs);
  }

  /**
   * An unknown local recipient was refused: count it. Returns a 421 once the client has
   * probed disconnectAfter unknown addresses (the connection then closes).
   */
  unknownRecipient(session: object, c: SmtpClient, queueId: string): SmtpReply | null {
    const h = this.p.config.harvest;
    if (!this.p.config.enabled || !h.enabled || c.submission || this.state(session, c.ip).trusted) return null;
    const n = this.p.guard.noteUnknownRecipient(c.ip).unknown;
    if (n < h.disconnectAfter) return null;
    return this.refuse(queueId, 'harvest', { code: 421, enhanced: '4.7.0', text: 'Too many unknown recipients, closing connection',
      reason: `${n} unknown recipients from ${c.ip}` }, { ip: c.ip });
  }

  /** Called first for every RCPT: refuses a client that already crossed the harvest limit. */
  harvestBlocked(session: object, c: SmtpClient, queueId: string): SmtpReply | null {
    const h = this.p.config.harvest;
    if (!this.p.config.enabled || !h.enabled || c.submission || this.state(session, c.ip).trusted) return null;
    const n = this.p.guard.harvestOf(c.ip).unknown;
    if (n < h.disconnectAfter) return null;
    return this.refuse(queueId, 'harvest', { code: 421, enhanced: '4.7.0', text: 'Too many unknown recipients, closing connection',
      reason: `${n} unknown recipients from ${c.ip}` }, { ip: c.ip });
  }

  /** A local recipient the MX accepts: greylisting. */
  async localRecipient(session: object, c: SmtpClient, queueId: string, sender: string, rcpt: string): Promise<SmtpReply | null> {
    const cfg = this.p.config;
    if (!cfg.enabled || !cfg.greylist.enabled || c.submission || c.accountId !== null || this.state(session, c.ip).trusted) return null;
    if (this.p.greylist.skipsDomain(rcpt)) return null;
    const g = await this.p.greylist.check(c.ip, sender, rcpt);
    if (g.pass) {
      if (g.reason === 'retried') this.p.d.trace.record('policy.step.accept', { queueId, stage: 'rcpt', step: 'greylist', recipient: rcpt, reason: 'retried after the delay; client network whitelisted' });
      return null;
    }
    return this.refuse(queueId, 'greylist', { code: 451, enhanced: '4.7.1', text: `Greylisted, please try again in ${g.retryInSeconds} seconds`,
      reason: `greylisted (${g.reason})` }, { recipient: rcpt, stage: 'rcpt' });
  }

  /** After DATA: recipient rates, then the pipeline. */
  async data(session: object, c: SmtpClient, queueId: string, sender: string, recipients: string[], raw: Buffer): Promise<DataOutcome> {
    const st = this.state(session, c.ip);
    const cfg = this.p.config;
    const empty: PipelineResult = { final: { action: 'accept' }, headers: [], junk: false, steps: [] };
    if (!cfg.enabled) return { kind: 'deliver', headers: [], junk: false, result: empty };
    if (!st.trusted && cfg.rateLimits.enabled) {
      const n = recipients.length;
      const short = await this.p.rates.take([
        { key: `rcpt:ip:${c.ip}`, perHour: cfg.rateLimits.recipientsPerHourPerIp, cost: n },
        ...(c.accountId !== null ? [{ key: `rcpt:acct:${c.accountId}`, perHour: cfg.rateLimits.recipientsPerHourPerAccount, cost: n }] : []),
      ]);
      if (short) return { kind: 'refuse', reply: this.refuse(queueId, 'rate-limit', RATE_REPLY('recipients'), { bucket: short.key, recipients: n }) };
    }
    const r = await runPipeline(this.p.dataSteps, this.facts(c, st, queueId, sender, recipients, raw));
    this.p.traceResult(queueId, 'data', r);
    const headers = [...st.mailHeaders, ...r.headers];
    const f = r.final;
    if (f.action === 'reject' || f.action === 'tempfail') return { kind: 'refuse', reply: replyOf(f)! };
    if (f.action === 'quarantine') {
      const step = r.steps[r.steps.length - 1]?.step ?? 'policy';
      return { kind: 'quarantine', step, reason: f.reason, headers };
    }
    return { kind: 'deliver', headers, junk: r.junk || st.mailJunk !== null, result: r };
  }

  /** Holds a message the pipeline quarantined; returns the quarantine id. */
  quarantine(queueId: string, sender: string, recipients: string[], raw: Buffer, step: string, reason: string, accountId: number | null = null): Promise<number> {
    return this.p.quarantine.hold({ queueId, sender, recipients, raw, step, reason, accountId });
  }

  private facts(c: SmtpClient, st: SessionState, queueId: string, sender: string, recipients: string[], raw: Buffer): MessageFacts {
    return { queueId, remoteAddress: c.ip, heloName: c.helo, sender, recipients, raw, accountId: c.accountId, trusted: st.trusted, tls: c.tls };
  }

  private refuse(queueId: string, step: string, reply: SmtpReply, extra: Record<string, unknown> = {}): SmtpReply {
    const action = reply.code >= 500 ? 'reject' : 'tempfail';
    this.p.d.trace.record(`policy.step.${action}`, { queueId, step, reason: reply.reason, reply: `${reply.code} ${reply.enhanced} ${reply.text}`, ...extra });
    return reply;
  }
}

function replyOf(v: Verdict): SmtpReply | null {
  if (v.action === 'reject' || v.action === 'tempfail') return { code: v.code, enhanced: v.enhanced, text: v.text, reason: v.reason };
  return null;
}

/**
 * Prepends policy headers to a message and removes Authentication-Results fields that claim
 * our own authserv-id (RFC 8601 §5: a receiver must not trust them from outside).
 */
export function withPolicyHeaders(raw: Buffer, headers: string[], hostname: string): Buffer {
  let body = raw;
  const end = raw.indexOf('\r\n\r\n');
  if (end !== -1) {
    const head = raw.subarray(0, end + 2).toString('latin1');
    const host = hostname.toLowerCase().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const re = new RegExp(`^Authentication-Results:[ \\t]*${host}[ \\t]*;.*\\r\\n(?:[ \\t].*\\r\\n)*`, 'gim');
    if (re.test(head)) body = Buffer.concat([Buffer.from(head.replace(re, ''), 'latin1'), raw.subarray(end + 2)]);
  }
  if (!headers.length) return body;
  return Buffer.concat([Buffer.from(headers.map((h) => (h.endsWith('\r\n') ? h : `${h}\r\n`)).join(''), 'utf8'), body]);
}
