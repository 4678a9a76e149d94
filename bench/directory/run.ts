// Directory benchmark (issue 4): OpenLDAP slapd with 10,000 users / 500 nested groups and Samba
// AD with 2,000 users, both real servers started by the project's test fixtures. Times the
// first full sync, an incremental sync after 100 changes, ldapadd-to-IMAP-LOGIN through a
// running `pochtamt serve`, and bind-through login latency (library and IMAP LOGIN), and prints
// each figure against its target. See bench/README.md.
// Usage: npm run bench:directory [-- --users 1000 --ad-users 200 --ldap-only | --ad-only ...]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { GroupMemberEntity } from '../../schemas/entities/index.js';
import type { App } from '../../src/instance/app.js';
import type { SyncReport } from '../../src/services/directory-sync.service.js';
import { installSignalHandlers, isCleaningUp, onCleanup, runCleanups } from '../common/cleanup.js';
import { freePort } from '../common/net.js';
import { sleep } from '../common/process.js';
import { tableLines } from '../common/table.js';
import {
  adGroupsLdif, adOuLdif, adUsersLdif, changesLdif, expectedMemberships, groups, ldapLdif, newAdUserLdif, newLdapUserLdif,
  PASSWORD, type AdLayout, type BenchGroup, type LdapLayout, type Shape,
} from './data.js';
import { createToLogin, imapLoginOnce, imapLogins, libraryLogins, open, serve, setupInstance, stats, type Instance } from './pochtamt.js';
import { aptCommand, ldapTool, missing, startSamba, startSlapdLoaded, stopSamba, stopSlapd, waitPortsFree, type Admin } from './servers.js';

// ------------------------------------------------------------------ options

interface Options {
  users: number;
  groups: number;
  adUsers: number;
  adGroups: number;
  changes: number;
  logins: number;
  creates: number;
  ldap: boolean;
  ad: boolean;
  load: 'slapadd' | 'ldapadd';
  portWaitSeconds: number;
  keep: boolean;
  json: string | null;
}

const HELP = `Usage: npm run bench:directory [-- options]   (or node dist/bench/directory/run.js [options])

  --users N          OpenLDAP users (env BENCH_USERS, default 10000)
  --groups N         OpenLDAP groups (BENCH_GROUPS, default 500)
  --ad-users N       Samba AD users (BENCH_AD_USERS, default 2000)
  --ad-groups N      Samba AD groups (BENCH_AD_GROUPS, default 100)
  --changes N        changes before the incremental sync (BENCH_CHANGES, default 100)
  --logins N         logins for the latency figures (BENCH_LOGINS, default 500)
  --creates N        new users for create-to-login (BENCH_CREATES, default 3; the worst counts)
  --ldap-only        only OpenLDAP          --ad-only     only Samba AD
  --load MODE        OpenLDAP bulk load: slapadd (default; offline, fastest) or ldapadd
  --port-wait S      how long to wait for Samba's ports 389/636/3268/3269 (default 900)
  --keep             keep the temporary folder (configs, logs, LDIF)
  --json FILE        also write the results as JSON

Needs root (Samba), the Debian packages slapd ldap-utils samba-ad-dc samba-ad-provision
openssl iproute2 util-linux, and a build (npm run build). Quick run:
  BENCH_USERS=1000 BENCH_AD_USERS=200 npm run bench:directory
`;

