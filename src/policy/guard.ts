// The connection guard shared by every listener: trusted networks, per-listener access lists,
// temporary IP bans (brute force) kept in the store so all protocols and nodes enforce them,
// the per-IP connection rate and the directory-harvest counters.
// One-call API for listeners: `await guard.admit(listener, ip)` at connect (or the synchronous
// `guard.isBanned(ip)`, answered from a cache refreshed from the store every BAN_REFRESH_MS).
// Must not block on the store in isBanned(); must never ban a trusted network (like fail2ban's
// ignoreip). BUGS: failure counts, connection rate and harvest counters are per node (bans
// themselves are shared); IPv6 clients are banned per address, not per /64.
import { LessThan, MoreThan } from 'typeorm';
import { BanEntity } from '../../schemas/entities/index.js';
import type { Logger } from '../observability/logger.js';
import type { Store } from '../store/store.js';
import { CidrList } from './cidr.js';
import type { PolicyConfig } from './policy-config.js';

/** How stale the ban cache may get before a connect re-reads the store. */
export const BAN_REFRESH_MS = 1000;
/** Bound on the in-memory per-IP tables (connection rate, harvest). */
const MAX_TRACKED_IPS = 100_000;

export type Admission =
  | { ok: true; trusted: boolean }
  | { ok: false; reason: 'access' | 'banned' | 'rate'; text: string };

export interface HarvestState { unknown: number; since: number }

export class SecurityGuard {
  private readonly trusted: CidrList;
  /** HTTP reverse proxies whose Forwarded / X-Forwarded-For we believe (src/http/forwarded.ts). */
  readonly trustedProxies: CidrList;
  private readonly access = new Map<string, { allow: CidrList; deny: CidrList }>();
  private bans = new Map<string, number>(); // ip -> expiresAt
  private bansReadAt = 0;
  private refreshing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly connBuckets = new Map<string, { tokens: number; at: number }>();
  private readonly harvest = new Map<string, HarvestState>();

  constructor(
    private readonly store: Store,
    readonly policy: PolicyConfig,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.trusted = new CidrList(policy.trustedNetworks);
    this.trustedProxies = new CidrList(policy.trustedProxies ?? []);
    for (const [listener, l] of Object.entries(policy.access ?? {})) {
      this.access.set(listener, { allow: new CidrList(l.allow ?? []), deny: new CidrList(l.deny ?? []) });
    }
  }

