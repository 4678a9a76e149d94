// The policy composition root for one instance: builds the resolver, the ordered filter steps
// (MAIL stage: DNSBL/RHSBL; DATA stage: sender authentication, attachments, ClamAV,
// SpamAssassin with sender lists), greylisting, shared rate limits, sender lists and the
// quarantine from the `policy` config, and traces every verdict as policy.step.<action>.
// Must not talk SMTP (src/policy/smtp-policy.ts does) and must not hold per-session state.
import type { Config } from '../config/config.js';
import type { DeliveryService } from '../delivery/delivery.service.js';
import type { Logger } from '../observability/logger.js';
import type { AccountService } from '../services/account.service.js';
import type { TraceService } from '../services/trace.service.js';
import type { Store } from '../store/store.js';
import { createPolicyResolver, type PolicyResolver } from './dns.js';
import { Greylist } from './greylist.js';
import type { SecurityGuard } from './guard.js';
import type { FilterStep, PipelineResult } from './pipeline.js';
import { QuarantineService } from './quarantine.service.js';
import { RateLimiter } from './rate-limit.js';
import { SenderLists } from './sender-lists.js';
import { dnsblStep } from './steps/05-dnsbl.step.js';
import { senderAuthStep } from './steps/10-sender-auth.step.js';
import { attachmentsStep } from './steps/20-attachments.step.js';
import { clamavStep } from './steps/30-clamav.step.js';
import { spamStep } from './steps/40-spamassassin.step.js';

export interface PolicyServiceDeps {
  store: Store;
  config: Config;
  accounts: AccountService;
  delivery: DeliveryService;
  trace: TraceService;
  log: Logger;
  guard: SecurityGuard;
}

export class PolicyService {
  readonly resolver: PolicyResolver;
  readonly rates: RateLimiter;
  readonly greylist: Greylist;
  readonly lists: SenderLists;
  readonly quarantine: QuarantineService;
  /** Run at MAIL FROM (the client and the envelope sender are known). */
  readonly mailSteps: FilterStep[];
  /** Run after DATA, in this order (cheap and decisive first, the daemons last). */
  readonly dataSteps: FilterStep[];
  readonly log: Logger;

  constructor(readonly d: PolicyServiceDeps) {
    const p = d.config.policy;
    this.log = d.log.child({ area: 'policy' });
    const servers = p.dnsServers.length ? p.dnsServers : d.config.delivery.dnsServers;
    this.resolver = createPolicyResolver(servers, p.dnsTimeoutMs, p.dnsCache);
    this.rates = new RateLimiter(d.store);
    this.greylist = new Greylist(d.store, p.greylist);
    this.lists = new SenderLists(d.store);
    this.quarantine = new QuarantineService(d.store, d.delivery, d.trace);
    this.mailSteps = p.enabled && p.dnsbl.enabled ? [dnsblStep(p.dnsbl, this.resolver, this.log)] : [];
    this.dataSteps = !p.enabled ? [] : [
      ...(p.senderAuth.enabled ? [senderAuthStep({ cfg: p.senderAuth, arc: p.arc, hostname: d.config.hostname, resolver: this.resolver, accounts: d.accounts })] : []),
      ...(p.attachments.enabled ? [attachmentsStep(p.attachments)] : []),
      ...(p.clamav.enabled ? [clamavStep(p.clamav)] : []),
      spamStep(p.spamassassin, this.lists),
    ];
  }

  private pruneTimer: NodeJS.Timeout | null = null;

  /**
   * In a server process: keep the ban cache fresh; prune greylist entries and idle buckets and
   * expire quarantined messages past their retention hourly (and the quarantine once at start).
   */
  start(): void {
    this.d.guard.start();
    if (this.pruneTimer) return;
    const expire = () => this.quarantine.sweep(this.config.quarantine.retentionDays).then((n) => {
      if (n) this.log.info({ event: 'policy.quarantine.expired', count: n, retentionDays: this.config.quarantine.retentionDays }, 'quarantine expired');
    });
    this.pruneTimer = setInterval(() => {
      void Promise.all([this.greylist.prune(), this.rates.prune(), expire()])
        .catch((e) => this.log.warn({ event: 'policy.prune.failed', err: (e as Error).message }, 'prune failed'));
    }, 3600_000);
    this.pruneTimer.unref();
    void expire().catch((e) => this.log.warn({ event: 'policy.prune.failed', err: (e as Error).message }, 'quarantine expiry failed'));
  }

  stop(): void {
    this.d.guard.stop();
    for (const s of [...this.mailSteps, ...this.dataSteps]) s.close?.();
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.pruneTimer = null;
  }

  get config() {
    return this.d.config.policy;
  }

  get guard(): SecurityGuard {
    return this.d.guard;
  }

  /** One trace line per step that said something (anything but a plain accept) or failed. */
  traceResult(queueId: string, stage: 'mail' | 'data', r: PipelineResult, extra: Record<string, unknown> = {}): void {
    for (const s of r.steps) {
      const v = s.verdict;
      if (v.action === 'accept' && !s.failed) continue;
      const reply = v.action === 'reject' || v.action === 'tempfail' ? `${v.code} ${v.enhanced} ${v.text}` : undefined;
      if (s.failed) this.log.warn({ event: 'policy.step.failed', queueId, step: s.step, err: s.failed, outcome: v.action }, `${s.step} failed`);
      this.d.trace.record(`policy.step.${v.action}`, {
        queueId, stage, step: s.step, reason: 'reason' in v ? v.reason : `failed: ${s.failed}`, ms: s.ms,
        ...(s.failed ? { failed: s.failed } : {}), ...(reply ? { reply } : {}), ...extra,
      });
    }
  }
}
