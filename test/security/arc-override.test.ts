// DMARC local policy override by a trusted ARC chain (RFC 7489 §6.7, RFC 8617): a mailing list
// (list.test) re-sends outside.test's mail (p=reject) with a changed Subject, so DKIM breaks and
// SPF is the list's: DMARC fails. With list.test in policy.arc.trustedSealers and its ARC seal
// saying dmarc=pass, the message is delivered to INBOX, Authentication-Results says
// policy.dmarc=arc-override and the trace says why. An untrusted sealer, a seal whose ARC-AR saw
// no pass, and a chain broken after sealing are still rejected. Real seals (mailauth), a fake
// DNS on loopback, SMTP clients from 127.0.0.3/4 (outside the trusted network).
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { authenticate, sealMessage } from 'mailauth';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { createPolicyResolver } from '../../src/policy/dns.js';
import { startFakeDns, type FakeDns } from '../helpers/fake-dns.js';
import { startInstance, type TestInstance } from '../helpers/instance.js';
import { RawSmtp } from '../helpers/raw-smtp.js';
import { mailOf, message, traceSince } from './helpers.js';

const USER = 'reader@example.test';
const ORIGIN = '127.0.0.9'; // outside.test's own MTA (SPF)
const LIST = '127.0.0.3';
const OTHER = '127.0.0.4';

function rsa(): { pem: string; pub: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), pub: publicKey.export({ type: 'spki', format: 'der' }).toString('base64') };
}
const outsideKey = rsa();
const listKey = rsa();
const otherKey = rsa();

