// Where mail for a domain goes: the ordered list of hosts (and their addresses) to try, per
// RFC 5321 §5.1 — MX records by preference, equal preferences shuffled, the domain itself as
// an implicit MX when it has no MX records, and a null MX ("." , RFC 7505) as a permanent
// failure. Uses its own node:dns Resolver so the servers come from config.delivery.dnsServers.
// Must not connect anywhere or throw for DNS answers: every outcome is a typed result.
// BUGS: no DNSSEC/DANE (RFC 7672), no MTA-STS (RFC 8461); CNAME chains are left to the resolver.
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';

export interface MxHost {
  /** Host name of the MX (or the domain itself for an implicit MX). */
  name: string;
  preference: number;
  /** IPv4 addresses first, then IPv6 (see resolveAddresses). */
  addresses: string[];
}

export type MxResolution =
  | { kind: 'hosts'; hosts: MxHost[] }
  /** Retrying later may help (SERVFAIL, timeout): RFC 3463 status 4.4.3. */
  | { kind: 'temporary'; status: string; reason: string }
  /** The domain cannot receive mail (NXDOMAIN, null MX, no address for any MX). */
  | { kind: 'permanent'; status: string; reason: string };

export interface MxResolverOptions {
  /** "ip" or "ip:port" ("[v6]:port"); empty = the system's resolvers. */
  servers: string[];
  timeoutMs: number;
}

/** Node's resolver error codes for "this name does not exist" / "it has no record of this type". */
const NOT_FOUND = new Set(['ENOTFOUND', 'ENODATA', 'ENONAME']);

export class MxResolver {
  private readonly resolver: Resolver;

  constructor(o: MxResolverOptions) {
    // tries: 2 keeps a lost UDP packet from deferring a whole domain; the timeout is per try.
    this.resolver = new Resolver({ timeout: Math.max(100, Math.floor(o.timeoutMs / 2)), tries: 2 });
    if (o.servers.length) this.resolver.setServers(o.servers);
  }

  async resolve(domain: string): Promise<MxResolution> {
    let records: Array<{ exchange: string; priority: number }>;
    try {
      records = await this.resolver.resolveMx(domain);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (code === 'ENOTFOUND' || code === 'ENONAME') {
        return { kind: 'permanent', status: '5.1.2', reason: `Host or domain name not found: ${domain} (NXDOMAIN)` };
      }
      if (code !== 'ENODATA') return { kind: 'temporary', status: '4.4.3', reason: `DNS lookup of MX for ${domain} failed: ${code || (e as Error).message}` };
      records = []; // the name exists but has no MX: implicit MX below
    }
    // RFC 7505 §3: a single MX with an empty exchange ("." on the wire) says "no mail here".
    if (records.some((r) => r.exchange === '' || r.exchange === '.')) {
      return { kind: 'permanent', status: '5.1.10', reason: `Domain ${domain} does not accept mail (null MX)` };
    }
    const ordered = records.length ? orderByPreference(records) : [{ exchange: domain, priority: 0 }];
    const hosts: MxHost[] = [];
    let tempError: string | null = null;
    for (const r of ordered) {
      const name = r.exchange.replace(/\.$/, '').toLowerCase();
      const found = await this.resolveAddresses(name);
      if (found.kind === 'temporary') tempError ??= found.reason;
      else if (found.addresses.length) hosts.push({ name, preference: r.priority, addresses: found.addresses });
    }
    if (hosts.length) return { kind: 'hosts', hosts };
    // A temporary lookup failure for any MX means we do not know yet that nothing is reachable.
    if (tempError) return { kind: 'temporary', status: '4.4.3', reason: tempError };
    return { kind: 'permanent', status: '5.4.4', reason: `No address found for any mail exchanger of ${domain}` };
  }

  /**
   * A and AAAA of one host. IPv4 goes first: many hosts have an IPv6 address but no working
   * IPv6 route, and a failed connect just moves on to the next address anyway.
   */
  private async resolveAddresses(name: string): Promise<{ kind: 'ok'; addresses: string[] } | { kind: 'temporary'; reason: string }> {
    if (isIP(name)) return { kind: 'ok', addresses: [name] };
    const results = await Promise.allSettled([this.resolver.resolve4(name), this.resolver.resolve6(name)]);
    const addresses: string[] = [];
    let temp: string | null = null;
    for (const r of results) {
      if (r.status === 'fulfilled') addresses.push(...r.value);
      else {
        const code = (r.reason as NodeJS.ErrnoException).code ?? '';
        if (!NOT_FOUND.has(code)) temp ??= `DNS lookup of ${name} failed: ${code || (r.reason as Error).message}`;
      }
    }
    if (!addresses.length && temp) return { kind: 'temporary', reason: temp };
    return { kind: 'ok', addresses };
  }
}

/** RFC 5321 §5.1: lowest preference first; hosts of equal preference in random order (load spreading). */
function orderByPreference<T extends { priority: number }>(records: T[]): T[] {
  const shuffled = records.map((r) => ({ r, k: Math.random() }));
  return shuffled.sort((a, b) => a.r.priority - b.r.priority || a.k - b.k).map((x) => x.r);
}
