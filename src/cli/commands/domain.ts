// domain add | list | remove | dkim | dkim-rotate
import type { Command } from 'commander';
import { DKIM_RETIRE_GRACE_MS } from '../../services/account.service.js';
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
      const previousRecord = app.accounts.dkimPreviousRecordOf(d);
      print(cmd, { name: d.name, selector: d.dkimSelector, record, previousSelector: previousRecord ? d.dkimPreviousSelector : null, previousRecord },
        () => (record ?? '(no DKIM key)') + (previousRecord ? `\nprevious key (keep published until retired):\n${previousRecord}` : ''));
    }));
  domain.command('dkim-rotate <domain>')
    .description('generate a new DKIM key under a new selector (signing switches to it; the old key is kept until --retire)')
    .option('--selector <name>', 'selector for the new key (default pt<YYYYMMDD>)')
    .option('--retire', 'instead of rotating: drop the key the last rotation replaced')
    .option('--force', 'rotate even while the previous key is within its grace period (it is dropped)')
    .option('--json', 'JSON output')
    .action((name: string, o: { selector?: string; retire?: boolean; force?: boolean }, cmd: Command) => withApp(cmd, async (app) => {
      if (o.retire) {
        const { domain: d, retired } = await app.accounts.retireDkim(name);
        print(cmd, { name: d.name, retired, selector: d.dkimSelector },
          () => `retired DKIM selector ${retired} of ${d.name}; remove ${retired}._domainkey.${d.name} from DNS`);
        return;
      }
      const r = await app.accounts.rotateDkim(name, { selector: o.selector, force: o.force });
      const d = r.domain;
      const graceDays = DKIM_RETIRE_GRACE_MS / 86_400_000;
      print(cmd, { name: d.name, selector: d.dkimSelector, record: r.record, previousSelector: d.dkimPreviousSelector,
        previousRecord: r.previousRecord, dropped: r.dropped }, () => [
        `new DKIM key for ${d.name}, selector ${d.dkimSelector}; new mail is signed with it. Publish this record in DNS:`,
        r.record,
        ...(r.previousRecord ? [`keep the previous record (${d.dkimPreviousSelector}) published for at least ${graceDays} days, then run`
          + ` 'pochtamt domain dkim-rotate ${d.name} --retire' and remove it from DNS`] : []),
        ...(r.dropped ? [`dropped the older key ${r.dropped}; remove ${r.dropped}._domainkey.${d.name} from DNS`] : []),
      ].join('\n'));
    }));
  domain.command('remove <domain>').description('remove a domain (it must have no accounts, aliases or groups)')
    .action((name: string, _o: unknown, cmd: Command) => withApp(cmd, async (app) => {
      await app.accounts.removeDomain(name);
      print(cmd, { removed: name }, () => `removed ${name}`);
    }));
}
