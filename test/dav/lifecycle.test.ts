// DAV data over its lifetime, on SQLite and PostgreSQL: the RFC 6578 change log is compacted
// (superseded rows on write; old deletions raise a floor below which a sync token gets
// DAV:valid-sync-token), and deleting an account removes all of its DAV data in one
// transaction (collections, objects, change log, shares by and to it, links, queued iMIP).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { In } from 'typeorm';
import {
  DavChangeEntity, DavCollectionEntity, DavItipInboundEntity, DavObjectEntity, DavShareEntity,
} from '../../schemas/entities/index.js';
import { COMPACT_EVERY, GroupwareService } from '../../src/services/groupware/groupware.service.js';
import { backends } from '../helpers/store-matrix.js';
import { ALICE, BOB, CAROL, cal, ics, startDav, vevent, type DavEnv } from './helpers.js';

const syncBody = (token = '') => `<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>${token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`;
const tokenOf = (xml: string) => /<d:sync-token>([^<]+)<\/d:sync-token>/.exec(xml)![1]!;
const event = (uid: string, summary = 'x') => ics(...vevent(uid, 'DTSTART:20250601T090000Z', `SUMMARY:${summary}`));
const share = (who: string) => `<?xml version="1.0"?><cs:share xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><cs:set><d:href>mailto:${who}</d:href><cs:read/></cs:set></cs:share>`;

for (const backend of backends) {
  describe(backend.name, { skip: backend.skip }, () => {
    let env: DavEnv;
    before(async () => { env = await startDav({ postgres: backend.name === 'postgres' }); });
    after(async () => { await env?.stop(); });

    test('writes compact superseded change rows', async () => {
      await env.req('MKCALENDAR', cal(ALICE, 'busy/'));
      for (let i = 0; i < COMPACT_EVERY + 6; i++) {
        assert.ok([201, 204].includes((await env.req('PUT', cal(ALICE, 'busy/same.ics'), { body: event('same', `v${i}`) })).status));
      }
      const c = (await env.inst.app.store.em.findOneBy(DavCollectionEntity, { path: 'busy' }))!;
      const rows = await env.inst.app.store.em.countBy(DavChangeEntity, { collectionId: c.id });
      assert.ok(rows <= COMPACT_EVERY, `change rows after ${COMPACT_EVERY + 6} writes of one name: ${rows}`);
      const initial = await env.req('REPORT', cal(ALICE, 'busy/'), { body: syncBody() });
      assert.match(initial.text, /same\.ics/);
    });

    test('a token older than the compaction floor gets valid-sync-token; newer tokens still work', async () => {
      await env.req('MKCALENDAR', cal(ALICE, 'sync/'));
      for (const n of ['a', 'b', 'c', 'd']) await env.req('PUT', cal(ALICE, `sync/${n}.ics`), { body: event(`sync-${n}`) });
      const old = tokenOf((await env.req('REPORT', cal(ALICE, 'sync/'), { body: syncBody() })).text);
      await env.req('DELETE', cal(ALICE, 'sync/a.ics'));
      await env.req('DELETE', cal(ALICE, 'sync/b.ics'));
      const mid = tokenOf((await env.req('REPORT', cal(ALICE, 'sync/'), { body: syncBody(old) })).text);
      await env.req('DELETE', cal(ALICE, 'sync/c.ics'));
      await env.req('PUT', cal(ALICE, 'sync/e.ics'), { body: event('sync-e') });
      const c = (await env.inst.app.store.em.findOneBy(DavCollectionEntity, { path: 'sync' }))!;
      // Keep only the newest deletion: a and b are dropped, the floor is b's token.
      const floor = await new GroupwareService(env.inst.app.store).compactChanges(c.id, 1);
      assert.ok(floor > Number(old.split('-').pop()) && floor <= Number(mid.split('-').pop()), `floor ${floor}`);
      const stale = await env.req('REPORT', cal(ALICE, 'sync/'), { body: syncBody(old) });
      assert.equal(stale.status, 403);
      assert.match(stale.text, /valid-sync-token/);
      const recent = await env.req('REPORT', cal(ALICE, 'sync/'), { body: syncBody(mid) });
      assert.equal(recent.status, 207);
      assert.match(recent.text, /sync\/c\.ics<\/d:href><d:status>HTTP\/1\.1 404/);
      assert.match(recent.text, /sync\/e\.ics/);
      assert.doesNotMatch(recent.text, /sync\/[abd]\.ics/);
      // The client's answer to 403: an initial sync, which always works.
      const fresh = await env.req('REPORT', cal(ALICE, 'sync/'), { body: syncBody() });
      assert.deepEqual([...fresh.text.matchAll(/sync\/([a-z])\.ics/g)].map((m) => m[1]).sort(), ['d', 'e']);
    });

    test('deleting an account removes its DAV data and the shares by and to it, in one transaction', async () => {
      const app = env.inst.app;
      const em = app.store.em;
      const carol = (await app.accounts.getAccount(CAROL))!;
      await env.req('PUT', cal(CAROL, 'calendar/c1.ics'), { user: CAROL, body: event('carol-1') });
      assert.equal((await env.req('POST', cal(CAROL, 'calendar/'), { user: CAROL, body: share(BOB) })).status, 200);
      assert.equal((await env.req('POST', cal(BOB, 'calendar/'), { user: BOB, body: share(CAROL) })).status, 200);
      assert.equal((await env.req('POST', cal(CAROL, 'calendar/'), { user: CAROL, body: '<?xml version="1.0"?><cs:publish-calendar xmlns:cs="http://calendarserver.org/ns/"/>' })).status, 202);
      const link = (await em.findOneBy(DavCollectionEntity, { ownerId: carol.id, path: 'calendar' }))!.publishToken!;
      assert.equal((await env.req('GET', `/dav/subscribe/${link}.ics`, { user: null })).status, 200);
      await em.save(em.create(DavItipInboundEntity, { accountId: carol.id, queueId: 'q1', sender: 'x@remote.test', itip: 'x', attempts: 0, createdAt: Date.now() }));
      const ids = (await em.findBy(DavCollectionEntity, { ownerId: carol.id })).map((c) => c.id);
      assert.ok(ids.length >= 3);
      const bobHome = () => env.req('PROPFIND', cal(BOB), { user: BOB, headers: { depth: '1' } });
      assert.match((await bobHome()).text, /shared-/);

      await app.accounts.removeAccount(CAROL);
      assert.equal(await em.countBy(DavCollectionEntity, { ownerId: carol.id }), 0);
      assert.equal(await em.countBy(DavObjectEntity, { collectionId: In(ids) }), 0);
      assert.equal(await em.countBy(DavChangeEntity, { collectionId: In(ids) }), 0);
      assert.equal(await em.countBy(DavShareEntity, { collectionId: In(ids) }), 0);
      assert.equal(await em.countBy(DavShareEntity, { granteeAccountId: carol.id }), 0);
      assert.equal(await em.countBy(DavItipInboundEntity, { accountId: carol.id }), 0);
      assert.doesNotMatch((await bobHome()).text, /shared-/);
      assert.equal((await env.req('GET', `/dav/subscribe/${link}.ics`, { user: null })).status, 404);
      // Everyone else's data is untouched.
      assert.equal((await env.req('GET', cal(ALICE, 'sync/d.ics'))).status, 200);
    });
  });
}
