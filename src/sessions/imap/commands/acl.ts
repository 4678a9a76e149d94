// ACL (RFC 4314 §3): SETACL, DELETEACL, GETACL, LISTRIGHTS, MYRIGHTS. Administering needs the
// "a" right; MYRIGHTS needs any right. The checks and the store are MailboxAccessService's.
// Identifiers are account or group addresses and "anyone"; negative rights ("-bob") are not
// supported ([CANNOT]). Rights letters outside RFC 4314's are BAD; "c" and "d" stand for "kx"
// and "et" (RIGHTS=texk: t, e, x and k are separate rights).
import { ArgError } from '../../../protocols/imap/args.js';
import { atom, str, type Value } from '../../../protocols/imap/response.js';
import { ALL_RIGHTS, formatRights, parseRights, RightsError } from '../../../services/acl-rights.js';
import type { ImapSession } from '../session.js';
import { no, ok, type CommandHandler } from '../types.js';

/** Capabilities this module adds (RFC 4314 §2, §2.1.1). */
export const ACL_CAPABILITIES = ['ACL', 'RIGHTS=texk'];

/** LISTRIGHTS for anyone but the owner: nothing required, each right grantable alone (and the RFC 2086 names). */
const GRANTABLE = [...ALL_RIGHTS, 'c', 'd'];

function identifierArg(identifier: string): string {
  if (!identifier) throw new ArgError('Empty identifier');
  return identifier;
}

function parseRightsArg(text: string): string {
  try {
    return parseRights(text);
  } catch (e) {
    if (e instanceof RightsError) throw new ArgError(e.message);
    throw e;
  }
}

const open = (s: ImapSession, name: string, need: string) => s.deps.access.open(s.account!, name, need);

export const setacl: CommandHandler = async (s, _req, args) => {
  const name = args.mailbox();
  const identifier = identifierArg(args.astring('identifier'));
  const text = args.astring('rights');
  args.end();
  const mode = text.startsWith('+') ? 'add' : text.startsWith('-') ? 'remove' : 'set';
  const rights = parseRightsArg(mode === 'set' ? text : text.slice(1));
  if (identifier.startsWith('-')) return no('Negative rights are not supported', 'CANNOT');
  const ref = await open(s, name, 'a');
  await s.deps.access.setRights(ref.owner, ref.box, identifier, rights, mode);
  return ok('SETACL completed');
};

export const deleteacl: CommandHandler = async (s, _req, args) => {
  const name = args.mailbox();
  const identifier = identifierArg(args.astring('identifier'));
  args.end();
  if (identifier.startsWith('-')) return no('Negative rights are not supported', 'CANNOT');
  const ref = await open(s, name, 'a');
  await s.deps.access.setRights(ref.owner, ref.box, identifier, '', 'set');
  return ok('DELETEACL completed');
};

export const getacl: CommandHandler = async (s, _req, args) => {
  const name = args.mailbox();
  args.end();
  const ref = await open(s, name, 'a');
  const vals: Value[] = [atom('ACL'), str(s.wireName(ref.display))];
  for (const e of await s.deps.access.getAcl(ref.owner, ref.box.id)) vals.push(str(e.identifier), atom(formatRights(e.rights)));
  s.untagged(...vals);
  return ok('GETACL completed');
};

export const listrights: CommandHandler = async (s, _req, args) => {
  const name = args.mailbox();
  const identifier = identifierArg(args.astring('identifier'));
  args.end();
  const ref = await open(s, name, 'a');
  const subject = await s.deps.access.subjectOf(identifier);
  // The owner's rights are fixed (all of them, required); anyone else may be granted any right alone.
  const isOwner = subject?.kind === 'account' && subject.id === ref.owner.id;
  const rest: Value[] = isOwner ? [atom(ALL_RIGHTS)] : [str(''), ...GRANTABLE.map((c) => atom(c))];
  s.untagged(atom('LISTRIGHTS'), str(s.wireName(ref.display)), str(identifier), ...rest);
  return ok('LISTRIGHTS completed');
};

export const myrights: CommandHandler = async (s, _req, args) => {
  const name = args.mailbox();
  args.end();
  const ref = await s.deps.access.resolve(s.account!, name);
  // Any right will do (RFC 4314 §4); with none the mailbox does not exist for this user.
  if (!ref?.box || !ref.rights) return no('No such mailbox', 'NONEXISTENT');
  s.untagged(atom('MYRIGHTS'), str(s.wireName(ref.display)), atom(formatRights(ref.rights)));
  return ok('MYRIGHTS completed');
};
