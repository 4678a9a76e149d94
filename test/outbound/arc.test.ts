// ARC sealing when Pochtamt forwards (issue 6, RFC 8617): outside mail that an alias or group
// of example.test forwards to far.test leaves with one ARC set (ARC-Authentication-Results from
// our inbound check, ARC-Message-Signature, ARC-Seal) signed with example.test's current DKIM
// key, and mailauth at the far end validates the chain; an existing chain is extended (cv=pass);
// our own submissions are DKIM-signed, never sealed. Everything is on loopback: a fake DNS
// (dns2) with SPF/DKIM/DMARC records and the MX of far.test, a scripted MX on 127.0.0.5, SMTP
// clients from 127.0.0.2 and 127.0.0.3 (outside the trusted network 127.0.0.1/32).
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, test } from 'node:test';
import { authenticate, sealMessage } from 'mailauth';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { planArcSeal } from '../../src/delivery/arc.js';
import { createPolicyResolver } from '../../src/policy/dns.js';
import { startInstance, type TestInstance } from '../helpers/instance.js';
import { RawSmtp } from '../helpers/raw-smtp.js';
import { message } from '../security/helpers.js';
import { startFakeDns, type FakeDns } from '../helpers/fake-dns.js';
import { freePort, startScriptedMx, type ScriptedMx } from './scripted-mx.js';
import { submit, waitFor } from './util.js';

const MX_HOST = '127.0.0.5';
const OUTSIDE = '127.0.0.2';
const LIST = '127.0.0.3';

function rsa(): { pem: string; pub: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    pub: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
  };
}
const outsideKey = rsa();
const listKey = rsa();

let dns: FakeDns;
let mx: ScriptedMx;
let inst: TestInstance;
let resolver: ReturnType<typeof createPolicyResolver>;

before(async () => {
  dns = await startFakeDns({
    'outside.test': { txt: [`v=spf1 ip4:${OUTSIDE} -all`] },
    '_dmarc.outside.test': { txt: ['v=DMARC1; p=reject'] },
    'sel._domainkey.outside.test': { txt: [`v=DKIM1; k=rsa; p=${outsideKey.pub}`] },
    'list.test': { txt: [`v=spf1 ip4:${LIST} -all`] },
    'arc._domainkey.list.test': { txt: [`v=DKIM1; k=rsa; p=${listKey.pub}`] },
    'far.test': { mx: [{ exchange: 'mx.far.test', priority: 10 }] },
    'mx.far.test': { a: [MX_HOST] },
  });
  resolver = createPolicyResolver([dns.server], 2000);
  mx = await startScriptedMx(MX_HOST, await freePort(MX_HOST));
  inst = await startInstance({ config: {
    delivery: { dnsServers: [dns.server], remotePort: mx.port, retryMinutes: [0.01], connectTimeoutSeconds: 2 },
    policy: { dnsServers: [dns.server], trustedNetworks: ['127.0.0.1/32'], greylist: { enabled: false }, dnsbl: { enabled: false } },
  } });
  await inst.app.accounts.addAlias('fwd@example.test', ['friend@far.test']);
  await inst.app.accounts.addGroup('team@example.test', { members: ['admin@example.test', 'mate@far.test'] });
  // The far end looks up example.test's ARC/DKIM key in the same fake DNS.
  const d = (await inst.app.accounts.getDomain('example.test'))!;
  dns.zone.set(`${d.dkimSelector}._domainkey.example.test`, { txt: [/"(.*)"/.exec(inst.app.accounts.dkimRecordOf(d)!)![1]!] });
});

after(async () => {
  await inst?.stop();
  await mx?.stop();
  await dns?.stop();
});

async function sendFrom(ip: string, from: string, to: string, raw: Buffer | string): Promise<void> {
  const { c } = await RawSmtp.connect(inst.ports.smtp!, { localAddress: ip, lenient: true });
  await c.cmd('EHLO client.test');
  const r = await c.send(from, [to], raw);
  await c.quit();
  assert.equal(r.code, 250, r.text);
}

