// Pure parts of connectors/ldap without a server: RFC 4515 filter escaping, RFC 4514 DN
// escaping and comparison keys, objectGUID conversion, AD bind sub-codes, accountExpires, and
// the AD/OpenLDAP entry profiles (proxyAddresses, disabled flags, clipping of huge values).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { dnKey, dnValue, filterValue, guidToBytes, guidToString, ldapFilter, raw } from '../../connectors/ldap/escape.js';
import { classifyBindFailure, LdapEntry } from '../../connectors/ldap/ldap-client.js';
import { adAccountExpired, PROFILES, toGroup, toUser } from '../../connectors/ldap/profiles.js';

const entry = (dn: string, attrs: Record<string, string | string[] | Buffer>, binary: string[] = []) =>
  LdapEntry.from({ dn, ...attrs } as never, binary);

describe('escaping', () => {
  test('RFC 4515: *, (, ), \\ and NUL become \\XX; other characters stay', () => {
    assert.equal(filterValue('a*b(c)d\\e\u0000f'), 'a\\2ab\\28c\\29d\\5ce\\00f');
    assert.equal(filterValue('*)(uid=*'), '\\2a\\29\\28uid=\\2a');
    assert.equal(filterValue('Jörg'), 'Jörg');
    assert.equal(ldapFilter`(&${raw('(objectClass=user)')}(sAMAccountName=${'x*)(|(a=*'}))`,
      '(&(objectClass=user)(sAMAccountName=x\\2a\\29\\28|\\28a=\\2a))');
    assert.equal(ldapFilter`(objectGUID=${Buffer.from([0x00, 0x2a, 0xff])})`, '(objectGUID=\\00\\2a\\ff)');
  });

  test('RFC 4514: DN values escape specials, a leading # or space and a trailing space', () => {
    assert.equal(dnValue('Smith, John'), 'Smith\\, John');
    assert.equal(dnValue('#1 a+b;c<d>e"f\\'), '\\#1 a\\+b\\;c\\<d\\>e\\"f\\\\');
    assert.equal(dnValue(' x '), '\\ x\\ ');
    assert.equal(dnValue('nul\u0000'), 'nul\\00');
  });

  test('dnKey compares DNs case- and space-insensitively but keeps escaped commas', () => {
    assert.equal(dnKey('CN=Alice,CN=Users, DC=corp,DC=test'), dnKey('cn=alice,cn=users,dc=CORP,dc=test'));
    assert.notEqual(dnKey('cn=a\\,b,dc=x'), dnKey('cn=a,b=,dc=x'));
  });

  test('objectGUID bytes ↔ string (first three groups little-endian)', () => {
    const b = Buffer.from('XI5p+ltldEmdZ6Y+p3i2/w==', 'base64');
    const s = guidToString(b);
    assert.equal(s, 'fa698e5c-655b-4974-9d67-a63ea778b6ff');
    assert.deepEqual(guidToBytes(s), b);
    assert.throws(() => guidToString(Buffer.alloc(3)));
  });
});

describe('AD bind failures', () => {
  test('sub-codes map to clear reasons', () => {
    const m = (code: string) => classifyBindFailure(`80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data ${code}, v1db1 Code: 0x31`);
    assert.equal(m('52e').kind, 'bad-credentials');
    assert.equal(m('533').kind, 'disabled');
    assert.equal(m('775').kind, 'locked');
    assert.equal(m('532').kind, 'expired');
    assert.equal(m('773').kind, 'must-change');
    assert.match(m('533').reason, /disabled/);
    assert.equal(classifyBindFailure('Invalid Credentials Code: 0x31').kind, 'bad-credentials');
  });

  test('accountExpires: 0 and max mean never; a past FILETIME means expired', () => {
    const now = Date.UTC(2026, 10, 28);
    assert.equal(adAccountExpired('0', now), false);
    assert.equal(adAccountExpired('9223372036854775807', now), false);
    const filetime = (ms: number) => String((BigInt(ms) + 11_644_473_600_000n) * 10_000n);
    assert.equal(adAccountExpired(filetime(now - 1000), now), true);
    assert.equal(adAccountExpired(filetime(now + 86400_000), now), false);
  });
});

describe('profiles', () => {
  const guid = Buffer.from('XI5p+ltldEmdZ6Y+p3i2/w==', 'base64');
  test('AD user: SMTP: primary, smtp: aliases, other types ignored, UAC 0x2 disabled', () => {
    const u = toUser(entry('CN=alice,CN=Users,DC=corp,DC=test', {
      objectGUID: guid, sAMAccountName: 'alice', userPrincipalName: 'Alice@CORP.test', mail: 'alice@corp.test',
      proxyAddresses: ['smtp:a.anderson@Corp.Test', 'X500:/o=x', 'SMTP:Alice.Primary@corp.test', 'sip:alice@corp.test'],
      userAccountControl: '514', displayName: 'Alice',
    }, ['objectGUID']), PROFILES.ad)!;
    assert.equal(u.externalId, 'fa698e5c-655b-4974-9d67-a63ea778b6ff');
    assert.deepEqual(u.addresses, ['alice.primary@corp.test', 'alice@corp.test', 'a.anderson@corp.test']);
    assert.equal(u.upn, 'alice@corp.test');
    assert.equal(u.disabled, true);
  });

  test('OpenLDAP user: entryUUID id, ppolicy lock, huge values clipped, junk addresses dropped', () => {
    const u = toUser(entry('uid=bob,ou=people,dc=example,dc=test', {
      entryUUID: 'A1B2C3D4-0000-1111-2222-333344445555', uid: 'bob', mail: ['bob@example.test', 'bad address@x', 'x'.repeat(400)],
      pwdAccountLockedTime: '000001010000Z', displayName: 'B'.repeat(100_000),
    }), PROFILES.ldap)!;
    assert.equal(u.externalId, 'a1b2c3d4-0000-1111-2222-333344445555');
    assert.deepEqual(u.addresses, ['bob@example.test']);
    assert.equal(u.disabled, true);
    assert.equal(u.book.displayName!.length, 1024);
  });

  test('groups: member, uniqueMember (optional UID stripped) and memberUid', () => {
    const g = toGroup(entry('cn=g,ou=groups,dc=example,dc=test', {
      entryUUID: 'u-1', cn: 'g', member: ['uid=a,dc=x'], uniqueMember: ["uid=b,dc=x#'0101'B"], memberUid: ['c'],
    }), PROFILES.ldap)!;
    assert.deepEqual(g.memberDns, ['uid=a,dc=x', 'uid=b,dc=x']);
    assert.deepEqual(g.memberUids, ['c']);
    assert.equal(toUser(entry('cn=x', { uid: 'no-id' }), PROFILES.ldap), null, 'no stable id: ignored');
  });
});
