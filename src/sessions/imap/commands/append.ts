// APPEND with MULTIAPPEND (RFC 9051 §6.3.12, RFC 3502), literal8 (RFC 3516) and the UTF8
// form (RFC 6855 §4), answered with APPENDUID (RFC 4315). All messages of one command are
// stored or none. Sizes over APPENDLIMIT were refused by the receiver ([TOOBIG]) before the
// client sent them. Missing target: [TRYCREATE]; quota: [OVERQUOTA].
import { ArgError, parseDateTime } from '../../../protocols/imap/args.js';
import { formatSequenceSet } from '../../../protocols/imap/sequence-set.js';
import type { NewRawMessage } from '../../../services/mail-ops.service.js';
import { no, ok, type CommandHandler } from '../types.js';

export const append: CommandHandler = async (s, _req, args) => {
  const name = args.mailbox();
  const items: NewRawMessage[] = [];
  while (args.remaining) {
    const flags = args.isListNext() ? args.flags(false) : [];
    let internalDate = Date.now();
    const t = args.peek();
    if (t && t.kind === 'string' && !t.literal) internalDate = parseDateTime(args.astring('date-time'));
    let raw: Buffer;
    if (args.peekAtom() === 'UTF8') {
      args.atom();
      const l = args.list('UTF8 literal');
      raw = l.literal().data;
      l.end();
    } else {
      raw = args.literal().data;
    }
    if (!raw.length) throw new ArgError('Empty message');
    items.push({ raw, flags: flags.filter((f) => f !== '\\Recent'), internalDate });
  }
  if (!items.length) throw new ArgError('Missing message literal');
  const box = await s.deps.app.mailStore.getMailbox(s.account!.id, name);
  if (!box) return no('No such mailbox', 'TRYCREATE');
  const r = await s.deps.ops.appendMessages(s.account!.id, box.id, items);
  return ok('APPEND completed', `APPENDUID ${r.uidValidity} ${formatSequenceSet(r.uids)}`);
};
