// Directory sync and bind-through against a real Samba AD domain controller provisioned once
// by this suite (test/directory/fixtures/start-samba.sh, realm CORP.TEST, LDAPS with the
// suite's own CA): samba-tool user create → account and mailbox within 5 s and a login with
// the AD password (address, UPN, CORP\sAMAccountName; SMTP and IMAP); proxyAddresses alias; disable; rename;
// nested group list; password change; delete (tombstone via show-deleted) → disabled, kept;
// login by proxyAddresses alias; a group's smtp: addresses; ranged member retrieval
// (member;range=…); change notification (1.2.840.113556.1.4.528) with polling slowed to 60 s.
// The main instance runs with notify: false, so it exercises the poll fallback.
// Set DIRECTORY_TEST_SAMBA_WORKDIR to reuse a provisioned DC between runs (it is then left running).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Attribute, Change, type Client } from 'ldapts';
import { AccountEntity } from '../../schemas/entities/index.js';
import { DirectoryConnector } from '../../connectors/ldap/directory-connector.js';
import { startInstance, type TestInstance } from '../helpers/instance.js';
import {
  adminClient, imapLogin, SAMBA_SKIP, sambaTool, sendMx, smtpLogin, startSamba, stopSamba, storeProbes, tempWorkdir, waitFor, type Env,
} from './servers.js';

const D = 'corp.test';
const PW = 'Passw0rd!';
const USERS = 'CN=Users,DC=corp,DC=test';
/** Unique names per run, so a reused DC (DIRECTORY_TEST_SAMBA_WORKDIR) never sees a clash. */
const S = randomBytes(2).toString('hex');
const n = (base: string) => `${base}${S}`;

