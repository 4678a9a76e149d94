// acl list | set | delete: mailbox access control lists (the same rights as IMAP SETACL, RFC 4314),
// for administrators and for shared mailboxes, which never log in to set their own.
import type { Command } from 'commander';
import type { App } from '../../instance/app.js';
import { formatRights, parseRights, RightsError } from '../../services/acl-rights.js';
import { MailboxAccessService, type Owner } from '../../services/mailbox-access.service.js';
import { print, UsageError, withApp } from '../context.js';

async function target(app: App, address: string, mailbox: string, recursive = false) {
  const a = await app.accounts.getAccount(address);
  if (!a) throw new UsageError(`no account ${address}`);
  const owner: Owner = { id: a.id, address: a.address, kind: a.kind };
  const all = await app.mailStore.listMailboxes(a.id);
  const name = mailbox.toUpperCase() === 'INBOX' ? 'INBOX' : mailbox.replace(/\/+$/, '');
  const boxes = all.filter((b) => b.name === name || (recursive && b.name.startsWith(`${name}/`)));
  if (!boxes.some((b) => b.name === name)) throw new UsageError(`${a.address} has no mailbox ${mailbox}`);
  return { owner, boxes, access: new MailboxAccessService(app.store, app.mailStore) };
}

function rightsArg(text: string): { rights: string; mode: 'set' | 'add' | 'remove' } {
  const mode = text.startsWith('+') ? 'add' : text.startsWith('-') ? 'remove' : 'set';
  try {
    return { rights: parseRights(mode === 'set' ? text : text.slice(1)), mode };
  } catch (e) {
    if (e instanceof RightsError) throw new UsageError(`${e.message} (rights are letters of lrswipkxtea, or c and d)`);
    throw e;
  }
}

export function register(program: Command): void {
  const acl = program.command('acl').description('who may use which mailbox (IMAP ACL, shared folders)');
  acl.command('list <account> [mailbox]').description('show the access list of one mailbox, or of every mailbox that has one')
    .option('--json', 'JSON output')
    .action((address: string, mailbox: string | undefined, _o: unknown, cmd: Command) => withApp(cmd, async (app) => {
      const a = await app.accounts.getAccount(address);
      if (!a) throw new UsageError(`no account ${address}`);
      const access = new MailboxAccessService(app.store, app.mailStore);
      const owner: Owner = { id: a.id, address: a.address, kind: a.kind };
      const boxes = mailbox ? (await target(app, address, mailbox)).boxes : await app.mailStore.listMailboxes(a.id);
      const out: Array<{ mailbox: string; acl: Array<{ identifier: string; rights: string }> }> = [];
      for (const b of boxes) {
        // Listing every mailbox: only those shared with someone (the owner's own entry is implied).
        const all = await access.getAcl(owner, b.id);
        const entries = mailbox ? all : all.filter((e) => e.identifier !== owner.address);
        if (mailbox || entries.length) out.push({ mailbox: b.name, acl: entries.map((e) => ({ identifier: e.identifier, rights: formatRights(e.rights) })) });
      }
      print(cmd, out, () => out.map((m) => `${m.mailbox}: ${m.acl.map((e) => `${e.identifier} ${e.rights}`).join(', ') || '(owner only)'}`).join('\n')
        || '(no mailbox is shared)');
    }));
  acl.command('set <account> <mailbox> <identifier> <rights>')
    .description('grant rights on a mailbox to an account, a group or "anyone"; +rights adds, -rights removes')
    .option('--recursive', 'also the mailboxes below it')
    .action((address: string, mailbox: string, identifier: string, text: string, o: { recursive?: boolean }, cmd: Command) => withApp(cmd, async (app) => {
      const { rights, mode } = rightsArg(text);
      const t = await target(app, address, mailbox, o.recursive);
      const result: Array<{ mailbox: string; rights: string }> = [];
      for (const b of t.boxes) result.push({ mailbox: b.name, rights: formatRights(await t.access.setRights(t.owner, b, identifier, rights, mode)) });
      print(cmd, { account: t.owner.address, identifier, result }, () => result.map((r) => `${r.mailbox}: ${identifier} ${r.rights || '(none)'}`).join('\n'));
    }));
  acl.command('delete <account> <mailbox> <identifier>').description('remove an identifier from a mailbox\'s access list')
    .option('--recursive', 'also the mailboxes below it')
    .action((address: string, mailbox: string, identifier: string, o: { recursive?: boolean }, cmd: Command) => withApp(cmd, async (app) => {
      const t = await target(app, address, mailbox, o.recursive);
      for (const b of t.boxes) await t.access.setRights(t.owner, b, identifier, '', 'set');
      print(cmd, { account: t.owner.address, identifier, mailboxes: t.boxes.map((b) => b.name) }, () => `removed ${identifier} from ${t.boxes.map((b) => b.name).join(', ')}`);
    }));
}
