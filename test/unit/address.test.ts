// Address and domain normalisation (src/mail/address.ts): what the store keeps and looks up.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AddressError, domainOf, normalizeAddress, normalizeDomain, parseAddress, tryNormalizeAddress, unicodeDomain,
} from '../../src/mail/address.js';

describe('normalizeDomain', () => {
  test('lower-cases ASCII and drops one trailing dot', () => {
    assert.equal(normalizeDomain('Example.TEST'), 'example.test');
    assert.equal(normalizeDomain('  mail.example.test.  '), 'mail.example.test');
    assert.equal(normalizeDomain('localhost'), 'localhost');
    assert.equal(normalizeDomain('a-b.c1.test'), 'a-b.c1.test');
  });

  test('IDN: Unicode becomes punycode, and back', () => {
    assert.equal(normalizeDomain('Пример.Тест'), 'xn--e1afmkfd.xn--e1aybc');
    assert.equal(normalizeDomain('bücher.example'), 'xn--bcher-kva.example');
    assert.equal(normalizeDomain('XN--BCHER-KVA.example'), 'xn--bcher-kva.example');
    assert.equal(unicodeDomain('xn--e1afmkfd.xn--e1aybc'), 'пример.тест');
    assert.equal(unicodeDomain('example.test'), 'example.test');
  });

  test('refuses what is not a host name', () => {
    for (const bad of ['', ' ', '.', 'a..b', '-a.test', 'a-.test', 'a_b.test', 'a b.test', 'a@b.test', '[192.0.2.1]',
      `${'a'.repeat(64)}.test`, Array.from({ length: 64 }, () => 'abc').join('.')]) {
      assert.throws(() => normalizeDomain(bad), AddressError, JSON.stringify(bad));
    }
  });

  test('length limits: 63-octet labels and 253-octet names are fine', () => {
    assert.equal(normalizeDomain(`${'a'.repeat(63)}.test`), `${'a'.repeat(63)}.test`);
    const name253 = [...Array.from({ length: 3 }, () => 'a'.repeat(63)), 'b'.repeat(61)].join('.');
    assert.equal(name253.length, 253);
    assert.equal(normalizeDomain(name253), name253);
    assert.throws(() => normalizeDomain(`${name253}c`), AddressError);
  });
});

describe('parseAddress', () => {
  test('splits and folds case (local part and domain)', () => {
    assert.deepEqual(parseAddress('Alice.Smith@Example.TEST'), { local: 'alice.smith', domain: 'example.test', address: 'alice.smith@example.test' });
    assert.equal(normalizeAddress(' bob+tag@example.test '), 'bob+tag@example.test');
    assert.equal(normalizeAddress("o'hara!#$%&*/=?^_`{|}~-@example.test"), "o'hara!#$%&*/=?^_`{|}~-@example.test");
  });

  test('IDN domain and UTF-8 local part (RFC 6531)', () => {
    assert.equal(normalizeAddress('Иван@Пример.Тест'), 'иван@xn--e1afmkfd.xn--e1aybc');
    assert.equal(normalizeAddress('用户@例子.测试'), `用户@${normalizeDomain('例子.测试')}`);
  });

  test('quoted local parts', () => {
    assert.equal(normalizeAddress('"john doe"@example.test'), '"john doe"@example.test');
    assert.equal(normalizeAddress('"a@b"@example.test'), '"a@b"@example.test');
    assert.throws(() => normalizeAddress('"unterminated@example.test'), AddressError);
  });

  test('invalid addresses are refused', () => {
    for (const bad of ['', 'plain', '@example.test', 'user@', 'user@@example.test', '.user@example.test', 'user.@example.test',
      'us..er@example.test', 'us er@example.test', 'user@exa mple.test', 'user@-example.test', '<user@example.test>',
      'user@example.test>', 'us(er)@example.test', 'us\\er@example.test', 'user\r\n@example.test', 'a,b@example.test']) {
      assert.throws(() => parseAddress(bad), AddressError, JSON.stringify(bad));
      assert.equal(tryNormalizeAddress(bad), null, JSON.stringify(bad));
    }
  });

  test('length limits: 64 octets of local part, counted in UTF-8', () => {
    assert.equal(normalizeAddress(`${'a'.repeat(64)}@example.test`), `${'a'.repeat(64)}@example.test`);
    assert.throws(() => parseAddress(`${'a'.repeat(65)}@example.test`), AddressError);
    assert.equal(normalizeAddress(`${'я'.repeat(32)}@example.test`).length, 32 + 13, '32 Cyrillic letters = 64 octets');
    assert.throws(() => parseAddress(`${'я'.repeat(33)}@example.test`), AddressError, '66 octets');
  });

  test('the whole address is at most 320 characters', () => {
    const domain = [...Array.from({ length: 3 }, () => 'd'.repeat(63)), 'e'.repeat(61)].join('.');
    const longest = `${'l'.repeat(64)}@${domain}`;
    assert.equal(longest.length, 318);
    assert.equal(normalizeAddress(longest), longest);
  });

  test('domainOf', () => {
    assert.equal(domainOf('a@b.test'), 'b.test');
    assert.equal(domainOf('"x@y"@z.test'), 'z.test');
  });
});
