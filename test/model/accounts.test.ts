// The account model on both stores: domains (IDN), accounts and authentication, aliases,
// groups, role addresses, subaddressing, recipient resolution and sending rights.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AccountEntity, DomainEntity } from '../../schemas/entities/index.js';
import type { App } from '../../src/instance/app.js';
import type { Resolution } from '../../src/services/account.service.js';
import { ServiceError } from '../../src/services/errors.js';
import { backends, openTestApp, type TestApp } from '../helpers/store-matrix.js';

const D = 'example.test';
const D2 = 'second.test';

/** Asserts that `p` rejects with a ServiceError of the given code. */
async function rejectsWith(p: Promise<unknown>, code: ServiceError['code']): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ServiceError, `expected ServiceError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

function local(r: Resolution): { accountIds: number[]; forwards: string[]; via: string } {
  assert.equal(r.kind, 'local', JSON.stringify(r));
  const l = r as Extract<Resolution, { kind: 'local' }>;
  return { accountIds: [...l.accountIds].sort((a, b) => a - b), forwards: [...l.forwards].sort(), via: l.via };
}

for (const backend of backends) {
  describe(backend.name, { skip: backend.skip }, () => {
    let t: TestApp;
    let app: App;
    const ids: Record<string, number> = {};

    before(async () => {
      t = await openTestApp(backend);
      app = t.app;
      await app.accounts.addDomain(D);
      await app.accounts.addDomain(D2);
      for (const [name, extra] of [['admin', { isAdmin: true }], ['alice', {}], ['bob', {}], ['carol', {}], ['dave', {}]] as const) {
        const a = await app.accounts.addAccount({ address: `${name}@${D}`, password: `${name}-pw`, ...extra });
        ids[name] = a.id;
      }
    });
    after(async () => { await t?.cleanup(); });

    describe('domains', () => {
      test('a Unicode (IDN) domain is stored as lower-case punycode and found case-insensitively', async () => {
        const { domain, dkimRecord } = await app.accounts.addDomain('Пример.Тест');
        assert.equal(domain.name, 'xn--e1afmkfd.xn--e1aybc');
        assert.equal(domain.unicodeName, 'пример.тест');
        const row = await app.store.em.findOneBy(DomainEntity, { id: domain.id });
        assert.equal(row!.name, 'xn--e1afmkfd.xn--e1aybc');
        assert.match(dkimRecord, /^pt\d{6}\._domainkey\.xn--e1afmkfd\.xn--e1aybc\. IN TXT "v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]+"$/);
        for (const q of ['пример.тест', 'ПРИМЕР.ТЕСТ', 'XN--E1AFMKFD.XN--E1AYBC', 'xn--e1afmkfd.xn--e1aybc.']) {
          assert.equal((await app.accounts.getDomain(q))?.id, domain.id, q);
        }
        assert.equal(await app.accounts.isLocalDomain('ПриМер.тест'), true);
        assert.equal(await app.accounts.isLocalDomain('other.test'), false);
        assert.equal(await app.accounts.getDomain('not a domain'), null);
      });

      test('a duplicate domain is refused with EXISTS, in any spelling', async () => {
        await rejectsWith(app.accounts.addDomain(D), 'EXISTS');
        await rejectsWith(app.accounts.addDomain(D.toUpperCase()), 'EXISTS');
        await rejectsWith(app.accounts.addDomain('пример.ТЕСТ'), 'EXISTS');
        await rejectsWith(app.accounts.addDomain('xn--e1afmkfd.xn--e1aybc'), 'EXISTS');
        assert.equal((await app.store.em.countBy(DomainEntity, { name: D })), 1);
      });

      test('an invalid domain is refused with INVALID', async () => {
        await rejectsWith(app.accounts.addDomain('bad_domain!.test'), 'INVALID');
        await rejectsWith(app.accounts.addDomain('-lead.test'), 'INVALID');
      });

      test('a domain cannot be removed while it has accounts; it can once they are gone', async () => {
        await app.accounts.addDomain('temp.test');
        await app.accounts.addAccount({ address: 'x@temp.test', password: 'x' });
        await rejectsWith(app.accounts.removeDomain('temp.test'), 'FORBIDDEN');
        assert.ok(await app.accounts.getDomain('temp.test'));
        await app.accounts.removeAccount('x@temp.test');
        await app.accounts.removeDomain('TEMP.test');
        assert.equal(await app.accounts.getDomain('temp.test'), null);
        await rejectsWith(app.accounts.removeDomain('temp.test'), 'NOT_FOUND');
      });

      test('an account needs a local domain', async () => {
        await rejectsWith(app.accounts.addAccount({ address: 'someone@nowhere.test', password: 'x' }), 'NOT_FOUND');
        await rejectsWith(app.accounts.addAccount({ address: 'not-an-address', password: 'x' }), 'INVALID');
      });

      test('an account in an IDN domain is stored with the punycode domain', async () => {
        const a = await app.accounts.addAccount({ address: 'Иван@Пример.тест', password: 'x' });
        assert.equal(a.address, 'иван@xn--e1afmkfd.xn--e1aybc');
        assert.equal((await app.accounts.getAccount('ИВАН@пример.ТЕСТ'))?.id, a.id);
      });
    });

    describe('accounts and authentication', () => {
      test('the password is stored as an argon2id hash', async () => {
        const row = await app.store.em.findOneBy(AccountEntity, { id: ids.alice! });
        const m = /^\$argon2id\$v=19\$([^$]+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/.exec(row!.passwordHash!);
        assert.ok(m, row!.passwordHash!);
        assert.deepEqual(m[1]!.split(',').sort(), ['m=19456', 'p=1', 't=2']);
        assert.ok(!row!.passwordHash!.includes('alice-pw'));
      });

      test('the default mailboxes are created with the account', async () => {
        const names = (await app.mailStore.listMailboxes(ids.alice!)).map((m) => m.name).sort();
        assert.deepEqual(names, ['Archive', 'Drafts', 'INBOX', 'Junk', 'Sent', 'Trash']);
      });

      test('a second account with the same address (any case) is refused', async () => {
        await rejectsWith(app.accounts.addAccount({ address: `ALICE@${D.toUpperCase()}`, password: 'x' }), 'EXISTS');
      });

      test('authenticate: right password, case-insensitive user name', async () => {
        const a = await app.accounts.authenticate(`Alice@${D.toUpperCase()}`, 'alice-pw');
        assert.equal(a.id, ids.alice);
      });

      test('authenticate: wrong password and unknown user both fail with AUTH_FAILED', async () => {
        await rejectsWith(app.accounts.authenticate(`alice@${D}`, 'wrong'), 'AUTH_FAILED');
        await rejectsWith(app.accounts.authenticate(`alice@${D}`, ''), 'AUTH_FAILED');
        await rejectsWith(app.accounts.authenticate(`nobody@${D}`, 'alice-pw'), 'AUTH_FAILED');
        await rejectsWith(app.accounts.authenticate('garbage', 'x'), 'AUTH_FAILED');
      });

      test('authenticate: a disabled account fails with DISABLED (right password) or AUTH_FAILED (wrong one)', async () => {
        await app.accounts.setEnabled(`dave@${D}`, false);
        try {
          await rejectsWith(app.accounts.authenticate(`dave@${D}`, 'dave-pw'), 'DISABLED');
          await rejectsWith(app.accounts.authenticate(`dave@${D}`, 'wrong'), 'AUTH_FAILED');
        } finally {
          await app.accounts.setEnabled(`dave@${D}`, true);
        }
        assert.equal((await app.accounts.authenticate(`dave@${D}`, 'dave-pw')).id, ids.dave);
      });

      test('setPassword replaces the hash', async () => {
        await app.accounts.setPassword(`carol@${D}`, 'new-carol');
        await rejectsWith(app.accounts.authenticate(`carol@${D}`, 'carol-pw'), 'AUTH_FAILED');
        assert.equal((await app.accounts.authenticate(`carol@${D}`, 'new-carol')).id, ids.carol);
      });

      test('an account without a password cannot log in', async () => {
        await app.accounts.addAccount({ address: `role@${D}`, password: null });
        await rejectsWith(app.accounts.authenticate(`role@${D}`, ''), 'AUTH_FAILED');
        await rejectsWith(app.accounts.authenticate(`role@${D}`, 'anything'), 'AUTH_FAILED');
      });
    });

    describe('aliases', () => {
      test('an alias to several accounts resolves to all of them', async () => {
        await app.accounts.addAlias(`team@${D}`, [`alice@${D}`, `BOB@${D}`]);
        assert.deepEqual(local(await app.accounts.resolveRecipient(`team@${D}`)),
          { accountIds: [ids.alice!, ids.bob!].sort((a, b) => a - b), forwards: [], via: 'alias' });
        // Adding the same target again changes nothing.
        await app.accounts.addAlias(`team@${D}`, [`alice@${D}`]);
        const listed = (await app.accounts.listAliases()).find((a) => a.address === `team@${D}`);
        assert.deepEqual(listed?.targets.sort(), [`alice@${D}`, `bob@${D}`]);
      });

      test('an alias to an external address is a forward', async () => {
        await app.accounts.addAlias(`fwd@${D}`, ['Someone@Elsewhere.Example', `carol@${D}`]);
        assert.deepEqual(local(await app.accounts.resolveRecipient(`fwd@${D}`)),
          { accountIds: [ids.carol!], forwards: ['someone@elsewhere.example'], via: 'alias' });
      });

      test('an alias to an unknown local address, or with no targets, is refused', async () => {
        await rejectsWith(app.accounts.addAlias(`bad@${D}`, [`ghost@${D}`]), 'NOT_FOUND');
        await rejectsWith(app.accounts.addAlias(`bad@${D}`, []), 'INVALID');
        await rejectsWith(app.accounts.addAlias(`alice@${D}`, [`bob@${D}`]), 'EXISTS');
      });

      test('removing one target keeps the alias; removing the last removes it', async () => {
        await app.accounts.addAlias(`tmp@${D}`, [`alice@${D}`, 'x@elsewhere.example']);
        await app.accounts.removeAlias(`tmp@${D}`, [`alice@${D}`]);
        assert.deepEqual(local(await app.accounts.resolveRecipient(`tmp@${D}`)),
          { accountIds: [], forwards: ['x@elsewhere.example'], via: 'alias' });
        await app.accounts.removeAlias(`tmp@${D}`, ['x@elsewhere.example']);
        assert.deepEqual(await app.accounts.resolveRecipient(`tmp@${D}`), { kind: 'unknown' });
      });
    });

    describe('groups', () => {
      test('nested groups expand to every member account and external address', async () => {
        await app.accounts.addGroup(`inner@${D}`, { members: [`bob@${D}`, 'ext@partner.example'] });
        await app.accounts.addGroup(`outer@${D}`, { members: [`alice@${D}`, `inner@${D}`] });
        assert.deepEqual(local(await app.accounts.resolveRecipient(`outer@${D}`)),
          { accountIds: [ids.alice!, ids.bob!].sort((a, b) => a - b), forwards: ['ext@partner.example'], via: 'group' });
        assert.deepEqual(local(await app.accounts.resolveRecipient(`inner@${D}`)),
          { accountIds: [ids.bob!], forwards: ['ext@partner.example'], via: 'group' });
      });

      test('a cycle of groups terminates and still yields every member', async () => {
        await app.accounts.addGroup(`ring-a@${D}`, { members: [`alice@${D}`] });
        await app.accounts.addGroup(`ring-b@${D}`, { members: [`bob@${D}`, `ring-a@${D}`] });
        await app.accounts.addGroup(`ring-c@${D}`, { members: [`carol@${D}`, `ring-b@${D}`] });
        await app.accounts.setGroupMembers(`ring-a@${D}`, [`ring-c@${D}`], 'add'); // a → c → b → a
        const all = [ids.alice!, ids.bob!, ids.carol!].sort((a, b) => a - b);
        for (const g of ['ring-a', 'ring-b', 'ring-c']) {
          assert.deepEqual(local(await app.accounts.resolveRecipient(`${g}@${D}`)), { accountIds: all, forwards: [], via: 'group' }, g);
        }
      });

      test('a group cannot contain itself; unknown local members are refused', async () => {
        await rejectsWith(app.accounts.setGroupMembers(`ring-a@${D}`, [`ring-a@${D}`], 'add'), 'INVALID');
        await rejectsWith(app.accounts.setGroupMembers(`ring-a@${D}`, [`ghost@${D}`], 'add'), 'NOT_FOUND');
        await rejectsWith(app.accounts.addGroup(`alice@${D}`), 'EXISTS');
      });

      test('set and remove change the membership', async () => {
        await app.accounts.addGroup(`edit@${D}`, { members: [`alice@${D}`, `bob@${D}`] });
        await app.accounts.setGroupMembers(`edit@${D}`, [`bob@${D}`], 'remove');
        assert.deepEqual(local(await app.accounts.resolveRecipient(`edit@${D}`)).accountIds, [ids.alice!]);
        await app.accounts.setGroupMembers(`edit@${D}`, [`carol@${D}`], 'set');
        assert.deepEqual(local(await app.accounts.resolveRecipient(`edit@${D}`)).accountIds, [ids.carol!]);
        const listed = (await app.accounts.listGroups()).find((g) => g.address === `edit@${D}`);
        assert.deepEqual(listed?.members, [`carol@${D}`]);
        await app.accounts.removeGroup(`edit@${D}`);
        assert.deepEqual(await app.accounts.resolveRecipient(`edit@${D}`), { kind: 'unknown' });
      });
    });

    describe('resolution', () => {
      test('an account resolves to itself, in any case', async () => {
        assert.deepEqual(local(await app.accounts.resolveRecipient(`ALICE@Example.Test`)),
          { accountIds: [ids.alice!], forwards: [], via: 'account' });
      });

      test('postmaster@ and abuse@ of every local domain reach the admin', async () => {
        for (const domain of [D, D2, 'пример.тест']) {
          for (const role of ['postmaster', 'abuse', 'PostMaster']) {
            assert.deepEqual(local(await app.accounts.resolveRecipient(`${role}@${domain}`)),
              { accountIds: [ids.admin!], forwards: [], via: 'role' }, `${role}@${domain}`);
          }
        }
        assert.equal((await app.accounts.adminAccount())?.id, ids.admin);
      });

      test('user+tag@ reaches user@ (and alias+tag@ the alias)', async () => {
        assert.deepEqual(local(await app.accounts.resolveRecipient(`alice+news@${D}`)),
          { accountIds: [ids.alice!], forwards: [], via: 'account' });
        assert.deepEqual(local(await app.accounts.resolveRecipient(`Alice+A+B@${D}`)).accountIds, [ids.alice!]);
        assert.equal(local(await app.accounts.resolveRecipient(`team+x@${D}`)).via, 'alias');
        assert.deepEqual(await app.accounts.resolveRecipient(`+tag@${D}`), { kind: 'unknown' });
        assert.deepEqual(await app.accounts.resolveRecipient(`ghost+tag@${D}`), { kind: 'unknown' });
      });

      test('an unknown user of a local domain is unknown; another domain is remote', async () => {
        assert.deepEqual(await app.accounts.resolveRecipient(`ghost@${D}`), { kind: 'unknown' });
        assert.deepEqual(await app.accounts.resolveRecipient(`ghost@${D2}`), { kind: 'unknown' });
        assert.deepEqual(await app.accounts.resolveRecipient('alice@remote.example'), { kind: 'remote' });
        assert.deepEqual(await app.accounts.resolveRecipient(`alice@sub.${D}`), { kind: 'remote' });
        assert.deepEqual(await app.accounts.resolveRecipient('not an address'), { kind: 'unknown' });
      });

      test('a disabled account still receives', async () => {
        await app.accounts.setEnabled(`dave@${D}`, false);
        try {
          assert.deepEqual(local(await app.accounts.resolveRecipient(`dave@${D}`)).accountIds, [ids.dave!]);
        } finally {
          await app.accounts.setEnabled(`dave@${D}`, true);
        }
      });
    });

    describe('canSendAs', () => {
      before(async () => {
        await app.accounts.addGroup(`sales@${D}`, { membersMaySendAs: true, members: [`carol@${D}`, `outer@${D}`] });
        await app.accounts.addGroup(`quiet@${D}`, { membersMaySendAs: false, members: [`carol@${D}`] });
      });

      test('the primary address (any case, with +tag)', async () => {
        assert.equal(await app.accounts.canSendAs(ids.alice!, `alice@${D}`), true);
        assert.equal(await app.accounts.canSendAs(ids.alice!, `Alice@EXAMPLE.test`), true);
        assert.equal(await app.accounts.canSendAs(ids.alice!, `alice+list@${D}`), true);
      });

      test('an alias that targets the account', async () => {
        assert.equal(await app.accounts.canSendAs(ids.alice!, `team@${D}`), true);
        assert.equal(await app.accounts.canSendAs(ids.carol!, `team@${D}`), false);
        assert.equal(await app.accounts.canSendAs(ids.carol!, `fwd@${D}`), true);
      });

      test('a group that allows its members, including members of nested groups', async () => {
        assert.equal(await app.accounts.canSendAs(ids.carol!, `sales@${D}`), true);
        assert.equal(await app.accounts.canSendAs(ids.bob!, `sales@${D}`), true, 'bob is in inner, inside outer, inside sales');
        assert.equal(await app.accounts.canSendAs(ids.dave!, `sales@${D}`), false, 'not a member');
        assert.equal(await app.accounts.canSendAs(ids.carol!, `quiet@${D}`), false, 'group does not allow send-as');
      });

      test('not someone else\'s address, nor garbage, nor an unknown account', async () => {
        assert.equal(await app.accounts.canSendAs(ids.alice!, `bob@${D}`), false);
        assert.equal(await app.accounts.canSendAs(ids.alice!, `bob+alice@${D}`), false);
        assert.equal(await app.accounts.canSendAs(ids.alice!, `postmaster@${D}`), false);
        assert.equal(await app.accounts.canSendAs(ids.alice!, 'alice@remote.example'), false);
        assert.equal(await app.accounts.canSendAs(ids.alice!, 'garbage'), false);
        assert.equal(await app.accounts.canSendAs(999999, `alice@${D}`), false);
      });
    });
  });
}
