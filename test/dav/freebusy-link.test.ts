// The free/busy-only subscription link: created and revoked by the owner with POST
// pt:publish-freebusy / pt:unpublish-freebusy, shown as pt:freebusy-url, served without
// authentication as one VFREEBUSY (busy periods only: no titles, locations or UIDs; transparent
// and cancelled events left out; a Europe/Berlin weekly event across the DST change), windows
// checked, independent of the full subscription link.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ALICE, BOB, cal, ics, startDav, vevent, type DavEnv } from './helpers.js';

let env: DavEnv;
before(async () => {
  env = await startDav();
  const put = (name: string, body: string) => env.req('PUT', cal(ALICE, `calendar/${name}`), { body });
  assert.equal((await put('board.ics', ics(...vevent('board', 'DTSTART:20250602T080000Z', 'DTEND:20250602T100000Z', 'SUMMARY:Secret board meeting', 'LOCATION:Room 7')))).status, 201);
  assert.equal((await put('lunch.ics', ics(...vevent('lunch', 'DTSTART:20250602T093000Z', 'DTEND:20250602T110000Z', 'SUMMARY:Lunch', 'STATUS:TENTATIVE')))).status, 201);
  assert.equal((await put('free.ics', ics(...vevent('free', 'DTSTART:20250603T080000Z', 'DTEND:20250603T090000Z', 'SUMMARY:Reminder', 'TRANSP:TRANSPARENT')))).status, 201);
  assert.equal((await put('gone.ics', ics(...vevent('gone', 'DTSTART:20250604T080000Z', 'DTEND:20250604T090000Z', 'SUMMARY:Cancelled', 'STATUS:CANCELLED')))).status, 201);
  // Fridays 09:00-10:00 Berlin: 08:00Z in CET (28 March), 07:00Z in CEST (4 April).
  assert.equal((await put('weekly.ics', ics(...vevent('weekly', 'DTSTART;TZID=Europe/Berlin:20250328T090000', 'DTEND;TZID=Europe/Berlin:20250328T100000', 'RRULE:FREQ=WEEKLY;COUNT=2', 'SUMMARY:Private therapy')))).status, 201);
});
after(async () => { await env.stop(); });

const post = (root: string, user = ALICE) => env.req('POST', cal(ALICE, 'calendar/'), { user, body: `<?xml version="1.0"?><pt:${root} xmlns:pt="http://pochtamt.org/ns/"/>` });

async function freebusyUrl(): Promise<string | null> {
  const r = await env.req('PROPFIND', cal(ALICE, 'calendar/'), { headers: { depth: '0' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:pt="http://pochtamt.org/ns/" xmlns:cs="http://calendarserver.org/ns/"><d:prop><pt:freebusy-url/><cs:publish-url/></d:prop></d:propfind>' });
  assert.match(r.text, /<cs:publish-url\/>/, 'the full link is not created by the free/busy one');
  return /<pt:freebusy-url><d:href>([^<]+)<\/d:href>/.exec(r.text)?.[1] ?? null;
}

test('the owner publishes a free/busy link that shows busy time and nothing else', async () => {
  assert.equal(await freebusyUrl(), null);
  assert.equal((await post('publish-freebusy')).status, 202);
  const url = await freebusyUrl();
  assert.ok(url, 'pt:freebusy-url after publishing');
  assert.match(url!, /^http:\/\/127\.0\.0\.1:\d+\/dav\/freebusy\/[A-Za-z0-9_-]{32}\.ics$/);
  const r = await fetch(`${url}?start=20250301T000000Z&end=20250701T000000Z`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type')!, /^text\/calendar/);
  const body = (await r.text()).replace(/DTSTAMP:\d{8}T\d{6}Z/, 'DTSTAMP:X');
  assert.equal(body, ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Pochtamt//CalDAV//EN', 'BEGIN:VFREEBUSY', 'DTSTAMP:X',
    'DTSTART:20250301T000000Z', 'DTEND:20250701T000000Z',
    'FREEBUSY;FBTYPE=BUSY:20250328T080000Z/20250328T090000Z', 'FREEBUSY;FBTYPE=BUSY:20250404T070000Z/20250404T080000Z',
    'FREEBUSY;FBTYPE=BUSY:20250602T080000Z/20250602T100000Z', 'FREEBUSY;FBTYPE=BUSY-TENTATIVE:20250602T093000Z/20250602T110000Z',
    'END:VFREEBUSY', 'END:VCALENDAR', ''].join('\r\n'));
  for (const secret of ['Secret', 'Room 7', 'therapy', 'board', 'UID']) assert.ok(!body.includes(secret), secret);
  // The default window (7 days back, half a year ahead) answers too.
  assert.equal((await fetch(url!)).status, 200);
});

test('bad windows and tokens; only the owner manages the link; revocation is immediate', async () => {
  const url = (await freebusyUrl())!;
  assert.equal((await fetch(`${url}?start=20250301T000000Z&end=20240101T000000Z`)).status, 400);
  assert.equal((await fetch(`${url}?start=20200101T000000Z&end=20250101T000000Z`)).status, 400);
  assert.equal((await fetch(`${url}?start=yesterday`)).status, 400);
  assert.equal((await fetch(url.replace(/\/[^/]+\.ics$/, '/AAAAAAAAAAAAAAAAAAAAAAAA.ics'))).status, 404);
  assert.equal((await fetch(url.replace(/\/freebusy\//, '/subscribe/'))).status, 404, 'a free/busy token is no full-feed token');
  await env.req('POST', cal(ALICE, 'calendar/'), { body: `<?xml version="1.0"?><cs:share xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><cs:set><d:href>mailto:${BOB}</d:href><cs:read-write/></cs:set></cs:share>` });
  assert.equal((await post('unpublish-freebusy', BOB)).status, 403);
  assert.equal((await post('unpublish-freebusy')).status, 202);
  assert.equal((await fetch(url)).status, 404);
  assert.equal(await freebusyUrl(), null);
  assert.equal((await post('publish-freebusy')).status, 202);
  const again = await freebusyUrl();
  assert.ok(again && again !== url, 'a new link after revoking');
});