function parseOptions(argv: string[]): Options {
  const env = process.env;
  const int = (v: string | undefined, d: number) => {
    if (v === undefined || v === '') return d;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`not a whole number: ${v}`);
    return n;
  };
  const o: Options = {
    users: int(env.BENCH_USERS, 10_000), groups: int(env.BENCH_GROUPS, 500), adUsers: int(env.BENCH_AD_USERS, 2000),
    adGroups: int(env.BENCH_AD_GROUPS, 100), changes: int(env.BENCH_CHANGES, 100), logins: int(env.BENCH_LOGINS, 500),
    creates: int(env.BENCH_CREATES, 3), ldap: true, ad: true, load: 'slapadd', portWaitSeconds: 900, keep: false, json: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--users': o.users = int(next(), 0); break;
      case '--groups': o.groups = int(next(), 0); break;
      case '--ad-users': o.adUsers = int(next(), 0); break;
      case '--ad-groups': o.adGroups = int(next(), 0); break;
      case '--changes': o.changes = int(next(), 0); break;
      case '--logins': o.logins = int(next(), 0); break;
      case '--creates': o.creates = int(next(), 0); break;
      case '--ldap-only': o.ad = false; break;
      case '--ad-only': o.ldap = false; break;
      case '--load': {
        const v = next();
        if (v !== 'slapadd' && v !== 'ldapadd') throw new Error('--load is slapadd or ldapadd');
        o.load = v;
        break;
      }
      case '--port-wait': o.portWaitSeconds = int(next(), 0); break;
      case '--keep': o.keep = true; break;
      case '--json': o.json = next(); break;
      case '-h': case '--help': process.stdout.write(HELP); process.exit(0);
      // eslint-disable-next-line no-fallthrough
      default: throw new Error(`unknown option ${a} (see --help)`);
    }
  }
  if (!o.ldap && !o.ad) throw new Error('--ldap-only and --ad-only together leave nothing to run');
  if (o.users < 1 || o.adUsers < 1 || o.groups < 3 || o.adGroups < 3) throw new Error('need at least 1 user and 3 groups');
  o.creates = Math.max(1, o.creates);
  o.logins = Math.max(1, o.logins);
  return o;
}

// ------------------------------------------------------------------ results

interface Row {
  server: string;
  what: string;
  value: string;
  target: string;
  pass: boolean | null;
  note?: string;
}

