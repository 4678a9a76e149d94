// The DNS resolver every policy check uses (SPF, DKIM, DMARC, ARC, DNSBL/RHSBL): a node:dns
// Resolver pointed at policy.dnsServers (else delivery.dnsServers, else the system's), with a
// per-query timeout, shaped like dns.promises.resolve(name, rrtype) as mailauth expects, behind
// a bounded answer cache (PolicyDnsCache). A message costs ~5 lookups (SPF, DKIM key, DMARC,
// DNSBL, RHSBL) and a busy sender's are the same every time, so without the cache each message
// paid a round trip and c-ares' work for each of them.
// Cache rules: answers live for their record TTL where the resolver reports it (A/AAAA), capped
// by maxTtlSeconds; "no such name"/"no data" answers for negativeTtlSeconds (RFC 2308 would use
// the SOA minimum, which node's resolver does not expose); timeouts, SERVFAIL and refusals are
// never cached (the next message asks again). Concurrent lookups of one name share one query.
// Must not fall back to other servers than the configured ones. BUGS: node's resolver reports no
// TTL for TXT/MX/PTR answers, so those live for defaultTtlSeconds (≤ maxTtlSeconds) whatever
// their record says; it retries once over UDP and uses TCP only on truncation.
import { promises as dnsPromises } from 'node:dns';

export type PolicyResolver = (name: string, rrtype: string) => Promise<string[] | string[][]>;

export interface DnsCacheConfig {
  enabled: boolean;
  /** Entries kept at most (least recently used ones go first). */
  maxEntries: number;
  /** Upper bound on any entry's lifetime. */
  maxTtlSeconds: number;
  /** Lifetime of answers whose TTL the resolver does not report (TXT, MX, PTR, …). */
  defaultTtlSeconds: number;
  /** Lifetime of NXDOMAIN / NODATA answers. */
  negativeTtlSeconds: number;
}

export const DEFAULT_DNS_CACHE: DnsCacheConfig = { enabled: true, maxEntries: 10_000, maxTtlSeconds: 3600, defaultTtlSeconds: 300, negativeTtlSeconds: 60 };

type Answer = string[] | string[][];
interface Entry { expires: number; value?: Answer; error?: Error }

/** What a raw lookup returns: the answer and, when known, its TTL in seconds. */
export type RawLookup = (name: string, rrtype: string) => Promise<{ value: Answer; ttl: number | null }>;

export class PolicyDnsCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<Answer>>();
  hits = 0;
  misses = 0;

  constructor(private readonly lookup: RawLookup, private readonly cfg: DnsCacheConfig, private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }

  readonly resolve: PolicyResolver = (name, rrtype) => {
    const key = `${rrtype.toUpperCase()} ${name.toLowerCase().replace(/\.$/, '')}`;
    const e = this.entries.get(key);
    if (e) {
      if (e.expires > this.now()) {
        this.hits++;
        // Most recently used last: Map order is the eviction order.
        this.entries.delete(key);
        this.entries.set(key, e);
        return e.error ? Promise.reject(copyError(e.error)) : Promise.resolve(copyAnswer(e.value!));
      }
      this.entries.delete(key);
    }
    const pending = this.inflight.get(key);
    if (pending) {
      this.hits++;
      return pending.then(copyAnswer, (err: Error) => Promise.reject(copyError(err)));
    }
    this.misses++;
    const p = this.lookup(name, rrtype).then(({ value, ttl }) => {
      const seconds = Math.min(this.cfg.maxTtlSeconds, ttl ?? this.cfg.defaultTtlSeconds);
      if (seconds > 0) this.put(key, { expires: this.now() + seconds * 1000, value });
      return value;
    }, (err: Error) => {
      if (isNxError(err) && this.cfg.negativeTtlSeconds > 0) {
        this.put(key, { expires: this.now() + Math.min(this.cfg.maxTtlSeconds, this.cfg.negativeTtlSeconds) * 1000, error: err });
      }
      throw err;
    }).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p.then(copyAnswer);
  };

  private put(key: string, e: Entry): void {
    this.entries.delete(key);
    while (this.entries.size >= this.cfg.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, e);
  }
}

// Callers get their own copies: mailauth's parsers are free to mutate what they are given.
function copyAnswer(v: Answer): Answer {
  return (v as unknown[]).map((x) => (Array.isArray(x) ? [...x] : x && typeof x === 'object' ? { ...x } : x)) as Answer;
}

// Without a stack: a cached NXDOMAIN is answered several times per message (DNSBL, RHSBL,
// SPF), and capturing a stack trace for each copy was most of what answering it cost.
function copyError(e: Error): Error {
  const c = e as Error & { code?: string; hostname?: string; syscall?: string };
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return Object.assign(new Error(c.message), { code: c.code, hostname: c.hostname, syscall: c.syscall });
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** One uncached lookup through a node:dns Resolver; A/AAAA come with their TTL (the smallest of the set). */
export function resolverLookup(servers: string[], timeoutMs: number): RawLookup {
  const r = new dnsPromises.Resolver({ timeout: timeoutMs, tries: 1 });
  if (servers.length) r.setServers(servers);
  const plain = (value: Answer) => ({ value, ttl: null });
  const withTtl = (rows: Array<{ address: string; ttl: number }>) => ({
    value: rows.map((x) => x.address), ttl: rows.length ? Math.min(...rows.map((x) => x.ttl)) : null,
  });
  return async (name, rrtype) => {
    switch (rrtype.toUpperCase()) {
      case 'TXT': return plain(await r.resolveTxt(name));
      case 'A': return withTtl(await r.resolve4(name, { ttl: true }));
      case 'AAAA': return withTtl(await r.resolve6(name, { ttl: true }));
      case 'MX': return plain((await r.resolveMx(name)) as unknown as string[]);
      case 'PTR': return plain(await r.resolvePtr(name));
      case 'CNAME': return plain(await r.resolveCname(name));
      case 'NS': return plain(await r.resolveNs(name));
      default: return plain(await r.resolve(name, rrtype.toUpperCase()) as string[]);
    }
  };
}

/** The policy resolver: the configured servers, behind the cache unless it is disabled. */
export function createPolicyResolver(servers: string[], timeoutMs: number, cache: DnsCacheConfig | null = DEFAULT_DNS_CACHE): PolicyResolver {
  const lookup = resolverLookup(servers, timeoutMs);
  if (cache?.enabled) return new PolicyDnsCache(lookup, cache).resolve;
  return async (name, rrtype) => (await lookup(name, rrtype)).value;
}

/** DNS errors that mean "no such record" rather than an outage. */
export function isNxError(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === 'ENOTFOUND' || code === 'ENODATA' || code === 'NXDOMAIN';
}
