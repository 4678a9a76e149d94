// directory add | list | sync [--full] | status | search | purge
// `add` appends an entry to `directories` in pochtamt.yaml (comments kept) after validating the
// result against the config schema; the running server picks it up on its next start. `sync`
// runs one sync in this process (safe beside a running server). `purge` is the only command
// that deletes directory accounts (and their mail): those deleted longer ago than the
// directory's deletedRetentionDays; it lists them first unless --yes is given.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import YAML from 'yaml';
import { CONFIG_FILE, parseConfig } from '../../config/config.js';
import type { SyncReport } from '../../services/directory-sync.service.js';
import { dataDirOf, print, UsageError, withApp } from '../context.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];
const iso = (t: number | null) => (t ? new Date(t).toISOString() : 'never');

interface AddOptions {
  type: string; url: string; bindDn: string; bindPassword?: string; bindPasswordFile?: string; baseDn: string;
  caFile?: string; startTls?: boolean; servername?: string; domain?: string[]; userFilter?: string; groupFilter?: string;
  pollSeconds?: string; retentionDays?: string; netbios?: string; insecure?: boolean;
}

export function register(program: Command): void {
  const dir = program.command('directory').description('Active Directory / LDAP directories (accounts, lists, bind-through logins)');

  dir.command('add <id>').description('add a directory to pochtamt.yaml (takes effect at the next server start)')
    .requiredOption('--type <type>', "'ad' (Active Directory, Samba AD) or 'ldap' (OpenLDAP, generic)")
    .requiredOption('--url <url>', 'ldaps://host:636, or ldap://host:389 with --start-tls')
    .requiredOption('--bind-dn <dn>', 'service account that reads users and groups')
    .option('--bind-password <password>', 'service password (prefer --bind-password-file)')
    .option('--bind-password-file <file>', 'file holding the service password (relative to the data folder)')
    .requiredOption('--base-dn <dn>', 'where users and groups are searched')
    .option('--ca-file <file>', 'PEM CA certificate of the directory (relative to the data folder)')
    .option('--start-tls', 'use StartTLS on ldap://')
    .option('--servername <name>', 'name to check the certificate against')
    .option('--domain <domain>', 'accept addresses in this mail domain (repeat; added as a local domain)', collect)
    .option('--user-filter <filter>', 'LDAP filter for users (default per type)')
    .option('--group-filter <filter>', 'LDAP filter for groups (default per type)')
    .option('--poll-seconds <n>', 'incremental sync interval (default 2)')
    .option('--retention-days <n>', 'keep deleted users\' mailboxes this long before purge may remove them (default 30)')
    .option('--netbios <NAME>', 'NetBIOS domain for DOMAIN\\user logins (default: first DC= of the base DN)')
    .option('--insecure', 'allow ldap:// without TLS (tests only)')
    .option('--json', 'JSON output')
    .action((id: string, o: AddOptions, cmd: Command) => {
      if (o.type !== 'ad' && o.type !== 'ldap') throw new UsageError("--type must be 'ad' or 'ldap'");
      if (!o.bindPassword && !o.bindPasswordFile) throw new UsageError('--bind-password or --bind-password-file is required');
      const file = path.join(dataDirOf(cmd), CONFIG_FILE);
      const doc = YAML.parseDocument(readFileSync(file, 'utf8'));
      const existing = (doc.toJS() as { directories?: Array<{ id: string }> } | null)?.directories ?? [];
      if (existing.some((d) => d.id === id)) throw new UsageError(`directory ${id} already exists in ${file}`);
      const entry: Record<string, unknown> = { id, type: o.type, url: o.url, bindDn: o.bindDn, baseDn: o.baseDn };
      if (o.bindPassword) entry.bindPassword = o.bindPassword;
      if (o.bindPasswordFile) entry.bindPasswordFile = o.bindPasswordFile;
      if (o.caFile) entry.caFile = o.caFile;
      if (o.startTls) entry.startTls = true;
      if (o.servername) entry.servername = o.servername;
      if (o.domain?.length) entry.domains = o.domain;
      if (o.userFilter) entry.userFilter = o.userFilter;
      if (o.groupFilter) entry.groupFilter = o.groupFilter;
      if (o.pollSeconds) entry.pollSeconds = Number(o.pollSeconds);
      if (o.retentionDays) entry.deletedRetentionDays = Number(o.retentionDays);
      if (o.netbios) entry.netbiosDomain = o.netbios;
      if (o.insecure) entry.allowInsecure = true;
      if (!doc.has('directories')) doc.set('directories', doc.createNode([]));
      doc.addIn(['directories'], doc.createNode(entry));
      const text = doc.toString();
      parseConfig(text, {}, file); // refuses anything the schema refuses, before writing
      writeFileSync(file, text);
      print(cmd, entry, () => `added directory ${id} to ${file}; restart the server (or run 'pochtamt directory sync ${id}') to use it`);
    });

  dir.command('list').description('configured directories').option('--json', 'JSON output')
    .action((_o: unknown, cmd: Command) => withApp(cmd, async (app) => {
      const list = app.config.directories.map((d) => ({ id: d.id, type: d.type, url: d.url, baseDn: d.baseDn, enabled: d.enabled, domains: d.domains }));
      print(cmd, list, () => list.map((d) => `${d.id}\t${d.type}\t${d.url}\t${d.baseDn}${d.enabled ? '' : ' (disabled)'}`).join('\n') || '(no directories)');
    }));

  dir.command('sync [id]').description('run one sync now (all directories without an id)')
    .option('--full', 'read everything, not only the changes since the last run')
    .option('--json', 'JSON output')
    .action((id: string | undefined, o: { full?: boolean }, cmd: Command) => withApp(cmd, async (app) => {
      const ids = id ? [id] : app.directories.ids;
      if (!ids.length) throw new UsageError('no directories configured (pochtamt directory add)');
      const reports: SyncReport[] = [];
      for (const d of ids) reports.push(await app.directories.sync(d, { full: o.full }));
      print(cmd, reports, () => reports.map((r) => r.ok
        ? `${r.directoryId}: ${r.mode} sync in ${r.durationMs} ms: ${r.counts.created} created, ${r.counts.updated} updated, `
          + `${r.counts.disabled} disabled, ${r.counts.deleted} deleted, ${r.counts.groups} lists, ${r.counts.conflicts} conflicts`
        : `${r.directoryId}: ${r.mode} sync FAILED: ${r.error}`).join('\n'));
      if (reports.some((r) => !r.ok)) process.exitCode = 1;
    }));

  dir.command('status [id]').description('last run, counts, errors, cursor and conflicts').option('--json', 'JSON output')
    .action((id: string | undefined, _o: unknown, cmd: Command) => withApp(cmd, async (app) => {
      const all = (await app.directories.status()).filter((s) => !id || s.id === id);
      if (id && !all.length) throw new UsageError(`no directory ${id}`);
      print(cmd, all, () => all.map((s) => [
        `${s.id} (${s.type} ${s.url})${s.enabled ? '' : ' disabled'}${s.configError ? ` CONFIG ERROR: ${s.configError}` : ''}`,
        `  last run ${iso(s.lastRunAt)}, last success ${iso(s.lastSuccessAt)}, last full ${iso(s.lastFullAt)}, cursor ${s.cursor ?? '-'}`,
        `  ${s.users} users, ${s.accounts} accounts (${s.disabledAccounts} disabled), ${s.deletedAccounts} deleted (${s.purgeable} past retention), ${s.lists} lists`,
        `  last run: ${JSON.stringify(s.lastRun)}`,
        ...(s.lastError ? [`  ERROR: ${s.lastError}`] : []),
        ...s.conflicts.map((c) => `  CONFLICT ${c.address}: ${c.reason} (${c.dn})`),
      ].join('\n')).join('\n') || '(no directories)');
    }));

  dir.command('search [query]').description('search the directory address book (users and groups)')
    .option('--limit <n>', 'at most this many (default 50)')
    .option('--json', 'JSON output')
    .action((query: string | undefined, o: { limit?: string }, cmd: Command) => withApp(cmd, async (app) => {
      const rows = await app.directories.search(query ?? '', { limit: o.limit ? Number(o.limit) : 50 });
      print(cmd, rows, () => rows.map((r) => `${r.mail ?? '-'}\t${r.displayName ?? ''}\t${r.kind}\t${[r.title, r.department, r.telephoneNumber].filter(Boolean).join(', ')}`).join('\n') || '(nothing found)');
    }));

  dir.command('purge').description('delete directory accounts (and their mail) deleted longer ago than the retention')
    .option('--yes', 'really delete (without it, only list)')
    .option('--json', 'JSON output')
    .action((o: { yes?: boolean }, cmd: Command) => withApp(cmd, async (app) => {
      if (!o.yes) {
        const list = (await app.directories.purgeable()).map((a) => a.address);
        print(cmd, { wouldDelete: list }, () => list.length ? `would delete (run with --yes):\n${list.join('\n')}` : 'nothing to purge');
        return;
      }
      const done = await app.directories.purge();
      print(cmd, { deleted: done }, () => done.length ? `deleted:\n${done.join('\n')}` : 'nothing to purge');
    }));
}
