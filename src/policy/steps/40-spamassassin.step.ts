// Spam filtering: first the recipients' sender allow/deny lists (src/policy/sender-lists.ts:
// every recipient denies → 550; every recipient allows → no scan), then SpamAssassin's spamd
// (src/policy/spamd.client.ts). Score → X-Spam-Score / X-Spam-Status headers; at junkScore
// the message goes to Junk, at rejectScore it is refused with 550 5.7.1.
// Skips authenticated submissions (outbound spam is the rate limits' job) and messages over
// maxSize. spamd down → onFailure: accept (default, a log line and a trace line) or tempfail.
// Must not use spamd's own verdict (its required_score) instead of the configured thresholds.
import addressparser from 'nodemailer/lib/addressparser';
import type { FilterStep, MessageFacts } from '../pipeline.js';
import type { PolicyConfig } from '../policy-config.js';
import type { SenderLists } from '../sender-lists.js';
import { spamdCheck } from '../spamd.client.js';
import { ACCEPT, reject, tempfail, type Verdict } from '../verdict.js';

export function spamStep(cfg: PolicyConfig['spamassassin'], lists: SenderLists | null, check = spamdCheck): FilterStep {
  return {
    name: 'spamassassin',
    get timeoutMs() {
      return cfg.timeoutMs + 1000;
    },
    // Read at failure time, so a reloaded config applies at once.
    get onFailure(): Verdict {
      return cfg.onFailure === 'tempfail' ? tempfail(451, '4.7.1', 'Spam filter unavailable, try again later', 'spamd unavailable') : ACCEPT;
    },
    async run(facts: MessageFacts): Promise<Verdict> {
      if (facts.accountId !== null) return ACCEPT;
      if (lists) {
        const decisions = await lists.decide([facts.sender, ...fromAddresses(facts.raw)], facts.recipients);
        if (decisions.length && decisions.every((x) => x === 'deny')) {
          return reject(550, '5.7.1', 'Message rejected: sender blocked by the recipient', 'sender on deny list');
        }
        if (decisions.length && decisions.every((x) => x === 'allow')) {
          return { action: 'tag', headers: ['X-Spam-Status: No, allowlisted\r\n'], reason: 'sender on allow list' };
        }
      }
      if (!cfg.enabled) return ACCEPT;
      if (facts.raw.length > cfg.maxSize) return { action: 'tag', headers: [], reason: `not scanned: ${facts.raw.length} bytes > maxSize` };
      const r = await check({ socket: cfg.socket, host: cfg.host, port: cfg.port, timeoutMs: cfg.timeoutMs,
        user: facts.recipients.length === 1 ? facts.recipients[0] : undefined }, facts.raw);
      const score = Math.round(r.score * 10) / 10;
      const isSpam = score >= cfg.junkScore;
      const tests = r.symbols.join(',').slice(0, 900);
      const headers = [
        `X-Spam-Score: ${score.toFixed(1)}\r\n`,
        `X-Spam-Status: ${isSpam ? 'Yes' : 'No'}, score=${score.toFixed(1)} required=${cfg.junkScore.toFixed(1)}${tests ? `\r\n\ttests=${tests}` : ''}\r\n`,
      ];
      const reason = `score ${score.toFixed(1)} (${tests || 'no tests'})`.slice(0, 500);
      if (score >= cfg.rejectScore) return reject(550, '5.7.1', `Message rejected as spam (score ${score.toFixed(1)})`, reason);
      if (isSpam) return { action: 'junk', headers, reason };
      return { action: 'tag', headers, reason };
    },
  };
}

function fromAddresses(raw: Buffer): string[] {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end === -1 ? Math.min(raw.length, 65536) : end).toString('utf8');
  const m = /^from:[ \t]*(.*(?:\r\n[ \t].*)*)/im.exec(head);
  if (!m) return [];
  try {
    return addressparser(m[1]!.replace(/\r\n[ \t]/g, ' '), { flatten: true })
      .flatMap((a) => ('address' in a && a.address ? [a.address] : []));
  } catch {
    return [];
  }
}
