// Implicit scheduling (RFC 6638 §3.2) and iMIP (RFC 6047): an organizer's PUT puts the
// invitation in an internal attendee's calendar and queues an iMIP REQUEST for an external one;
// the attendee's PARTSTAT change updates the organizer's copy; an iMIP REPLY arriving by mail is
// applied by UID; deleting cancels; the outbox answers VFREEBUSY requests.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { GroupwareService } from '../../src/services/groupware/groupware.service.js';
import { SchedulingService } from '../../src/services/groupware/scheduling.service.js';
import { ALICE, BOB, cal, ics, startDav, vevent, type DavEnv } from './helpers.js';

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
  assert.equal(await sched.processIncoming(alice.id, reply), 'applied');
  assert.match((await env.req('GET', cal(ALICE, 'calendar/meet.ics'))).text, /PARTSTAT=TENTATIVE[^\r\n]*:mailto:guest@remote\.test/);
  // a reply for an attendee the organizer never invited changes nothing
  const stranger = reply.replace(EXT, 'stranger@remote.test').replace('TENTATIVE', 'ACCEPTED');
  await sched.processIncoming(alice.id, stranger);
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