describe('DMARC override by a trusted ARC sealer', () => {
  let dns: FakeDns;
  let inst: TestInstance;
  let resolver: ReturnType<typeof createPolicyResolver>;

  before(async () => {
    dns = await startFakeDns({
      'outside.test': { txt: [`v=spf1 ip4:${ORIGIN} -all`] },
      '_dmarc.outside.test': { txt: ['v=DMARC1; p=reject'] },
      'sel._domainkey.outside.test': { txt: [`v=DKIM1; k=rsa; p=${outsideKey.pub}`] },
      'lists.list.test': { txt: [`v=spf1 ip4:${LIST} -all`] },
      'arc._domainkey.lists.list.test': { txt: [`v=DKIM1; k=rsa; p=${listKey.pub}`] },
      'other.test': { txt: [`v=spf1 ip4:${OTHER} -all`] },
      'arc._domainkey.other.test': { txt: [`v=DKIM1; k=rsa; p=${otherKey.pub}`] },
    });
    resolver = createPolicyResolver([dns.server], 2000);
    inst = await startInstance({ config: {
      policy: { dnsServers: [dns.server], trustedNetworks: ['127.0.0.1/32'], greylist: { enabled: false }, dnsbl: { enabled: false },
        arc: { trustedSealers: ['list.test'] } },
    } });
    await inst.app.accounts.addAccount({ address: USER, password: 'reader-secret-1' });
  });
  after(async () => {
    await inst?.stop();
    await dns?.stop();
  });

  /** outside.test's message as its list copy: DKIM-signed at the origin, Subject tagged by the list, then ARC-sealed by `sealer`. */
  async function listCopy(subject: string, sealer: { domain: string; key: { pem: string } }, opts: { arResults?: string; breakAfter?: boolean } = {}) {
    const original = Buffer.from(message({ from: 'alice@outside.test', to: USER, subject }));
    const key = { signingDomain: 'outside.test', selector: 'sel', privateKey: outsideKey.pem, canonicalization: 'relaxed/relaxed' };
    const signed = Buffer.concat([Buffer.from((await dkimSign(original, { ...key, signatureData: [key] })).signatures, 'latin1'), original]);
    // What the list saw on arrival from outside.test's MTA.
    const seen = await authenticate(signed, { ip: ORIGIN, helo: 'mx.outside.test', sender: 'alice@outside.test', mta: `mx.${sealer.domain}`, resolver, disableBimi: true });
    assert.equal(seen.dmarc && seen.dmarc.status.result, 'pass');
    const ar = opts.arResults ?? /^Authentication-Results: ([\s\S]*?)\r\n(?![ \t])/m.exec(seen.headers)![1]!;
    const modified = Buffer.from(signed.toString('latin1').replace(`Subject: ${subject}`, `Subject: [list] ${subject}`), 'latin1');
    const seal = await sealMessage(modified, { signingDomain: sealer.domain, selector: 'arc', privateKey: sealer.key.pem, authResults: ar, cv: 'none' } as Parameters<typeof sealMessage>[1]);
    let out = Buffer.concat([seal, modified]);
    if (opts.breakAfter) out = Buffer.from(out.toString('latin1').replace('See you at lunch', 'See you at dinner').replace('Hello there', 'Hello here'), 'latin1');
    return out;
  }

  async function send(ip: string, from: string, raw: Buffer) {
    const { c } = await RawSmtp.connect(inst.ports.smtp!, { localAddress: ip, lenient: true });
    await c.cmd('EHLO list.client.test');
    const r = await c.send(from, [USER], raw);
    await c.quit();
    return r;
  }

  const stepLine = async (since: number, sender: string) => {
    const lines = await traceSince(inst.app, since);
    const qid = lines.find((l) => l.event === 'smtp.mail.accepted' && l.sender === sender)?.queueId;
    return lines.find((l) => l.queueId === qid && l.event.startsWith('policy.step.') && l.detail.step === 'sender-auth');
  };

  test('trusted sealer whose ARC-AR saw dmarc=pass: delivered to INBOX, marked arc-override', async () => {
    const since = Date.now();
    const raw = await listCopy('arc trusted', { domain: 'lists.list.test', key: listKey });
    const r = await send(LIST, 'bounces@lists.list.test', raw);
    assert.equal(r.code, 250, r.text);
    const m = (await mailOf(inst.app, USER)).find((x) => x.raw.includes('Subject: [list] arc trusted'))!;
    assert.equal(m.box, 'INBOX');
    const ar = /^Authentication-Results: mail\.example\.test;([\s\S]*?)\r\n(?![ \t])/m.exec(m.raw)![1]!.replace(/\r\n[ \t]+/g, ' ');
    assert.match(ar, /\barc=pass\b/);
    assert.match(ar, /\bdmarc=fail \(p=REJECT arc=pass\)[^;]* policy\.dmarc=arc-override \(trusted ARC sealer lists\.list\.test i=1: dmarc=pass\)/);
    const line = (await stepLine(since, 'bounces@lists.list.test'))!;
    assert.equal(line.event, 'policy.step.tag');
    assert.match(String(line.detail.reason), /^dmarc fail p=reject overridden: arc-override by trusted sealer lists\.list\.test \(i=1, dmarc=pass\)/);
  });

  test('an untrusted sealer does not override: 550', async () => {
    const since = Date.now();
    const r = await send(OTHER, 'bounces@other.test', await listCopy('arc untrusted', { domain: 'other.test', key: otherKey }));
    assert.equal(r.code, 550, r.text);
    assert.match(r.text, /DMARC policy of outside\.test/);
    assert.equal((await stepLine(since, 'bounces@other.test'))!.event, 'policy.step.reject');
  });

  test('a trusted seal whose ARC-AR saw no pass, and a chain broken after sealing, do not override', async () => {
    const noPass = await listCopy('arc no pass', { domain: 'lists.list.test', key: listKey },
      { arResults: 'mx.lists.list.test; spf=fail smtp.mailfrom=outside.test; dkim=fail header.d=outside.test; dmarc=fail header.from=outside.test' });
    const a = await send(LIST, 'bounces@lists.list.test', noPass);
    assert.equal(a.code, 550, a.text);
    const since = Date.now();
    const broken = await listCopy('arc broken', { domain: 'lists.list.test', key: listKey }, { breakAfter: true });
    const b = await send(LIST, 'bounces@lists.list.test', broken);
    assert.equal(b.code, 550, b.text);
    const line = (await stepLine(since, 'bounces@lists.list.test'))!;
    assert.match(String(line.detail.reason), /arc=fail/);
    assert.equal((await mailOf(inst.app, USER)).filter((x) => /arc (no pass|broken)/.test(x.raw)).length, 0);
  });
});
