// QUOTA (RFC 9208): GETQUOTAROOT and GETQUOTA over one quota root per account, named "" (all
// the account's mailboxes share it), with the resources STORAGE (in units of 1024 octets, §5.1)
// and MESSAGE (§5.2) from the account's limits; a resource without a limit (0) is not listed.
// SETQUOTA is not offered (no QUOTASET): limits are set by the administrator. [OVERQUOTA] on
// APPEND/COPY/MOVE comes from the service's OVER_QUOTA error (session.ts).
import type { QuotaUsage } from '../../../services/mail-ops.service.js';
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

async function usage(s: ImapSession): Promise<QuotaUsage | null> {
  return s.deps.ops.quotaUsage(s.account!.id);
}

export const getquotaroot: CommandHandler = async (s, _req, args) => {
  const name = args.mailbox();
  args.end();
  const box = await s.deps.app.mailStore.getMailbox(s.account!.id, name);
  if (!box) return no('No such mailbox', 'NONEXISTENT');
  const q = await usage(s);
  if (!q) return no('No such account', 'NONEXISTENT');
  // §4.3: a mailbox without any resource limit has no quota root.
  const roots = hasLimit(q) ? [str(QUOTA_ROOT)] : [];
  s.untagged(atom('QUOTAROOT'), str(s.wireName(box.name)), ...roots);
  if (hasLimit(q)) s.untagged(atom('QUOTA'), str(QUOTA_ROOT), quotaResources(q));
  return ok('GETQUOTAROOT completed');
};

export const getquota: CommandHandler = async (s, _req, args) => {
  const root = args.astring('quota root');
  args.end();
  const q = await usage(s);
  if (!q || root !== QUOTA_ROOT || !hasLimit(q)) return no('No such quota root', 'NONEXISTENT');
  s.untagged(atom('QUOTA'), str(QUOTA_ROOT), quotaResources(q));
  return ok('GETQUOTA completed');
};
