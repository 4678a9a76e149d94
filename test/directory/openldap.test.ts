// Directory sync and bind-through against a real OpenLDAP slapd started by this suite
// (test/directory/fixtures/start-slapd.sh): the lifecycle (create → mailbox within 5 s without
// restart, alias, nested groups, ppolicy lock, password change, rename, delete), bad input
// (filter metacharacters, NUL, empty passwords, huge values, duplicate addresses) and an
// outage (slapd stopped: delivery works, logins TEMPORARY, nothing disabled; resumes from the cursor).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { promisify } from 'node:util';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Attribute, Change, type Client } from 'ldapts';
import { AccountEntity } from '../../schemas/entities/index.js';
import { parseConfig } from '../../src/config/config.js';
import { startInstance, type TestInstance } from '../helpers/instance.js';
import {
  adminClient, imapLogin, rawAuthPlain, SLAPD_SKIP, sendMx, smtpLogin, startSlapd, stopSlapd, storeProbes, tempWorkdir, waitFor, type Env,
} from './servers.js';

const D = 'example.test';
const PW = 'Passw0rd!';
const PEOPLE = 'ou=people,dc=example,dc=test';
const GROUPS = 'ou=groups,dc=example,dc=test';
const CLI = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../src/cli/main.js');
const cli = async (dataDir: string, ...args: string[]) => {
  try {
    const r = await promisify(execFile)(process.execPath, [CLI, '--data', dataDir, ...args], { timeout: 60_000, env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('POCHTAMT_'))) });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: x.code ?? -1, out: x.stdout ?? '', err: x.stderr ?? '' };
  }
};

