// DKIM public keys parsed once per DNS record (src/policy/mailauth.ts): the same verdicts as
// mailauth alone, the record still read for every message, a rotated or revoked key noticed
// at once, and the key reported as text in the results. The TXT answers come from mailauth's
// own resolver option, so each case controls exactly what "DNS" says.
import { authenticate, keyCacheActive, keyCacheCounters } from '../../src/policy/mailauth.js';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';

const DOMAIN = 'signer.test';
const SELECTOR = 'k1';

function rsaKey() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), p: publicKey.export({ type: 'spki', format: 'der' }).toString('base64') };
}

async function signed(privateKey: string, algorithm?: string): Promise<Buffer> {
  const body = Buffer.from(`From: A <a@${DOMAIN}>\r\nTo: b@local.test\r\nSubject: key cache\r\nMessage-ID: <${Math.random()}@${DOMAIN}>\r\n\r\nHello.\r\n`);
  const key = { signingDomain: DOMAIN, selector: SELECTOR, privateKey, canonicalization: 'relaxed/relaxed', ...(algorithm ? { algorithm } : {}) };
  const r = await dkimSign(body, { ...key, signatureData: [key] });
  assert.ok(r.signatures, JSON.stringify(r.errors));
  return Buffer.concat([Buffer.from(r.signatures, 'latin1'), body]);
}

describe('DKIM key cache', () => {
  const txt = new Map<string, string>();
  let queries = 0;
  const resolver = async (name: string, type: string) => {
    if (type === 'TXT' && name.toLowerCase() === `${SELECTOR}._domainkey.${DOMAIN}`) queries++;
    const v = type === 'TXT' ? txt.get(name.toLowerCase()) : undefined;
    if (v === undefined) throw Object.assign(new Error(`${name} not found`), { code: 'ENOTFOUND' });
    return [[v]];
  };
  const dkimOf = async (raw: Buffer) => {
    const r = await authenticate(raw, { ip: '192.0.2.1', helo: 'client.test', sender: `a@${DOMAIN}`, mta: 'mx.local.test', resolver, disableBimi: true });
    return r.dkim.results[0]!;
  };
  const record = `${SELECTOR}._domainkey.${DOMAIN}`;

  test('is installed before mailauth loaded its verifiers', () => {
    assert.equal(keyCacheActive, true);
  });

  test('parses a key once, still asks DNS for every message', async () => {
    const k = rsaKey();
    txt.set(record, `v=DKIM1; k=rsa; p=${k.p}`);
    const before = keyCacheCounters();
    const q0 = queries;
    for (let i = 0; i < 3; i++) {
      const r = await dkimOf(await signed(k.pem));
      assert.equal(r.status.result, 'pass');
      assert.match(String((r as { publicKey?: string }).publicKey), /^-----BEGIN (RSA )?PUBLIC KEY-----/);
    }
    const after = keyCacheCounters();
    assert.equal(after.parsed - before.parsed, 1);
    assert.equal(after.lookups - before.lookups, 3);
    assert.equal(queries - q0, 3);
  });

  test('a rotated key applies at once: old signatures fail, new ones pass', async () => {
    const oldKey = rsaKey();
    const newKey = rsaKey();
    txt.set(record, `v=DKIM1; k=rsa; p=${oldKey.p}`);
    const oldMsg = await signed(oldKey.pem);
    assert.equal((await dkimOf(oldMsg)).status.result, 'pass');
    txt.set(record, `v=DKIM1; k=rsa; p=${newKey.p}`);
    assert.equal((await dkimOf(oldMsg)).status.result, 'fail');
    assert.equal((await dkimOf(await signed(newKey.pem))).status.result, 'pass');
    // Back to the old record: served from the cache, same verdict as before.
    const before = keyCacheCounters();
    txt.set(record, `v=DKIM1; k=rsa; p=${oldKey.p}`);
    assert.equal((await dkimOf(oldMsg)).status.result, 'pass');
    assert.equal(keyCacheCounters().parsed, before.parsed);
  });

  test('a revoked key (empty p=) or a vanished record is never served from the cache', async () => {
    const k = rsaKey();
    const msg = await signed(k.pem);
    txt.set(record, `v=DKIM1; k=rsa; p=${k.p}`);
    assert.equal((await dkimOf(msg)).status.result, 'pass');
    txt.set(record, 'v=DKIM1; k=rsa; p=');
    assert.notEqual((await dkimOf(msg)).status.result, 'pass');
    txt.delete(record);
    assert.notEqual((await dkimOf(msg)).status.result, 'pass');
    txt.set(record, 'v=DKIM1; k=rsa; p=not-base64!!');
    assert.notEqual((await dkimOf(msg)).status.result, 'pass');
  });

  test('a key too short for mailauth stays refused, cached or not', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 512 });
    txt.set(record, `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`);
    const msg = await signed(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    for (let i = 0; i < 2; i++) assert.notEqual((await dkimOf(msg)).status.result, 'pass');
  });

  test('ed25519 keys (RFC 8463) pass through the cache too', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const raw = publicKey.export({ type: 'spki', format: 'der' }).subarray(-32).toString('base64');
    txt.set(record, `v=DKIM1; k=ed25519; p=${raw}`);
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    for (let i = 0; i < 2; i++) assert.equal((await dkimOf(await signed(pem, 'ed25519-sha256'))).status.result, 'pass');
  });

  test('src/ imports mailauth\'s verifiers only through src/policy/mailauth.ts', () => {
    const src = path.resolve(import.meta.dirname, '..', '..', '..', 'src');
    const offenders: string[] = [];
    (function walk(dir: string) {
      for (const n of readdirSync(dir)) {
        const p = path.join(dir, n);
        if (statSync(p).isDirectory()) walk(p);
        else if (n.endsWith('.ts') && !p.endsWith(path.join('policy', 'mailauth.ts'))
          && /from 'mailauth(\/lib\/(dkim\/(verify|dkim-verifier)|arc|mailauth)[^']*)?'|require\('mailauth'\)/.test(readFileSync(p, 'utf8'))) offenders.push(p);
      }
    })(src);
    assert.deepEqual(offenders, []);
  });
});
