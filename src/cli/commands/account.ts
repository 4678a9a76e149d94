// account add (--shared for a shared mailbox) | list | show | passwd | disable | enable | quota | remove
import type { Command } from 'commander';
import type { AccountEntity } from '../../../schemas/entities/index.js';
import { parseSize, print, readPassword, UsageError, withApp } from '../context.js';

function view(a: AccountEntity) {
  return {
    address: a.address, kind: a.kind, displayName: a.displayName, enabled: a.enabled, admin: a.isAdmin, source: a.source,
    quotaBytes: a.quotaBytes, quotaMessages: a.quotaMessages, usedBytes: a.usedBytes, usedMessages: a.usedMessages,
    createdAt: new Date(a.createdAt).toISOString(), deletedAt: a.deletedAt ? new Date(a.deletedAt).toISOString() : null,
  };
}

export function register(program: Command): void {
  const account = program.command('account').description('mail accounts');
  account.command('add <address>').description('create an account with the default folders')
    .option('--password <password>', 'password (prefer --password-stdin in scripts)')
    .option('--password-stdin', 'read the password from standard input')
    .option('--name <displayName>', 'display name')
    .option('--quota <size>', 'storage quota, e.g. 2G (default unlimited)')
    .option('--quota-messages <n>', 'message count quota')
    .option('--admin', 'make this account an administrator (receives postmaster@ and abuse@)')
    .option('--shared', 'a shared mailbox (e.g. support@): receives mail, never logs in; give access with `pochtamt acl set`')
    .option('--json', 'JSON output')
    .action((address: string, o: Record<string, string | boolean | undefined>, cmd: Command) => withApp(cmd, async (app) => {
      const shared = Boolean(o.shared);
      const password = readPassword({ password: o.password as string | undefined, passwordStdin: Boolean(o.passwordStdin) });
      if (shared && (password || o.admin)) throw new UsageError('a shared mailbox has no password and is no administrator');
      if (!password && !shared) throw new UsageError('a password is required (--password or --password-stdin)');
      const a = await app.accounts.addAccount({
        address, password, displayName: o.name as string | undefined, isAdmin: Boolean(o.admin), kind: shared ? 'shared' : 'user',
        quotaBytes: o.quota ? parseSize(String(o.quota)) : 0, quotaMessages: o.quotaMessages ? intArg(String(o.quotaMessages)) : 0,
      });
      print(cmd, view(a), () => `added ${a.address}`);
    }));
  account.command('list').description('list accounts').option('--domain <domain>', 'only this domain').option('--json', 'JSON output')
    .action((o: { domain?: string }, cmd: Command) => withApp(cmd, async (app) => {
      const list = (await app.accounts.listAccounts(o.domain)).map(view);
      print(cmd, list, () => list.map((a) => `${a.address}${a.kind === 'shared' ? ' (shared)' : ''}${a.enabled ? '' : ' (disabled)'}${a.admin ? ' (admin)' : ''}`).join('\n') || '(no accounts)');
    }));
  account.command('show <address>').description('show one account').option('--json', 'JSON output')
    .action((address: string, _o: unknown, cmd: Command) => withApp(cmd, async (app) => {
      const a = await app.accounts.getAccount(address);
      if (!a) throw new UsageError(`no account ${address}`);
      const v = view(a);
      print(cmd, v, () => Object.entries(v).map(([k, val]) => `${k.padEnd(14)} ${val}`).join('\n'));
    }));
  account.command('passwd <address>').description('set a new password')
    .option('--password <password>', 'new password').option('--password-stdin', 'read it from standard input')
    .action((address: string, o: { password?: string; passwordStdin?: boolean }, cmd: Command) => withApp(cmd, async (app) => {
      const password = readPassword(o);
      if (!password) throw new UsageError('a password is required (--password or --password-stdin)');
      await app.accounts.setPassword(address, password);
      print(cmd, { address, changed: true }, () => `password changed for ${address}`);
    }));
  for (const [name, enabled] of [['disable', false], ['enable', true]] as const) {
    account.command(`${name} <address>`).description(enabled ? 'allow logins again' : 'refuse logins (mail is still received)')
      .action((address: string, _o: unknown, cmd: Command) => withApp(cmd, async (app) => {
        await app.accounts.setEnabled(address, enabled);
        print(cmd, { address, enabled }, () => `${address} ${enabled ? 'enabled' : 'disabled'}`);
      }));
  }
  account.command('quota <address>').description('set quotas (0 = unlimited)')
    .option('--bytes <size>', 'storage quota, e.g. 2G').option('--messages <n>', 'message count quota')
    .action((address: string, o: { bytes?: string; messages?: string }, cmd: Command) => withApp(cmd, async (app) => {
      if (o.bytes === undefined && o.messages === undefined) throw new UsageError('give --bytes and/or --messages');
      await app.accounts.setQuota(address, o.bytes !== undefined ? parseSize(o.bytes) : undefined,
        o.messages !== undefined ? intArg(o.messages) : undefined);
      print(cmd, { address }, () => `quota set for ${address}`);
    }));
  account.command('remove <address>').description('delete an account with ALL its mail, calendars and contacts')
    .option('--yes', 'confirm that the mail is to be deleted')
    .action((address: string, o: { yes?: boolean }, cmd: Command) => withApp(cmd, async (app) => {
      if (!o.yes) throw new UsageError(`this deletes ${address} and all its mail; repeat with --yes`);
      await app.accounts.removeAccount(address);
      print(cmd, { removed: address }, () => `removed ${address}`);
    }));
}

function intArg(s: string): number {
  if (!/^\d+$/.test(s)) throw new UsageError(`not a whole number: '${s}'`);
  return Number(s);
}
