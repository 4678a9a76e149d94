// Content filters end to end with the real daemons: spamd (GTUBE), clamd (an EICAR-only local
// signature database), the attachment policy, sender allow/deny lists and the quarantine CLI.
// Each filter: a message that passes (tagged), one that is junked or held, one that is
// refused with its exact reply; and each daemon's outage in both configured failure modes.
// Tests whose daemon is not installed skip with the reason.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test, type TestContext } from 'node:test';
import { startInstance, type TestInstance } from '../helpers/instance.js';
import { RawSmtp } from '../helpers/raw-smtp.js';
import { closedPort, EICAR, mailOf, message, startClamd, startSpamd, traceSince, zip, type Daemon } from './helpers.js';

const USER = 'user@example.test';
const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const run = promisify(execFile);

describe('content filters', () => {
  let inst: TestInstance;
  let spamd: Daemon | string;
  let clamd: Daemon | string;
  let n = 0;

  const send = async (raw: string, from = `sender${++n}@remote.test`) => {
    const { c } = await RawSmtp.connect(inst.ports.smtp!, { localAddress: '127.0.0.2', lenient: true });
    await c.cmd('EHLO client.test');
    const r = await c.send(from, [USER], raw);
    await c.quit();
    return { ...r, from };
  };
  const stored = async (subject: string) => (await mailOf(inst.app, USER)).find((m) => m.raw.includes(`Subject: ${subject}\r\n`));
  const cli = async (...args: string[]) => (await run(process.execPath, [CLI, '--data', inst.dataDir, ...args])).stdout;

  before(async () => {
    [spamd, clamd] = await Promise.all([startSpamd(), startClamd()]);
    inst = await startInstance({ config: {
      policy: {
        trustedNetworks: ['127.0.0.1/32'], senderAuth: { enabled: false }, greylist: { enabled: false },
        spamassassin: { enabled: typeof spamd !== 'string', port: typeof spamd === 'string' ? 1 : spamd.port, timeoutMs: 20_000 },
        clamav: { enabled: typeof clamd !== 'string', host: '127.0.0.1', port: typeof clamd === 'string' ? 1 : clamd.port, timeoutMs: 10_000 },
      },
    } });
    await inst.app.accounts.addAccount({ address: USER, password: 'user-secret-1' });
  });
  after(async () => {
    await inst?.stop();
    if (typeof spamd !== 'string') await spamd?.stop();
    if (typeof clamd !== 'string') await clamd?.stop();
  });

  const needs = (t: TestContext, d: () => Daemon | string): boolean => {
    const x = d();
    if (typeof x === 'string') t.skip(x);
    return typeof x !== 'string';
  };

  test('SpamAssassin: clean mail tagged, GTUBE junked or refused by score, per-user lists', async (t) => {
    if (!needs(t, () => spamd)) return;
    const cfg = inst.app.config.policy.spamassassin;
    const since = Date.now();
    const clean = await send(message({ from: 'a@remote.test', to: USER, subject: 'ham' }));
    assert.equal(clean.code, 250, clean.text);
    const ham = (await stored('ham'))!;
    assert.equal(ham.box, 'INBOX');
    assert.match(ham.raw, /^X-Spam-Score: -?\d+\.\d\r\n/m);
    assert.match(ham.raw, /^X-Spam-Status: No, score=-?\d+\.\d required=5\.0/m);

    cfg.rejectScore = 2000; // GTUBE scores 1000: between the thresholds
    const junk = await send(message({ from: 'b@remote.test', to: USER, subject: 'spam junked', body: GTUBE }));
    assert.equal(junk.code, 250, junk.text);
    const j = (await stored('spam junked'))!;
    assert.equal(j.box, 'Junk');
    // GTUBE is worth 1000 points; other local rules move it a little (ALL_TRUSTED -1, …).
    assert.ok(Number(/^X-Spam-Score: (\S+)\r\n/m.exec(j.raw)![1]) > 900);
    assert.match(j.raw, /^X-Spam-Status: Yes, score=\d+\.\d required=5\.0\r\n\ttests=.*GTUBE/m);

    cfg.rejectScore = 15;
    const rej = await send(message({ from: 'c@remote.test', to: USER, subject: 'spam refused', body: GTUBE }));
    assert.match(`${rej.code} ${rej.text}`, /^550 5\.7\.1 Message rejected as spam \(score \d{3,4}\.\d\)$/);
    const lines = await traceSince(inst.app, since);
    const junkLine = lines.find((l) => l.event === 'policy.step.junk' && l.detail.step === 'spamassassin')!;
    assert.match(String(junkLine.detail.reason), /^score \d+\.\d \(.*GTUBE/);
    const rejLine = lines.find((l) => l.event === 'policy.step.reject' && l.detail.step === 'spamassassin')!;
    assert.equal(rejLine.detail.reply, `${rej.code} ${rej.text}`);

    // Lists: allow skips the scan for that recipient; deny refuses.
    assert.match(await cli('security', 'allow', '@friendly.test', '--for', USER), /allow @friendly\.test for user@example\.test/);
    const allowed = await send(message({ from: 'pal@friendly.test', to: USER, subject: 'allowlisted', body: GTUBE }), 'pal@friendly.test');
    assert.equal(allowed.code, 250, allowed.text);
    const al = (await stored('allowlisted'))!;
    assert.equal(al.box, 'INBOX');
    assert.match(al.raw, /^X-Spam-Status: No, allowlisted/m);
    await inst.app.policy.lists.add('example.test', 'pest@remote.test', 'deny'); // (the CLI is exercised above; it is slow to start)
    const denied = await send(message({ from: 'pest@remote.test', to: USER, subject: 'denied' }), 'pest@remote.test');
    assert.equal(`${denied.code} ${denied.text}`, '550 5.7.1 Message rejected: sender blocked by the recipient');
  });

  test('SpamAssassin over spamd\'s unix socket (spamassassin.socket): host and port are then not used', async (t) => {
    if (!needs(t, () => spamd)) return;
    const cfg = inst.app.config.policy.spamassassin;
    const port = cfg.port;
    cfg.socket = (spamd as Daemon).socket!;
    cfg.port = await closedPort();
    try {
      const since = Date.now();
      const r = await send(message({ from: 'u@remote.test', to: USER, subject: 'via socket' }));
      assert.equal(r.code, 250, r.text);
      // Scored (spamd answered): an unreachable spamd would leave the message without these headers.
      assert.match((await stored('via socket'))!.raw, /^X-Spam-Status: No, score=-?\d+\.\d required=5\.0/m);
      const line = (await traceSince(inst.app, since)).find((l) => l.detail.step === 'spamassassin')!;
      assert.equal(line.event, 'policy.step.tag');
      assert.equal(line.detail.failed, undefined);

      cfg.socket = path.join(os.tmpdir(), 'pochtamt-no-such-spamd.sock');
      const since2 = Date.now();
      assert.equal((await send(message({ from: 'v@remote.test', to: USER, subject: 'socket missing' }))).code, 250);
      const failed = (await traceSince(inst.app, since2)).find((l) => l.detail.step === 'spamassassin')!;
      assert.match(String(failed.detail.failed), /^spamd \/.*pochtamt-no-such-spamd\.sock: connect ENOENT/);
    } finally {
      Object.assign(cfg, { socket: null, port });
    }
  });

  test('ClamAV: clean mail tagged, EICAR refused, or quarantined and released with the CLI', async (t) => {
    if (!needs(t, () => clamd)) return;
    const since = Date.now();
    const clean = await send(message({ from: 'd@remote.test', to: USER, subject: 'no virus' }));
    assert.equal(clean.code, 250, clean.text);
    assert.match((await stored('no virus'))!.raw, /^X-Virus-Scanned: ClamAV \(Pochtamt\)\r\n/m);
    const virus = message({ from: 'e@remote.test', to: USER, subject: 'virus', attachments: [{ name: 'eicar.txt', data: Buffer.from(EICAR) }] });
    const r = await send(virus);
    assert.equal(`${r.code} ${r.text}`, '554 5.7.1 Message rejected: virus found (Eicar-Test-Signature.UNOFFICIAL)');
    const line = (await traceSince(inst.app, since)).find((l) => l.event === 'policy.step.reject' && l.detail.step === 'clamav')!;
    assert.equal(line.detail.reason, 'virus found: Eicar-Test-Signature.UNOFFICIAL');

    inst.app.config.policy.clamav.action = 'quarantine';
    try {
      const held = await send(virus.replace('Subject: virus', 'Subject: virus held'));
      assert.equal(held.code, 250, held.text);
      assert.equal(await stored('virus held'), undefined);
      const list = JSON.parse(await cli('quarantine', 'list', '--json')) as Array<{ id: number; step: string; reason: string; subject: string }>;
      const q = list.find((x) => x.subject === 'virus held')!;
      assert.equal(q.step, 'clamav');
      assert.equal(q.reason, 'virus found: Eicar-Test-Signature.UNOFFICIAL');
      assert.match(await cli('quarantine', 'release', String(q.id)), /released \d+: 1 stored/);
      assert.equal((await stored('virus held'))!.box, 'INBOX');
      assert.equal((await inst.app.policy.quarantine.list()).length, 0);
    } finally {
      inst.app.config.policy.clamav.action = 'reject';
    }
  });

  test('attachment policy: a PDF passes, an .exe and a zipped .js are refused', async () => {
    const since = Date.now();
    const pdf = await send(message({ from: 'f@remote.test', to: USER, subject: 'pdf', attachments: [{ name: 'report.pdf', data: Buffer.from('%PDF-1.4\n') }] }));
    assert.equal(pdf.code, 250, pdf.text);
    const exe = await send(message({ from: 'g@remote.test', to: USER, subject: 'exe', attachments: [{ name: 'setup.exe', data: Buffer.from('MZ\x90\0', 'latin1') }] }));
    assert.equal(`${exe.code} ${exe.text}`, '554 5.7.1 Message rejected: attachment not allowed (setup.exe: blocked file type .exe)');
    const z = await send(message({ from: 'h@remote.test', to: USER, subject: 'zip', attachments: [{ name: 'invoice.zip', data: zip([{ name: 'invoice.js', data: Buffer.from('x') }]) }] }));
    assert.equal(`${z.code} ${z.text}`, '554 5.7.1 Message rejected: attachment not allowed (invoice.zip: archive contains a .js file)');
    const line = (await traceSince(inst.app, since)).find((l) => l.event === 'policy.step.reject' && l.detail.step === 'attachments')!;
    assert.equal(line.detail.reason, 'setup.exe: blocked file type .exe');
  });

  test('daemon outages: clamd down tempfails (default) or accepts tagged; spamd down accepts (default) or tempfails', async (t) => {
    if (!needs(t, () => clamd) || !needs(t, () => spamd)) return;
    const p = inst.app.config.policy;
    const [clamPort, spamPort] = [p.clamav.port, p.spamassassin.port];
    p.clamav.port = await closedPort();
    p.spamassassin.port = await closedPort();
    try {
      const since = Date.now();
      const a = await send(message({ from: 'i@remote.test', to: USER, subject: 'clamd down' }));
      assert.equal(`${a.code} ${a.text}`, '451 4.7.1 Virus scanner unavailable, try again later');
      const line = (await traceSince(inst.app, since)).find((l) => l.event === 'policy.step.tempfail' && l.detail.step === 'clamav')!;
      assert.match(String(line.detail.failed), /^clamd 127\.0\.0\.1:\d+: connect ECONNREFUSED/);

      p.clamav.onFailure = 'accept';
      const since2 = Date.now();
      const b = await send(message({ from: 'j@remote.test', to: USER, subject: 'both down' }));
      assert.equal(b.code, 250, b.text);
      const m = (await stored('both down'))!;
      assert.match(m.raw, /^X-Virus-Status: Unscanned \(scanner unavailable\)\r\n/m);
      assert.doesNotMatch(m.raw, /^X-Spam-Status/m);
      const spamLine = (await traceSince(inst.app, since2)).find((l) => l.detail.step === 'spamassassin')!;
      assert.equal(spamLine.event, 'policy.step.accept');
      assert.match(String(spamLine.detail.failed), /^spamd 127\.0\.0\.1:\d+: connect ECONNREFUSED/);

      p.spamassassin.onFailure = 'tempfail';
      const c = await send(message({ from: 'k@remote.test', to: USER, subject: 'spamd down' }));
      assert.equal(`${c.code} ${c.text}`, '451 4.7.1 Spam filter unavailable, try again later');
    } finally {
      Object.assign(p.clamav, { port: clamPort, onFailure: 'tempfail' });
      Object.assign(p.spamassassin, { port: spamPort, onFailure: 'accept' });
    }
  });
});
