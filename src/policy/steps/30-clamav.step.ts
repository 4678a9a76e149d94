// Virus scanning through clamd's INSTREAM command over a small pool of IDSESSION connections
// (src/policy/clamd.client.ts ClamdPool). A virus →
// 554 5.7.1 (or quarantine, per config); clamd down or slow → the configured failure mode:
// tempfail 451 4.7.1 (default) or accept with X-Virus-Status: Unscanned.
// Must not report "clean" for an answer it does not understand. BUGS: messages over maxSize
// are delivered unscanned (tagged).
import { ClamdPool, type ClamdResult, type ClamdTarget } from '../clamd.client.js';
import type { FilterStep, MessageFacts } from '../pipeline.js';
import type { PolicyConfig } from '../policy-config.js';
import { reject, tempfail, type Verdict } from '../verdict.js';

export function clamavStep(cfg: PolicyConfig['clamav'], scanWith?: (t: ClamdTarget, d: Buffer) => Promise<ClamdResult>): FilterStep {
  const pool = scanWith ? null : new ClamdPool({ maxConnections: cfg.maxConnections, idleMs: cfg.idleSeconds * 1000 });
  const scan = scanWith ?? ((t: ClamdTarget, d: Buffer) => pool!.scan(t, d));
  // The socket has its own timeout; the pipeline's is a backstop a little later.
  return {
    name: 'clamav',
    close: () => pool?.close(),
    get timeoutMs() {
      return cfg.timeoutMs + 1000;
    },
    // Read at failure time, so a reloaded config applies at once.
    get onFailure(): Verdict {
      return cfg.onFailure === 'accept'
        ? { action: 'tag', headers: ['X-Virus-Status: Unscanned (scanner unavailable)\r\n'], reason: 'clamd unavailable, accepted unscanned' }
        : tempfail(451, '4.7.1', 'Virus scanner unavailable, try again later', 'clamd unavailable');
    },
    // The scan is sent when the pipeline starts: clamd answers a typical message in about a
    // millisecond, about what sender authentication takes, so its answer is usually waiting
    // when this step's turn comes. A message rejected before it has cost clamd one scan.
    start(facts: MessageFacts): Promise<ClamdResult> | null {
      return facts.raw.length > cfg.maxSize ? null : scan(cfg, facts.raw);
    },
    async run(facts: MessageFacts, _sofar, started?: Promise<unknown>): Promise<Verdict> {
      if (facts.raw.length > cfg.maxSize) {
        return { action: 'tag', headers: ['X-Virus-Status: Unscanned (too large)\r\n'], reason: `not scanned: ${facts.raw.length} bytes > maxSize` };
      }
      const r = await ((started as Promise<ClamdResult> | undefined) ?? scan(cfg, facts.raw));
      if (r.infected) {
        const reason = `virus found: ${r.signature}`;
        if (cfg.action === 'quarantine') return { action: 'quarantine', reason };
        return reject(554, '5.7.1', `Message rejected: virus found (${r.signature.replace(/[^\x20-\x7e]/g, '?').slice(0, 100)})`, reason);
      }
      return { action: 'tag', headers: ['X-Virus-Scanned: ClamAV (Pochtamt)\r\n'], reason: 'clean' };
    },
  };
}