  /** Keeps the ban cache fresh in a server process (so isBanned() is never more than ~1 s behind). */
  start(): void {
    if (this.timer) return;
    void this.refreshBans();
    this.timer = setInterval(() => void this.refreshBans(), BAN_REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  isTrusted(ip: string): boolean {
    return this.policy.enabled && this.trusted.contains(ip);
  }

  /** Synchronous ban check from the cache (see start()); triggers a background refresh when stale. */
  isBanned(ip: string): boolean {
    if (!this.policy.enabled) return false;
    if (this.now() - this.bansReadAt > BAN_REFRESH_MS) void this.refreshBans();
    const until = this.bans.get(normalizeIp(ip));
    return until !== undefined && until > this.now();
  }

  /** Access list for this listener: deny wins; a non-empty allow admits only its networks. */
  allowedBy(listener: string, ip: string): boolean {
    if (!this.policy.enabled) return true;
    const l = this.access.get(listener);
    if (!l) return true;
    if (l.deny.contains(ip)) return false;
    return l.allow.empty || l.allow.contains(ip);
  }

  /**
   * Everything a listener checks when a client connects: access list, ban (auth listeners only;
   * the MX stays open to a banned IP), connection rate. Re-reads bans if the cache is stale.
   */
  async admit(listener: string, ip: string, opts: { checkBan: boolean }): Promise<Admission> {
    if (!this.policy.enabled) return { ok: true, trusted: false };
    if (!this.allowedBy(listener, ip)) return { ok: false, reason: 'access', text: 'Access from your network is not allowed' };
    const trusted = this.trusted.contains(ip);
    if (opts.checkBan && !trusted) {
      if (this.now() - this.bansReadAt > BAN_REFRESH_MS) await this.refreshBans();
      if (this.isBanned(ip)) return { ok: false, reason: 'banned', text: 'Too many failed logins from your address, try again later' };
    }
    if (!trusted && !this.takeConnection(ip)) {
      return { ok: false, reason: 'rate', text: 'Too many connections from your address, slow down' };
    }
    return { ok: true, trusted };
  }

  private takeConnection(ip: string): boolean {
    const perMinute = this.policy.rateLimits.enabled ? this.policy.rateLimits.connectionsPerMinutePerIp : 0;
    if (!perMinute) return true;
    const now = this.now();
    const b = this.connBuckets.get(ip) ?? { tokens: perMinute, at: now };
    b.tokens = Math.min(perMinute, b.tokens + ((now - b.at) * perMinute) / 60_000);
    b.at = now;
    bound(this.connBuckets);
    this.connBuckets.set(ip, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  // ---- bans -----------------------------------------------------------------------------

  async refreshBans(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const rows = await this.store.em.find(BanEntity, { where: { expiresAt: MoreThan(this.now()) }, select: { ip: true, expiresAt: true } });
        this.bans = new Map(rows.map((r) => [r.ip, r.expiresAt]));
        this.bansReadAt = this.now();
      } catch (e) {
        this.log.warn({ event: 'security.ban.refresh_failed', err: (e as Error).message }, 'cannot read bans');
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  /** Bans `ip` until now + banMinutes (extends an existing ban). Trusted networks are never banned. */
  async ban(ip: string, reason: string, failures = 0, minutes = this.policy.bruteForce.banMinutes): Promise<BanEntity | null> {
    const key = normalizeIp(ip);
    if (this.trusted.contains(key)) return null;
    const now = this.now();
    const row: BanEntity = Object.assign(new BanEntity(), { ip: key, reason: reason.slice(0, 255), failures, createdAt: now, expiresAt: now + minutes * 60_000 });
    await this.store.write(async ({ em }) => {
      await em.delete(BanEntity, { ip: key });
      await em.insert(BanEntity, row);
    });
    this.bans.set(key, row.expiresAt);
    this.log.warn({ event: 'security.ban.added', ip: key, reason, failures, until: new Date(row.expiresAt).toISOString() }, 'IP banned');
    return row;
  }

  async unban(ip: string): Promise<boolean> {
    const key = normalizeIp(ip);
    const r = await this.store.write(({ em }) => em.delete(BanEntity, { ip: key }));
    this.bans.delete(key);
    if (r.affected) this.log.info({ event: 'security.ban.removed', ip: key }, 'IP unbanned');
    return Boolean(r.affected);
  }

  async listBans(): Promise<BanEntity[]> {
    await this.store.write(({ em }) => em.delete(BanEntity, { expiresAt: LessThan(this.now()) }));
    return this.store.em.find(BanEntity, { order: { expiresAt: 'ASC' } });
  }

  /** AuthThrottle failure listener: ban the IP once it reaches banAfterFailures. */
  readonly onAuthFailure = (ip: string, user: string, ipFailures: number): void => {
    const bf = this.policy.bruteForce;
    if (!this.policy.enabled || !bf.enabled || ipFailures < bf.banAfterFailures || this.isTrusted(ip)) return;
    if (this.isBanned(ip)) return;
    this.bans.set(normalizeIp(ip), this.now() + bf.banMinutes * 60_000); // at once on this node; the row follows
    void this.ban(ip, `${ipFailures} failed logins (last user ${user.slice(0, 100)})`, ipFailures)
      .catch((e) => this.log.error({ event: 'security.ban.failed', ip, err: (e as Error).message }, 'cannot store ban'));
  };

  // ---- directory harvest -----------------------------------------------------------------

  /** The harvest counter of an IP (unknown recipients within windowMinutes). */
  harvestOf(ip: string): HarvestState {
    const now = this.now();
    const h = this.harvest.get(ip);
    if (!h || now - h.since > this.policy.harvest.windowMinutes * 60_000) return { unknown: 0, since: now };
    return h;
  }

  noteUnknownRecipient(ip: string): HarvestState {
    const h = this.harvestOf(ip);
    const next = { unknown: h.unknown + 1, since: h.since };
    bound(this.harvest);
    this.harvest.set(ip, next);
    return next;
  }
}

/** ::ffff:1.2.3.4 (dual-stack sockets) and 1.2.3.4 are the same client. */
export function normalizeIp(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return (m ? m[1]! : ip).toLowerCase();
}

function bound(m: Map<string, unknown>): void {
  if (m.size >= MAX_TRACKED_IPS) m.delete(m.keys().next().value!);
}
