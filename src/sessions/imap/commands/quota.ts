// QUOTA (RFC 9208): GETQUOTAROOT and GETQUOTA over one quota root per account, named "" (all
// the account's mailboxes share it), with the resources STORAGE (in units of 1024 octets, §5.1)
// and MESSAGE (§5.2) from the account's limits; a resource without a limit (0) is not listed.
// SETQUOTA is not offered (no QUOTASET): limits are set by the administrator. [OVERQUOTA] on
// APPEND/COPY/MOVE comes from the service's OVER_QUOTA error (session.ts). Another account's
// mailbox (shared folders, "r" right needed) is under its owner's quota root, named like the
// owner's namespace prefix ("Other Users/alice@example.org"); GETQUOTA on it needs "r" on some
// mailbox of that owner.
import type { QuotaUsage } from '../../../services/mail-ops.service.js';
import { ownerPrefix } from '../../../services/mailbox-access.service.js';
import { decodeMailboxName } from '../../../protocols/imap/args.js';
import { atom, str, type Value } from '../../../protocols/imap/response.js';
import type { ImapSession } from '../session.js';
import { no, ok, type CommandHandler } from '../types.js';

/** The one quota root of an account. */
export const QUOTA_ROOT = '';

/** Capabilities this module adds (RFC 9208 §3.1: QUOTA and one QUOTA=RES-<name> per resource). */
export const QUOTA_CAPABILITIES = ['QUOTA', 'QUOTA=RES-STORAGE', 'QUOTA=RES-MESSAGE'];

/** "STORAGE used limit MESSAGE used limit", for the resources that have a limit. */
export function quotaResources(q: QuotaUsage): Value[] {
  const out: Value[] = [];
  if (q.quotaBytes > 0) out.push(atom('STORAGE'), Math.ceil(q.usedBytes / 1024), Math.floor(q.quotaBytes / 1024));
  if (q.quotaMessages > 0) out.push(atom('MESSAGE'), q.usedMessages, q.quotaMessages);
  return out;
}

const hasLimit = (q: QuotaUsage) => q.quotaBytes > 0 || q.quotaMessages > 0;

async function usage(s: ImapSession, accountId = s.account!.id): Promise<QuotaUsage | null> {
  return s.deps.ops.quotaUsage(accountId);
}

export const getquotaroot: CommandHandler = async (s, _req, args) => {
  const name = args.mailbox();
  args.end();
  const ref = await s.deps.access.resolve(s.account!, name);
  if (!ref?.box) return no('No such mailbox', 'NONEXISTENT');
  s.deps.access.require(ref, 'r');
  const q = await usage(s, ref.owner.id);
  if (!q) return no('No such account', 'NONEXISTENT');
  const root = ref.personal ? QUOTA_ROOT : ownerPrefix(ref.owner);
  // §4.3: a mailbox without any resource limit has no quota root.
  const roots = hasLimit(q) ? [str(s.wireName(root))] : [];
  s.untagged(atom('QUOTAROOT'), str(s.wireName(ref.display)), ...roots);
  if (hasLimit(q)) s.untagged(atom('QUOTA'), str(s.wireName(root)), quotaResources(q));
  return ok('GETQUOTAROOT completed');
};

export const getquota: CommandHandler = async (s, _req, args) => {
  const root = decodeMailboxName(args.astring('quota root'), s.utf8);
  args.end();
  let ownerId = s.account!.id;
  if (root !== QUOTA_ROOT) {
    const other = (await s.deps.access.visibleMailboxes(s.account!)).find((v) => ownerPrefix(v.owner) === root && v.rights.includes('r'));
    if (!other) return no('No such quota root', 'NONEXISTENT');
    ownerId = other.owner.id;
  }
  const q = await usage(s, ownerId);
  if (!q || !hasLimit(q)) return no('No such quota root', 'NONEXISTENT');
  s.untagged(atom('QUOTA'), str(s.wireName(root)), quotaResources(q));
  return ok('GETQUOTA completed');
};
