// The DNS resolver every policy check uses (SPF, DKIM, DMARC, ARC, DNSBL/RHSBL): a node:dns
// Resolver pointed at policy.dnsServers (else delivery.dnsServers, else the system's), with a
// per-query timeout, shaped like dns.promises.resolve(name, rrtype) as mailauth expects.
// Must not cache (the configured resolver does) and must not fall back to other servers.
// BUGS: node's resolver retries once over UDP and uses TCP only on truncation.
import { promises as dnsPromises } from 'node:dns';

export type PolicyResolver = (name: string, rrtype: string) => Promise<string[] | string[][]>;

export function createPolicyResolver(servers: string[], timeoutMs: number): PolicyResolver {
  const r = new dnsPromises.Resolver({ timeout: timeoutMs, tries: 1 });
  if (servers.length) r.setServers(servers);
  return async (name, rrtype) => {
    const t = rrtype.toUpperCase();
    switch (t) {
      case 'TXT': return r.resolveTxt(name);
      case 'A': return r.resolve4(name);
      case 'AAAA': return r.resolve6(name);
      case 'MX': return (await r.resolveMx(name)) as unknown as string[];
      case 'PTR': return r.resolvePtr(name);
      case 'CNAME': return r.resolveCname(name);
      case 'NS': return r.resolveNs(name);
      default: return r.resolve(name, t) as Promise<string[]>;
    }
  };
}

/** DNS errors that mean "no such record" rather than an outage. */
export function isNxError(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === 'ENOTFOUND' || code === 'ENODATA' || code === 'NXDOMAIN';
}
