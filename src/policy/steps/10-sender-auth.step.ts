// Inbound sender authentication with mailauth 4: SPF (RFC 7208), DKIM (RFC 6376), ARC
// verification (RFC 8617) and DMARC (RFC 7489) with the sender domain's policy applied —
// p=reject → 550, p=quarantine → Junk, p=none → tag — honouring pct (§6.6.4: a reject not
// sampled is treated as quarantine). Adds Received-SPF and Authentication-Results (RFC 8601).
// Mail from outside claiming one of our own domains (From or envelope) without DMARC-aligned
// SPF/DKIM is rejected. Skips authenticated submissions and trusted networks.
// Local policy override (RFC 7489 §6.7, RFC 8617 §7.2): a DMARC failure whose message carries
// a valid ARC chain (arc=pass) sealed last by a domain in policy.arc.trustedSealers (a mailing
// list or forwarder we trust to have checked the original), whose own ARC-Authentication-Results
// say dmarc=pass or an aligned dkim/spf pass, is delivered as if DMARC had passed; the
// Authentication-Results dmarc= entry then carries `policy.dmarc=arc-override` and the sealer.
// Must not decide on DNS errors alone (onDnsError decides), and must not let an override lift
// the forged-local-domain check (our own domains are never vouched for by others). Sealing on
// forwarding is in src/delivery/arc.ts.
import { createRequire } from 'node:module';
import { authenticate } from '../mailauth.js';
import type { AccountService } from '../../services/account.service.js';
import type { PolicyResolver } from '../dns.js';
import type { FilterStep, MessageFacts } from '../pipeline.js';
import type { PolicyConfig } from '../policy-config.js';
import { ACCEPT, reject, tempfail, type Verdict } from '../verdict.js';

export interface SenderAuthDeps {
  cfg: PolicyConfig['senderAuth'];
  /** policy.arc: trustedSealers (read at each message, so a reloaded config applies). */
  arc?: PolicyConfig['arc'];
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
        if (effective !== 'none') {
          const over = arcOverride(res, domain, d.arc?.trustedSealers ?? []);
          if (over) {
            const note = ` policy.dmarc=arc-override (trusted ARC sealer ${over.sealer} i=${over.i}: ${over.why})`;
            const ar = appendToResult(headers[0]!, 'dmarc=fail', note);
            return { action: 'tag', headers: [ar],
              reason: `dmarc fail p=${policy} overridden: arc-override by trusted sealer ${over.sealer} (i=${over.i}, ${over.why}) (${summary})` };
          }
        }
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

type AuthResult = Awaited<ReturnType<typeof authenticate>>;
/** mailauth's DMARC relaxed alignment (organizational domains from the Public Suffix List); untyped module. */
const { getAlignment } = createRequire(import.meta.url)('mailauth/lib/tools.js') as {
  getAlignment: (fromDomain: string, domains: string[], strict?: boolean) => { domain: string } | false;
};
const aligned = (domain: string, from: string) => Boolean(domain) && getAlignment(from, [domain]) !== false;
interface ArcSet { 'arc-seal'?: { parsed?: { d?: { value?: string } } } }
interface AarEntry { result?: string; header?: { i?: string; d?: string; from?: string }; smtp?: { mailfrom?: string } }

/**
 * The trusted ARC chain that vouches for a message failing DMARC, or null: the chain validated
 * (arc=pass), the latest ARC-Seal's d= is a trusted sealer (or a subdomain of one), and that
 * set's ARC-Authentication-Results saw dmarc=pass, or dkim/spf pass aligned with the From domain.
 */
export function arcOverride(res: AuthResult, fromDomain: string, trusted: readonly string[]): { sealer: string; i: number; why: string } | null {
  const arc = res.arc as (AuthResult['arc'] & { chain?: ArcSet[]; i?: number; authenticationResults?: Record<string, unknown> }) | false;
  if (!trusted.length || !arc || arc.status.result !== 'pass' || !arc.chain?.length) return null;
  const sealer = (arc.chain[arc.chain.length - 1]?.['arc-seal']?.parsed?.d?.value ?? '').toLowerCase();
  if (!sealer || !trusted.some((t) => sealer === t.toLowerCase() || sealer.endsWith(`.${t.toLowerCase()}`))) return null;
  const aar = arc.authenticationResults ?? {};
  const from = fromDomain.toLowerCase();
  const dmarc = aar.dmarc as AarEntry | undefined;
  if (dmarc?.result === 'pass' && (!dmarc.header?.from || dmarc.header.from.toLowerCase() === from)) {
    return { sealer, i: arc.i ?? 0, why: 'dmarc=pass' };
  }
  const dkim = (Array.isArray(aar.dkim) ? aar.dkim : []) as AarEntry[];
  const dkimOk = dkim.find((x) => x.result === 'pass' && aligned(x.header?.d ?? domainOf(x.header?.i ?? ''), from));
  if (dkimOk) return { sealer, i: arc.i ?? 0, why: `dkim=pass header.d=${dkimOk.header?.d ?? domainOf(dkimOk.header?.i ?? '')}` };
  const spf = aar.spf as AarEntry | undefined;
  if (spf?.result === 'pass' && spf.smtp?.mailfrom && aligned(domainOf(spf.smtp.mailfrom), from)) {
    return { sealer, i: arc.i ?? 0, why: `spf=pass smtp.mailfrom=${domainOf(spf.smtp.mailfrom)}` };
  }
  return null;
}

/** Appends `text` to the resinfo starting with `result` (e.g. dmarc=fail) in Authentication-Results. */
function appendToResult(fields: string, result: string, text: string): string {
  // At the start of a resinfo (after "authserv-id;" or a previous resinfo's ";"), not inside a comment.
  const m = new RegExp(`;[ \\t]*(?:\\r\\n[ \\t]+)?${result}\\b`).exec(fields);
  if (!m) return fields;
  let end = m.index + m[0].length;
  while (end < fields.length && fields[end] !== ';' && !(fields.startsWith('\r\n', end) && !/[ \t]/.test(fields[end + 2] ?? ''))) end++;
  return fields.slice(0, end) + text + fields.slice(end);
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

function sameOrSub(signing: string, domain: string): boolean {
  const s = signing.toLowerCase();
  return s === domain || s.endsWith(`.${domain}`) || domain.endsWith(`.${s}`);
}
