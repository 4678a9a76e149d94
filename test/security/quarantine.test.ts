// Quarantine end to end, on SQLite and PostgreSQL: a message the attachment policy holds (from
// outside, and from an authenticated submitter) is listed and shown by `pochtamt quarantine
// … --json`; release delivers it once to the original recipients' mailboxes (two concurrent
// releases and a third later one still deliver a single copy) and keeps the submitter; delete
// discards; messages past policy.quarantine.retentionDays are expired by the sweep (the CLI
// `expire`) with a trace line each. The CLI runs are few: each starts a whole process.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { QuarantineEntity } from '../../schemas/entities/index.js';
import { postgresUrl, startInstance, type TestInstance } from '../helpers/instance.js';
import { RawSmtp } from '../helpers/raw-smtp.js';
import { mailOf, message, traceSince } from './helpers.js';

const run = promisify(execFile);
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const ALICE = 'alice@example.test';
const BOB = 'bob@example.test';
const DAY = 86_400_000;
const exe = (subject: string, from: string, to: string) =>
  message({ from, to, subject, attachments: [{ name: 'setup.exe', data: Buffer.from('MZ\x90\0', 'latin1') }] });

interface Row { id: number; queueId: string; sender: string; recipients: string[]; accountId: number | null; step: string; reason: string;
  subject: string; status: string; releasedAt: string | null }

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`quarantine (${backend})`, { skip: backend === 'postgres' && !postgresUrl ? 'TEST_DATABASE_URL not set' : false }, () => {
    let inst: TestInstance;
    const cli = async (...args: string[]) => (await run(process.execPath, [CLI, '--data', inst.dataDir, ...args])).stdout;
    const json = async <T>(...args: string[]) => JSON.parse(await cli(...args, '--json')) as T;
    const copies = async (who: string, subject: string) => (await mailOf(inst.app, who)).filter((m) => m.raw.includes(`Subject: ${subject}\r\n`));

    before(async () => {
      inst = await startInstance({ postgres: backend === 'postgres', config: {
        auth: { allowPlaintextWithoutTls: true },
        policy: { trustedNetworks: ['127.0.0.1/32'], senderAuth: { enabled: false }, greylist: { enabled: false }, dnsbl: { enabled: false },
          attachments: { action: 'quarantine' }, quarantine: { retentionDays: 30 } },
      } });
      await inst.app.accounts.addAccount({ address: ALICE, password: 'alice-secret-1' });
      await inst.app.accounts.addAccount({ address: BOB, password: 'bob-secret-1' });
    });
    after(async () => { await inst?.stop(); });

    test('held from outside: list/show --json, release delivers once to every original recipient', async () => {
      const since = Date.now();
      const { c } = await RawSmtp.connect(inst.ports.smtp!, { localAddress: '127.0.0.2', lenient: true });
      await c.cmd('EHLO client.test');
      const r = await c.send('eve@remote.test', [ALICE, BOB], exe('held exe', 'eve@remote.test', `${ALICE}, ${BOB}`));
      await c.quit();
      assert.equal(r.code, 250, r.text);
      assert.equal((await copies(ALICE, 'held exe')).length, 0);

      const list = await json<Row[]>('quarantine', 'list');
      const q = list.find((x) => x.subject === 'held exe')!;
      assert.deepEqual([q.sender, q.recipients, q.step, q.status, q.accountId], ['eve@remote.test', [ALICE, BOB], 'attachments', 'held', null]);
      assert.equal(q.reason, 'setup.exe: blocked file type .exe');
      const shown = await json<Row>('quarantine', 'show', String(q.id));
      assert.deepEqual([shown.queueId, shown.status, shown.recipients], [q.queueId, 'held', [ALICE, BOB]]);
      assert.match(Buffer.from((await inst.app.policy.quarantine.get(q.id))!.rawBase64, 'base64').toString(), /filename="setup\.exe"/);

      // Two releases at once (two admins), then a third: one delivery.
      const [a, b] = await Promise.all([inst.app.policy.quarantine.release(q.id), inst.app.policy.quarantine.release(q.id)]);
      const kinds = [a!.kind, b!.kind].sort();
      assert.equal(kinds.filter((k) => k === 'released').length, 1, kinds.join(','));
      const third = await json<{ released: number; already: boolean; stored: number }>('quarantine', 'release', String(q.id));
      assert.deepEqual([third.released, third.already, third.stored], [q.id, true, 0]);

      for (const who of [ALICE, BOB]) {
        const got = await copies(who, 'held exe');
        assert.equal(got.length, 1, `${who} has exactly one copy`);
        assert.equal(got[0]!.box, 'INBOX');
      }
      // Gone from the default list, still listed with --all (released: true) as released.
      assert.equal((await inst.app.policy.quarantine.list()).some((x) => x.id === q.id), false);
      assert.ok((await inst.app.policy.quarantine.list(100, { released: true })).find((x) => x.id === q.id)!.releasedAt);
      const lines = (await traceSince(inst.app, since)).filter((l) => l.queueId === q.queueId);
      assert.equal(lines.filter((l) => l.event === 'policy.quarantine.released').length, 1);
      assert.equal(lines.filter((l) => l.event === 'delivery.local.stored').length, 2);
    });

    test('held from an authenticated submitter: the account is kept and released with; delete discards', async () => {
      const { c } = await RawSmtp.connect(inst.ports.submission!, { localAddress: '127.0.0.3', lenient: true });
      await c.cmd('EHLO laptop.test');
      assert.equal((await c.authPlain(ALICE, 'alice-secret-1')).code, 235);
      const r = await c.send(ALICE, [BOB], exe('sent exe', ALICE, BOB));
      assert.equal(r.code, 250, r.text);
      const r2 = await c.send(ALICE, [BOB], exe('discarded exe', ALICE, BOB));
      assert.equal(r2.code, 250, r2.text);
      await c.quit();
      const alice = (await inst.app.accounts.getAccount(ALICE))!;
      const list = await inst.app.policy.quarantine.list();
      const q = list.find((x) => x.subject === 'sent exe')!;
      assert.equal(q.accountId, alice.id);
      const out = await json<{ stored: number; queued: number; failed: number }>('quarantine', 'release', String(q.id));
      assert.deepEqual([out.stored, out.queued, out.failed], [1, 0, 0]);
      assert.equal((await copies(BOB, 'sent exe')).length, 1);

      const d = list.find((x) => x.subject === 'discarded exe')!;
      assert.deepEqual(await json('quarantine', 'delete', String(d.id)), { deleted: d.id });
      assert.equal(await inst.app.policy.quarantine.release(d.id), null);
      assert.equal((await copies(BOB, 'discarded exe')).length, 0);
    });

    test('expiry: rows older than retentionDays go (held or released), younger ones stay, each with a trace line', async () => {
      const since = Date.now();
      const svc = inst.app.policy.quarantine;
      const old = await svc.hold({ queueId: 'QOLD1', sender: 's@remote.test', recipients: [ALICE], raw: Buffer.from('Subject: old\r\n\r\nx\r\n'), step: 'clamav', reason: 'test' });
      const young = await svc.hold({ queueId: 'QYOUNG1', sender: 's@remote.test', recipients: [ALICE], raw: Buffer.from('Subject: young\r\n\r\nx\r\n'), step: 'clamav', reason: 'test' });
      const released = (await svc.list(10, { released: true })).find((r) => r.releasedAt !== null)!;
      await inst.app.store.write(async ({ em }) => {
        await em.update(QuarantineEntity, { id: old }, { createdAt: Date.now() - 31 * DAY });
        await em.update(QuarantineEntity, { id: young }, { createdAt: Date.now() - 29 * DAY });
        await em.update(QuarantineEntity, { id: released.id }, { createdAt: Date.now() - 40 * DAY });
      });
      const out = await json<{ expired: number; retentionDays: number }>('quarantine', 'expire');
      assert.deepEqual(out, { expired: 2, retentionDays: 30 });
      assert.equal(await svc.get(old), null);
      assert.equal(await svc.get(released.id), null);
      assert.ok(await svc.get(young));
      const expired = (await traceSince(inst.app, since)).filter((l) => l.event === 'policy.quarantine.expired');
      assert.deepEqual(expired.map((l) => l.detail.id).sort(), [old, released.id].sort());
      assert.equal(expired.find((l) => l.detail.id === released.id)!.detail.released, true);
      assert.equal(await svc.sweep(7), 1, 'a shorter retention');
      assert.equal(await svc.get(young), null);
    });
  });
}
