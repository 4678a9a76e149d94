// Inbound sender authentication with mailauth 4: SPF (RFC 7208), DKIM (RFC 6376), ARC
// verification (RFC 8617) and DMARC (RFC 7489) with the sender domain's policy applied —
// p=reject → 550, p=quarantine → Junk, p=none → tag — honouring pct (§6.6.4: a reject not
// sampled is treated as quarantine). Adds Received-SPF and Authentication-Results (RFC 8601).
// Mail from outside claiming one of our own domains (From or envelope) without DMARC-aligned
// SPF/DKIM is rejected. Skips authenticated submissions and trusted networks.
// Must not decide on DNS errors alone (onDnsError decides). Sealing on forwarding is in
// src/delivery/arc.ts. BUGS: a
// DMARC failure is not overridden by a trusted ARC chain (mailing lists with p=reject senders).
import { authenticate } from 'mailauth';
import type { AccountService } from '../../services/account.service.js';
import type { PolicyResolver } from '../dns.js';
import type { FilterStep, MessageFacts } from '../pipeline.js';
import type { PolicyConfig } from '../policy-config.js';
import { ACCEPT, reject, tempfail, type Verdict } from '../verdict.js';

export interface SenderAuthDeps {
  cfg: PolicyConfig['senderAuth'];
  hostname: string;
  resolver: PolicyResolver;
  accounts: Pick<AccountService, 'isLocalDomain'>;
  /** For tests: replaces Math.random() in pct sampling. */
  random?: () => number;
}

export function senderAuthStep(d: SenderAuthDeps): FilterStep {
  const random = d.random ?? Math.random;
  return {
    name: 'sender-auth',
    timeoutMs: d.cfg.timeoutMs,
    async run(facts: MessageFacts): Promise<Verdict> {
      if (facts.accountId !== null || facts.trusted) return ACCEPT;
      const res = await authenticate(facts.raw, {
        ip: facts.remoteAddress.replace(/^::ffff:/i, ''), helo: facts.heloName, sender: facts.sender, mta: d.hostname,
        resolver: d.resolver, disableBimi: true,
      });
      const headers = [res.headers];
      const spf = res.spf ? res.spf.status.result : 'none';
      const dkimPass = res.dkim.results.filter((r) => r.status.result === 'pass');
      const dkim = dkimPass.length ? 'pass' : res.dkim.results.length ? res.dkim.results[0]!.status.result : 'none';
      const dmarc = res.dmarc ? res.dmarc.status.result : 'none';
      const arc = res.arc ? res.arc.status.result : 'none';
      const summary = `spf=${spf} dkim=${dkim} dmarc=${dmarc} arc=${arc}`;

      if (d.cfg.rejectForgedLocal) {
        const claimed = new Set<string>();
        for (const a of res.dkim.headerFrom ?? []) claimed.add(domainOf(a));
        if (facts.sender) claimed.add(domainOf(facts.sender));
        for (const dom of claimed) {
          if (!dom || !(await d.accounts.isLocalDomain(dom))) continue;
          const aligned = dmarc === 'pass'
            || dkimPass.some((r) => sameOrSub(r.signingDomain ?? '', dom))
            || (spf === 'pass' && domainOf(facts.sender) === dom && (res.dkim.headerFrom ?? []).every((a) => domainOf(a) === dom));
          if (!aligned) {
            return reject(550, '5.7.1', `Sender domain ${dom} is ours: mail from it must be authenticated`,
              `forged local domain ${dom} (${summary})`);
          }
        }
      }

      const dnsTrouble = [spf, dmarc].some((r) => r === 'temperror' || r === 'temperr');
      if (dnsTrouble && d.cfg.onDnsError === 'tempfail') {
        return tempfail(451, '4.4.3', 'Temporary DNS failure while checking the sender, try again later', `dns temperror (${summary})`);
      }

      if (res.dmarc && dmarc === 'fail' && d.cfg.enforceDmarc) {
        const domain = res.dmarc.domain;
        const policy = (res.dmarc.policy || 'none').toLowerCase();
        const pct = typeof res.dmarc.pct === 'number' ? res.dmarc.pct : 100;
        const sampled = random() * 100 < pct;
        const effective = policy === 'reject' ? (sampled ? 'reject' : 'quarantine') : policy === 'quarantine' && sampled ? 'quarantine' : 'none';
        if (effective === 'reject') {
          return reject(550, '5.7.1', `Message rejected: DMARC policy of ${domain} (p=reject)`, `dmarc fail p=reject pct=${pct} (${summary})`);
        }
        if (effective === 'quarantine') {
          return { action: 'junk', headers, reason: `dmarc fail p=${policy} pct=${pct}${sampled ? '' : ' (not sampled)'} (${summary})` };
        }
      }
      return { action: 'tag', headers, reason: summary + (dnsTrouble ? ' (dns temperror, accepted)' : '') };
    },
  };
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

function sameOrSub(signing: string, domain: string): boolean {
  const s = signing.toLowerCase();
  return s === domain || s.endsWith(`.${domain}`) || domain.endsWith(`.${s}`);
}
