// LIST (RFC 9051 §6.3.9) with LIST-EXTENDED selection and return options (RFC 5258:
// SUBSCRIBED, SPECIAL-USE, RECURSIVEMATCH; RETURN SUBSCRIBED, CHILDREN, SPECIAL-USE, STATUS per
// RFC 5819), special-use attributes (RFC 6154) and child attributes (RFC 3348); and LSUB
// (RFC 3501 §6.3.9). Parents that do not exist but have children are listed \Noselect.
// Other accounts' mailboxes the user may see (ACL right "l", RFC 4314 §4) are listed under
// "Other Users/<address>/" and "Shared Folders/<address>/", below \Noselect namespace levels;
// their STATUS (RFC 5819) is only given with the "r" right.
import { ArgError, decodeMailboxName } from '../../../protocols/imap/args.js';
import { atom, str, type Value } from '../../../protocols/imap/response.js';
import { ALL_RIGHTS } from '../../../services/acl-rights.js';
import type { ImapSession } from '../session.js';
import { ok, type CommandHandler } from '../types.js';
import { parseStatusItems, sendStatus } from './status.js';

interface Entry { name: string; id: number | null; specialUse: string | null; subscribed: boolean; hasChildren: boolean; rights: string; shared?: boolean }

function patternRegex(pattern: string): RegExp {
  const re = pattern.split('').map((c) => (c === '*' ? '.*' : c === '%' ? '[^/]*' : c.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${re}$`, 's');
}

function matches(re: RegExp, reInbox: RegExp, name: string): boolean {
  // INBOX is case-insensitive (RFC 9051 §5.1), so "inbox" and "Inbox/%" patterns reach it.
  if (re.test(name)) return true;
  return name === 'INBOX' || name.startsWith('INBOX/') ? reInbox.test(name) : false;
}

async function entries(s: ImapSession): Promise<Map<string, Entry>> {
  const boxes = await s.deps.app.mailStore.listMailboxes(s.account!.id);
  const map = new Map<string, Entry>();
  for (const b of boxes) map.set(b.name, { name: b.name, id: b.id, specialUse: b.specialUse, subscribed: b.subscribed, hasChildren: false, rights: ALL_RIGHTS });
  const shared = await s.deps.access.visibleMailboxes(s.account!);
  if (shared.length) {
    const subscribed = await s.deps.access.subscribedIds(s.account!.id);
    // Special-use attributes describe the owner's folders, not the viewer's: not repeated here.
    for (const v of shared) map.set(v.display, { name: v.display, id: v.box.id, specialUse: null, subscribed: subscribed.has(v.box.id), hasChildren: false, rights: v.rights, shared: true });
  }
  for (const name of [...map.keys()]) {
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const e = map.get(parent);
      if (e) e.hasChildren = true;
      else map.set(parent, { name: parent, id: null, specialUse: null, subscribed: false, hasChildren: true, rights: '' });
    }
  }
  return map;
}

const listLike = (lsub: boolean): CommandHandler => async (s, req, args) => {
  const sel = new Set<string>();
  if (!lsub && args.isListNext()) {
    const l = args.list('selection options');
    while (l.remaining) {
      const o = l.atom('selection option').toUpperCase();
      if (!['SUBSCRIBED', 'REMOTE', 'RECURSIVEMATCH', 'SPECIAL-USE'].includes(o)) throw new ArgError(`Unknown selection option ${o.slice(0, 32)}`);
      sel.add(o);
    }
    if (sel.has('RECURSIVEMATCH') && sel.size === 1) throw new ArgError('RECURSIVEMATCH needs another selection option');
  }
  const ref = args.mailbox('reference name');
  const patterns: string[] = [];
  if (!lsub && args.isListNext()) {
    const l = args.list('patterns');
    while (l.remaining) patterns.push(decodeMailboxName(l.astring('pattern'), s.utf8));
  } else {
    patterns.push(decodeMailboxName(args.astring('pattern'), s.utf8));
  }
  const ret = new Set<string>();
  let statusItems: string[] | null = null;
  if (!lsub && args.peekAtom() === 'RETURN') {
    args.atom();
    const l = args.list('return options');
    while (l.remaining) {
      const o = l.atom('return option').toUpperCase();
      if (o === 'STATUS') statusItems = parseStatusItems(l.list('status items'));
      else if (['SUBSCRIBED', 'CHILDREN', 'SPECIAL-USE'].includes(o)) ret.add(o);
      else throw new ArgError(`Unknown return option ${o.slice(0, 32)}`);
    }
  }
  args.end();
  const word = lsub ? 'LSUB' : 'LIST';
  const extended = sel.size > 0 || ret.size > 0 || statusItems !== null || patterns.length > 1;
  if (patterns.length === 1 && patterns[0] === '' && !sel.size) {
    // The hierarchy delimiter and root (RFC 9051 §6.3.9).
    s.send(`* ${word} (\\Noselect) "/" ""\r\n`);
    return ok(`${word} completed`);
  }
  const all = await entries(s);
  const subscribedOnly = lsub || sel.has('SUBSCRIBED');
  const regs = patterns.map((p) => {
    const full = ref && !p.startsWith('/') ? (ref.endsWith('/') ? ref + p : `${ref}/${p}`) : p;
    const re = patternRegex(full);
    return { re, reInbox: new RegExp(re.source, 'si') };
  });
  const names = [...all.keys()].sort((a, b) => (a === 'INBOX' ? -1 : b === 'INBOX' ? 1 : a < b ? -1 : a > b ? 1 : 0));
  for (const name of names) {
    const e = all.get(name)!;
    if (!regs.some((r) => matches(r.re, r.reInbox, name))) continue;
    if (subscribedOnly && !e.subscribed) {
      // RFC 5258 §3.5 / RFC 3501 LSUB: a parent of subscribed children under "%" is shown \Noselect.
      const childSubscribed = [...all.values()].some((c) => c.subscribed && c.name.startsWith(`${name}/`));
      if (!childSubscribed || !patterns.some((p) => p.endsWith('%'))) continue;
    }
    if (sel.has('SPECIAL-USE') && !e.specialUse) continue;
    const attrs: string[] = [];
    // \NonExistent (RFC 5258 §3, implies \Noselect) for extended LIST; older clients know \Noselect.
    if (e.id === null) attrs.push(extended ? '\\NonExistent' : '\\Noselect');
    if (!lsub) attrs.push(e.hasChildren ? '\\HasChildren' : '\\HasNoChildren');
    if ((ret.has('SUBSCRIBED') || sel.has('SUBSCRIBED')) && e.subscribed && !lsub) attrs.push('\\Subscribed');
    if (e.specialUse && !lsub) attrs.push(`\\${e.specialUse}`);
    const vals: Value[] = [atom(word), attrs.map((a) => atom(a)), str('/'), str(s.wireName(name))];
    s.untagged(...vals);
    if (statusItems && e.id !== null && e.rights.includes('r')) await sendStatus(s, e.id, name, statusItems, e.shared ? s.account!.id : null);
  }
  return ok(`${req.command} completed`);
};

export const list = listLike(false);
export const lsub = listLike(true);
