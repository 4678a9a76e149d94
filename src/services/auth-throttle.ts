// Slows password guessing: after `freeFailures` failures from one IP or against one account,
// each further attempt waits 2^n seconds (capped), for every protocol that shares this
// instance. Counters decay after a quiet period. In memory, per process.
// `onFailure` lets the security guard (src/policy/guard.ts) turn many failures from one IP into
// a ban stored for all protocols and nodes; the delays here stay per IP and per account.
export interface ThrottleOptions { freeFailures: number; maxDelayMs: number; resetAfterMs: number }

interface Entry { failures: number; last: number }

export class AuthThrottle {
  private readonly byKey = new Map<string, Entry>();
  /** Called after each counted failure with the IP's failure count in the current window. */
  onFailure: ((ip: string, user: string, ipFailures: number) => void) | null = null;
  constructor(private readonly opts: ThrottleOptions, private readonly now: () => number = Date.now) {}

  private entry(key: string): Entry | undefined {
    const e = this.byKey.get(key);
    if (e && this.now() - e.last > this.opts.resetAfterMs) {
      this.byKey.delete(key);
      return undefined;
    }
    return e;
  }

  /** How long to hold the next attempt from this ip for this user before answering. */
  delayMs(ip: string, user: string): number {
    const failures = Math.max(this.entry(`ip:${ip}`)?.failures ?? 0, this.entry(`user:${user.toLowerCase()}`)?.failures ?? 0);
    const over = failures - this.opts.freeFailures;
    if (over < 0) return 0;
    return Math.min(this.opts.maxDelayMs, 1000 * 2 ** over);
  }

  failure(ip: string, user: string): void {
    for (const key of [`ip:${ip}`, `user:${user.toLowerCase()}`]) {
      const e = this.entry(key) ?? { failures: 0, last: 0 };
      e.failures++;
      e.last = this.now();
      this.byKey.set(key, e);
      if (this.byKey.size > 100_000) this.byKey.delete(this.byKey.keys().next().value!); // bound memory
    }
    this.onFailure?.(ip, user, this.byKey.get(`ip:${ip}`)?.failures ?? 0);
  }

  success(ip: string, user: string): void {
    this.byKey.delete(`user:${user.toLowerCase()}`);
    const e = this.entry(`ip:${ip}`);
    if (e) e.failures = Math.max(0, e.failures - 1);
  }
}
