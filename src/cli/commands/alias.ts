// alias add | list | remove
import type { Command } from 'commander';
import { print, withApp } from '../context.js';

export function register(program: Command): void {
  const alias = program.command('alias').description('extra addresses delivering to accounts or forwarding elsewhere');
  alias.command('add <address> <targets...>').description('add an alias (targets: local accounts and/or external addresses)')
    .action((address: string, targets: string[], _o: unknown, cmd: Command) => withApp(cmd, async (app) => {
      await app.accounts.addAlias(address, targets);
      print(cmd, { address, targets }, () => `${address} -> ${targets.join(', ')}`);
    }));
  alias.command('list').description('list aliases').option('--json', 'JSON output')
    .action((_o: unknown, cmd: Command) => withApp(cmd, async (app) => {
      const list = await app.accounts.listAliases();
      print(cmd, list, () => list.map((a) => `${a.address} -> ${a.targets.join(', ')}`).join('\n') || '(no aliases)');
    }));
  alias.command('remove <address> [targets...]').description('remove an alias, or only some of its targets')
    .action((address: string, targets: string[], _o: unknown, cmd: Command) => withApp(cmd, async (app) => {
      await app.accounts.removeAlias(address, targets);
      print(cmd, { removed: address, targets }, () => `removed ${targets.length ? `${targets.join(', ')} from ` : ''}${address}`);
    }));
}