describe('OpenLDAP directory', { skip: SLAPD_SKIP }, () => {
  let workdir: string;
  let env: Env;
  let ldap: Client;
  let t: TestInstance;

  const addUser = async (uid: string, mails: string[], extra: Record<string, string | string[]> = {}, dn = `uid=${uid},${PEOPLE}`) => {
    await ldap.add(dn, {
      objectClass: ['inetOrgPerson'], uid, cn: uid, sn: uid, userPassword: PW, ...(mails.length ? { mail: mails } : {}), ...extra,
    });
    return dn;
  };
  const { account, inboxCount, authCode } = storeProbes(() => t);

  before(async () => {
    workdir = await tempWorkdir('ldap');
    env = startSlapd(workdir);
    ldap = await adminClient(env.SLAPD_LDAPS_URL!, env.SLAPD_ADMIN_DN!, env.SLAPD_ADMIN_PASS!, env.SLAPD_CA_FILE!);
    await addUser('alice', [`alice@${D}`, `alice.a@${D}`], { displayName: 'Alice Anderson', title: 'Engineer', telephoneNumber: '+1 555 0100' });
    await addUser('bob', [`bob@${D}`]);
    await ldap.add(`cn=ops,${GROUPS}`, { objectClass: ['groupOfNames'], cn: 'ops', member: [`uid=bob,${PEOPLE}`] });
    await ldap.add(`cn=engineering,${GROUPS}`, {
      objectClass: ['groupOfNames', 'extensibleObject'], cn: 'engineering', mail: `eng@${D}`,
      member: [`uid=alice,${PEOPLE}`, `cn=ops,${GROUPS}`],
    });
    // DIRECTORY_TEST_POSTGRES=1 (with TEST_DATABASE_URL) runs the same suite on PostgreSQL.
    t = await startInstance({
      postgres: process.env.DIRECTORY_TEST_POSTGRES === '1',
      config: {
        directories: [{
          id: 'ol', type: 'ldap', url: env.SLAPD_LDAPS_URL, caFile: env.SLAPD_CA_FILE, bindDn: env.SLAPD_ADMIN_DN,
          bindPassword: env.SLAPD_ADMIN_PASS, baseDn: 'dc=example,dc=test', domains: [D], pollSeconds: 0.5, deleteScanSeconds: 1,
        }],
      },
    });
  });

  after(async () => {
    await ldap?.unbind().catch(() => undefined);
    await t?.stop();
    if (workdir) {
      stopSlapd(workdir, true);
      await rm(path.dirname(workdir), { recursive: true, force: true });
    }
  });

  test('the first sync creates accounts with mailboxes; logins use the LDAP password', async () => {
    const { value: alice } = await waitFor('alice', () => account(`alice@${D}`));
    assert.equal(alice.source, 'directory');
    assert.equal(alice.directoryId, 'ol');
    assert.match(alice.externalId!, /^[0-9a-f-]{36}$/);
    assert.equal(alice.passwordHash, null, 'no password copy');
    assert.equal(alice.displayName, 'Alice Anderson');
    assert.ok(await inboxCount(alice.id) >= 0, 'INBOX exists');
    assert.equal(await authCode(`alice@${D}`, PW), 'ok');
    assert.equal(await authCode(`alice@${D}`, 'wrong'), 'AUTH_FAILED');
    assert.equal(await authCode('EXAMPLE\\alice', PW), 'ok', 'DOMAIN\\uid login');
    assert.equal(await smtpLogin(t.ports.submission!, `alice@${D}`, PW), 'ok');
    assert.equal(await smtpLogin(t.ports.submission!, `alice@${D}`, 'wrong'), 535);
    // Password checks ran on pooled bind connections, which stay open for the next login.
    const idle = (await t.app.directories.status())[0]!.bindPoolIdle;
    assert.ok(idle >= 1 && idle <= 4, `idle bind connections: ${idle}`);
    assert.equal(await authCode(`alice@${D}`, 'wrong'), 'AUTH_FAILED', 'a failed bind leaves the pooled connection usable');
    assert.equal(await authCode(`bob@${D}`, PW), 'ok');
    // A repeated login with the same password is served from the login cache (entry stamp unchanged).
    const hits = t.app.directories.authenticator.cache.hits;
    assert.equal(await authCode(`bob@${D}`, PW), 'ok');
    assert.equal(t.app.directories.authenticator.cache.hits, hits + 1);
    assert.equal(await authCode(`bob@${D}`, 'wrong'), 'AUTH_FAILED', 'another password never matches a cached check');
    assert.equal(t.app.directories.authenticator.cache.hits, hits + 1);
  });

  test('IMAP LOGIN uses the directory password (address and DOMAIN\\uid)', async () => {
    assert.equal(await imapLogin(t.ports.imap!, `alice@${D}`, PW), 'ok');
    assert.notEqual(await imapLogin(t.ports.imap!, `alice@${D}`, 'wrong'), 'ok');
    assert.equal(await imapLogin(t.ports.imap!, 'EXAMPLE\\alice', PW), 'ok');
  });

  test('a new LDAP user gets an account and mailbox within 5 s, without a restart, and can log in', async () => {
    await addUser('dave', [`dave@${D}`]);
    const { value: dave, ms } = await waitFor('dave', () => account(`dave@${D}`), 5000);
    assert.ok(ms < 5000, `took ${ms} ms`);
    assert.ok(await inboxCount(dave.id) >= 0);
    assert.equal(await smtpLogin(t.ports.submission!, `dave@${D}`, PW), 'ok');
  });

  test('a second mail value is an alias that delivers to the user', async () => {
    const alice = (await account(`alice@${D}`))!;
    const before = await inboxCount(alice.id);
    await sendMx(t.ports.smtp!, `alice.a@${D}`);
    await waitFor('alias delivery', async () => (await inboxCount(alice.id)) === before + 1);
  });

  test('a group with mail is a list; nested group members receive too, and membership follows LDAP', async () => {
    const alice = (await account(`alice@${D}`))!;
    const bob = (await account(`bob@${D}`))!;
    const dave = (await account(`dave@${D}`))!;
    const r = await t.app.accounts.resolveRecipient(`eng@${D}`);
    assert.equal(r.kind, 'local');
    assert.deepEqual([...(r as { accountIds: number[] }).accountIds].sort(), [alice.id, bob.id].sort());
    const [a0, b0] = [await inboxCount(alice.id), await inboxCount(bob.id)];
    await sendMx(t.ports.smtp!, `eng@${D}`);
    await waitFor('list delivery', async () => (await inboxCount(alice.id)) === a0 + 1 && (await inboxCount(bob.id)) === b0 + 1);
    // Adding dave to the nested group bumps only the group's entryCSN (memberOf is a back-link).
    await ldap.modify(`cn=ops,${GROUPS}`, new Change({ operation: 'add', modification: new Attribute({ type: 'member', values: [`uid=dave,${PEOPLE}`] }) }));
    await waitFor('dave in eng', async () => {
      const x = await t.app.accounts.resolveRecipient(`eng@${D}`);
      return x.kind === 'local' && x.accountIds.includes(dave.id);
    });
  });

  test('login by alias address: a further mail value logs in (SMTP AUTH, IMAP); a local alias only when it names one account', async () => {
    assert.equal(await authCode(`alice.a@${D}`, PW), 'ok');
    assert.equal(await authCode(`Alice.A@${D.toUpperCase()}`, PW), 'ok');
    assert.equal(await authCode(`alice.a@${D}`, 'wrong'), 'AUTH_FAILED');
    assert.equal(await smtpLogin(t.ports.submission!, `alice.a@${D}`, PW), 'ok');
    assert.equal(await smtpLogin(t.ports.submission!, `alice.a@${D}`, 'wrong'), 535);
    assert.equal(await imapLogin(t.ports.imap!, `alice.a@${D}`, PW), 'ok');
    await t.app.accounts.addAccount({ address: `local1@${D}`, password: 'L0cal-Passw0rd' });
    await t.app.accounts.addAlias(`l.one@${D}`, [`local1@${D}`]);
    await t.app.accounts.addAlias(`shared@${D}`, [`local1@${D}`, `bob@${D}`]);
    await t.app.accounts.addAlias(`fwd@${D}`, ['someone@remote.test']);
    assert.equal(await authCode(`l.one@${D}`, 'L0cal-Passw0rd'), 'ok');
    assert.equal(await imapLogin(t.ports.imap!, `l.one@${D}`, 'L0cal-Passw0rd'), 'ok');
    assert.equal(await authCode(`shared@${D}`, 'L0cal-Passw0rd'), 'AUTH_FAILED', 'an alias of two accounts names no login');
    assert.equal(await authCode(`shared@${D}`, PW), 'AUTH_FAILED');
    assert.equal(await authCode(`fwd@${D}`, ''), 'AUTH_FAILED');
    await t.app.accounts.removeAlias(`shared@${D}`);
    await t.app.accounts.removeAlias(`fwd@${D}`);
  });

  test("a group's further mail values are addresses of its list, delivered to every member", async () => {
    const alice = (await account(`alice@${D}`))!;
    const bob = (await account(`bob@${D}`))!;
    const eng = `cn=engineering,${GROUPS}`;
    await ldap.modify(eng, new Change({ operation: 'add', modification: new Attribute({ type: 'mail', values: [`engineering@${D}`] }) }));
    const { value: r } = await waitFor('list alias', async () => {
      const x = await t.app.accounts.resolveRecipient(`engineering@${D}`);
      return x.kind === 'local' && x.accountIds.length >= 2 ? x : null;
    });
    assert.equal(r.via, 'group');
    assert.ok(r.accountIds.includes(alice.id) && r.accountIds.includes(bob.id));
    assert.equal((await t.app.accounts.resolveRecipient(`eng@${D}`)).kind, 'local', 'the primary address stays');
    const [a0, b0] = [await inboxCount(alice.id), await inboxCount(bob.id)];
    await sendMx(t.ports.smtp!, `engineering@${D}`);
    await waitFor('delivery to the further address', async () => (await inboxCount(alice.id)) === a0 + 1 && (await inboxCount(bob.id)) === b0 + 1);
    // A further address a local account already holds is reported, not taken.
    await ldap.modify(eng, new Change({ operation: 'add', modification: new Attribute({ type: 'mail', values: [`local1@${D}`] }) }));
    await waitFor('conflict', async () => (await t.app.directories.status())[0]!.conflicts.some((c) => c.address === `local1@${D}` && /list address/.test(c.reason)));
    const loc = await t.app.accounts.resolveRecipient(`local1@${D}`);
    assert.ok(loc.kind === 'local' && loc.via === 'account');
    await ldap.modify(eng, new Change({ operation: 'delete', modification: new Attribute({ type: 'mail', values: [`engineering@${D}`, `local1@${D}`] }) }));
    await waitFor('list alias gone', async () => (await t.app.accounts.resolveRecipient(`engineering@${D}`)).kind === 'unknown');
    await waitFor('conflict cleared', async () => !(await t.app.directories.status())[0]!.conflicts.some((c) => c.address === `local1@${D}`));
  });

  test('GAL over CardDAV: directory attributes as vCard properties, aliases as EMAIL, lists as groups with members', async () => {
    await ldap.modify(`uid=alice,${PEOPLE}`, [
      new Change({ operation: 'replace', modification: new Attribute({ type: 'givenName', values: ['Alice'] }) }),
      new Change({ operation: 'replace', modification: new Attribute({ type: 'sn', values: ['Anderson'] }) }),
      new Change({ operation: 'replace', modification: new Attribute({ type: 'departmentNumber', values: ['R&D; Platform'] }) }),
      new Change({ operation: 'replace', modification: new Attribute({ type: 'mobile', values: ['+1 555 0199'] }) }),
      new Change({ operation: 'replace', modification: new Attribute({ type: 'roomNumber', values: ['B-12\r\nEMAIL:evil@remote.test'] }) }),
    ]);
    const report = async () => {
      const res = await fetch(`http://127.0.0.1:${t.ports.http}/dav/addressbooks/alice@${D}/gal/`, {
        method: 'REPORT',
        headers: { authorization: `Basic ${Buffer.from(`alice@${D}:${PW}`).toString('base64')}`, depth: '1', 'content-type': 'application/xml' },
        body: '<?xml version="1.0"?><card:addressbook-query xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><card:address-data/></d:prop></card:addressbook-query>',
      });
      assert.equal(res.status, 207);
      return (await res.text()).replace(/&#13;/g, '\r');
    };
    const { value: xml } = await waitFor('attributes in the GAL', async () => {
      const x = await report();
      return x.includes('ADR;TYPE=WORK:;B-12') ? x : null;
    });
    const cards = xml.split('BEGIN:VCARD').slice(1);
    const aliceCard = cards.find((c) => c.includes(`EMAIL;TYPE=INTERNET,WORK:alice@${D}`))!;
    assert.ok(aliceCard, xml);
    assert.match(aliceCard, /FN:Alice Anderson/);
    assert.match(aliceCard, /N:Anderson;Alice;;;/);
    assert.match(aliceCard, /TITLE:Engineer/);
    assert.match(aliceCard, /ORG:;R&amp;D\\; Platform/);
    assert.match(aliceCard, /TEL;TYPE=WORK,VOICE:\+1 555 0100/);
    assert.match(aliceCard, /TEL;TYPE=CELL,VOICE:\+1 555 0199/);
    assert.match(aliceCard, new RegExp(`EMAIL;TYPE=INTERNET,WORK:alice\\.a@${D}`), 'the alias is a further EMAIL');
    assert.doesNotMatch(xml, /^EMAIL:evil/m, 'a CR/LF in a directory value never starts a property');
    const engCard = cards.find((c) => c.includes(`EMAIL;TYPE=INTERNET,WORK:eng@${D}`))!;
    assert.ok(engCard, 'the list is a card');
    assert.match(engCard, /X-ADDRESSBOOKSERVER-KIND:group/);
    const alice = (await account(`alice@${D}`))!;
    const bob = (await account(`bob@${D}`))!;
    assert.match(engCard, new RegExp(`X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:pochtamt-account-${alice.id}\\b`));
    assert.match(engCard, new RegExp(`X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:pochtamt-account-${bob.id}\\b`), 'nested members are listed');
    // A local account has no directory attributes.
    const local = cards.find((c) => c.includes(`EMAIL;TYPE=INTERNET,WORK:local1@${D}`))!;
    assert.ok(local);
    assert.doesNotMatch(local, /TITLE|ORG|TEL/);
    assert.match(local, new RegExp(`EMAIL;TYPE=INTERNET,WORK:l\\.one@${D}`));
  });

  test('a password change in LDAP takes effect at once (also when the old password was just cached)', async () => {
    assert.equal(await authCode(`dave@${D}`, PW), 'ok');
    const hits = t.app.directories.authenticator.cache.hits;
    assert.equal(await authCode(`dave@${D}`, PW), 'ok');
    assert.equal(t.app.directories.authenticator.cache.hits, hits + 1, 'the old password is cached');
    await ldap.modify(`uid=dave,${PEOPLE}`, new Change({ operation: 'replace', modification: new Attribute({ type: 'userPassword', values: ['N3w-Passw0rd'] }) }));
    assert.equal(await authCode(`dave@${D}`, PW), 'AUTH_FAILED');
    assert.equal(await authCode(`dave@${D}`, 'N3w-Passw0rd'), 'ok');
    await ldap.modify(`uid=dave,${PEOPLE}`, new Change({ operation: 'replace', modification: new Attribute({ type: 'userPassword', values: [PW] }) }));
  });

  test('a ppolicy lock stops logins at once and disables the account; unlocking restores both', async () => {
    const dn = `uid=dave,${PEOPLE}`;
    await ldap.modify(dn, new Change({ operation: 'add', modification: new Attribute({ type: 'pwdAccountLockedTime', values: ['000001010000Z'] }) }));
    assert.notEqual(await authCode(`dave@${D}`, PW), 'ok');
    await waitFor('dave disabled', async () => (await account(`dave@${D}`))?.enabled === false);
    assert.equal(await smtpLogin(t.ports.submission!, `dave@${D}`, PW), 535);
    await ldap.modify(dn, new Change({ operation: 'delete', modification: new Attribute({ type: 'pwdAccountLockedTime', values: [] }) }));
    await waitFor('dave enabled', async () => (await account(`dave@${D}`))?.enabled === true);
    assert.equal(await authCode(`dave@${D}`, PW), 'ok');
  });

  test('a rename (new uid, DN and primary address) keeps the same account and mailbox', async () => {
    const before = (await account(`dave@${D}`))!;
    await ldap.modifyDN(`uid=dave,${PEOPLE}`, `uid=david,${PEOPLE}`);
    // Before the sync sees it, the login still works: the current DN is looked up by entryUUID.
    assert.equal(await authCode(`dave@${D}`, PW), 'ok');
    await ldap.modify(`uid=david,${PEOPLE}`, new Change({ operation: 'replace', modification: new Attribute({ type: 'mail', values: [`david@${D}`] }) }));
    const { value: after } = await waitFor('david', () => account(`david@${D}`));
    assert.equal(after.id, before.id);
    assert.equal(await account(`dave@${D}`), null);
    assert.equal(await authCode(`david@${D}`, PW), 'ok');
    assert.equal(await authCode('EXAMPLE\\david', PW), 'ok');
  });

  test('a deleted LDAP user is disabled and kept (mailbox retained), not deleted', async () => {
    const before = (await account(`david@${D}`))!;
    await ldap.del(`uid=david,${PEOPLE}`);
    const { value: gone } = await waitFor('david deleted', async () => {
      const a = await account(`david@${D}`);
      return a?.deletedAt ? a : null;
    }, 8000);
    assert.equal(gone.id, before.id);
    assert.equal(gone.enabled, false);
    assert.ok(await inboxCount(gone.id) >= 0, 'mailbox kept');
    assert.equal((await t.app.accounts.resolveRecipient(`david@${D}`)).kind, 'unknown');
    assert.notEqual(await authCode(`david@${D}`, PW), 'ok');
    const [s] = await t.app.directories.status();
    assert.equal(s!.deletedAccounts, 1);
    assert.equal(s!.purgeable, 0, 'within retention');
  });

  test('bad input: filter metacharacters, NUL and empty passwords never log in', async () => {
    for (const login of ['*', 'al*', `alice)(uid=*`, `*)(uid=*))(|(uid=*`, 'EXAMPLE\\*', 'EXAMPLE\\al*', 'EXAMPLE\\alice)(uid=*',
      `alice\u0000@${D}`, `alice@${D}\u0000`, 'EXAMPLE\\alice\u0000', '\\', 'EXAMPLE\\', '', 'x'.repeat(5000)]) {
      const code = await authCode(login, PW);
      assert.equal(code, 'AUTH_FAILED', `login ${JSON.stringify(login.slice(0, 40))} gave ${code}`);
    }
    assert.equal(await authCode(`alice@${D}`, ''), 'AUTH_FAILED', 'empty password (LDAP unauthenticated bind) must fail');
    assert.equal(await rawAuthPlain(t.ports.submission!, `alice@${D}`, ''), 535);
    assert.equal(await rawAuthPlain(t.ports.submission!, `alice@${D}`, PW), 235, 'the raw AUTH helper itself works');
    const conn = t.app.directories['handles' as never] as unknown as Map<string, { connector: { verifyPassword(dn: string, p: string): Promise<{ ok: boolean }> } }>;
    assert.equal((await conn.get('ol')!.connector.verifyPassword(`uid=alice,${PEOPLE}`, '')).ok, false);
  });

  test('bad input: metacharacters in DNs and uids, huge values, duplicate and local addresses', async () => {
    const odd = await addUser('we*ird)(x', [`weird@${D}`], { cn: 'Weird, Name (x)*' }, `cn=Weird\\, Name (x)*,${PEOPLE}`);
    await addUser('huge', [`huge@${D}`], { displayName: 'H'.repeat(200_000), description: 'd'.repeat(300_000) });
    await addUser('dup1', [`dup@${D}`]);
    await addUser('dup2', [`dup@${D}`]);
    await addUser('admin2', [`admin@${D}`]);
    await ldap.modify(`cn=engineering,${GROUPS}`, new Change({ operation: 'add', modification: new Attribute({ type: 'member', values: [odd] }) }));
    const { value: weird } = await waitFor('weird', () => account(`weird@${D}`));
    assert.equal(await authCode(`weird@${D}`, PW), 'ok');
    assert.equal(await authCode('EXAMPLE\\we*ird)(x', PW), 'ok');
    await waitFor('weird in eng', async () => {
      const x = await t.app.accounts.resolveRecipient(`eng@${D}`);
      return x.kind === 'local' && x.accountIds.includes(weird.id);
    });
    const { value: huge } = await waitFor('huge', () => account(`huge@${D}`));
    assert.equal(huge.displayName.length, 256);
    const dups = await t.app.store.em.findBy(AccountEntity, { address: `dup@${D}` });
    assert.equal(dups.length, 1);
    const { value: st } = await waitFor('conflicts in status', async () => {
      const [s] = await t.app.directories.status();
      return s!.conflicts.length >= 2 ? s : null;
    });
    assert.ok(st!.conflicts.some((c) => c.address === `dup@${D}` && /another directory user/.test(c.reason)), JSON.stringify(st!.conflicts));
    assert.ok(st!.conflicts.some((c) => c.address === `admin@${D}` && /local account/.test(c.reason)), JSON.stringify(st!.conflicts));
    const admin = (await account(`admin@${D}`))!;
    assert.equal(admin.source, 'local', 'the local account is untouched');
    assert.equal(await authCode(`admin@${D}`, 'admin-secret-1'), 'ok');
    const found = await t.app.directories.search('anderson');
    assert.equal(found[0]?.mail, `alice@${D}`);
    assert.equal(found[0]?.title, 'Engineer');
    assert.equal(found[0]?.telephoneNumber, '+1 555 0100');
    assert.equal((await t.app.directories.search('50%_\\')).length, 0);
  });

  test('outage: delivery works, logins are TEMPORARY, nothing is disabled; sync resumes from its cursor', async () => {
    const alice = (await account(`alice@${D}`))!;
    const stateBefore = (await t.app.directories.status())[0]!;
    stopSlapd(workdir);
    const before = await inboxCount(alice.id);
    await sendMx(t.ports.smtp!, `alice@${D}`);
    await waitFor('delivery during outage', async () => (await inboxCount(alice.id)) === before + 1);
    assert.equal(await authCode(`alice@${D}`, PW), 'TEMPORARY');
    assert.equal(await smtpLogin(t.ports.submission!, `alice@${D}`, PW), 454);
    assert.equal(await imapLogin(t.ports.imap!, `alice@${D}`, PW), 'UNAVAILABLE', 'IMAP NO [UNAVAILABLE]');
    await waitFor('sync error recorded', async () => (await t.app.directories.status())[0]!.lastError);
    await new Promise((r) => setTimeout(r, 1500));
    const disabled = await t.app.store.em.countBy(AccountEntity, { source: 'directory', enabled: false });
    assert.equal(disabled, 1, 'only the deleted david is disabled');
    env = startSlapd(workdir);
    await ldap.unbind().catch(() => undefined);
    ldap = await adminClient(env.SLAPD_LDAPS_URL!, env.SLAPD_ADMIN_DN!, env.SLAPD_ADMIN_PASS!, env.SLAPD_CA_FILE!);
    await addUser('erin', [`erin@${D}`]);
    await waitFor('erin after restart', () => account(`erin@${D}`), 40_000);
    const { value: s } = await waitFor('a clean run', async () => {
      const x = (await t.app.directories.status())[0]!;
      return x.lastError === null ? x : null;
    });
    assert.equal(s.lastFullAt, stateBefore.lastFullAt, 'resumed incrementally, no full re-read');
    assert.equal(await authCode(`alice@${D}`, PW), 'ok');
  });

  test('CLI: directory status, search, sync --full, list, purge, and add (validated before writing)', async () => {
    const st = await cli(t.dataDir, 'directory', 'status', '--json');
    assert.equal(st.code, 0, st.err);
    const [s] = JSON.parse(st.out) as Array<{ id: string; users: number; cursor: string | null }>;
    assert.equal(s!.id, 'ol');
    assert.ok(s!.users >= 5 && s!.cursor);
    const found = JSON.parse((await cli(t.dataDir, 'directory', 'search', 'anderson', '--json')).out) as Array<{ mail: string }>;
    assert.equal(found[0]!.mail, `alice@${D}`);
    const sync = await cli(t.dataDir, 'directory', 'sync', 'ol', '--full', '--json');
    assert.equal(sync.code, 0, sync.err + sync.out);
    const [r] = JSON.parse(sync.out) as Array<{ ok: boolean; mode: string; counts: { created: number } }>;
    assert.equal(r!.ok, true);
    assert.equal(r!.mode, 'full');
    assert.equal(r!.counts.created, 0, 'a full re-read changes nothing');
    assert.match((await cli(t.dataDir, 'directory', 'list')).out, /^ol\tldap\tldaps:\/\/127\.0\.0\.1:1636/);
    assert.match((await cli(t.dataDir, 'directory', 'purge')).out, /nothing to purge/);

    const dir = await mkdtemp(path.join(os.tmpdir(), 'pochtamt-dircli-'));
    try {
      await writeFile(path.join(dir, 'pochtamt.yaml'), '# my comment\nhostname: mail.corp.test\n');
      const add = await cli(dir, 'directory', 'add', 'corp', '--type', 'ad', '--url', 'ldaps://dc1.corp.test', '--bind-dn', 'svc@corp.test',
        '--bind-password-file', 'ad.pw', '--base-dn', 'DC=corp,DC=test', '--ca-file', 'ad-ca.pem', '--domain', 'corp.test', '--poll-seconds', '3');
      assert.equal(add.code, 0, add.err);
      const text = await readFile(path.join(dir, 'pochtamt.yaml'), 'utf8');
      assert.match(text, /# my comment/);
      const cfg = parseConfig(text);
      assert.equal(cfg.directories[0]!.id, 'corp');
      assert.equal(cfg.directories[0]!.pollSeconds, 3);
      assert.deepEqual(cfg.directories[0]!.domains, ['corp.test']);
      const bad = await cli(dir, 'directory', 'add', 'x', '--type', 'ldap', '--url', 'http://nope', '--bind-dn', 'cn=a', '--bind-password', 'p', '--base-dn', 'dc=x');
      assert.equal(bad.code, 1);
      assert.match(bad.err, /url/);
      assert.equal(await readFile(path.join(dir, 'pochtamt.yaml'), 'utf8'), text, 'refused: file unchanged');
      assert.equal((await cli(dir, 'directory', 'add', 'corp', '--type', 'ad', '--url', 'ldaps://x', '--bind-dn', 'a', '--bind-password', 'p', '--base-dn', 'dc=x')).code, 2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
