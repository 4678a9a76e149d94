// The groupware store on PostgreSQL (TEST_DATABASE_URL): the same SQL prefilter, change log and
// sharing queries as on SQLite. Skipped when no PostgreSQL URL is configured.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { postgresUrl } from '../helpers/instance.js';
import { ALICE, BOB, cal, calendarDataRoundTrip, calendarQuery, hrefs, ics, startDav, vevent, type DavEnv } from './helpers.js';

const skip = postgresUrl ? false : 'TEST_DATABASE_URL is not set';
let env: DavEnv;
before(async () => { if (!skip) env = await startDav({ postgres: true }); });
after(async () => { if (!skip) await env.stop(); });

test('PUT, time-range query with recurrence, sync and sharing on PostgreSQL', { skip }, async () => {
  const body = ics(...vevent('pg-weekly', 'DTSTART;TZID=Europe/Berlin:20250324T090000', 'DTEND;TZID=Europe/Berlin:20250324T100000', 'RRULE:FREQ=WEEKLY;UNTIL=20250430T000000Z', 'SUMMARY:PG'));
  assert.equal((await env.req('PUT', cal(ALICE, 'calendar/pg.ics'), { body })).status, 201);
  const q = (s: string, e: string) => env.req('REPORT', cal(ALICE, 'calendar/'), { headers: { depth: '1' }, body: calendarQuery(s, e) });
  assert.deepEqual(hrefs((await q('20250331T070000Z', '20250331T071000Z')).text), ['pg.ics']); // CEST
  assert.deepEqual(hrefs((await q('20250324T080000Z', '20250324T081000Z')).text), ['pg.ics']); // CET
  assert.deepEqual(hrefs((await q('20250505T000000Z', '20250506T000000Z')).text), []);
  const sync = await env.req('REPORT', cal(ALICE, 'calendar/'), { body: '<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token/><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>' });
  assert.deepEqual(hrefs(sync.text).filter((h) => h.endsWith('.ics')), ['pg.ics']);
  assert.equal((await env.req('GET', cal(ALICE, 'calendar/pg.ics'), { user: BOB })).status, 404);
  await env.req('POST', cal(ALICE, 'calendar/'), { body: `<?xml version="1.0"?><cs:share xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><cs:set><d:href>mailto:${BOB}</d:href><cs:read/></cs:set></cs:share>` });
  assert.equal((await env.req('GET', cal(ALICE, 'calendar/pg.ics'), { user: BOB })).status, 200);
});

test('time-range query with calendar-data returns the stored text, escaped where it must be (PostgreSQL)', { skip }, async () => {
  await calendarDataRoundTrip(env);
});
