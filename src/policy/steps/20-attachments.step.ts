// Attachment policy: refuses (or quarantines) messages carrying a file whose name ends with a
// blocked extension (.exe, .js, macro-enabled Office, …), whose content is a Windows
// executable or a macro-enabled Office document whatever its name, or a zip archive holding
// any of those (src/policy/attachments.ts). Runs for every client, authenticated or not.
// Must not echo unsanitised file names into the SMTP reply. BUGS: see attachments.ts.
import { blockedExtension, inspectAttachments } from '../attachments.js';
import type { FilterStep, MessageFacts } from '../pipeline.js';
import type { PolicyConfig } from '../policy-config.js';
import { ACCEPT, reject, type Verdict } from '../verdict.js';

export function attachmentsStep(cfg: PolicyConfig['attachments'], timeoutMs = 10_000): FilterStep {
  return {
    name: 'attachments',
    timeoutMs,
    async run(facts: MessageFacts): Promise<Verdict> {
      const macrosBlocked = cfg.blockedExtensions.some((e) => /^\.?(docm|xlsm|pptm)$/i.test(e));
      const found = await inspectAttachments(facts.raw, { scanArchives: cfg.scanArchives });
      for (const a of found) {
        let why: string | null = null;
        const ext = a.name ? blockedExtension(a.name, cfg.blockedExtensions) : null;
        if (ext) why = `blocked file type ${ext}`;
        else if (a.detected === 'exe' && cfg.blockExecutableContent) why = 'executable content';
        else if (a.detected === 'office-macro' && macrosBlocked) why = 'macro-enabled Office document';
        else {
          const inner = a.entries.map((n) => blockedExtension(n, cfg.blockedExtensions)).find(Boolean);
          if (inner) why = `archive contains a ${inner} file`;
        }
        if (!why) continue;
        const shown = sanitize(a.name) || 'unnamed part';
        const reason = `${shown}: ${why}`;
        if (cfg.action === 'quarantine') return { action: 'quarantine', reason };
        return reject(554, '5.7.1', `Message rejected: attachment not allowed (${reason})`, reason);
      }
      return ACCEPT;
    },
  };
}

function sanitize(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 80);
}
