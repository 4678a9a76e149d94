// Implicit scheduling (RFC 6638 §3.2) and iMIP (RFC 6047): an organizer's PUT puts the
// invitation in an internal attendee's calendar and queues an iMIP REQUEST for an external one;
// the attendee's PARTSTAT change updates the organizer's copy; an iMIP REPLY arriving by mail is
// applied by UID; deleting cancels; the outbox answers VFREEBUSY requests.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import nodemailer from 'nodemailer';
import { GroupwareService } from '../../src/services/groupware/groupware.service.js';
import { SchedulingService } from '../../src/services/groupware/scheduling.service.js';
import { startFakeDns, type FakeDns } from '../helpers/fake-dns.js';
import { inboxMatching } from '../helpers/raw-smtp.js';
import { ALICE, BOB, cal, calendarQuery, ics, startDav, vevent, type DavEnv } from './helpers.js';

let env: DavEnv;
const EXT = 'guest@remote.test';
const meeting = (extra: string[] = []) => ics(...vevent('meet-1', 'DTSTART:20250610T090000Z', 'DTEND:20250610T100000Z', 'SUMMARY:Planning',
  `ORGANIZER;CN=Alice:mailto:${ALICE}`, `ATTENDEE;PARTSTAT=ACCEPTED:mailto:${ALICE}`,
  `ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:${BOB}`, `ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:${EXT}`, ...extra));

async function queuedFor(rcpt: string): Promise<string[]> {
  const out: string[] = [];
  for (const q of await env.inst.app.queue.list({ all: true })) {
    if (!q.recipients.some((r) => r.recipient === rcpt)) continue;
    out.push((await env.inst.app.store.blobs.get(q.message.blobHash)).toString());
  }
  return out;
}

before(async () => { env = await startDav(); });
after(async () => { await env.stop(); });

