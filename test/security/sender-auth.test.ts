// Sender authentication end to end: a real instance, a local DNS server (dns2) with SPF, DKIM
// and DMARC records, and SMTP clients on 127.0.0.2 (outside the trusted networks). For each
// outcome the exact SMTP reply, where the message landed and the policy trace line. Also
// DNS outages: timeouts accept with a trace line (or tempfail, as configured), DNSBL fails open.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { startInstance, type TestInstance } from '../helpers/instance.js';
import { startFakeDns, type FakeDns } from '../helpers/fake-dns.js';
import { RawSmtp } from '../helpers/raw-smtp.js';
import { mailOf, message, startBlackhole, traceSince, type TraceLine } from './helpers.js';

const USER = 'user@example.test';
const OUTSIDE = '127.0.0.2';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const pub = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');

const zone = {
  'good.test': { txt: [`v=spf1 ip4:${OUTSIDE} -all`] },
  '_dmarc.good.test': { txt: ['v=DMARC1; p=reject'] },
  'signed.test': { txt: ['v=spf1 -all'] },
  '_dmarc.signed.test': { txt: ['v=DMARC1; p=reject'] },
  'sel._domainkey.signed.test': { txt: [`v=DKIM1; k=rsa; p=${pub}`] },
  'quar.test': { txt: ['v=spf1 -all'] },
  '_dmarc.quar.test': { txt: ['v=DMARC1; p=quarantine'] },
  'rej.test': { txt: ['v=spf1 -all'] },
  '_dmarc.rej.test': { txt: ['v=DMARC1; p=reject'] },
  'pct.test': { txt: ['v=spf1 -all'] },
  '_dmarc.pct.test': { txt: ['v=DMARC1; p=reject; pct=0'] },
  'none.test': { txt: ['v=spf1 -all'] },
  '_dmarc.none.test': { txt: ['v=DMARC1; p=none'] },
};

const policyStep = (lines: TraceLine[], sender: string, step: string) => {
  const qid = lines.find((l) => l.event === 'smtp.mail.accepted' && l.sender === sender)?.queueId;
  return lines.find((l) => l.queueId === qid && l.event.startsWith('policy.step.') && l.detail.step === step);
};

async function send(port: number, from: string, raw: string | Buffer, ip = OUTSIDE) {
  const { c } = await RawSmtp.connect(port, { localAddress: ip, lenient: true });
  await c.cmd('EHLO client.test');
  const r = await c.send(from, [USER], raw);
  await c.quit();
  return r;
}

