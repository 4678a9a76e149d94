// ENABLE (RFC 9051 §6.3.1, RFC 5161): CONDSTORE, QRESYNC (implies CONDSTORE, RFC 7162 §3.2.3),
// UTF8=ACCEPT (RFC 6855) and IMAP4rev2. Unknown extensions are ignored, as the RFC requires.
import { ok, type CommandHandler } from '../types.js';

const KNOWN = new Set(['CONDSTORE', 'QRESYNC', 'UTF8=ACCEPT', 'IMAP4REV2']);

export const enable: CommandHandler = async (s, _req, args) => {
  const newly: string[] = [];
  if (!args.remaining) args.atom('capability');
  while (args.remaining) {
    const c = args.atom('capability').toUpperCase();
    if (!KNOWN.has(c)) continue;
    const names = c === 'QRESYNC' ? ['QRESYNC', 'CONDSTORE'] : [c === 'IMAP4REV2' ? 'IMAP4rev2' : c];
    for (const n of names) {
      if (s.enabled.has(n)) continue;
      s.enabled.add(n);
      newly.push(n);
    }
  }
  if (s.enabled.has('CONDSTORE')) s.condstore = true;
  s.send(`* ENABLED${newly.map((n) => ` ${n}`).join('')}\r\n`);
  return ok('ENABLE completed');
};