const rows: Row[] = [];
const say = (s: string) => process.stderr.write(`${s}\n`);
const fmtMs = (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`);

function row(server: string, what: string, ms: number | null, targetMs: number | null, note?: string): void {
  rows.push({
    server, what, value: ms === null ? '-' : fmtMs(ms), target: targetMs === null ? '' : `≤ ${fmtMs(targetMs)}`,
    pass: targetMs === null || ms === null ? null : ms <= targetMs, note,
  });
}

function printTable(): void {
  const head = ['Server', 'Figure', 'Value', 'Target', 'Result', 'Notes'];
  const body = rows.map((r) => [r.server, r.what, r.value, r.target, r.pass === null ? '' : r.pass ? 'PASS' : 'FAIL', r.note ?? '']);
  process.stdout.write(`\n${tableLines(head, body, (i) => i !== 2).join('\n')}\n`);
}

function loadNote(): string {
  const [l1, l5] = os.loadavg();
  return `load average ${l1!.toFixed(1)} (1 min) / ${l5!.toFixed(1)} (5 min) on ${os.cpus().length} CPUs`;
}

// ------------------------------------------------------------------ one directory, all figures

interface Target {
  label: string;
  kind: 'ldap' | 'ad';
  shape: Shape;
  groups: BenchGroup[];
  admin: Admin;
  directory: Record<string, unknown>;
  dnOfUser: (i: number) => string;
  dnOfGroup: (g: BenchGroup) => string;
  newUserLdif: (login: string) => string;
}

function checkReport(r: SyncReport, what: string): void {
  if (!r.ok) throw new Error(`${what} failed: ${r.error}`);
}

async function measure(t: Target, o: Options, dir: string): Promise<void> {
  const L = t.label;
  const imapPort = await freePort();
  const inst: Instance = await setupInstance(dir, t.shape.domain, imapPort, t.directory);
  const logins = Array.from({ length: Math.min(t.shape.users, 1000) }, (_, i) => `u${String(i).padStart(5, '0')}@${t.shape.domain}`);

  // 1. first full sync, through the library
  let app: App | null = await open(inst);
  const closeApp = onCleanup(`${L} app`, () => app?.close());
  try {
    say(`  ${L}: full sync of ${t.shape.users} users / ${t.shape.groups} groups...`);
    const full = await app.directories.sync(inst.directoryId, { full: true });
    checkReport(full, 'full sync');
    const members = await app.store.em.count(GroupMemberEntity);
    const expected = expectedMemberships(t.shape, t.groups);
    const c = full.counts;
    say(`  ${L}: full sync ${fmtMs(full.durationMs)}: ${JSON.stringify(c)}; list memberships ${members} (expected ${expected})`);
    if (c.created !== t.shape.users) say(`  ${L}: WARNING: ${c.created} accounts created, expected ${t.shape.users}`);
    row(L, `full sync (${t.shape.users} users, ${t.shape.groups} groups)`, full.durationMs, 10_000,
      `${c.created} accounts, ${c.groups} lists, ${members}/${expected} list members, ${c.conflicts} conflicts`);

    // 2. idle poll and incremental after N changes
    const idle = await app.directories.sync(inst.directoryId);
    checkReport(idle, 'idle incremental sync');
    row(L, 'incremental, nothing changed (one poll)', idle.durationMs, null, `mode ${idle.mode}`);
    if (o.changes > 0) {
      const ch = changesLdif(t.kind, t.shape, t.groups, o.changes, t.dnOfUser, t.dnOfGroup);
      const tm = performance.now();
      await ldapTool('ldapmodify', t.admin, ch.ldif, path.join(dir, 'changes.ldif'));
      const modMs = performance.now() - tm;
      const inc = await app.directories.sync(inst.directoryId);
      checkReport(inc, 'incremental sync');
      say(`  ${L}: ldapmodify of ${o.changes} changes ${fmtMs(modMs)}; incremental ${fmtMs(inc.durationMs)}: ${JSON.stringify(inc.counts)}`);
      if (inc.mode !== 'incremental') say(`  ${L}: WARNING: the sync after the changes ran as ${inc.mode}`);
      if (inc.counts.seenUsers < ch.users || inc.counts.seenGroups < Math.min(ch.groups, 1)) {
        say(`  ${L}: WARNING: incremental saw ${inc.counts.seenUsers} users / ${inc.counts.seenGroups} groups for ${ch.users} user and ${ch.groups} group changes`);
      }
      row(L, `incremental after ${o.changes} changes`, inc.durationMs, 1000,
        `${ch.users} users + ${ch.groups} memberships changed; saw ${inc.counts.seenUsers} users, ${inc.counts.seenGroups} groups; ${inc.counts.membershipsChanged} lists updated`);
    }

    // 3. bind-through latency through the library
    say(`  ${L}: ${o.logins} logins through app.accounts.authenticate...`);
    const both = await libraryLogins(app, logins, PASSWORD, o.logins);
    const first = stats(both.first);
    const lib = stats(both.steady);
    row(L, `first login of each user p50 (library, n=${first.n})`, first.p50, null);
    row(L, `first login of each user p95 (library, n=${first.n})`, first.p95, null, `max ${fmtMs(first.max)}; AD writes lastLogonTimestamp on a user's first logon in 14 days`);
    row(L, `bind-through login p50 (library, n=${lib.n})`, lib.p50, null);
    row(L, `bind-through login p95 (library, n=${lib.n})`, lib.p95, 20, `max ${fmtMs(lib.max)}, mean ${fmtMs(lib.mean)}`);
  } finally {
    await app?.close();
    app = null;
    closeApp();
  }

  // 4. the running server: ldapadd → IMAP LOGIN, then IMAP LOGIN latency
  const srv = await serve(inst, dir, say);
  try {
    // The server's loop runs its first (incremental) sync at start; wait for a login to work and one poll interval.
    const first = await imapLoginOnce(imapPort, logins[0]!, PASSWORD);
    if (!first.ok) throw new Error(`IMAP LOGIN ${logins[0]} refused by the running server: ${first.line}`);
    await sleep(2500);
    const samples: Array<{ addedMs: number; accountMs: number; loginMs: number; attempts: number }> = [];
    for (let k = 0; k < o.creates; k++) {
      const login = `newuser${k}`;
      const address = `${login}@${t.shape.domain}`;
      const r = await createToLogin(inst, address, PASSWORD, () => ldapTool('ldapadd', t.admin, t.newUserLdif(login), path.join(dir, `new-${k}.ldif`)));
      say(`  ${L}: ${address}: ldapadd ${fmtMs(r.addedMs)}, account ${fmtMs(r.accountMs)}, IMAP LOGIN OK ${fmtMs(r.loginMs)} (${r.attempts} attempt${r.attempts > 1 ? 's' : ''})`);
      samples.push(r);
      // Start the next one at another point of the poll cycle.
      await sleep(700 + k * 450);
    }
    const worst = samples.reduce((a, b) => (b.loginMs > a.loginMs ? b : a));
    const med = stats(samples.map((s) => s.loginMs));
    row(L, `ldapadd → IMAP LOGIN OK (worst of ${samples.length})`, worst.loginMs, 5000,
      `median ${fmtMs(med.p50)}; account row after ${fmtMs(worst.accountMs)}; poll ${String(t.directory.pollSeconds ?? 2)} s`);

    say(`  ${L}: ${o.logins} IMAP LOGINs...`);
    const im = stats(await imapLogins(imapPort, logins, PASSWORD, o.logins));
    row(L, `IMAP LOGIN p50 (n=${im.n})`, im.p50, null);
    row(L, `IMAP LOGIN p95 (n=${im.n})`, im.p95, 20, `max ${fmtMs(im.max)}, mean ${fmtMs(im.mean)}`);
  } finally {
    await srv.stop();
  }
}