describe('sender authentication (SPF, DKIM, DMARC)', () => {
  let dns: FakeDns;
  let inst: TestInstance;
  let port: number;

  before(async () => {
    dns = await startFakeDns(zone);
    inst = await startInstance({ config: {
      auth: { allowPlaintextWithoutTls: true },
      policy: { dnsServers: [dns.server], trustedNetworks: ['127.0.0.1/32'], greylist: { enabled: false } },
    } });
    await inst.app.accounts.addAccount({ address: USER, password: 'user-secret-1' });
    port = inst.ports.smtp!;
  });
  after(async () => {
    await inst?.stop();
    await dns?.stop();
  });

  test('SPF pass, DMARC pass: delivered to INBOX with Authentication-Results', async () => {
    const since = Date.now();
    const from = 'alice@good.test';
    const r = await send(port, from, message({ from, to: USER, subject: 'spf pass' }));
    assert.equal(r.code, 250, r.text);
    const m = (await mailOf(inst.app, USER)).find((x) => x.raw.includes('Subject: spf pass'))!;
    assert.equal(m.box, 'INBOX');
    assert.match(m.raw, /^Authentication-Results: mail\.example\.test;/m);
    assert.match(m.raw, /spf=pass/);
    assert.match(m.raw, /dmarc=pass/);
    assert.match(m.raw, /^Received-SPF: pass/m);
    const t = policyStep(await traceSince(inst.app, since), from, 'sender-auth')!;
    assert.equal(t.event, 'policy.step.tag');
    assert.match(String(t.detail.reason), /^spf=pass dkim=none dmarc=pass/);
  });

  test('DKIM-aligned signature passes DMARC although SPF fails', async () => {
    const from = 'bob@signed.test';
    const raw = Buffer.from(message({ from, to: USER, subject: 'dkim pass' }));
    const key = { signingDomain: 'signed.test', selector: 'sel', privateKey: pem, canonicalization: 'relaxed/relaxed' };
    const signed = await dkimSign(raw, { ...key, signatureData: [key] });
    const r = await send(port, from, Buffer.concat([Buffer.from(signed.signatures, 'latin1'), raw]));
    assert.equal(r.code, 250, r.text);
    const m = (await mailOf(inst.app, USER)).find((x) => x.raw.includes('Subject: dkim pass'))!;
    assert.equal(m.box, 'INBOX');
    assert.match(m.raw, /dkim=pass/);
    assert.match(m.raw, /spf=fail/);
    assert.match(m.raw, /dmarc=pass/);
  });

  test('DMARC p=quarantine failure goes to Junk', async () => {
    const since = Date.now();
    const from = 'carol@quar.test';
    const r = await send(port, from, message({ from, to: USER, subject: 'dmarc quarantine' }));
    assert.equal(r.code, 250, r.text);
    const m = (await mailOf(inst.app, USER)).find((x) => x.raw.includes('Subject: dmarc quarantine'))!;
    assert.equal(m.box, 'Junk');
    assert.match(m.raw, /dmarc=fail/);
    const t = policyStep(await traceSince(inst.app, since), from, 'sender-auth')!;
    assert.equal(t.event, 'policy.step.junk');
    assert.match(String(t.detail.reason), /^dmarc fail p=quarantine pct=100 \(spf=fail/);
  });

  test('DMARC p=reject failure is refused at DATA', async () => {
    const since = Date.now();
    const from = 'dave@rej.test';
    const r = await send(port, from, message({ from, to: USER, subject: 'dmarc reject' }));
    assert.equal(`${r.code} ${r.text}`, '550 5.7.1 Message rejected: DMARC policy of rej.test (p=reject)');
    const t = policyStep(await traceSince(inst.app, since), from, 'sender-auth')!;
    assert.equal(t.event, 'policy.step.reject');
    assert.equal(t.detail.reply, '550 5.7.1 Message rejected: DMARC policy of rej.test (p=reject)');
    assert.ok(!(await mailOf(inst.app, USER)).some((x) => x.raw.includes('Subject: dmarc reject')));
  });

  test('pct=0: a p=reject failure that is not sampled is treated as quarantine (RFC 7489 §6.6.4)', async () => {
    const from = 'erin@pct.test';
    const r = await send(port, from, message({ from, to: USER, subject: 'dmarc pct' }));
    assert.equal(r.code, 250, r.text);
    assert.equal((await mailOf(inst.app, USER)).find((x) => x.raw.includes('Subject: dmarc pct'))!.box, 'Junk');
  });

  test('p=none failure is only tagged', async () => {
    const from = 'frank@none.test';
    const r = await send(port, from, message({ from, to: USER, subject: 'dmarc none' }));
    assert.equal(r.code, 250, r.text);
    const m = (await mailOf(inst.app, USER)).find((x) => x.raw.includes('Subject: dmarc none'))!;
    assert.equal(m.box, 'INBOX');
    assert.match(m.raw, /dmarc=fail/);
  });

  test('mail from our own domain arriving from outside is rejected; from a trusted network it is not', async () => {
    const since = Date.now();
    const from = 'ceo@example.test';
    const r = await send(port, from, message({ from, to: USER, subject: 'forged' }));
    assert.equal(`${r.code} ${r.text}`, '550 5.7.1 Sender domain example.test is ours: mail from it must be authenticated');
    const t = policyStep(await traceSince(inst.app, since), from, 'sender-auth')!;
    assert.equal(t.event, 'policy.step.reject');
    assert.match(String(t.detail.reason), /^forged local domain example\.test/);
    const forgedFrom = await send(port, 'x@good.test', message({ from: 'ceo@example.test', to: USER, subject: 'forged header' }));
    assert.equal(`${forgedFrom.code} ${forgedFrom.text}`, '550 5.7.1 Sender domain example.test is ours: mail from it must be authenticated');
    const trusted = await send(port, from, message({ from, to: USER, subject: 'from trusted' }), '127.0.0.1');
    assert.equal(trusted.code, 250, trusted.text);
  });
});

describe('DNS outage', () => {
  let hole: Awaited<ReturnType<typeof startBlackhole>>;
  let inst: TestInstance;

  before(async () => {
    hole = await startBlackhole();
    inst = await startInstance({ config: {
      policy: { dnsServers: [hole.server], dnsTimeoutMs: 300, trustedNetworks: ['127.0.0.1/32'], greylist: { enabled: false },
        dnsbl: { zones: ['bl.test'], timeoutMs: 300 } },
    } });
    await inst.app.accounts.addAccount({ address: USER, password: 'user-secret-1' });
  });
  after(async () => {
    await inst?.stop();
    await hole?.stop();
  });

  test('DNS timeouts: DNSBL fails open and sender auth accepts with temperror (default), or tempfails if configured', async () => {
    const since = Date.now();
    const from = 'gina@rej.test';
    const r = await send(inst.ports.smtp!, from, message({ from, to: USER, subject: 'dns down' }));
    assert.equal(r.code, 250, r.text);
    const m = (await mailOf(inst.app, USER)).find((x) => x.raw.includes('Subject: dns down'))!;
    assert.equal(m.box, 'INBOX');
    assert.match(m.raw, /spf=temperror/);
    const lines = await traceSince(inst.app, since);
    const bl = lines.find((l) => l.event === 'policy.step.tag' && l.detail.step === 'dnsbl')!;
    assert.match(String(bl.detail.reason), /^dnsbl lookup failed \(fail open\): bl\.test: /);
    const sa = policyStep(lines, from, 'sender-auth')!;
    assert.match(String(sa.detail.reason), /spf=temperror.*\(dns temperror, accepted\)$/);

    inst.app.config.policy.senderAuth.onDnsError = 'tempfail';
    const r2 = await send(inst.ports.smtp!, 'hank@rej.test', message({ from: 'hank@rej.test', to: USER, subject: 'dns down 2' }));
    assert.equal(`${r2.code} ${r2.text}`, '451 4.4.3 Temporary DNS failure while checking the sender, try again later');
  });
});
