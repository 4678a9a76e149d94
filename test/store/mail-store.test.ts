// The mail store on both databases, driven through delivery as the protocols drive it: one copy
// per account, UID and MODSEQ allocation, the change log and its events, quotas, usage
// counters, blob reference counts, and UID allocation under concurrent deliveries.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BlobEntity, MailChangeEntity, MailboxEntity, MessageEntity } from '../../schemas/entities/index.js';
import type { DeliveryResult } from '../../src/delivery/delivery.service.js';
import type { MailChange } from '../../src/events/mail-events.js';
import type { App } from '../../src/instance/app.js';
import { parseMessageMetadata } from '../../src/mime/message-metadata.js';
import { newQueueId } from '../../src/services/trace.service.js';
import { backends, openTestApp, rawMessage, type TestApp } from '../helpers/store-matrix.js';

const D = 'example.test';
const SENDER = 'sender@remote.test';
const RETURN_PATH = Buffer.byteLength(`Return-Path: <${SENDER}>\r\n`);

for (const backend of backends) {
  describe(backend.name, { skip: backend.skip }, () => {
    let t: TestApp;
    let app: App;
    const ids: Record<string, number> = {};

    const deliver = (recipients: string[], raw: Buffer = rawMessage()): Promise<DeliveryResult> =>
      app.delivery.deliver({ queueId: newQueueId(), sender: SENDER, recipients, raw });

    async function inbox(name: string): Promise<MailboxEntity> {
      return app.mailStore.inbox(ids[name]!);
    }

    async function account(name: string) {
      return (await app.accounts.getAccountById(ids[name]!))!;
    }

    before(async () => {
      t = await openTestApp(backend);
      app = t.app;
      await app.accounts.addDomain(D);
      for (const name of ['admin', 'alice', 'bob', 'uids', 'modseq', 'log', 'events', 'quota', 'usage', 'share1', 'share2', 'conc',
        'pairx', 'pairy']) {
        ids[name] = (await app.accounts.addAccount({ address: `${name}@${D}`, password: null, isAdmin: name === 'admin' })).id;
      }
      await app.accounts.addAlias(`al@${D}`, [`alice@${D}`]);
      await app.accounts.addGroup(`grp@${D}`, { members: [`alice@${D}`, `bob@${D}`] });
    });
    after(async () => { await t?.cleanup(); });

    test('a message to several addresses of one account is stored once per account', async () => {
      const raw = rawMessage({ subject: 'dedup' });
      const res = await deliver([`alice@${D}`, `al@${D}`, `ALICE+tag@${D}`, `grp@${D}`, `bob@${D}`, `nobody@${D}`], raw);
      assert.deepEqual(res.stored.map((s) => [s.recipient, s.accountId]).sort(),
        [[`alice@${D}`, ids.alice!], [`grp@${D}`, ids.bob!]].sort(), 'first recipient that reached each account');
      assert.deepEqual(res.failed, [{ recipient: `nobody@${D}`, status: '5.1.1', diagnostic: 'no such user' }]);
      assert.deepEqual(res.queued, []);
      const a = await app.mailStore.listMessages((await inbox('alice')).id);
      const b = await app.mailStore.listMessages((await inbox('bob')).id);
      assert.equal(a.length, 1);
      assert.equal(b.length, 1);
      assert.equal(a[0]!.blobHash, b[0]!.blobHash, 'both copies share one blob');
      assert.equal(a[0]!.size, raw.length + RETURN_PATH);
      const stored = await app.mailStore.getMessageBytes(a[0]!.blobHash);
      assert.deepEqual(stored, Buffer.concat([Buffer.from(`Return-Path: <${SENDER}>\r\n`), raw]));
      const row = await app.store.em.findOneBy(MessageEntity, { id: a[0]!.id });
      assert.equal(row!.subject, 'dedup');
      assert.equal(row!.messageIdHeader, /^Message-ID: (.*)$/m.exec(raw.toString())![1]!.trim());
      assert.equal(JSON.parse(row!.envelope).subject, 'dedup');
      assert.equal(JSON.parse(row!.bodyStructure).type, 'text');
    });

    test('UIDs strictly increase and are never reused after expunge', async () => {
      const box = await inbox('uids');
      const uidOf = async () => (await deliver([`uids@${D}`])).stored[0]!.uid;
      const first = [await uidOf(), await uidOf(), await uidOf()];
      assert.deepEqual(first, [1, 2, 3]);
      assert.deepEqual(await app.mailStore.expunge(ids.uids!, box.id, [3]), [3]);
      assert.equal(await uidOf(), 4, 'the expunged UID 3 is not given out again');
      assert.deepEqual(await app.mailStore.expunge(ids.uids!, box.id, [1, 2, 4, 99]), [1, 2, 4]);
      assert.deepEqual(await app.mailStore.expunge(ids.uids!, box.id, [1]), [], 'already gone');
      assert.equal(await uidOf(), 5);
      const after = (await app.mailStore.getMailboxById(box.id))!;
      assert.equal(after.uidNext, 6);
      assert.equal(after.messageCount, 1);
      assert.equal(after.uidValidity, box.uidValidity, 'UIDVALIDITY unchanged');
      assert.deepEqual((await app.mailStore.listMessages(box.id)).map((m) => m.uid), [5]);
    });

    test('highestModseq grows on append, flag change and expunge (and not on a no-op)', async () => {
      const box0 = await inbox('modseq');
      const h = async () => (await app.mailStore.getMailboxById(box0.id))!.highestModseq;
      const h0 = await h();
      const { uid } = (await deliver([`modseq@${D}`])).stored[0]!;
      const h1 = await h();
      assert.ok(h1 > h0, `${h1} > ${h0}`);
      assert.equal((await app.mailStore.listMessages(box0.id))[0]!.modseq, h1);
      await app.mailStore.setFlags(ids.modseq!, box0.id, [uid], ['\\Seen', '$Label1'], 'add');
      const h2 = await h();
      assert.ok(h2 > h1, `${h2} > ${h1}`);
      const msg = (await app.mailStore.listMessages(box0.id))[0]!;
      assert.equal(msg.modseq, h2);
      assert.deepEqual(msg.flags.sort(), ['$Label1', '\\Seen']);
      await app.mailStore.setFlags(ids.modseq!, box0.id, [uid], ['\\Seen'], 'add');
      assert.equal(await h(), h2, 'setting a flag that is already set changes nothing');
      await app.mailStore.setFlags(ids.modseq!, box0.id, [uid], ['$Label1'], 'remove');
      const h3 = await h();
      assert.ok(h3 > h2);
      assert.deepEqual((await app.mailStore.listMessages(box0.id))[0]!.flags, ['\\Seen']);
      await app.mailStore.expunge(ids.modseq!, box0.id, [uid]);
      const h4 = await h();
      assert.ok(h4 > h3, `${h4} > ${h3}`);
    });

    test('every change writes a mail_change row; changesSince returns them in order', async () => {
      const all = await app.mailStore.changesSince(0, 1_000_000);
      const mark = all.length ? all[all.length - 1]!.id : 0;
      const box = await inbox('log');
      const u1 = (await deliver([`log@${D}`])).stored[0]!.uid;
      const u2 = (await deliver([`log@${D}`])).stored[0]!.uid;
      await app.mailStore.setFlags(ids.log!, box.id, [u1], ['\\Flagged'], 'add');
      await app.mailStore.expunge(ids.log!, box.id, [u2]);
      const changes = (await app.mailStore.changesSince(mark)).filter((c) => c.accountId === ids.log);
      assert.deepEqual(changes.map((c) => [c.kind, c.uid, c.mailboxId]),
        [['append', u1, box.id], ['append', u2, box.id], ['flags', u1, box.id], ['expunge', u2, box.id]]);
      for (let i = 1; i < changes.length; i++) {
        assert.ok(changes[i]!.id > changes[i - 1]!.id, 'ids increase');
        assert.ok(changes[i]!.modseq > changes[i - 1]!.modseq, 'modseqs increase');
      }
      assert.equal(changes[changes.length - 1]!.modseq, (await app.mailStore.getMailboxById(box.id))!.highestModseq);
      assert.equal(typeof changes[0]!.modseq, 'number', 'BIGINT read back as a number');
      assert.ok(changes.every((c) => Math.abs(c.at - Date.now()) < 60_000));
      // The limit pages through the log.
      const page = await app.mailStore.changesSince(mark, 1);
      assert.equal(page.length, 1);
      assert.equal(page[0]!.id, changes[0]!.id);
      const rows = await app.store.em.countBy(MailChangeEntity, { accountId: ids.log!, mailboxId: box.id });
      assert.equal(rows, 4);
    });

    test('mail.changed is emitted after the commit, and never for a rolled-back change', async () => {
      const seen: MailChange[] = [];
      const visibleAtEvent: Array<Promise<boolean>> = [];
      const off = app.events.on('mail.changed', (c) => {
        if (c.accountId !== ids.events) return;
        seen.push(c);
        // Another connection (on PostgreSQL) must already see the committed row.
        visibleAtEvent.push(app.store.em.countBy(MessageEntity, { mailboxId: c.mailboxId, uid: c.uid! }).then((n) => n === 1));
      });
      try {
        const box = await inbox('events');
        const raw = rawMessage({ subject: 'events' });
        const blobHash = await app.store.blobs.put(raw);
        const newMessage = { accountId: ids.events!, mailboxId: box.id, blobHash, size: raw.length, metadata: parseMessageMetadata(raw),
          internalDate: Date.now() };
        const r = await app.store.write(async (ctx) => {
          const a = await app.mailStore.append(ctx, newMessage);
          assert.equal(seen.length, 0, 'no event inside the transaction');
          return a;
        });
        assert.equal(seen.length, 1);
        assert.deepEqual(seen[0], { accountId: ids.events, mailboxId: box.id, kind: 'append', uid: r.uid, modseq: r.modseq });

        await assert.rejects(app.store.write(async (ctx) => {
          await app.mailStore.append(ctx, newMessage);
          throw new Error('abort');
        }), /abort/);
        assert.equal(seen.length, 1, 'a rolled-back append emits nothing');
        assert.deepEqual((await app.mailStore.listMessages(box.id)).map((m) => m.uid), [r.uid], 'and stores nothing');

        await deliver([`events@${D}`]);
        assert.equal(seen.length, 2);
        // The rolled-back UID was never visible to anyone, so handing it out now is allowed.
        assert.equal(seen[1]!.uid, r.uid + 1);
        assert.deepEqual(await Promise.all(visibleAtEvent), [true, true], 'the row is visible when the event arrives');
      } finally {
        off();
      }
    });

    test('quota: a recipient over quota fails with 5.2.2 while the others get the message', async () => {
      const raw = rawMessage({ subject: 'quota' });
      const size = raw.length + RETURN_PATH;
      await app.accounts.setQuota(`quota@${D}`, size - 1, undefined);
      const res = await deliver([`quota@${D}`, `alice@${D}`], raw);
      assert.deepEqual(res.failed, [{ recipient: `quota@${D}`, status: '5.2.2', diagnostic: 'mailbox full (storage quota)' }]);
      assert.deepEqual(res.stored.map((s) => s.accountId), [ids.alice]);
      assert.equal((await app.mailStore.listMessages((await inbox('quota')).id)).length, 0);
      assert.equal((await account('quota')).usedBytes, 0);

      // Exactly at the quota is still allowed.
      await app.accounts.setQuota(`quota@${D}`, size, undefined);
      const ok = await deliver([`quota@${D}`], raw);
      assert.deepEqual(ok.failed, []);
      assert.equal(ok.stored.length, 1);
      const again = await deliver([`quota@${D}`], raw);
      assert.equal(again.failed[0]?.status, '5.2.2', 'now the quota is used up');

      // The message-count quota.
      await app.accounts.setQuota(`quota@${D}`, 0, 1);
      const count = await deliver([`quota@${D}`], raw);
      assert.deepEqual(count.failed, [{ recipient: `quota@${D}`, status: '5.2.2', diagnostic: 'mailbox full (message quota)' }]);
      await app.accounts.setQuota(`quota@${D}`, 0, 0);
      assert.equal((await deliver([`quota@${D}`], raw)).stored.length, 1, '0 means unlimited');
    });

    test('usedBytes/usedMessages and mailbox totals follow appends and expunges', async () => {
      const box = await inbox('usage');
      const r1 = rawMessage({ body: 'short' });
      const r2 = rawMessage({ body: 'a somewhat longer body '.repeat(20) });
      const s1 = r1.length + RETURN_PATH;
      const s2 = r2.length + RETURN_PATH;
      const u1 = (await deliver([`usage@${D}`], r1)).stored[0]!.uid;
      await deliver([`usage@${D}`], r2);
      let acc = await account('usage');
      assert.equal(acc.usedBytes, s1 + s2);
      assert.equal(acc.usedMessages, 2);
      assert.equal(typeof acc.usedBytes, 'number');
      let mb = (await app.mailStore.getMailboxById(box.id))!;
      assert.equal(mb.messageCount, 2);
      assert.equal(mb.totalBytes, s1 + s2);
      await app.mailStore.expunge(ids.usage!, box.id, [u1]);
      acc = await account('usage');
      assert.equal(acc.usedBytes, s2);
      assert.equal(acc.usedMessages, 1);
      mb = (await app.mailStore.getMailboxById(box.id))!;
      assert.equal(mb.messageCount, 1);
      assert.equal(mb.totalBytes, s2);
    });

    test('blob refCount: a shared blob row stays until its last message is expunged', async () => {
      const raw = rawMessage({ subject: 'shared blob' });
      const res = await deliver([`share1@${D}`, `share2@${D}`], raw);
      assert.equal(res.stored.length, 2);
      const [m1] = await app.mailStore.listMessages(res.stored[0]!.mailboxId);
      const [m2] = await app.mailStore.listMessages(res.stored[1]!.mailboxId);
      assert.equal(m1!.blobHash, m2!.blobHash);
      const hash = m1!.blobHash;
      const blobRow = () => app.store.em.findOneBy(BlobEntity, { hash });
      assert.equal((await blobRow())?.refCount, 2);
      assert.equal((await blobRow())?.size, raw.length + RETURN_PATH);

      await app.mailStore.expunge(res.stored[0]!.accountId, res.stored[0]!.mailboxId, [res.stored[0]!.uid]);
      assert.equal((await blobRow())?.refCount, 1, 'one reference left');
      assert.deepEqual(await app.mailStore.getMessageBytes(hash), await app.store.blobs.get(hash), 'the other copy is still readable');

      await app.mailStore.expunge(res.stored[1]!.accountId, res.stored[1]!.mailboxId, [res.stored[1]!.uid]);
      assert.equal(await blobRow(), null, 'row gone with the last reference');
    });

    test('50 parallel deliveries to one account get 50 distinct consecutive UIDs', async () => {
      const box0 = await inbox('conc');
      const acc0 = await account('conc');
      const N = 50;
      const raws = Array.from({ length: N }, (_, i) => rawMessage({ subject: `parallel ${i}`, body: `message ${i}` }));
      const settled = await Promise.allSettled(raws.map((raw) => deliver([`conc@${D}`], raw)));
      const errors = settled.flatMap((s, i) => (s.status === 'rejected' ? [`#${i}: ${(s.reason as Error)?.stack ?? String(s.reason)}`] : []));
      assert.deepEqual(errors, [], `deliveries failed:\n${errors.join('\n')}`);
      const results = settled.map((s) => (s as PromiseFulfilledResult<DeliveryResult>).value);
      for (const r of results) {
        assert.deepEqual(r.failed, []);
        assert.equal(r.stored.length, 1, 'exactly one copy reported');
      }
      const uids = results.map((r) => r.stored[0]!.uid).sort((a, b) => a - b);
      const expected = Array.from({ length: N }, (_, i) => box0.uidNext + i);
      assert.deepEqual(uids, expected, 'distinct and consecutive');
      const listed = await app.mailStore.listMessages(box0.id);
      assert.deepEqual(listed.map((m) => m.uid), expected);
      assert.equal(new Set(listed.map((m) => m.blobHash)).size, N);
      const mb = (await app.mailStore.getMailboxById(box0.id))!;
      assert.equal(mb.uidNext, box0.uidNext + N);
      assert.equal(mb.messageCount, N);
      assert.equal(mb.highestModseq, box0.highestModseq + N);
      assert.equal(new Set(listed.map((m) => m.modseq)).size, N, 'distinct MODSEQs');
      const acc = await account('conc');
      const bytes = raws.reduce((s, r) => s + r.length + RETURN_PATH, 0);
      assert.equal(acc.usedMessages - acc0.usedMessages, N);
      assert.equal(acc.usedBytes - acc0.usedBytes, bytes);
      assert.equal(await app.store.em.countBy(MailChangeEntity, { mailboxId: box0.id, kind: 'append' }), N);
    });

    test('parallel deliveries of the same bytes share one blob with the right refCount', async () => {
      const raw = rawMessage({ subject: 'same bytes', messageId: '<same-bytes@remote.test>' });
      const N = 20;
      const settled = await Promise.allSettled(Array.from({ length: N }, () => deliver([`conc@${D}`], raw)));
      const errors = settled.flatMap((s) => (s.status === 'rejected' ? [String((s.reason as Error)?.message ?? s.reason)] : []));
      assert.deepEqual(errors, []);
      const hashes = new Set((await app.mailStore.listMessages((await inbox('conc')).id)).slice(-N).map((m) => m.blobHash));
      assert.equal(hashes.size, 1);
      assert.equal((await app.store.em.findOneBy(BlobEntity, { hash: [...hashes][0]! }))?.refCount, N);
    });

    // Two messages to {x, y} and {y, x} must lock mailbox/account rows in one order (by account
    // id), or PostgreSQL deadlocks and most of them fail.
    test('parallel deliveries to two accounts in opposite recipient order stay consistent', async () => {
        const N = 10;
        const bx = await inbox('pairx');
        const by = await inbox('pairy');
        const settled = await Promise.allSettled(Array.from({ length: N }, (_, i) =>
          deliver(i % 2 ? [`pairx@${D}`, `pairy@${D}`] : [`pairy@${D}`, `pairx@${D}`], rawMessage({ body: `pair ${i}` }))));
        const errors = settled.flatMap((s) => (s.status === 'rejected' ? [String((s.reason as Error)?.message ?? s.reason)] : []));
        assert.deepEqual(errors, [], 'no delivery failed (deadlocks, if any, must be retried)');
        for (const s of settled) assert.equal((s as PromiseFulfilledResult<DeliveryResult>).value.stored.length, 2);
        for (const [box, name] of [[bx, 'pairx'], [by, 'pairy']] as const) {
          const listed = await app.mailStore.listMessages(box.id);
          assert.deepEqual(listed.map((m) => m.uid), Array.from({ length: N }, (_, i) => box.uidNext + i), name);
          assert.equal((await account(name)).usedMessages, N);
        }
      });

    if (backend.name === 'postgres') {
      // Store.write retries serialisation failures and deadlocks by running the callback again.
      // Whatever the failed attempt registered or collected must not leak into the result.
      test('a retried write runs only the afterCommit hooks of the attempt that committed', async () => {
          let attempts = 0;
          let hookRuns = 0;
          await app.store.write(async (ctx) => {
            ctx.afterCommit(() => { hookRuns++; });
            if (attempts++ === 0) throw Object.assign(new Error('simulated serialisation failure'), { code: '40001' });
          });
          assert.equal(attempts, 2);
          assert.equal(hookRuns, 1);
        });

      test('a delivery retried after a deadlock reports and announces each copy once', async () => {
          const ms = app.mailStore;
          const original = ms.append;
          let calls = 0;
          ms.append = async function (this: typeof ms, ...args: Parameters<typeof original>) {
            if (++calls === 2) throw Object.assign(new Error('simulated deadlock'), { code: '40P01' });
            return original.apply(this, args);
          };
          const events: MailChange[] = [];
          const off = app.events.on('mail.changed', (c) => { if (c.accountId === ids.pairx || c.accountId === ids.pairy) events.push(c); });
          try {
            const res = await deliver([`pairx@${D}`, `pairy@${D}`]);
            assert.equal(calls, 4, 'first attempt: 1 ok + 1 deadlock; retry: 2');
            assert.deepEqual(res.stored.map((s) => s.accountId), [ids.pairx, ids.pairy]);
            assert.equal(events.length, 2);
          } finally {
            off();
            delete (ms as { append?: unknown }).append;
          }
        });
    }
  });
}