async function outsideMessage(subject: string, to: string): Promise<Buffer> {
  const raw = Buffer.from(message({ from: 'alice@outside.test', to, subject }));
  const key = { signingDomain: 'outside.test', selector: 'sel', privateKey: outsideKey.pem, canonicalization: 'relaxed/relaxed' };
  const signed = await dkimSign(raw, { ...key, signatureData: [key] });
  return Buffer.concat([Buffer.from(signed.signatures, 'latin1'), raw]);
}

function arrived(subject: string): Promise<{ raw: Buffer; text: string; to: string[] }> {
  return waitFor(`"${subject}" at far.test`, async () => {
    const m = mx.received.find((r) => r.raw.toString('latin1').includes(`Subject: ${subject}`));
    return m ? { raw: m.raw, text: m.raw.toString('latin1'), to: m.to } : null;
  });
}

/** What the far end (mx.far.test) concludes, with our outbound address as the client. */
function verifyAtFarEnd(raw: Buffer, sender: string) {
  return authenticate(raw, { ip: '127.0.0.1', helo: 'mail.example.test', sender, mta: 'mx.far.test', resolver, disableBimi: true });
}

function field(text: string, name: string): string[] {
  const head = text.slice(0, text.indexOf('\r\n\r\n') + 2);
  return [...head.matchAll(new RegExp(`^${name}:(.*(?:\\r\\n[ \\t].*)*)`, 'gim'))].map((m) => m[1]!.replace(/\r\n[ \t]/g, ' ').trim());
}

test('outside mail forwarded by an alias leaves with an ARC set i=1 (cv=none) that validates at the far end', async () => {
  await sendFrom(OUTSIDE, 'alice@outside.test', 'fwd@example.test', await outsideMessage('arc via alias', 'fwd@example.test'));
  const m = await arrived('arc via alias');
  assert.deepEqual(m.to, ['friend@far.test']);

  const [seal] = field(m.text, 'ARC-Seal');
  const [ams] = field(m.text, 'ARC-Message-Signature');
  const [aar] = field(m.text, 'ARC-Authentication-Results');
  const d = (await inst.app.accounts.getDomain('example.test'))!;
  assert.equal(field(m.text, 'ARC-Seal').length, 1);
  assert.match(seal!, /(^|;)\s*i=1;/);
  assert.match(seal!, /\bcv=none\b/);
  assert.match(seal!, /\bd=example\.test\b/);
  assert.match(seal!, new RegExp(`\\bs=${d.dkimSelector};`));
  assert.match(ams!, /(^|;)\s*i=1;/);
  assert.match(ams!, /\bd=example\.test\b/);
  // The ARC-AR carries what our inbound check found (the Authentication-Results it added).
  assert.match(aar!, /^i=1; mail\.example\.test;/);
  assert.match(aar!, /dkim=pass[^;]*header\.i=@outside\.test/);
  assert.match(aar!, /spf=pass/);
  assert.match(aar!, /dmarc=pass/);
  const [ar] = field(m.text, 'Authentication-Results');
  assert.equal(aar, `i=1; ${ar}`);
  // Forwarded outside mail is still not DKIM-signed with our key.
  assert.equal(field(m.text, 'DKIM-Signature').length, 1);
  assert.match(field(m.text, 'DKIM-Signature')[0]!, /\bd=outside\.test\b/);

  // At the far end SPF fails (we are not outside.test's sender), but the chain validates.
  const res = await verifyAtFarEnd(m.raw, 'alice@outside.test');
  assert.equal(res.arc && res.arc.status.result, 'pass', JSON.stringify(res.arc && res.arc.status));
  assert.equal(res.arc && res.arc.i, 1);
  assert.equal(res.spf && res.spf.status.result, 'fail');
  assert.match(res.headers, /arc=pass/);
});

