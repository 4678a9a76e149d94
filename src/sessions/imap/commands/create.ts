// CREATE (RFC 9051 §6.3.4) with USE (RFC 6154 §3 CREATE-SPECIAL-USE). A trailing "/" is
// dropped; names with empty levels, wildcards or over MAX_NAME_BYTES are refused [CANNOT].
// Missing parents are not created: LIST shows them \Noselect. In another account (shared folders)
// a mailbox is created inside an existing one on which the user has "k" (RFC 4314 §4); a new
// mailbox whose parent exists starts with a copy of the parent's ACL.
import { ArgError } from '../../../protocols/imap/args.js';
import { ServiceError } from '../../../services/errors.js';
import { no, ok, type CommandHandler, type CommandResult } from '../types.js';

export const MAX_NAME_BYTES = 1024;
const SPECIAL_USES = new Map([['\\sent', 'Sent'], ['\\drafts', 'Drafts'], ['\\trash', 'Trash'], ['\\junk', 'Junk'], ['\\archive', 'Archive']]);

/** Why a new mailbox name is refused, or null. */
export function invalidName(name: string): CommandResult | null {
  if (!name) return no('Empty mailbox name', 'CANNOT');
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) return no('Mailbox name too long', 'CANNOT');
  if (/[*%]/.test(name)) return no('Mailbox names cannot contain * or %', 'CANNOT');
  if (name.split('/').some((p) => !p)) return no('Empty hierarchy level in mailbox name', 'CANNOT');
  return null;
}

export const create: CommandHandler = async (s, _req, args) => {
  let name = args.mailbox();
  let specialUse: string | null = null;
  const params = args.optionalList();
  if (params) {
    while (params.remaining) {
      const p = params.atom('create parameter').toUpperCase();
      if (p !== 'USE') throw new ArgError(`Unknown CREATE parameter ${p.slice(0, 32)}`);
      const uses = params.list('special-use list');
      while (uses.remaining) {
        const u = uses.atom('special-use attribute');
        const su = SPECIAL_USES.get(u.toLowerCase());
        if (!su) return no(`Special use ${u.slice(0, 32)} is not supported`, 'USEATTR');
        if (specialUse) return no('Only one special use per mailbox', 'USEATTR');
        specialUse = su;
      }
    }
  }
  args.end();
  name = name.replace(/\/+$/, '');
  if (name === 'INBOX') return no('INBOX always exists', 'ALREADYEXISTS');
  const invalid = invalidName(name);
  if (invalid) return invalid;
  const loc = await s.deps.access.locate(s.account!, name);
  if (!loc) return no('Mailboxes are created inside another user\'s folders, not at the namespace root', 'NOPERM');
  const slash = loc.name.lastIndexOf('/');
  const parent = slash > 0 ? await s.deps.access.resolve(s.account!, name.slice(0, name.length - (loc.name.length - slash))) : null;
  if (!loc.personal) {
    if (!parent?.box) return no('Mailboxes are created inside an existing shared folder', parent?.rights.includes('l') ? 'CANNOT' : 'NOPERM');
    s.deps.access.require(parent, 'k');
    if (specialUse) return no('Special-use mailboxes are created by their owner', 'CANNOT');
  }
  try {
    await s.deps.app.mailStore.createMailbox(loc.owner.id, loc.name, specialUse, parent?.box?.id ?? null);
  } catch (e) {
    if (e instanceof ServiceError && e.code === 'EXISTS') return no('Mailbox already exists', 'ALREADYEXISTS');
    throw e;
  }
  return ok('CREATE completed');
};