test('principal advertises the scheduling inbox and outbox', async () => {
  const r = await env.req('OPTIONS', '/dav/', { user: null });
  assert.match(r.headers.get('dav')!, /calendar-auto-schedule/);
  const p = await env.req('PROPFIND', `/dav/principals/users/${ALICE}/`, { headers: { depth: '0' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:schedule-inbox-URL/><c:schedule-outbox-URL/></d:prop></d:propfind>' });
  assert.match(p.text, new RegExp(`<cal:schedule-inbox-URL><d:href>/dav/calendars/${ALICE}/inbox/</d:href>`));
  assert.match(p.text, new RegExp(`<cal:schedule-outbox-URL><d:href>/dav/calendars/${ALICE}/outbox/</d:href>`));
});

test('organizer PUT invites an internal attendee and queues iMIP for an external one', async () => {
  assert.equal((await env.req('PUT', cal(ALICE, 'calendar/meet.ics'), { body: meeting() })).status, 201);
  const bobCopy = await env.req('GET', cal(BOB, 'calendar/meet-1.ics'), { user: BOB });
  assert.equal(bobCopy.status, 200);
  assert.match(bobCopy.text, /SUMMARY:Planning/);
  assert.match(bobCopy.text, /PARTSTAT=NEEDS-ACTION[^\r\n]*mailto:bob@example\.test/);
  const mails = await queuedFor(EXT);
  assert.equal(mails.length, 1);
  assert.match(mails[0]!, /Content-Type: text\/calendar; charset=utf-8; method=REQUEST/);
  const part = Buffer.from(/method=REQUEST\r\nContent-Transfer-Encoding: base64\r\n\r\n([\s\S]*?)\r\n\r\n--/.exec(mails[0]!)![1]!.replace(/\r\n/g, ''), 'base64').toString();
  assert.match(part, /METHOD:REQUEST/);
  assert.match(part, /UID:meet-1/);
});

test('attendee accepts: the organizer copy is updated', async () => {
  const bobCopy = (await env.req('GET', cal(BOB, 'calendar/meet-1.ics'), { user: BOB })).text;
  const accepted = bobCopy.replace(/ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@example\.test/, 'ATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@example.test');
  assert.notEqual(accepted, bobCopy);
  assert.equal((await env.req('PUT', cal(BOB, 'calendar/meet-1.ics'), { user: BOB, body: accepted })).status, 204);
  const alice = (await env.req('GET', cal(ALICE, 'calendar/meet.ics'))).text;
  assert.match(alice, /PARTSTAT=ACCEPTED[^\r\n]*:mailto:bob@example\.test/);
  // a new invitation from the organizer keeps Bob's answer
  await env.req('PUT', cal(ALICE, 'calendar/meet.ics'), { body: alice.replace('SUMMARY:Planning', 'SUMMARY:Planning (room 2)') });
  const again = (await env.req('GET', cal(BOB, 'calendar/meet-1.ics'), { user: BOB })).text;
  assert.match(again, /room 2/);
  assert.match(again, /PARTSTAT=ACCEPTED[^\r\n]*:mailto:bob@example\.test/);
});

test('an iMIP REPLY from the external attendee is applied by UID', async () => {
  const app = env.inst.app;
  const sched = new SchedulingService(new GroupwareService(app.store), app.accounts, app.delivery, app.config.hostname, app.log);
  const alice = (await app.accounts.getAccount(ALICE))!;
  const reply = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//remote//EN', 'METHOD:REPLY', 'BEGIN:VEVENT', 'UID:meet-1', 'DTSTAMP:20250601T000000Z',
    'DTSTART:20250610T090000Z', `ORGANIZER:mailto:${ALICE}`, `ATTENDEE;PARTSTAT=TENTATIVE:mailto:${EXT}`, 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
  assert.equal(await sched.processIncoming(alice.id, reply, EXT), 'applied');
  assert.match((await env.req('GET', cal(ALICE, 'calendar/meet.ics'))).text, /PARTSTAT=TENTATIVE[^\r\n]*:mailto:guest@remote\.test/);
  // a reply for an attendee the organizer never invited changes nothing
  const stranger = reply.replace(EXT, 'stranger@remote.test').replace('TENTATIVE', 'ACCEPTED');
  assert.equal(await sched.processIncoming(alice.id, stranger, 'stranger@remote.test'), 'ignored');
  assert.doesNotMatch((await env.req('GET', cal(ALICE, 'calendar/meet.ics'))).text, /stranger/);
});

test('outbox free/busy request returns busy time without details', async () => {
  const body = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//test//EN', 'METHOD:REQUEST', 'BEGIN:VFREEBUSY', 'UID:fb-1', 'DTSTAMP:20250601T000000Z',
    'DTSTART:20250610T000000Z', 'DTEND:20250611T000000Z', `ORGANIZER:mailto:${ALICE}`, `ATTENDEE:mailto:${BOB}`, `ATTENDEE:mailto:${EXT}`,
    'END:VFREEBUSY', 'END:VCALENDAR', ''].join('\r\n');
  const r = await env.req('POST', cal(ALICE, 'outbox/'), { body, headers: { 'content-type': 'text/calendar' } });
  assert.equal(r.status, 200, r.text);
  assert.match(r.text, /<cal:request-status>2\.0;Success<\/cal:request-status>/);
  assert.match(r.text, /FREEBUSY;FBTYPE=BUSY:20250610T090000Z\/20250610T100000Z/);
  assert.match(r.text, /guest@remote\.test<\/d:href><\/cal:recipient><cal:request-status>3\.7/);
  assert.doesNotMatch(r.text, /Planning/);
});

test('organizer DELETE cancels: internal copy marked CANCELLED, iMIP CANCEL queued', async () => {
  assert.equal((await env.req('DELETE', cal(ALICE, 'calendar/meet.ics'))).status, 204);
  assert.match((await env.req('GET', cal(BOB, 'calendar/meet-1.ics'), { user: BOB })).text, /STATUS:CANCELLED/);
  const mails = await queuedFor(EXT);
  assert.ok(mails.some((m) => /method=CANCEL/.test(m)), 'a CANCEL was queued');
});

// ---- Schedule-Tag, SCHEDULE-STATUS and the schedule inbox (RFC 6638 §3.2.9, §3.2.10, §4.1) ----

const review = (extra: string[] = []) => ics(...vevent('review-1', 'DTSTART:20250612T090000Z', 'DTEND:20250612T100000Z', 'SUMMARY:Review',
  `ORGANIZER;CN=Alice:mailto:${ALICE}`, `ATTENDEE;PARTSTAT=ACCEPTED:mailto:${ALICE}`,
  `ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:${BOB}`, `ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:${EXT}`,
  'ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:nobody@example.test', ...extra));
const SCHEDULE_TAG_PROP = '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:schedule-tag/></d:prop></d:propfind>';
const syncBody = (token = '') => `<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>${token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`;

test('organizer PUT: Schedule-Tag returned, SCHEDULE-STATUS per attendee written back, no ETag', async () => {
  const put = await env.req('PUT', cal(ALICE, 'calendar/review.ics'), { body: review() });
  assert.equal(put.status, 201);
  assert.match(put.headers.get('schedule-tag') ?? '', /^"s-[A-Za-z0-9_-]+"$/);
  assert.equal(put.headers.get('etag'), null, 'the stored body is not the client\'s any more');
  const got = await env.req('GET', cal(ALICE, 'calendar/review.ics'));
  assert.equal(got.headers.get('schedule-tag'), put.headers.get('schedule-tag'), 'SCHEDULE-STATUS does not change the tag');
  const unfolded = got.text.replace(/\r\n[ \t]/g, '');
  assert.match(unfolded, /ATTENDEE;[^\r\n]*SCHEDULE-STATUS=1\.2[^\r\n]*:mailto:bob@example\.test/);
  assert.match(unfolded, /ATTENDEE;[^\r\n]*SCHEDULE-STATUS=1\.1[^\r\n]*:mailto:guest@remote\.test/);
  assert.match(unfolded, /ATTENDEE;[^\r\n]*SCHEDULE-STATUS=3\.7[^\r\n]*:mailto:nobody@example\.test/);
  const pf = await env.req('PROPFIND', cal(ALICE, 'calendar/review.ics'), { headers: { depth: '0' }, body: SCHEDULE_TAG_PROP });
  assert.ok(pf.text.includes(`<cal:schedule-tag>${put.headers.get('schedule-tag')!.replace(/"/g, '&quot;')}</cal:schedule-tag>`)
    || pf.text.includes(`<cal:schedule-tag>${put.headers.get('schedule-tag')}</cal:schedule-tag>`), pf.text);
});

test('a reply changes the organizer copy\'s ETag but not its Schedule-Tag; If-Schedule-Tag-Match guards PUT and DELETE', async () => {
  const before = await env.req('GET', cal(ALICE, 'calendar/review.ics'));
  const tag = before.headers.get('schedule-tag')!;
  const bobGet = await env.req('GET', cal(BOB, 'calendar/review-1.ics'), { user: BOB });
  const bobTag = bobGet.headers.get('schedule-tag')!;
  assert.ok(bobTag && bobTag !== tag, 'the attendee copy has its own tag');
  const accepted = bobGet.text.replace(/\r\n[ \t]/g, '').replace(/ATTENDEE;PARTSTAT=NEEDS-ACTION(;[^:\r\n]*)?:mailto:bob@example\.test/, 'ATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@example.test');
  assert.equal((await env.req('PUT', cal(BOB, 'calendar/review-1.ics'), { user: BOB, body: accepted, headers: { 'if-schedule-tag-match': bobTag } })).status, 204);
  const after = await env.req('GET', cal(ALICE, 'calendar/review.ics'));
  assert.match(after.text.replace(/\r\n[ \t]/g, ''), /PARTSTAT=ACCEPTED[^\r\n]*:mailto:bob@example\.test/);
  assert.notEqual(after.headers.get('etag'), before.headers.get('etag'));
  assert.equal(after.headers.get('schedule-tag'), tag, 'merging a reply keeps the organizer\'s Schedule-Tag');
  // The organizer's client still holds the tag: its update goes through; a wrong tag gets 412.
  const wrong = await env.req('PUT', cal(ALICE, 'calendar/review.ics'), { body: after.text.replace('SUMMARY:Review', 'SUMMARY:Review 2'), headers: { 'if-schedule-tag-match': '"s-stale"' } });
  assert.equal(wrong.status, 412);
  // Her client edits the copy it had before Bob's reply: the reply merged since is kept, not reset.
  const ok = await env.req('PUT', cal(ALICE, 'calendar/review.ics'), { body: before.text.replace('SUMMARY:Review', 'SUMMARY:Review 2'), headers: { 'if-schedule-tag-match': tag } });
  assert.equal(ok.status, 204);
  assert.notEqual(ok.headers.get('schedule-tag'), tag, 'an organizer change gives a new tag');
  assert.equal(ok.headers.get('etag'), null, 'the stored body is not the client\'s');
  const merged = (await env.req('GET', cal(ALICE, 'calendar/review.ics'))).text.replace(/\r\n[ \t]/g, '');
  assert.match(merged, /SUMMARY:Review 2/);
  assert.match(merged, /PARTSTAT=ACCEPTED[^\r\n]*:mailto:bob@example\.test/);
  // The organizer's update gave Bob's copy a new tag: a PUT with the old one is refused.
  const bobNow = await env.req('GET', cal(BOB, 'calendar/review-1.ics'), { user: BOB });
  assert.match(bobNow.text, /Review 2/);
  assert.notEqual(bobNow.headers.get('schedule-tag'), bobTag);
  assert.equal((await env.req('PUT', cal(BOB, 'calendar/review-1.ics'), { user: BOB, body: bobNow.text, headers: { 'if-schedule-tag-match': bobTag } })).status, 412);
  assert.equal((await env.req('DELETE', cal(BOB, 'calendar/review-1.ics'), { user: BOB, headers: { 'if-schedule-tag-match': bobTag } })).status, 412);
  // Plain objects (no ORGANIZER) are not scheduling objects: no tag.
  const plain = await env.req('PUT', cal(ALICE, 'calendar/plain.ics'), { body: ics(...vevent('plain-1', 'DTSTART:20250612T090000Z', 'SUMMARY:Solo')) });
  assert.equal(plain.headers.get('schedule-tag'), null);
  assert.ok(plain.headers.get('etag'));
});

test('schedule inbox: invitations and replies land as iTIP resources, listed, synced and deletable', async () => {
  const inbox = cal(BOB, 'inbox/');
  const home = await env.req('PROPFIND', cal(BOB), { user: BOB, headers: { depth: '1' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/></d:prop></d:propfind>' });
  assert.match(home.text, new RegExp(`<d:href>/dav/calendars/${BOB}/inbox/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/><cal:schedule-inbox/>`));
  const list = await env.req('PROPFIND', inbox, { user: BOB, headers: { depth: '1' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop></d:propfind>' });
  assert.equal(list.status, 207);
  assert.match(list.text, /METHOD:REQUEST/);
  assert.match(list.text, /UID:review-1/);
  const items = [...list.text.matchAll(/<d:href>(\/dav\/calendars\/[^<]+\/inbox\/[^<]+\.ics)<\/d:href>/g)].map((m) => m[1]!);
  assert.ok(items.length >= 2, 'the first invitation and the update');
  const sync = await env.req('REPORT', inbox, { user: BOB, body: syncBody() });
  assert.equal(sync.status, 207);
  const token = /<d:sync-token>([^<]+)<\/d:sync-token>/.exec(sync.text)![1]!;
  assert.equal((await env.req('DELETE', items[0]!, { user: BOB })).status, 204);
  assert.equal((await env.req('GET', items[0]!, { user: BOB })).status, 404);
  const delta = await env.req('REPORT', inbox, { user: BOB, body: syncBody(token) });
  assert.match(delta.text, new RegExp(`<d:href>${items[0]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}</d:href><d:status>HTTP/1.1 404`));
  // PUT into the inbox is refused; the inbox itself cannot be deleted; others cannot see it.
  assert.equal((await env.req('PUT', cal(BOB, 'inbox/x.ics'), { user: BOB, body: review() })).status, 403);
  assert.equal((await env.req('DELETE', inbox, { user: BOB })).status, 403);
  assert.equal((await env.req('PROPFIND', inbox, { user: ALICE, headers: { depth: '0' } })).status, 404);
  // Calendar reports and sharing are for calendars, not for the inbox: clear refusals, no crash.
  const query = await env.req('REPORT', inbox, { user: BOB, headers: { depth: '1' }, body: calendarQuery('20250101T000000Z', '20260101T000000Z') });
  assert.ok(query.status >= 400 && query.status < 500 || query.status === 207, `calendar-query on the inbox: ${query.status}`);
  assert.equal((await env.req('POST', inbox, { user: BOB, body: `<?xml version="1.0"?><cs:share xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><cs:set><d:href>mailto:${ALICE}</d:href><cs:read/></cs:set></cs:share>` })).status, 405);
  // Alice (organizer) got Bob's REPLY in her inbox.
  const aliceInbox = await env.req('PROPFIND', cal(ALICE, 'inbox/'), { headers: { depth: '1' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-data/></d:prop></d:propfind>' });
  assert.match(aliceInbox.text, /METHOD:REPLY[\s\S]*PARTSTAT=ACCEPTED/);
});

// ---- incoming iMIP over SMTP (RFC 6047), with sender authentication deciding who may speak ----

describe('iMIP received by the MX', () => {
  const OUTSIDE = '127.0.0.2';
  const ORG = 'organiser@remote.test';
  let dns: FakeDns;
  let mx: DavEnv;
  const send = async (o: { from: string; envelopeFrom?: string; to: string; method: string; ics: string }) => {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: mx.inst.ports.smtp, secure: false, ignoreTLS: true, localAddress: OUTSIDE });
    try {
      const info = await t.sendMail({
        from: o.from, to: o.to, envelope: { from: o.envelopeFrom ?? o.from, to: [o.to] }, subject: `iMIP ${o.method}`, text: `${o.method} by mail`,
        icalEvent: { method: o.method, content: o.ics },
      }) as { response: string };
      assert.match(info.response, /^250 /);
    } finally {
      t.close();
    }
    await mx.inst.app.imip.drain();
  };
  const traceOf = async (event: string) => (await mx.inst.app.trace.search({ limit: 1000 })).flatMap((g) => g.events).filter((e) => e.event === event);
  const reply = (who: string, partstat: string) => ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//remote//EN', 'METHOD:REPLY', 'BEGIN:VEVENT', 'UID:local-org-1',
    'DTSTAMP:20250601T000000Z', 'DTSTART:20250620T090000Z', `ORGANIZER:mailto:${ALICE}`, `ATTENDEE;PARTSTAT=${partstat}:mailto:${who}`, 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');

  before(async () => {
    dns = await startFakeDns({
      'remote.test': { txt: [`v=spf1 ip4:${OUTSIDE} -all`] },
      'elsewhere.test': { txt: [`v=spf1 ip4:${OUTSIDE} -all`] },
      'quar.test': { txt: ['v=spf1 -all'] },
      '_dmarc.quar.test': { txt: ['v=DMARC1; p=quarantine'] },
    });
    mx = await startDav({ config: { policy: { dnsServers: [dns.server], trustedNetworks: ['127.0.0.1/32'], greylist: { enabled: false } } } });
  });
  after(async () => {
    await mx?.stop();
    await dns?.stop();
  });

  test('an external organiser invites a local user: mail in INBOX, event in the calendar with NEEDS-ACTION', async () => {
    const invite = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//remote//EN', 'METHOD:REQUEST', 'BEGIN:VEVENT', 'UID:ext-invite-1', 'DTSTAMP:20250601T000000Z',
      'DTSTART:20250615T090000Z', 'DTEND:20250615T100000Z', 'SUMMARY:Vendor call', `ORGANIZER;CN=Org:mailto:${ORG}`,
      `ATTENDEE;PARTSTAT=ACCEPTED:mailto:${ORG}`, `ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:${BOB}`, 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
    await send({ from: ORG, to: BOB, method: 'REQUEST', ics: invite });
    assert.equal((await inboxMatching(mx.inst.app, BOB, 'Vendor call')).length, 1, 'the mail itself is delivered as usual');
    const got = await mx.req('GET', cal(BOB, 'calendar/ext-invite-1.ics'), { user: BOB });
    assert.equal(got.status, 200);
    assert.match(got.text, /SUMMARY:Vendor call/);
    assert.doesNotMatch(got.text, /METHOD:/);
    assert.match(got.text.replace(/\r\n[ \t]/g, ''), /PARTSTAT=NEEDS-ACTION[^\r\n]*:mailto:bob@example\.test/);
    const inbox = await mx.req('PROPFIND', cal(BOB, 'inbox/'), { user: BOB, headers: { depth: '1' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-data/></d:prop></d:propfind>' });
    assert.match(inbox.text, /METHOD:REQUEST[\s\S]*UID:ext-invite-1/);
    // A REQUEST from someone else for the same UID cannot take the event over.
    await send({ from: 'evil@elsewhere.test', to: BOB, method: 'REQUEST', ics: invite.replace(`mailto:${ORG}`, 'mailto:evil@elsewhere.test').replace('Vendor call', 'Hijacked') });
    assert.match((await mx.req('GET', cal(BOB, 'calendar/ext-invite-1.ics'), { user: BOB })).text, /SUMMARY:Vendor call/);
  });

  test('an external attendee\'s REPLY by SMTP updates the local organiser\'s copy; forged replies change nothing', async () => {
    const body = ics(...vevent('local-org-1', 'DTSTART:20250620T090000Z', 'DTEND:20250620T100000Z', 'SUMMARY:Board', `ORGANIZER:mailto:${ALICE}`,
      `ATTENDEE;PARTSTAT=ACCEPTED:mailto:${ALICE}`, `ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:${EXT}`));
    const put = await mx.req('PUT', cal(ALICE, 'calendar/board.ics'), { body });
    assert.equal(put.status, 201);
    const tag = put.headers.get('schedule-tag');
    await send({ from: EXT, to: ALICE, method: 'REPLY', ics: reply(EXT, 'ACCEPTED') });
    const after1 = await mx.req('GET', cal(ALICE, 'calendar/board.ics'));
    assert.match(after1.text.replace(/\r\n[ \t]/g, ''), /PARTSTAT=ACCEPTED[^\r\n]*:mailto:guest@remote\.test/);
    assert.equal(after1.headers.get('schedule-tag'), tag, 'a reply keeps the organizer\'s Schedule-Tag');
    // Authenticated, but From is not the attendee the REPLY speaks for: applied to nothing.
    await send({ from: 'evil@elsewhere.test', to: ALICE, method: 'REPLY', ics: reply(EXT, 'DECLINED') });
    // From claims the attendee, but only elsewhere.test is authenticated (SPF of the envelope): not even queued.
    await send({ from: EXT, envelopeFrom: 'evil@elsewhere.test', to: ALICE, method: 'REPLY', ics: reply(EXT, 'DECLINED') });
    const after2 = await mx.req('GET', cal(ALICE, 'calendar/board.ics'));
    assert.match(after2.text.replace(/\r\n[ \t]/g, ''), /PARTSTAT=ACCEPTED[^\r\n]*:mailto:guest@remote\.test/);
    assert.doesNotMatch(after2.text, /DECLINED/);
    await mx.inst.app.trace.flush();
    assert.ok((await traceOf('dav.imip.ignored')).length >= 2, 'the hijack REQUEST and the mismatched REPLY were ignored');
    const skipped = await traceOf('dav.imip.skipped');
    assert.ok(skipped.some((e) => /not authenticated/.test(JSON.stringify(e))), JSON.stringify(skipped));
    // Both forged messages were still delivered as mail.
    assert.equal((await inboxMatching(mx.inst.app, ALICE, 'iMIP REPLY')).length, 3);
  });

  test('an invitation that fails DMARC goes to Junk and is never applied', async () => {
    const invite = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//remote//EN', 'METHOD:REQUEST', 'BEGIN:VEVENT', 'UID:junk-invite-1', 'DTSTAMP:20250601T000000Z',
      'DTSTART:20250616T090000Z', 'SUMMARY:Prize draw', 'ORGANIZER:mailto:boss@quar.test', `ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:${BOB}`,
      'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
    await send({ from: 'boss@quar.test', to: BOB, method: 'REQUEST', ics: invite });
    assert.equal((await mx.req('GET', cal(BOB, 'calendar/junk-invite-1.ics'), { user: BOB })).status, 404);
    await mx.inst.app.trace.flush();
    assert.ok((await traceOf('dav.imip.skipped')).some((e) => /Junk/.test(e.detail)), 'skipped because it went to Junk');
  });
});

test('an attendee declines one occurrence: the organizer copy gets that instance overridden, the series answer stays', async () => {
  const series = ics(...vevent('weekly-1', 'DTSTART:20250610T090000Z', 'DTEND:20250610T093000Z', 'RRULE:FREQ=WEEKLY;COUNT=4', 'SUMMARY:Weekly',
    `ORGANIZER:mailto:${ALICE}`, `ATTENDEE;PARTSTAT=ACCEPTED:mailto:${ALICE}`, `ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:${BOB}`));
  assert.equal((await env.req('PUT', cal(ALICE, 'calendar/weekly.ics'), { body: series })).status, 201);
  const tag = (await env.req('GET', cal(ALICE, 'calendar/weekly.ics'))).headers.get('schedule-tag');
  const bobCopy = (await env.req('GET', cal(BOB, 'calendar/weekly-1.ics'), { user: BOB })).text.replace(/\r\n[ \t]/g, '');
  // Bob accepts the series but declines the second meeting (an overridden instance).
  const accepted = bobCopy.replace(/ATTENDEE;PARTSTAT=NEEDS-ACTION[^:\r\n]*:mailto:bob@example\.test/, 'ATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@example.test');
  const override = ['BEGIN:VEVENT', 'UID:weekly-1', 'DTSTAMP:20250101T000000Z', 'RECURRENCE-ID:20250617T090000Z', 'DTSTART:20250617T090000Z',
    'DTEND:20250617T093000Z', 'SUMMARY:Weekly', `ORGANIZER:mailto:${ALICE}`, `ATTENDEE;PARTSTAT=ACCEPTED:mailto:${ALICE}`,
    `ATTENDEE;PARTSTAT=DECLINED:mailto:${BOB}`, 'END:VEVENT'].join('\r\n');
  assert.equal((await env.req('PUT', cal(BOB, 'calendar/weekly-1.ics'), { user: BOB, body: accepted.replace('END:VCALENDAR', `${override}\r\nEND:VCALENDAR`) })).status, 204);
  const alice = await env.req('GET', cal(ALICE, 'calendar/weekly.ics'));
  const events = alice.text.replace(/\r\n[ \t]/g, '').split('BEGIN:VEVENT').slice(1);
  assert.equal(events.length, 2, alice.text);
  const master = events.find((e) => !/RECURRENCE-ID/.test(e))!;
  const inst = events.find((e) => /RECURRENCE-ID:20250617T090000Z/.test(e))!;
  assert.match(master, /PARTSTAT=ACCEPTED[^\r\n]*:mailto:bob@example\.test/);
  assert.match(inst, /PARTSTAT=DECLINED[^\r\n]*:mailto:bob@example\.test/);
  assert.match(inst, /DTSTART:20250617T090000Z/);
  assert.match(inst, /DTEND:20250617T093000Z/);
  assert.doesNotMatch(inst, /RRULE/);
  assert.equal(alice.headers.get('schedule-tag'), tag, 'replies keep the organizer tag');
  // The organizer moves the series' room: Bob's answers, per occurrence too, survive in his copy.
  assert.equal((await env.req('PUT', cal(ALICE, 'calendar/weekly.ics'), { body: alice.text.replace(/SUMMARY:Weekly/g, 'SUMMARY:Weekly (room 3)') })).status, 204);
  const bobNow = (await env.req('GET', cal(BOB, 'calendar/weekly-1.ics'), { user: BOB })).text.replace(/\r\n[ \t]/g, '');
  assert.match(bobNow, /room 3/);
  const bobInst = bobNow.split('BEGIN:VEVENT').find((e) => /RECURRENCE-ID:20250617T090000Z/.test(e));
  assert.ok(bobInst, bobNow);
  assert.match(bobInst, /PARTSTAT=DECLINED[^\r\n]*:mailto:bob@example\.test/);
  assert.match(bobNow.split('BEGIN:VEVENT').find((e) => e.includes('RRULE'))!, /PARTSTAT=ACCEPTED[^\r\n]*:mailto:bob@example\.test/);
});