// ------------------------------------------------------------------ OpenLDAP

async function benchLdap(o: Options, root: string): Promise<void> {
  const L = 'OpenLDAP';
  const dir = path.join(root, 'ldap');
  mkdirSync(dir, { recursive: true });
  const shape: Shape = { users: o.users, groups: o.groups, domain: 'example.test' };
  const gs = groups(shape);
  const suffix = 'dc=example,dc=test';
  const layout: LdapLayout = { people: `ou=people,${suffix}`, groups: `ou=groups,${suffix}` };
  const t0 = performance.now();
  const ldifFile = path.join(dir, 'data.ldif');
  writeFileSync(ldifFile, ldapLdif(shape, gs, layout, o.load === 'slapadd'));
  say(`${L}: ${shape.users} users, ${gs.length} groups as LDIF in ${fmtMs(performance.now() - t0)}; loading with ${o.load}...`);
  const workdir = path.join(dir, 'slapd');
  const slapd = await startSlapdLoaded(workdir, await freePort(), await freePort(), ldifFile, o.load, path.join(dir, 'load.log'), say);
  try {
    const admin: Admin = { url: slapd.ldapsUrl, bindDn: slapd.env.SLAPD_ADMIN_DN!, password: slapd.env.SLAPD_ADMIN_PASS!, caFile: slapd.env.SLAPD_CA_FILE! };
    await measure({
      label: L, kind: 'ldap', shape, groups: gs, admin,
      directory: {
        id: 'bench-ldap', type: 'ldap', url: slapd.ldapsUrl, caFile: slapd.env.SLAPD_CA_FILE, bindDn: admin.bindDn,
        bindPassword: admin.password, baseDn: suffix, domains: [shape.domain], pollSeconds: 2,
      },
      dnOfUser: (i) => `uid=u${String(i).padStart(5, '0')},${layout.people}`,
      dnOfGroup: (g) => `cn=${g.name},${layout.groups}`,
      newUserLdif: (login) => newLdapUserLdif(login, shape.domain, layout),
    }, o, dir);
  } finally {
    await stopSlapd(workdir);
  }
}

// ------------------------------------------------------------------ Samba AD

