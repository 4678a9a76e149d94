// Sharing and privacy: without a grant Bob cannot read, list, PROPFIND, REPORT or guess URLs of
// Alice's collections; read grants refuse writes with 403 DAV:need-privileges; read-write grants
// allow them; group grants follow membership changes; revocation is immediate; the sharee's
// calendar home lists the share; ACL properties reflect grants; subscription links.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ALICE, BOB, CAROL, cal, calendarQuery, ics, startDav, vevent, type DavEnv } from './helpers.js';

let env: DavEnv;
const event = ics(...vevent('secret-1', 'DTSTART:20250601T100000Z', 'DTEND:20250601T110000Z', 'SUMMARY:Secret board meeting'));
const share = (href: string, mode: 'read' | 'read-write' | 'remove') => `<?xml version="1.0"?>
<cs:share xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">${mode === 'remove'
    ? `<cs:remove><d:href>${href}</d:href></cs:remove>`
    : `<cs:set><d:href>${href}</d:href>${mode === 'read-write' ? '<cs:read-write/>' : '<cs:read/>'}</cs:set>`}</cs:share>`;
const listHome = (user: string) => env.req('PROPFIND', cal(user), { user, headers: { depth: '1' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:displayname/><d:resourcetype/></d:prop></d:propfind>' });

before(async () => {
  env = await startDav();
  assert.equal((await env.req('PUT', cal(ALICE, 'calendar/secret.ics'), { body: event })).status, 201);
});
after(async () => { await env.stop(); });

test('without a grant every way in is 404 and nothing leaks', async () => {
  const paths = [cal(ALICE), cal(ALICE, 'calendar/'), cal(ALICE, 'calendar/secret.ics'), cal(ALICE, 'calendar/nonexistent.ics'), cal(ALICE, 'nocal/'),
    '/dav/addressbooks/alice@example.test/contacts/', '/dav/files/alice@example.test/', cal(ALICE, 'shared-1/')];
  for (const p of paths) {
    for (const [m, body] of [['GET', undefined], ['PROPFIND', undefined], ['REPORT', calendarQuery('20250101T000000Z', '20260101T000000Z')], ['DELETE', undefined]] as const) {
      const r = await env.req(m, p, { user: BOB, body, headers: { depth: '1' } });
      assert.equal(r.status, 404, `${m} ${p} -> ${r.status}`);
      assert.doesNotMatch(r.text, /Secret|secret\.ics/);
    }
  }
  const put = await env.req('PUT', cal(ALICE, 'calendar/bob.ics'), { user: BOB, body: ics(...vevent('bob-1', 'DTSTART:20250601T100000Z')) });
  assert.equal(put.status, 404);
  assert.equal((await env.req('MKCALENDAR', cal(ALICE, 'bobs/'), { user: BOB })).status, 404);
  const multiget = await env.req('REPORT', cal(BOB, 'calendar/'), { user: BOB, body: `<?xml version="1.0"?><c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-data/></d:prop><d:href>${cal(ALICE, 'calendar/secret.ics')}</d:href></c:calendar-multiget>` });
  assert.equal(multiget.status, 207);
  assert.doesNotMatch(multiget.text, /Secret board/);
  assert.doesNotMatch((await listHome(BOB)).text, /alice/i);
  // traversal out of Bob's own tree
  for (const p of ['/dav/calendars/bob@example.test/../alice@example.test/calendar/secret.ics', '/dav/calendars/bob@example.test/%2e%2e/alice@example.test/calendar/secret.ics',
    '/dav/calendars/bob@example.test/calendar%2f..%2f..%2falice@example.test%2fcalendar%2fsecret.ics']) {
    const r = await env.req('GET', p, { user: BOB });
    assert.ok([400, 404].includes(r.status), `${p} -> ${r.status}`);
    assert.doesNotMatch(r.text, /Secret/);
  }
});

test('read grant: listed in the sharee home, readable, writes refused with need-privileges', async () => {
  assert.equal((await env.req('POST', cal(ALICE, 'calendar/'), { body: share(`mailto:${BOB}`, 'read') })).status, 200);
  const home = await listHome(BOB);
  const shared = /<d:href>([^<]*shared-\d+\/)<\/d:href>/.exec(home.text);
  assert.ok(shared, home.text);
  assert.match(home.text, /Calendar \(Alice\)/);
  const mount = shared[1]!;
  const q = await env.req('REPORT', mount, { user: BOB, headers: { depth: '1' }, body: calendarQuery('20250101T000000Z', '20260101T000000Z', 'VEVENT', '<c:calendar-data/>') });
  assert.equal(q.status, 207);
  assert.match(q.text, /Secret board meeting/);
  assert.equal((await env.req('GET', `${mount}secret.ics`, { user: BOB })).status, 200);
  // The owner's URL works for the sharee too, read-only.
  assert.equal((await env.req('GET', cal(ALICE, 'calendar/secret.ics'), { user: BOB })).status, 200);
  for (const [m, p, body] of [['PUT', `${mount}new.ics`, ics(...vevent('bob-new', 'DTSTART:20250601T100000Z'))], ['PUT', `${mount}secret.ics`, event], ['DELETE', `${mount}secret.ics`, undefined], ['DELETE', cal(ALICE, 'calendar/secret.ics'), undefined]] as const) {
    const r = await env.req(m, p, { user: BOB, body });
    assert.equal(r.status, 403, `${m} ${p}`);
    assert.match(r.text, /<d:need-privileges>/);
  }
  const pp = await env.req('PROPPATCH', mount, { user: BOB, body: '<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>mine</d:displayname></d:prop></d:set></d:propertyupdate>' });
  assert.equal(pp.status, 403);
  const acl = await env.req('PROPFIND', mount, { user: BOB, headers: { depth: '0' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:current-user-privilege-set/><d:owner/></d:prop></d:propfind>' });
  assert.match(acl.text, /<d:read\/>/);
  assert.doesNotMatch(acl.text, /write-content/);
  assert.match(acl.text, /principals\/users\/alice@example\.test/);
  const ownerAcl = await env.req('PROPFIND', cal(ALICE, 'calendar/'), { headers: { depth: '0' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:acl/></d:prop></d:propfind>' });
  assert.match(ownerAcl.text, /bob@example\.test.*<d:read\/>/s);
  // Carol still sees nothing.
  assert.equal((await env.req('GET', cal(ALICE, 'calendar/secret.ics'), { user: CAROL })).status, 404);
});

test('read-write grant allows writes; revocation is immediate', async () => {
  assert.equal((await env.req('POST', cal(ALICE, 'calendar/'), { body: share(`mailto:${BOB}`, 'read-write') })).status, 200);
  const mount = /<d:href>([^<]*shared-\d+\/)<\/d:href>/.exec((await listHome(BOB)).text)![1]!;
  assert.equal((await env.req('PUT', `${mount}from-bob.ics`, { user: BOB, body: ics(...vevent('from-bob', 'DTSTART:20250602T100000Z', 'SUMMARY:Bob added')) })).status, 201);
  assert.equal((await env.req('GET', cal(ALICE, 'calendar/from-bob.ics'))).status, 200);
  assert.equal((await env.req('DELETE', `${mount}from-bob.ics`, { user: BOB })).status, 204);
  // Bob cannot delete the calendar itself through Alice's URL
  const del = await env.req('DELETE', cal(ALICE, 'calendar/'), { user: BOB });
  assert.equal(del.status, 403);
  assert.equal((await env.req('POST', cal(ALICE, 'calendar/'), { body: share(`mailto:${BOB}`, 'remove') })).status, 200);
  assert.equal((await env.req('GET', `${mount}secret.ics`, { user: BOB })).status, 404);
  assert.equal((await env.req('GET', cal(ALICE, 'calendar/secret.ics'), { user: BOB })).status, 404);
  assert.doesNotMatch((await listHome(BOB)).text, /shared-/);
});

test('group grants follow membership', async () => {
  await env.inst.app.accounts.addGroup('team@example.test', { displayName: 'Team', members: [CAROL] });
  assert.equal((await env.req('POST', cal(ALICE, 'calendar/'), { body: share('mailto:team@example.test', 'read') })).status, 200);
  assert.equal((await env.req('GET', cal(ALICE, 'calendar/secret.ics'), { user: CAROL })).status, 200);
  assert.match((await listHome(CAROL)).text, /shared-\d+\//);
  assert.equal((await env.req('GET', cal(ALICE, 'calendar/secret.ics'), { user: BOB })).status, 404);
  await env.inst.app.accounts.setGroupMembers('team@example.test', [BOB], 'add');
  await env.inst.app.accounts.setGroupMembers('team@example.test', [CAROL], 'remove');
  assert.equal((await env.req('GET', cal(ALICE, 'calendar/secret.ics'), { user: BOB })).status, 200);
  assert.equal((await env.req('GET', cal(ALICE, 'calendar/secret.ics'), { user: CAROL })).status, 404);
  const put = await env.req('PUT', cal(ALICE, 'calendar/x.ics'), { user: BOB, body: ics(...vevent('x-1', 'DTSTART:20250601T100000Z')) });
  assert.equal(put.status, 403);
  assert.match(put.text, /need-privileges/);
});

test('subscription link: secret, unauthenticated, read-only, revocable', async () => {
  assert.equal((await env.req('POST', cal(ALICE, 'calendar/'), { body: '<?xml version="1.0"?><cs:publish-calendar xmlns:cs="http://calendarserver.org/ns/"/>' })).status, 202);
  const pf = await env.req('PROPFIND', cal(ALICE, 'calendar/'), { headers: { depth: '0' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><cs:publish-url/></d:prop></d:propfind>' });
  const url = /<cs:publish-url><d:href>([^<]+)<\/d:href>/.exec(pf.text)![1]!;
  const feedPath = new URL(url).pathname;
  const feed = await env.req('GET', feedPath, { user: null });
  assert.equal(feed.status, 200);
  assert.match(feed.headers.get('content-type')!, /text\/calendar/);
  assert.match(feed.text, /BEGIN:VCALENDAR[\s\S]*Secret board meeting[\s\S]*END:VCALENDAR/);
  assert.equal((await env.req('PUT', feedPath, { user: null, body: event })).status, 401);
  assert.equal((await env.req('GET', '/dav/subscribe/AAAAAAAAAAAAAAAAAAAAAAAA.ics', { user: null })).status, 404);
  // Bob (read through the group) cannot publish Alice's calendar; Carol (no grant) cannot even see it
  assert.equal((await env.req('POST', cal(ALICE, 'calendar/'), { user: BOB, body: '<?xml version="1.0"?><cs:publish-calendar xmlns:cs="http://calendarserver.org/ns/"/>' })).status, 403);
  assert.equal((await env.req('POST', cal(ALICE, 'calendar/'), { user: CAROL, body: '<?xml version="1.0"?><cs:publish-calendar xmlns:cs="http://calendarserver.org/ns/"/>' })).status, 404);
  assert.equal((await env.req('POST', cal(ALICE, 'calendar/'), { body: '<?xml version="1.0"?><cs:unpublish-calendar xmlns:cs="http://calendarserver.org/ns/"/>' })).status, 202);
  assert.equal((await env.req('GET', feedPath, { user: null })).status, 404);
});

test('free/busy-only grant: busy times without details, nothing else', async () => {
  assert.equal((await env.req('POST', cal(ALICE, 'calendar/'), {
    body: `<?xml version="1.0"?><cs:share xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/" xmlns:pt="http://pochtamt.org/ns/"><cs:set><d:href>mailto:${CAROL}</d:href><pt:freebusy/></cs:set></cs:share>`,
  })).status, 200);
  const fb = await env.req('REPORT', cal(ALICE, 'calendar/'), { user: CAROL, body: '<?xml version="1.0"?><c:free-busy-query xmlns:c="urn:ietf:params:xml:ns:caldav"><c:time-range start="20250601T000000Z" end="20250602T000000Z"/></c:free-busy-query>' });
  assert.equal(fb.status, 200);
  assert.match(fb.text, /FREEBUSY;FBTYPE=BUSY:20250601T100000Z\/20250601T110000Z/);
  assert.doesNotMatch(fb.text, /Secret/);
  const q = await env.req('REPORT', cal(ALICE, 'calendar/'), { user: CAROL, headers: { depth: '1' }, body: calendarQuery('20250101T000000Z', '20260101T000000Z') });
  assert.equal(q.status, 403);
  assert.equal((await env.req('GET', cal(ALICE, 'calendar/secret.ics'), { user: CAROL })).status, 404);
  assert.doesNotMatch((await listHome(CAROL)).text, /Secret/);
});

test('quota: a PUT that would exceed the owner quota gets 507', async () => {
  await env.inst.app.accounts.setQuota(BOB, 2000, undefined);
  const big = ics(...vevent('big-1', 'DTSTART:20250601T100000Z', `DESCRIPTION:${'x'.repeat(3000)}`));
  const r = await env.req('PUT', cal(BOB, 'calendar/big.ics'), { user: BOB, body: big });
  assert.equal(r.status, 507);
  assert.match(r.text, /quota-not-exceeded/);
});

// ---- invitations (calendarserver-sharing notifications) ----

const NOTIF_PROPS = '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><d:resourcetype/><cs:notificationtype/><d:getetag/></d:prop></d:propfind>';
const inviteOf = async () => (await env.req('PROPFIND', cal(ALICE, 'team/'), { headers: { depth: '0' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><cs:invite/></d:prop></d:propfind>' })).text;
const inviteReply = (uid: string, answer: 'accepted' | 'declined') => `<?xml version="1.0"?><cs:invite-reply xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:href>mailto:x</d:href><cs:invite-${answer}/><cs:hosturl><d:href>${cal(ALICE, 'team/')}</d:href></cs:hosturl><cs:in-reply-to>${uid}</cs:in-reply-to></cs:invite-reply>`;
const syncBody = (token = '') => `<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>${token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`;

async function pendingInvite(user: string): Promise<{ href: string; uid: string; body: string }> {
  const list = await env.req('PROPFIND', cal(user, 'notifications/'), { user, headers: { depth: '1' }, body: NOTIF_PROPS });
  assert.match(list.text, /<cs:notificationtype><cs:invite-notification shared-type="calendar"\/><\/cs:notificationtype>/);
  const href = /<d:href>([^<]+\/notifications\/[^<]+\.xml)<\/d:href>/.exec(list.text)![1]!;
  const body = (await env.req('GET', href, { user })).text;
  return { href, uid: /<cs:uid>([^<]+)<\/cs:uid>/.exec(body)![1]!, body };
}

test('a sharee whose client reads notifications gets an invitation: no access until accepted', async () => {
  assert.equal((await env.req('MKCALENDAR', cal(ALICE, 'team/'))).status, 201);
  assert.equal((await env.req('PUT', cal(ALICE, 'team/standup.ics'), { body: ics(...vevent('standup-1', 'DTSTART:20250602T090000Z', 'SUMMARY:Standup')) })).status, 201);
  const principal = await env.req('PROPFIND', `/dav/principals/users/${BOB}/`, { user: BOB, headers: { depth: '0' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><cs:notification-URL/></d:prop></d:propfind>' });
  assert.match(principal.text, new RegExp(`<cs:notification-URL><d:href>/dav/calendars/${BOB}/notifications/</d:href>`));
  // Bob's client opens its notification collection (Apple Calendar does so at setup).
  const box = await env.req('PROPFIND', cal(BOB, 'notifications/'), { user: BOB, headers: { depth: '1' }, body: NOTIF_PROPS });
  assert.equal(box.status, 207);
  assert.match(box.text, /<d:resourcetype><d:collection\/><cs:notification\/><\/d:resourcetype>/);
  const before = tokenOfSync((await env.req('REPORT', cal(BOB, 'notifications/'), { user: BOB, body: syncBody() })).text);

  assert.equal((await env.req('POST', cal(ALICE, 'team/'), { body: share(`mailto:${BOB}`, 'read-write') })).status, 200);
  assert.match(await inviteOf(), /bob@example\.test<\/d:href>.*<cs:invite-noresponse\/>/s);
  assert.doesNotMatch((await listHome(BOB)).text, /Team|shared-\d+\/<\/d:href><d:propstat><d:prop><d:displayname>team/i);
  assert.equal((await env.req('GET', cal(ALICE, 'team/standup.ics'), { user: BOB })).status, 404);
  const inv = await pendingInvite(BOB);
  assert.match(inv.body, new RegExp(`<cs:hosturl><d:href>/dav/calendars/${ALICE}/team/</d:href></cs:hosturl>`));
  assert.match(inv.body, /<cs:access><cs:read-write\/><\/cs:access>/);
  assert.match(inv.body, /<cs:invite-notification shared-type="calendar">/);

  // A reply to an invitation that does not exist is refused.
  assert.equal((await env.req('POST', cal(BOB), { user: BOB, body: inviteReply('nope', 'accepted').replace(/<cs:hosturl>.*<\/cs:hosturl>/, '') })).status, 403);
  // Bad replies: both answers, neither, no reference, not XML, someone else's invitation or home.
  const both = inviteReply(inv.uid, 'accepted').replace('<cs:invite-accepted/>', '<cs:invite-accepted/><cs:invite-declined/>');
  const neither = inviteReply(inv.uid, 'accepted').replace('<cs:invite-accepted/>', '');
  const noRef = inviteReply(inv.uid, 'accepted').replace(/<cs:hosturl>.*<\/cs:hosturl>/, '').replace(/<cs:in-reply-to>.*<\/cs:in-reply-to>/, '');
  for (const body of [both, neither, noRef, 'not xml at all']) {
    assert.equal((await env.req('POST', cal(BOB), { user: BOB, body })).status, 400, body.slice(0, 60));
  }
  assert.equal((await env.req('POST', cal(CAROL), { user: CAROL, body: inviteReply(inv.uid, 'accepted') })).status, 403, 'not her invitation');
  assert.ok([403, 404].includes((await env.req('POST', cal(BOB), { user: CAROL, body: inviteReply(inv.uid, 'accepted') })).status), 'not her home');
  assert.equal((await env.req('GET', cal(ALICE, 'team/standup.ics'), { user: CAROL })).status, 404);
  assert.equal((await env.req('GET', cal(ALICE, 'team/standup.ics'), { user: BOB })).status, 404, 'still pending');
  const accepted = await env.req('POST', cal(BOB), { user: BOB, body: inviteReply(inv.uid, 'accepted') });
  assert.equal(accepted.status, 200);
  const mount = /<cs:shared-as[^>]*><d:href>([^<]+)<\/d:href><\/cs:shared-as>/.exec(accepted.text)![1]!;
  assert.match(mount, new RegExp(`/dav/calendars/${BOB}/shared-\\d+/$`));
  assert.equal((await env.req('GET', `${mount}standup.ics`, { user: BOB })).status, 200);
  assert.equal((await env.req('PUT', `${mount}bob.ics`, { user: BOB, body: ics(...vevent('bob-team', 'DTSTART:20250603T090000Z')) })).status, 201);
  assert.match(await inviteOf(), /bob@example\.test<\/d:href>.*<cs:invite-accepted\/>/s);
  // The notification is gone, and sync tells the client so.
  assert.equal((await env.req('GET', inv.href, { user: BOB })).status, 404);
  const delta = await env.req('REPORT', cal(BOB, 'notifications/'), { user: BOB, body: syncBody(before) });
  assert.match(delta.text, /\.xml<\/d:href><d:status>HTTP\/1\.1 404/);
});

test('a declined invitation grants nothing and the owner sees the answer; revocation is immediate', async () => {
  await env.req('PROPFIND', cal(CAROL, 'notifications/'), { user: CAROL, headers: { depth: '0' } });
  assert.equal((await env.req('POST', cal(ALICE, 'team/'), { body: share(`mailto:${CAROL}`, 'read') })).status, 200);
  const inv = await pendingInvite(CAROL);
  assert.equal((await env.req('POST', cal(CAROL, 'notifications/'), { user: CAROL, body: inviteReply(inv.uid, 'declined') })).status, 204);
  assert.equal((await env.req('GET', cal(ALICE, 'team/standup.ics'), { user: CAROL })).status, 404);
  assert.match(await inviteOf(), /carol@example\.test<\/d:href>.*<cs:invite-declined\/>/s);
  const acl = await env.req('PROPFIND', cal(ALICE, 'team/'), { headers: { depth: '0' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:acl/></d:prop></d:propfind>' });
  assert.doesNotMatch(acl.text, /carol@example\.test/, 'a declined invitation is no ACE');
  // Removing Bob's accepted share takes effect on the next request.
  assert.equal((await env.req('POST', cal(ALICE, 'team/'), { body: share(`mailto:${BOB}`, 'remove') })).status, 200);
  assert.equal((await env.req('GET', cal(ALICE, 'team/standup.ics'), { user: BOB })).status, 404);
  assert.doesNotMatch(await inviteOf(), /bob@example\.test/);
  // Removing a pending invitation also removes the notification.
  await env.req('POST', cal(ALICE, 'team/'), { body: share(`mailto:${CAROL}`, 'remove') });
  assert.equal((await env.req('POST', cal(ALICE, 'team/'), { body: share(`mailto:${CAROL}`, 'read') })).status, 200);
  const again = await pendingInvite(CAROL);
  await env.req('POST', cal(ALICE, 'team/'), { body: share(`mailto:${CAROL}`, 'remove') });
  assert.equal((await env.req('GET', again.href, { user: CAROL })).status, 404);
});

test('plain grants still apply at once for sharees whose clients never read notifications', async () => {
  const app = env.inst.app;
  await app.accounts.addAccount({ address: 'dave@example.test', password: 'dave-secret-1' });
  assert.equal((await env.req('POST', cal(ALICE, 'team/'), { body: share('mailto:dave@example.test', 'read') })).status, 200);
  assert.equal((await env.req('GET', cal(ALICE, 'team/standup.ics'), { user: 'dave@example.test', password: 'dave-secret-1' })).status, 200);
  assert.match(await inviteOf(), /dave@example\.test<\/d:href>.*<cs:invite-accepted\/>/s);
});

function tokenOfSync(xml: string): string {
  return /<d:sync-token>([^<]+)<\/d:sync-token>/.exec(xml)![1]!;
}
