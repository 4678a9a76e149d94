// group add | list | members | remove
import type { Command } from 'commander';
import { print, UsageError, withApp } from '../context.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function register(program: Command): void {
  const group = program.command('group').description('distribution lists');
  group.command('add <address> [members...]').description('create a distribution list')
    .option('--name <displayName>', 'display name')
    .option('--members-may-send', 'members may send with the group address as From')
    .action((address: string, members: string[], o: { name?: string; membersMaySend?: boolean }, cmd: Command) => withApp(cmd, async (app) => {
      await app.accounts.addGroup(address, { displayName: o.name, membersMaySendAs: o.membersMaySend, members });
      print(cmd, { address, members }, () => `added group ${address}${members.length ? ` with ${members.length} members` : ''}`);
    }));
  group.command('list').description('list groups').option('--json', 'JSON output')
    .action((_o: unknown, cmd: Command) => withApp(cmd, async (app) => {
      const list = await app.accounts.listGroups();
      print(cmd, list, () => list.map((g) => `${g.address}: ${g.members.join(', ') || '(no members)'}`).join('\n') || '(no groups)');
    }));
  group.command('members <address>').description('show or change members (repeat --add/--remove)')
    .option('--add <address>', 'add a member (account, group or external address)', collect)
    .option('--remove <address>', 'remove a member', collect)
    .option('--set <address>', 'replace all members with these', collect)
    .option('--json', 'JSON output')
    .action((address: string, o: { add?: string[]; remove?: string[]; set?: string[] }, cmd: Command) => withApp(cmd, async (app) => {
      if (o.set && (o.add || o.remove)) throw new UsageError('--set cannot be combined with --add or --remove');
      if (o.set) await app.accounts.setGroupMembers(address, o.set, 'set');
      if (o.add) await app.accounts.setGroupMembers(address, o.add, 'add');
      if (o.remove) await app.accounts.setGroupMembers(address, o.remove, 'remove');
      const g = (await app.accounts.listGroups()).find((x) => x.address === address.toLowerCase());
      if (!g) throw new UsageError(`no group ${address}`);
      print(cmd, g, () => g.members.join('\n') || '(no members)');
    }));
  group.command('remove <address>').description('delete a distribution list')
    .action((address: string, _o: unknown, cmd: Command) => withApp(cmd, async (app) => {
      await app.accounts.removeGroup(address);
      print(cmd, { removed: address }, () => `removed ${address}`);
    }));
}
