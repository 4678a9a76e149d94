// APPEND with MULTIAPPEND (RFC 9051 §6.3.12, RFC 3502), literal8 (RFC 3516) and the UTF8
// form (RFC 6855 §4), answered with APPENDUID (RFC 4315). All messages of one command are
// stored or none. Sizes over APPENDLIMIT were refused by the receiver ([TOOBIG]) before the
// client sent them. Missing target: [TRYCREATE]; quota: [OVERQUOTA]. Another account's mailbox
// needs the "i" right, and keeps only the flags the rights allow (RFC 4314 §4); its quota applies.
import { ArgError, parseDateTime } from '../../../protocols/imap/args.js';
import { formatSequenceSet } from '../../../protocols/imap/sequence-set.js';
import type { NewRawMessage } from '../../../services/mail-ops.service.js';
import { mayChangeFlag } from '../../../services/acl-rights.js';
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
  const ref = await s.deps.access.resolve(s.account!, name);
  if (!ref?.box) return ref?.personal ? no('No such mailbox', 'TRYCREATE') : no('No such mailbox', 'NONEXISTENT');
  s.deps.access.require(ref, 'i');
  if (!ref.personal) for (const it of items) it.flags = it.flags.filter((f) => mayChangeFlag(ref.rights, f));
  const r = await s.deps.ops.appendMessages(ref.owner.id, ref.box.id, items, ref.personal ? null : s.account!.id);
  return ok('APPEND completed', `APPENDUID ${r.uidValidity} ${formatSequenceSet(r.uids)}`);
};