describe('Samba Active Directory', { skip: SAMBA_SKIP }, () => {
  const reuse = process.env.DIRECTORY_TEST_SAMBA_WORKDIR;
  let workdir: string;
  let env: Env;
  let ldap: Client;
  let t: TestInstance;

  const { account, inboxCount, authCode } = storeProbes(() => t);
  const createUser = (name: string, mail: string) => sambaTool(env, 'user', 'create', name, PW, '--use-username-as-cn', `--mail-address=${mail}`);

  before(async () => {
    workdir = reuse ?? await tempWorkdir('ad');
    env = startSamba(workdir);
    ldap = await adminClient(env.SAMBA_LDAPS_URL!, env.SAMBA_ADMIN_BIND!, env.SAMBA_ADMIN_PASS!, env.SAMBA_CA_FILE!);
    await createUser(n('alice'), `${n('alice')}@${D}`);
    await createUser(n('bob'), `${n('bob')}@${D}`);
    await sambaTool(env, 'group', 'add', n('staff'), `--mail-address=${n('staff')}@${D}`);
    await sambaTool(env, 'group', 'add', n('inner'));
    await sambaTool(env, 'group', 'addmembers', n('inner'), n('bob'));
    await sambaTool(env, 'group', 'addmembers', n('staff'), `${n('alice')},${n('inner')}`);
    t = await startInstance({
      config: {
        directories: [{
          id: 'corp', type: 'ad', url: env.SAMBA_LDAPS_URL, caFile: env.SAMBA_CA_FILE, bindDn: env.SAMBA_ADMIN_BIND,
          bindPassword: env.SAMBA_ADMIN_PASS, baseDn: env.SAMBA_BASE_DN, domains: [D], pollSeconds: 0.5, notify: false,
        }],
      },
    });
  });

  after(async () => {
    await ldap?.unbind().catch(() => undefined);
    await t?.stop();
    if (workdir && !reuse) {
      stopSamba(workdir, true);
      await rm(path.dirname(workdir), { recursive: true, force: true });
    }
  });

  test('the first sync creates accounts keyed by objectGUID; address, UPN and CORP\\name logins work', async () => {
    const { value: alice } = await waitFor('alice', () => account(`${n('alice')}@${D}`), 15_000);
    assert.equal(alice.source, 'directory');
    assert.match(alice.externalId!, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.ok(await inboxCount(alice.id) >= 0);
    assert.equal(await authCode(`${n('alice')}@${D}`, PW), 'ok');
    assert.equal(await authCode(`CORP\\${n('alice')}`, PW), 'ok');
    assert.equal(await authCode(`corp\\${n('alice').toUpperCase()}`, PW), 'ok');
    assert.equal(await authCode(`${n('alice')}@${D}`, 'Wr0ng-pass'), 'AUTH_FAILED');
    assert.equal(await smtpLogin(t.ports.submission!, `${n('alice')}@${D}`, PW), 'ok');
  });

  test('samba-tool user create → account, mailbox and login within 5 s; a UPN other than the mail logs in', async () => {
    const started = Date.now();
    await sambaTool(env, 'user', 'create', n('carl'), PW, '--use-username-as-cn', `--mail-address=c.${n('carl')}@${D}`);
    const { value: carl } = await waitFor('carl', () => account(`c.${n('carl')}@${D}`), 5000);
    assert.ok(Date.now() - started < 5000 + 1500, 'samba-tool itself takes about a second');
    assert.ok(await inboxCount(carl.id) >= 0);
    assert.equal(await smtpLogin(t.ports.submission!, `c.${n('carl')}@${D}`, PW), 'ok');
    assert.equal(await authCode(`${n('carl')}@${D}`, PW), 'ok', 'UPN login');
    assert.equal(await smtpLogin(t.ports.submission!, `CORP\\${n('carl')}`, PW), 'ok');
    assert.equal(await imapLogin(t.ports.imap!, `${n('carl')}@${D}`, PW), 'ok', 'IMAP LOGIN with the UPN');
  });

  test('proxyAddresses: SMTP: is primary, smtp: delivers as an alias, other types are ignored', async () => {
    const dn = `CN=${n('alice')},${USERS}`;
    await ldap.modify(dn, new Change({ operation: 'add', modification: new Attribute({
      type: 'proxyAddresses', values: [`SMTP:${n('alice')}@${D}`, `smtp:a.${n('alice')}@${D}`, `X500:/o=corp/cn=${n('alice')}`],
    }) }));
    const alice = (await account(`${n('alice')}@${D}`))!;
    await waitFor('alias', async () => (await t.app.accounts.resolveRecipient(`a.${n('alice')}@${D}`)).kind === 'local');
    const before = await inboxCount(alice.id);
    await sendMx(t.ports.smtp!, `a.${n('alice')}@${D}`);
    await waitFor('alias delivery', async () => (await inboxCount(alice.id)) === before + 1);
  });

  test('login by a proxyAddresses alias (SMTP AUTH and IMAP), with the AD password', async () => {
    const alias = `a.${n('alice')}@${D}`;
    assert.equal(await authCode(alias, PW), 'ok');
    assert.equal(await authCode(alias.toUpperCase(), PW), 'ok');
    assert.equal(await authCode(alias, 'Wr0ng-pass'), 'AUTH_FAILED');
    assert.equal(await smtpLogin(t.ports.submission!, alias, PW), 'ok');
    assert.equal(await smtpLogin(t.ports.submission!, alias, 'Wr0ng-pass'), 535);
    assert.equal(await imapLogin(t.ports.imap!, alias, PW), 'ok');
    assert.notEqual(await imapLogin(t.ports.imap!, alias, 'Wr0ng-pass'), 'ok');
  });

  test('a group with mail and a nested group is a list delivering to all; membership follows AD', async () => {
    const alice = (await account(`${n('alice')}@${D}`))!;
    const bob = (await account(`${n('bob')}@${D}`))!;
    const carl = (await account(`c.${n('carl')}@${D}`))!;
    const list = `${n('staff')}@${D}`;
    await waitFor('list', async () => {
      const r = await t.app.accounts.resolveRecipient(list);
      return r.kind === 'local' && r.accountIds.length === 2;
    });
    const [a0, b0] = [await inboxCount(alice.id), await inboxCount(bob.id)];
    await sendMx(t.ports.smtp!, list);
    await waitFor('list delivery', async () => (await inboxCount(alice.id)) === a0 + 1 && (await inboxCount(bob.id)) === b0 + 1);
    await sambaTool(env, 'group', 'addmembers', n('inner'), n('carl'));
    await waitFor('carl in list', async () => {
      const r = await t.app.accounts.resolveRecipient(list);
      return r.kind === 'local' && r.accountIds.includes(carl.id);
    });
  });

  test("a group's proxyAddresses smtp: entries are addresses of the list (delivered to all members)", async () => {
    const dn = `CN=${n('staff')},${USERS}`;
    const alice = (await account(`${n('alice')}@${D}`))!;
    const bob = (await account(`${n('bob')}@${D}`))!;
    const extra = `all.${n('staff')}@${D}`;
    await ldap.modify(dn, new Change({ operation: 'add', modification: new Attribute({
      type: 'proxyAddresses', values: [`SMTP:${n('staff')}@${D}`, `smtp:${extra}`, `X500:/o=corp/cn=${n('staff')}`],
    }) }));
    const { value: r } = await waitFor('list alias', async () => {
      const x = await t.app.accounts.resolveRecipient(extra);
      return x.kind === 'local' && x.accountIds.includes(alice.id) && x.accountIds.includes(bob.id) ? x : null;
    });
    assert.equal(r.via, 'group');
    const [a0, b0] = [await inboxCount(alice.id), await inboxCount(bob.id)];
    await sendMx(t.ports.smtp!, extra);
    await waitFor('delivery to all', async () => (await inboxCount(alice.id)) === a0 + 1 && (await inboxCount(bob.id)) === b0 + 1);
    await ldap.modify(dn, new Change({ operation: 'delete', modification: new Attribute({ type: 'proxyAddresses', values: [`smtp:${extra}`] }) }));
    await waitFor('list alias removed', async () => (await t.app.accounts.resolveRecipient(extra)).kind === 'unknown');
  });

  test('ranged retrieval: member;range=0-1 → 2-3 → 4-* is walked to the whole member list', async () => {
    const names = ['r1', 'r2', 'r3', 'r4', 'r5'].map(n);
    for (const u of names) await sambaTool(env, 'user', 'create', u, PW, '--use-username-as-cn');
    await sambaTool(env, 'group', 'add', n('ranged'), `--mail-address=${n('ranged')}@${D}`);
    await sambaTool(env, 'group', 'addmembers', n('ranged'), names.join(','));
    const groupDn = `CN=${n('ranged')},${USERS}`;
    // The DC really answers in ranges when asked for one (Samba does not apply MaxValRange by itself).
    const raw = await ldap.search(groupDn, { scope: 'base', attributes: ['member;range=0-1'] });
    assert.equal((raw.searchEntries[0]!['member;range=0-1'] as string[]).length, 2);
    const c = new DirectoryConnector({
      id: 'ranged', type: 'ad', url: env.SAMBA_LDAPS_URL!, caFile: env.SAMBA_CA_FILE, bindDn: env.SAMBA_ADMIN_BIND!,
      bindPassword: env.SAMBA_ADMIN_PASS!, baseDn: env.SAMBA_BASE_DN!, groupFilter: `(cn=${n('ranged')})`, memberRangeSize: 2,
    });
    try {
      const { groups } = await c.fullScan();
      const g = groups.find((x) => x.name === n('ranged'))!;
      assert.ok(g, 'group read');
      assert.equal(g.membersIncomplete, undefined, 'all ranges read');
      assert.deepEqual(g.memberDns.map((d) => d.toLowerCase()).sort(), names.map((u) => `cn=${u},${USERS}`.toLowerCase()).sort());
      // A group smaller than one range comes back as member;range=0-* at once.
      await sambaTool(env, 'group', 'add', n('small'));
      await sambaTool(env, 'group', 'addmembers', n('small'), names[0]!);
      const small = new DirectoryConnector({ ...c.o, groupFilter: `(cn=${n('small')})` });
      const [sg] = (await small.fullScan()).groups;
      assert.deepEqual(sg!.memberDns.map((d) => d.toLowerCase()), [`cn=${names[0]},${USERS}`.toLowerCase()]);
      await small.close();
    } finally {
      await c.close();
    }
  });

  test('samba-tool user disable stops logins at once (AD 533) and disables the account; enable restores', async () => {
    assert.equal(await authCode(`c.${n('carl')}@${D}`, PW), 'ok');
    assert.equal(await authCode(`c.${n('carl')}@${D}`, PW), 'ok', 'cached now');
    await sambaTool(env, 'user', 'disable', n('carl'));
    assert.equal(await authCode(`c.${n('carl')}@${D}`, PW), 'DISABLED');
    await waitFor('carl disabled', async () => (await account(`c.${n('carl')}@${D}`))?.enabled === false);
    assert.equal(await smtpLogin(t.ports.submission!, `c.${n('carl')}@${D}`, PW), 535);
    await sambaTool(env, 'user', 'enable', n('carl'));
    await waitFor('carl enabled', async () => (await account(`c.${n('carl')}@${D}`))?.enabled === true);
    assert.equal(await authCode(`c.${n('carl')}@${D}`, PW), 'ok');
  });

  test('a password change in AD takes effect at once, also when the old password was just cached', async () => {
    assert.equal(await authCode(`${n('bob')}@${D}`, PW), 'ok');
    const hits = t.app.directories.authenticator.cache.hits;
    assert.equal(await authCode(`${n('bob')}@${D}`, PW), 'ok');
    assert.equal(t.app.directories.authenticator.cache.hits, hits + 1, 'the old password is cached');
    await sambaTool(env, 'user', 'setpassword', n('bob'), '--newpassword=N3w#Passw0rd');
    assert.equal(await authCode(`${n('bob')}@${D}`, PW), 'AUTH_FAILED');
    assert.equal(await authCode(`${n('bob')}@${D}`, 'N3w#Passw0rd'), 'ok');
  });

  test('samba-tool user rename (sAMAccountName, CN, mail, UPN) keeps the same account and mailbox', async () => {
    const before = (await account(`c.${n('carl')}@${D}`))!;
    await sambaTool(env, 'user', 'rename', n('carl'), `--samaccountname=${n('karl')}`, `--force-new-cn=${n('karl')}`,
      `--mail-address=${n('karl')}@${D}`, `--upn=${n('karl')}@${D}`);
    const { value: after } = await waitFor('karl', () => account(`${n('karl')}@${D}`));
    assert.equal(after.id, before.id);
    assert.equal(await account(`c.${n('carl')}@${D}`), null);
    assert.equal(await authCode(`CORP\\${n('karl')}`, PW), 'ok');
    assert.equal(await authCode(`${n('karl')}@${D}`, PW), 'ok');
  });

  test('change notification: with polling at 60 s, a user added over LDAP has an account within 5 s; a delete follows', async () => {
    const t2 = await startInstance({
      config: {
        directories: [{
          id: 'corp', type: 'ad', url: env.SAMBA_LDAPS_URL, caFile: env.SAMBA_CA_FILE, bindDn: env.SAMBA_ADMIN_BIND,
          bindPassword: env.SAMBA_ADMIN_PASS, baseDn: env.SAMBA_BASE_DN, domains: [D], pollSeconds: 60, notifyPollSeconds: 60,
        }],
      },
    });
    try {
      const acc2 = (address: string) => t2.app.store.em.findOneBy(AccountEntity, { address });
      await waitFor('first sync', () => acc2(`${n('alice')}@${D}`), 15_000);
      await waitFor('notification registered', async () => (await t2.app.directories.status())[0]!.notify.state === 'active', 5000);
      const before = (await t2.app.directories.status())[0]!.notify.syncs;
      const name = n('nina');
      const dn = `CN=${name},${USERS}`;
      const started = Date.now();
      // As an admin tool would: over LDAPS, with the password (unicodePwd needs an encrypted connection).
      const attr = (type: string, ...values: string[]) => new Attribute({ type, values });
      await ldap.add(dn, [
        attr('objectClass', 'top', 'person', 'organizationalPerson', 'user'), attr('sAMAccountName', name),
        attr('userPrincipalName', `${name}@${D}`), attr('mail', `${name}@${D}`),
        new Attribute({ type: 'unicodePwd', values: [Buffer.from(`"${PW}"`, 'utf16le')] }), attr('userAccountControl', '512'),
      ]);
      const { value: nina } = await waitFor('account from the notification', () => acc2(`${name}@${D}`), 5000, 25);
      const ms = Date.now() - started;
      assert.ok(ms < 5000, `took ${ms} ms`);
      assert.equal(nina.enabled, true);
      const [st] = await t2.app.directories.status();
      assert.ok(st!.notify.syncs > before, 'the sync was started by a notification, not by the 60 s poll');
      assert.equal(await t2.app.accounts.authenticate(`${name}@${D}`, PW).then(() => 'ok'), 'ok');
      await ldap.del(dn);
      await waitFor('deleted through the notification', async () => (await acc2(`${name}@${D}`))?.deletedAt ? true : null, 5000, 25);
    } finally {
      await t2.stop();
    }
  });

  test('samba-tool user delete → the account is disabled and kept (found through its tombstone)', async () => {
    const before = (await account(`${n('bob')}@${D}`))!;
    await sambaTool(env, 'user', 'delete', n('bob'));
    const { value: gone } = await waitFor('bob deleted', async () => {
      const a = await account(`${n('bob')}@${D}`);
      return a?.deletedAt ? a : null;
    });
    assert.equal(gone.id, before.id);
    assert.equal(gone.enabled, false);
    assert.ok(await inboxCount(gone.id) >= 0, 'mailbox kept');
    const r = await t.app.accounts.resolveRecipient(`${n('staff')}@${D}`);
    assert.ok(r.kind === 'local' && !r.accountIds.includes(gone.id), 'no longer a list member');
    const [s] = await t.app.directories.status();
    assert.equal(s!.lastError, null);
    assert.equal(s!.conflicts.length, 0, JSON.stringify(s!.conflicts));
  });
});
