// CalDAV over real sockets: PUT/GET with strong ETags and conditional requests, MKCALENDAR,
// calendar-query time ranges with recurrence (daily/weekly/monthly, EXDATE, overridden
// RECURRENCE-ID, all-day, DST in Europe/Berlin and America/New_York), expand, multiget,
// free-busy-query, sync-collection, tasks, preconditions.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ALICE, BERLIN_TZ, cal, calendarDataRoundTrip, calendarQuery, type DavEnv, hrefs, ics, startDav, vevent } from './helpers.js';

let env: DavEnv;
before(async () => { env = await startDav(); });
after(async () => { await env.stop(); });

async function put(name: string, body: string, headers: Record<string, string> = {}) {
  return env.req('PUT', cal(ALICE, `calendar/${name}`), { body, headers });
}

async function query(start: string, end: string, extra = '', coll = 'calendar', comp = 'VEVENT') {
  const r = await env.req('REPORT', cal(ALICE, `${coll}/`), { body: calendarQuery(start, end, comp, extra), headers: { depth: '1' } });
  assert.equal(r.status, 207, r.text);
  return r;
}

describe('objects and ETags', () => {
  test('PUT creates with a strong ETag; GET returns the bytes as sent', async () => {
    const body = ics(...vevent('single-1', 'DTSTART:20250601T100000Z', 'DTEND:20250601T110000Z', 'SUMMARY:Single'));
    const r = await put('single-1.ics', body, { 'if-none-match': '*' });
    assert.equal(r.status, 201, r.text);
    const etag = r.headers.get('etag')!;
    assert.match(etag, /^"[^"]+"$/);
    const g = await env.req('GET', cal(ALICE, 'calendar/single-1.ics'));
    assert.equal(g.status, 200);
    assert.equal(g.text, body);
    assert.equal(g.headers.get('etag'), etag);
    assert.match(g.headers.get('content-type')!, /^text\/calendar/);
    assert.equal((await env.req('GET', cal(ALICE, 'calendar/single-1.ics'), { headers: { 'if-none-match': etag } })).status, 304);
    assert.equal((await put('single-1.ics', body, { 'if-none-match': '*' })).status, 412);
    assert.equal((await put('single-1.ics', body.replace('Single', 'Changed'), { 'if-match': '"stale"' })).status, 412);
    const u = await put('single-1.ics', body.replace('Single', 'Changed'), { 'if-match': etag });
    assert.equal(u.status, 204);
    assert.notEqual(u.headers.get('etag'), etag);
    assert.equal((await env.req('DELETE', cal(ALICE, 'calendar/single-1.ics'), { headers: { 'if-match': etag } })).status, 412);
    assert.equal((await env.req('DELETE', cal(ALICE, 'calendar/single-1.ics'), { headers: { 'if-match': u.headers.get('etag')! } })).status, 204);
    assert.equal((await env.req('GET', cal(ALICE, 'calendar/single-1.ics'))).status, 404);
  });

  test('no-uid-conflict and supported-calendar-component preconditions', async () => {
    const body = ics(...vevent('dup-uid', 'DTSTART:20250601T100000Z', 'SUMMARY:A'));
    assert.equal((await put('dup-a.ics', body)).status, 201);
    const r = await put('dup-b.ics', body);
    assert.equal(r.status, 409);
    assert.match(r.text, /no-uid-conflict.*dup-a\.ics/s);
    const todo = ics('BEGIN:VTODO', 'UID:todo-in-cal', 'DTSTAMP:20250101T000000Z', 'SUMMARY:T', 'END:VTODO');
    const t = await put('todo.ics', todo);
    assert.equal(t.status, 403);
    assert.match(t.text, /supported-calendar-component/);
    // the Tasks list takes it
    assert.equal((await env.req('PUT', cal(ALICE, 'tasks/todo.ics'), { body: todo })).status, 201);
  });

  test('MKCALENDAR with a component set and properties; PROPPATCH; DELETE', async () => {
    const r = await env.req('MKCALENDAR', cal(ALICE, 'work/'), {
      body: `<?xml version="1.0"?><c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:i="http://apple.com/ns/ical/"><d:set><d:prop>
        <d:displayname>Work</d:displayname><c:calendar-description>Office</c:calendar-description><i:calendar-color>#ff0000</i:calendar-color>
        <c:supported-calendar-component-set><c:comp name="VEVENT"/><c:comp name="VTODO"/></c:supported-calendar-component-set></d:prop></d:set></c:mkcalendar>`,
    });
    assert.equal(r.status, 201, r.text);
    assert.equal((await env.req('MKCALENDAR', cal(ALICE, 'work/'))).status, 405);
    const pp = await env.req('PROPPATCH', cal(ALICE, 'work/'), {
      body: '<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>Work 2</d:displayname></d:prop></d:set></d:propertyupdate>',
    });
    assert.equal(pp.status, 207);
    assert.match(pp.text, /200 OK/);
    const pf = await env.req('PROPFIND', cal(ALICE, 'work/'), {
      headers: { depth: '0' },
      body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:i="http://apple.com/ns/ical/"><d:prop><d:displayname/><c:calendar-description/><i:calendar-color/><c:supported-calendar-component-set/><d:resourcetype/></d:prop></d:propfind>',
    });
    assert.match(pf.text, /<d:displayname>Work 2<\/d:displayname>/);
    assert.match(pf.text, /Office/);
    assert.match(pf.text, /#ff0000/);
    assert.match(pf.text, /<cal:comp name="VEVENT"\/><cal:comp name="VTODO"\/>/);
    assert.match(pf.text, /<cal:calendar\/>/);
    const protectedSet = await env.req('PROPPATCH', cal(ALICE, 'work/'), {
      body: '<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>X</d:displayname><d:getetag>x</d:getetag></d:prop></d:set></d:propertyupdate>',
    });
    assert.match(protectedSet.text, /403 Forbidden/);
    assert.match(protectedSet.text, /424 Failed Dependency/);
    assert.equal((await env.req('DELETE', cal(ALICE, 'work/'))).status, 204);
    assert.equal((await env.req('PROPFIND', cal(ALICE, 'work/'), { headers: { depth: '0' } })).status, 404);
  });
});

test('time-range query with calendar-data returns the stored text, escaped where it must be', async () => {
  await calendarDataRoundTrip(env);
});

describe('recurrence and time ranges', () => {
  before(async () => {
    const objects: Record<string, string> = {
      // Daily 09:00 Berlin from 2025-03-27 for 5 days, 2025-03-28 excluded, 2025-03-31 moved to 15:00.
      'daily.ics': ics(...BERLIN_TZ,
        ...vevent('daily', 'DTSTART;TZID=Europe/Berlin:20250327T090000', 'DTEND;TZID=Europe/Berlin:20250327T093000',
          'RRULE:FREQ=DAILY;COUNT=5', 'EXDATE;TZID=Europe/Berlin:20250328T090000', 'SUMMARY:Daily'),
        ...vevent('daily', 'RECURRENCE-ID;TZID=Europe/Berlin:20250331T090000', 'DTSTART;TZID=Europe/Berlin:20250331T150000',
          'DTEND;TZID=Europe/Berlin:20250331T153000', 'SUMMARY:Daily moved')),
      // Weekly Monday 10:00 New York, no VTIMEZONE (IANA name resolved by the server), across 2025-03-09.
      'weekly-ny.ics': ics(...vevent('weekly-ny', 'DTSTART;TZID=America/New_York:20250303T100000', 'DTEND;TZID=America/New_York:20250303T110000',
        'RRULE:FREQ=WEEKLY;BYDAY=MO', 'SUMMARY:Weekly NY')),
      // Monthly on the 15th, 12:00 UTC, with the April instance excluded; unbounded.
      'monthly.ics': ics(...vevent('monthly', 'DTSTART:20250115T120000Z', 'DURATION:PT1H', 'RRULE:FREQ=MONTHLY', 'EXDATE:20250415T120000Z', 'SUMMARY:Monthly')),
      // All-day on 2025-05-10 (floating date).
      'allday.ics': ics(...vevent('allday', 'DTSTART;VALUE=DATE:20250510', 'DTEND;VALUE=DATE:20250511', 'SUMMARY:All day')),
      // Berlin fall-back: 2025-10-26 02:30 exists twice; daily at 02:30 from 10-25.
      'fallback.ics': ics(...BERLIN_TZ, ...vevent('fallback', 'DTSTART;TZID=Europe/Berlin:20251025T023000', 'DTEND;TZID=Europe/Berlin:20251025T030000', 'RRULE:FREQ=DAILY;COUNT=3', 'SUMMARY:Night')),
    };
    for (const [name, body] of Object.entries(objects)) {
      const r = await put(name, body);
      assert.equal(r.status, 201, `${name}: ${r.text}`);
    }
  });

  test('EXDATE removes an instance and a moved instance is found at its new time', async () => {
    // 2025-03-28 08:00Z (CET): excluded
    assert.deepEqual(hrefs((await query('20250328T070000Z', '20250328T090000Z')).text), []);
    // 2025-03-30 is the first CEST day: 09:00 Berlin = 07:00Z
    assert.deepEqual(hrefs((await query('20250330T065900Z', '20250330T070100Z')).text), ['daily.ics']);
    assert.deepEqual(hrefs((await query('20250330T075900Z', '20250330T080100Z')).text), []);
    // 2025-03-31 moved to 15:00 Berlin = 13:00Z; nothing left at 07:00Z
    assert.deepEqual(hrefs((await query('20250331T065000Z', '20250331T073000Z')).text), []);
    assert.deepEqual(hrefs((await query('20250331T130000Z', '20250331T131000Z')).text), ['daily.ics']);
  });

  test('weekly New York instances follow the US DST change without a VTIMEZONE', async () => {
    // 2025-03-03 10:00 EST = 15:00Z; 2025-03-10 10:00 EDT = 14:00Z
    assert.deepEqual(hrefs((await query('20250303T145900Z', '20250303T150100Z')).text), ['weekly-ny.ics']);
    assert.deepEqual(hrefs((await query('20250310T135900Z', '20250310T140100Z')).text), ['weekly-ny.ics']);
    assert.deepEqual(hrefs((await query('20250310T150000Z', '20250310T154000Z')).text), []);
    // far in the future (unbounded rule)
    assert.deepEqual(hrefs((await query('20300107T145900Z', '20300107T150100Z')).text), ['weekly-ny.ics']);
  });

  test('monthly with EXDATE, unbounded; all-day; Berlin fall-back night', async () => {
    assert.deepEqual(hrefs((await query('20250315T000000Z', '20250316T000000Z')).text), ['monthly.ics']);
    assert.deepEqual(hrefs((await query('20250415T000000Z', '20250416T000000Z')).text), []);
    assert.deepEqual(hrefs((await query('20271115T120000Z', '20271115T123000Z')).text), ['monthly.ics']);
    assert.deepEqual(hrefs((await query('20250510T100000Z', '20250510T110000Z')).text), ['allday.ics']);
    assert.deepEqual(hrefs((await query('20250511T100000Z', '20250511T110000Z')).text), []);
    // 2025-10-26 02:30 Berlin (ambiguous) is taken as the first (CEST) one: 00:30Z; the 27th is CET: 01:30Z
    assert.deepEqual(hrefs((await query('20251027T012900Z', '20251027T013100Z')).text), ['fallback.ics']);
  });

  test('a wide range returns each object once; expand returns UTC instances', async () => {
    const r = await query('20250301T000000Z', '20250601T000000Z', '<c:calendar-data><c:expand start="20250327T000000Z" end="20250401T000000Z"/></c:calendar-data>');
    assert.deepEqual(hrefs(r.text), ['allday.ics', 'daily.ics', 'monthly.ics', 'weekly-ny.ics']);
    const daily = /daily\.ics<\/d:href>.*?<cal:calendar-data>(.*?)<\/cal:calendar-data>/s.exec(r.text)![1]!;
    const starts = [...daily.matchAll(/DTSTART:(\d{8}T\d{6}Z)/g)].map((m) => m[1]);
    assert.deepEqual(starts, ['20250327T080000Z', '20250329T080000Z', '20250330T070000Z', '20250331T130000Z']);
    assert.doesNotMatch(daily, /RRULE/);
    assert.match(daily, /RECURRENCE-ID:20250331T070000Z/);
  });

  test('text-match and param filters, multiget and free-busy', async () => {
    const r = await env.req('REPORT', cal(ALICE, 'calendar/'), {
      headers: { depth: '1' },
      body: `<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop>
      <c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:prop-filter name="SUMMARY"><c:text-match collation="i;ascii-casemap">WEEKLY</c:text-match></c:prop-filter>
      <c:prop-filter name="DTSTART"><c:param-filter name="TZID"><c:text-match>New_York</c:text-match></c:param-filter></c:prop-filter></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>`,
    });
    assert.deepEqual(hrefs(r.text), ['weekly-ny.ics']);
    const bad = await env.req('REPORT', cal(ALICE, 'calendar/'), {
      body: `<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop>
      <c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:prop-filter name="SUMMARY"><c:text-match collation="x;unknown">a</c:text-match></c:prop-filter></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>`,
    });
    assert.equal(bad.status, 403);
    assert.match(bad.text, /supported-collation/);
    const mg = await env.req('REPORT', cal(ALICE, 'calendar/'), {
      body: `<?xml version="1.0"?><c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>
      <d:href>${cal(ALICE, 'calendar/allday.ics')}</d:href><d:href>${cal(ALICE, 'calendar/nope.ics')}</d:href></c:calendar-multiget>`,
    });
    assert.equal(mg.status, 207);
    assert.match(mg.text, /allday\.ics<\/d:href><d:propstat>.*SUMMARY:All day/s);
    assert.match(mg.text, /nope\.ics<\/d:href><d:status>HTTP\/1.1 404/);
    const fb = await env.req('REPORT', cal(ALICE, 'calendar/'), {
      body: '<?xml version="1.0"?><c:free-busy-query xmlns:c="urn:ietf:params:xml:ns:caldav"><c:time-range start="20250329T000000Z" end="20250401T000000Z"/></c:free-busy-query>',
    });
    assert.equal(fb.status, 200);
    assert.match(fb.headers.get('content-type')!, /text\/calendar/);
    assert.match(fb.text, /FREEBUSY;FBTYPE=BUSY:20250329T080000Z\/20250329T083000Z/);
    assert.match(fb.text, /20250331T130000Z\/20250331T133000Z/);
    assert.doesNotMatch(fb.text, /SUMMARY/);
  });

  test('VTODO time-range on the task list', async () => {
    const todo = ics('BEGIN:VTODO', 'UID:due-task', 'DTSTAMP:20250101T000000Z', 'DUE:20250701T170000Z', 'SUMMARY:Report', 'END:VTODO');
    assert.equal((await env.req('PUT', cal(ALICE, 'tasks/due.ics'), { body: todo })).status, 201);
    // todo.ics has no date at all: RFC 4791 §9.9 says it matches every range.
    assert.deepEqual(hrefs((await query('20250701T000000Z', '20250702T000000Z', '', 'tasks', 'VTODO')).text), ['due.ics', 'todo.ics']);
    assert.deepEqual(hrefs((await query('20250801T000000Z', '20250802T000000Z', '', 'tasks', 'VTODO')).text), ['todo.ics']);
  });
});

describe('sync-collection', () => {
  test('initial sync, changes and deletions since a token, bad tokens', async () => {
    await env.req('MKCALENDAR', cal(ALICE, 'synced/'));
    const syncBody = (token: string) => `<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>${token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`;
    const s0 = await env.req('REPORT', cal(ALICE, 'synced/'), { body: syncBody('') });
    assert.equal(s0.status, 207);
    const t0 = /<d:sync-token>([^<]+)</.exec(s0.text)![1]!;
    for (const n of ['a', 'b', 'c']) {
      await env.req('PUT', cal(ALICE, `synced/${n}.ics`), { body: ics(...vevent(`sync-${n}`, 'DTSTART:20250601T100000Z', 'SUMMARY:x')) });
    }
    const s1 = await env.req('REPORT', cal(ALICE, 'synced/'), { body: syncBody(t0) });
    assert.deepEqual(hrefs(s1.text).filter((h) => h.endsWith('.ics')), ['a.ics', 'b.ics', 'c.ics']);
    const t1 = /<d:sync-token>([^<]+)</.exec(s1.text)![1]!;
    await env.req('DELETE', cal(ALICE, 'synced/b.ics'));
    await env.req('PUT', cal(ALICE, 'synced/c.ics'), { body: ics(...vevent('sync-c', 'DTSTART:20250601T100000Z', 'SUMMARY:y')) });
    const s2 = await env.req('REPORT', cal(ALICE, 'synced/'), { body: syncBody(t1) });
    assert.match(s2.text, /b\.ics<\/d:href><d:status>HTTP\/1.1 404/);
    assert.match(s2.text, /c\.ics<\/d:href><d:propstat>/);
    assert.doesNotMatch(s2.text, /a\.ics/);
    const bad = await env.req('REPORT', cal(ALICE, 'synced/'), { body: syncBody('http://pochtamt.org/ns/sync/999999-1') });
    assert.equal(bad.status, 403);
    assert.match(bad.text, /valid-sync-token/);
    const ctag = await env.req('PROPFIND', cal(ALICE, 'synced/'), { headers: { depth: '0' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><cs:getctag/><d:sync-token/></d:prop></d:propfind>' });
    assert.match(ctag.text, /<cs:getctag>\d+<\/cs:getctag>/);
  });
});
