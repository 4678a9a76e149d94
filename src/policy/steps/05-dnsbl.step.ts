// DNSBL (client IP, RFC 5782 §2.1: reversed octets or nibbles under the zone) and RHSBL
// (envelope sender's domain, §2.2) lookups, run at MAIL FROM. A listing (an A record in
// 127.0.0.0/8) rejects with 554 5.7.1 or sends the message to Junk, per config. Lookups that
// fail or time out let the client through with a log/trace line (fail open), and so do
// 127.255.255.x answers (the lists' "you may not query" codes).
// Skips trusted and authenticated clients. BUGS: every zone's answer is treated alike
// (no per-return-code weighting); the HELO name is not checked.
import net from 'node:net';
import type { Logger } from '../../observability/logger.js';
import { isNxError, type PolicyResolver } from '../dns.js';
import type { FilterStep, MessageFacts } from '../pipeline.js';
import type { PolicyConfig } from '../policy-config.js';
import { ACCEPT, reject, type Verdict } from '../verdict.js';

export function dnsblStep(cfg: PolicyConfig['dnsbl'], resolver: PolicyResolver, log: Logger): FilterStep {
  return {
    name: 'dnsbl',
    timeoutMs: cfg.timeoutMs + 500,
    // A hung lookup must not hold mail: fail open.
    onFailure: { action: 'tag', headers: [], reason: 'dnsbl lookups timed out (fail open)' },
    async run(facts: MessageFacts): Promise<Verdict> {
      if (facts.trusted || facts.accountId !== null) return ACCEPT;
      const ip = facts.remoteAddress.replace(/^::ffff:/i, '');
      const rev = reverseIp(ip);
      const queries: Array<{ name: string; zone: string; what: string }> = [];
      if (rev) for (const zone of cfg.zones) queries.push({ name: `${rev}.${zone}`, zone, what: `client [${ip}]` });
      const domain = facts.sender.includes('@') ? facts.sender.slice(facts.sender.lastIndexOf('@') + 1).toLowerCase() : '';
      if (domain) for (const zone of cfg.domainZones) queries.push({ name: `${domain}.${zone}`, zone, what: `sender domain ${domain}` });
      if (!queries.length) return ACCEPT;
      const errors: string[] = [];
      const answers = await Promise.all(queries.map(async (q) => {
        try {
          const a = (await withTimeout(resolver(q.name, 'A'), cfg.timeoutMs)) as string[];
          const listed = a.filter((x) => x.startsWith('127.') && !x.startsWith('127.255.255.'));
          if (a.length && !listed.length) errors.push(`${q.zone}: refused query (${a.join(',')})`);
          return listed.length ? { ...q, codes: listed } : null;
        } catch (e) {
          if (!isNxError(e)) errors.push(`${q.zone}: ${(e as Error).message}`);
          return null;
        }
      }));
      const hit = answers.find(Boolean);
      if (errors.length) log.warn({ event: 'policy.dnsbl.failed', queueId: facts.queueId, ip, errors }, 'DNSBL lookup failed, failing open');
      if (hit) {
        const reason = `${hit.what} listed in ${hit.zone} (${hit.codes.join(',')})`;
        if (cfg.action === 'junk') return { action: 'junk', headers: [`X-DNSBL: ${hit.zone}\r\n`], reason };
        return reject(554, '5.7.1', `Service unavailable; ${hit.what} blocked using ${hit.zone}`, reason);
      }
      if (errors.length) return { action: 'tag', headers: [], reason: `dnsbl lookup failed (fail open): ${errors.join('; ')}`.slice(0, 500) };
      return ACCEPT;
    },
  };
}

/** 192.0.2.1 → 1.2.0.192; IPv6 → 32 reversed nibbles (RFC 5782 §2.4). */
export function reverseIp(ip: string): string | null {
  if (net.isIPv4(ip)) return ip.split('.').reverse().join('.');
  if (!net.isIPv6(ip)) return null;
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill('0'), ...t];
  if (groups.some((g) => g.includes('.'))) return null; // embedded IPv4 forms: not worth the code
  return groups.map((g) => g.padStart(4, '0')).join('').split('').reverse().join('.');
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e: unknown) => { clearTimeout(t); reject(e as Error); });
  });
}