async function benchAd(o: Options, root: string): Promise<void> {
  const L = 'Samba AD';
  const dir = path.join(root, 'ad');
  mkdirSync(dir, { recursive: true });
  say(`${L}: checking that no other DC holds 389/636/3268/3269...`);
  await waitPortsFree([389, 636, 3268, 3269], o.portWaitSeconds * 1000, say);
  const workdir = path.join(dir, 'dc');
  const samba = await startSamba(workdir, say);
  try {
    const e = samba.env;
    const realm = e.SAMBA_ADMIN_BIND!.split('@')[1]!;
    const shape: Shape = { users: o.adUsers, groups: o.adGroups, domain: realm };
    const gs = groups(shape);
    const layout: AdLayout = { ou: `OU=Bench,${e.SAMBA_BASE_DN}`, upnSuffix: realm };
    const admin: Admin = { url: e.SAMBA_LDAPS_URL!, bindDn: e.SAMBA_ADMIN_BIND!, password: e.SAMBA_ADMIN_PASS!, caFile: e.SAMBA_CA_FILE! };
    // Bulk load over LDAPS with ldapadd (unicodePwd needs an encrypted connection), in chunks for progress.
    const t0 = performance.now();
    const log = path.join(dir, 'load.log');
    await ldapTool('ldapadd', admin, adOuLdif(layout), path.join(dir, 'ou.ldif'), log);
    const chunk = 500;
    for (let from = 0; from < shape.users; from += chunk) {
      await ldapTool('ldapadd', admin, adUsersLdif(shape, gs, layout, from, from + chunk), path.join(dir, 'users.ldif'), log, 1_800_000);
      say(`  ${L}: ${Math.min(from + chunk, shape.users)}/${shape.users} users (${fmtMs(performance.now() - t0)})`);
    }
    await ldapTool('ldapadd', admin, adGroupsLdif(gs, layout), path.join(dir, 'groups.ldif'), log, 1_800_000);
    say(`  ${L}: loaded ${shape.users} users and ${gs.length} groups with ldapadd over LDAPS in ${fmtMs(performance.now() - t0)}`);
    await measure({
      label: L, kind: 'ad', shape, groups: gs, admin,
      directory: {
        id: 'bench-ad', type: 'ad', url: e.SAMBA_LDAPS_URL, caFile: e.SAMBA_CA_FILE, bindDn: e.SAMBA_ADMIN_BIND,
        bindPassword: e.SAMBA_ADMIN_PASS, baseDn: e.SAMBA_BASE_DN, domains: [shape.domain], pollSeconds: 2,
      },
      dnOfUser: (i) => `CN=u${String(i).padStart(5, '0')},${layout.ou}`,
      dnOfGroup: (g) => `CN=${g.name},${layout.ou}`,
      newUserLdif: (login) => newAdUserLdif(login, shape.domain, layout),
    }, o, dir);
  } finally {
    await stopSamba(workdir);
  }
}

// ------------------------------------------------------------------ main

async function main(): Promise<number> {
  let o: Options;
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (e) {
    say(`${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  const kinds = [...(o.ldap ? ['ldap' as const] : []), ...(o.ad ? ['ad' as const] : [])];
  const absent = kinds.map((k) => ({ k, m: missing(k) })).filter((x) => x.m.length);
  if (absent.length) {
    for (const { k, m } of absent) say(`missing for ${k === 'ldap' ? 'OpenLDAP' : 'Samba AD'}: ${m.join(', ')}\n  install (as root): ${aptCommand(k)}`);
    say('nothing installed by this script; install the packages above, or choose --ldap-only / --ad-only.');
    return 3;
  }
  if (process.getuid?.() !== 0 && o.ad) say('warning: not root; Samba AD needs root for ports 389/636');

  installSignalHandlers();
  const root = mkdtempSync(path.join(os.tmpdir(), 'pochtamt-bench-dir-'));
  // Registered first, so it runs last (after the servers are stopped).
  onCleanup('temporary folder', () => {
    if (o.keep) say(`kept ${root}`);
    else rmSync(root, { recursive: true, force: true });
  });
  say(`directory benchmark in ${root}; ${loadNote()}`);
  const started = new Date();
  let failed = 0;
  for (const k of kinds) {
    try {
      if (k === 'ldap') await benchLdap(o, root);
      else await benchAd(o, root);
    } catch (e) {
      if (isCleaningUp()) break;
      failed++;
      say(`${k === 'ldap' ? 'OpenLDAP' : 'Samba AD'} run failed: ${(e as Error).stack ?? String(e)}`);
      rows.push({ server: k === 'ldap' ? 'OpenLDAP' : 'Samba AD', what: 'run', value: 'error', target: '', pass: false, note: (e as Error).message.split('\n')[0]!.slice(0, 160) });
    }
  }
  const after = loadNote();
  printTable();
  process.stdout.write(`\n${started.toISOString()}; Node ${process.version}; at the end: ${after}.\n`
    + 'Figures on a shared or loaded machine are indicative only (see bench/README.md).\n');
  if (o.json) writeFileSync(o.json, `${JSON.stringify({ started: started.toISOString(), options: o, rows, load: after }, null, 2)}\n`);
  await runCleanups();
  return failed ? 1 : 0;
}

main().then((code) => process.exit(code), async (e: unknown) => {
  say(`bench failed: ${(e as Error).stack ?? String(e)}`);
  await runCleanups();
  process.exit(1);
});