test('a group forward is sealed too, and an existing chain is extended with cv=pass', async () => {
  // A mailing list (list.test) has already sealed the message (i=1) before relaying it to us.
  const original = await outsideMessage('arc via group', 'team@example.test');
  const listSeal = await sealMessage(original, {
    signingDomain: 'list.test', selector: 'arc', privateKey: listKey.pem,
    authResults: 'mx.list.test; spf=pass smtp.mailfrom=outside.test; dkim=pass header.d=outside.test', cv: 'none',
  } as Parameters<typeof sealMessage>[1]);
  await sendFrom(LIST, 'bounces@list.test', 'team@example.test', Buffer.concat([listSeal, original]));
  const m = await arrived('arc via group');
  assert.deepEqual(m.to, ['mate@far.test']);

  const seals = field(m.text, 'ARC-Seal');
  assert.equal(seals.length, 2);
  const ours = seals.find((s) => /(^|;)\s*i=2;/.test(s));
  assert.ok(ours, seals.join('\n'));
  assert.match(ours, /\bcv=pass\b/);
  assert.match(ours, /\bd=example\.test\b/);
  const aar2 = field(m.text, 'ARC-Authentication-Results').find((v) => v.startsWith('i=2;'));
  assert.match(aar2!, /^i=2; mail\.example\.test;.*arc=pass/);

  const res = await verifyAtFarEnd(m.raw, 'bounces@list.test');
  assert.equal(res.arc && res.arc.status.result, 'pass', JSON.stringify(res.arc && res.arc.status));
  assert.equal(res.arc && res.arc.i, 2);
});

test('mail our accounts submit is DKIM-signed, not ARC-sealed', async () => {
  await submit(inst, { to: ['someone@far.test'], subject: 'arc submission' });
  const m = await arrived('arc submission');
  assert.match(m.text, /^DKIM-Signature: .*d=example\.test/m);
  assert.doesNotMatch(m.text, /^ARC-(Seal|Message-Signature|Authentication-Results):/im);
});

test('planArcSeal: no seal without our results or on a failed chain; cv from our ARC verdict', () => {
  const body = 'From: a@outside.test\r\nSubject: x\r\n\r\nhi\r\n';
  const ar = (arc: string) => `Authentication-Results: mail.example.test;\r\n dkim=none;\r\n spf=pass smtp.mailfrom=outside.test${arc}\r\n`;
  const plan = (head: string) => planArcSeal(Buffer.from(head + body), 'mail.example.test');

  assert.deepEqual(plan(''), { seal: false, reason: 'no Authentication-Results of ours (sender authentication did not run)' });
  // Someone else's results do not count.
  assert.equal(plan('Authentication-Results: mx.other.test; spf=pass\r\n').seal, false);
  assert.deepEqual(plan(ar('')), { seal: true, plan: { instance: 1, cv: 'none',
    authResults: 'mail.example.test;\r\n dkim=none;\r\n spf=pass smtp.mailfrom=outside.test' } });

  const set = (i: number, cv: string) => `ARC-Seal: i=${i}; a=rsa-sha256; cv=${cv}; d=x.test; s=s; b=AAAA\r\n`
    + `ARC-Message-Signature: i=${i}; a=rsa-sha256; d=x.test; s=s; h=from; bh=AAAA; b=AAAA\r\n`
    + `ARC-Authentication-Results: i=${i}; mx.x.test; spf=pass\r\n`;
  const passed = plan(ar(';\r\n arc=pass (i=2)') + set(2, 'pass') + set(1, 'none'));
  assert.ok(passed.seal);
  assert.equal(passed.plan.instance, 3);
  assert.equal(passed.plan.cv, 'pass');
  const failed = plan(ar(';\r\n arc=fail (i=1 seal signature validation failed)') + set(1, 'none'));
  assert.ok(failed.seal);
  assert.deepEqual([failed.plan.instance, failed.plan.cv], [2, 'fail']);
  assert.deepEqual(plan(ar(';\r\n arc=fail') + set(2, 'fail') + set(1, 'none')), { seal: false, reason: 'the chain already failed (i=2 cv=fail)' });
});
