// domain add | list | remove | dkim
import type { Command } from 'commander';
import { print, withApp } from '../context.js';

export function register(program: Command): void {
  const domain = program.command('domain').description('mail domains served here');
  domain.command('add <domain>').description('add a domain (a DKIM key is generated; the DNS record is printed)')
    .action((name: string, _o: unknown, cmd: Command) => withApp(cmd, async (app) => {
      const { domain: d, dkimRecord } = await app.accounts.addDomain(name);
      print(cmd, { name: d.name, unicodeName: d.unicodeName, dkimSelector: d.dkimSelector, dkimRecord },
        () => `added ${d.name}${d.unicodeName !== d.name ? ` (${d.unicodeName})` : ''}\npublish this DKIM record in DNS:\n${dkimRecord}`);
    }));
  domain.command('list').description('list domains').option('--json', 'JSON output')
    .action((_o: unknown, cmd: Command) => withApp(cmd, async (app) => {
      const list = (await app.accounts.listDomains()).map((d) => ({ name: d.name, unicodeName: d.unicodeName, dkimSelector: d.dkimSelector }));
      print(cmd, list, () => list.map((d) => d.name + (d.unicodeName !== d.name ? ` (${d.unicodeName})` : '')).join('\n') || '(no domains)');
    }));
  domain.command('dkim <domain>').description("print the domain's DKIM DNS record").option('--json', 'JSON output')
    .action((name: string, _o: unknown, cmd: Command) => withApp(cmd, async (app) => {
      const d = await app.accounts.getDomain(name);
      if (!d) throw new (await import('../../services/errors.js')).ServiceError('NOT_FOUND', `no domain ${name}`);
      const record = app.accounts.dkimRecordOf(d);
      print(cmd, { name: d.name, selector: d.dkimSelector, record }, () => record ?? '(no DKIM key)');
    }));
  domain.command('remove <domain>').description('remove a domain (it must have no accounts, aliases or groups)')
    .action((name: string, _o: unknown, cmd: Command) => withApp(cmd, async (app) => {
      await app.accounts.removeDomain(name);
      print(cmd, { removed: name }, () => `removed ${name}`);
    }));
}
