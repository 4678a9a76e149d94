// CalDAV partial retrieval over real sockets (RFC 4791 §9.6): CALDAV:comp/prop/allprop/allcomp
// selection, expand (UTC instances with RECURRENCE-ID, no rules) and limit-recurrence-set
// (master plus the overrides in range) on a weekly Europe/Berlin event across the March DST
// change with an EXDATE and two overrides (one moved into the range, one moved out of it),
// in calendar-query and calendar-multiget, with the exact text returned; unsupported media
// types are refused with CALDAV:supported-calendar-data.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ALICE, BERLIN_TZ, cal, type DavEnv, ics, startDav } from './helpers.js';

let env: DavEnv;
before(async () => {
  env = await startDav();
  assert.equal((await env.req('PUT', cal(ALICE, 'calendar/standup.ics'), { body: STANDUP })).status, 201);
  assert.equal((await env.req('PUT', cal(ALICE, 'calendar/holiday.ics'), { body: HOLIDAY })).status, 201);
  assert.equal((await env.req('PROPPATCH', cal(ALICE, 'calendar/'), { body: `<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set><d:prop><c:calendar-timezone>${['BEGIN:VCALENDAR', ...BERLIN_TZ, 'END:VCALENDAR'].join('\r\n')}</c:calendar-timezone></d:prop></d:set></d:propertyupdate>` })).status, 207);
});
after(async () => { await env.stop(); });

// Mondays 09:00 Berlin from 17 March 2025 (CET, 08:00Z) over the 30 March change (CEST,
// 07:00Z); 7 April excluded; 31 March moved to 11:00; 14 April moved to 1 May.
const STANDUP = ics(...BERLIN_TZ,
  'BEGIN:VEVENT', 'UID:standup', 'DTSTAMP:20250101T000000Z', 'DTSTART;TZID=Europe/Berlin:20250317T090000', 'DTEND;TZID=Europe/Berlin:20250317T093000',
  'RRULE:FREQ=WEEKLY;COUNT=6', 'EXDATE;TZID=Europe/Berlin:20250407T090000', 'SUMMARY:Standup', 'LOCATION:Room 1', 'END:VEVENT',
  'BEGIN:VEVENT', 'UID:standup', 'DTSTAMP:20250101T000000Z', 'RECURRENCE-ID;TZID=Europe/Berlin:20250331T090000',
  'DTSTART;TZID=Europe/Berlin:20250331T110000', 'DTEND;TZID=Europe/Berlin:20250331T113000', 'SUMMARY:Standup (late)', 'END:VEVENT',
  'BEGIN:VEVENT', 'UID:standup', 'DTSTAMP:20250101T000000Z', 'RECURRENCE-ID;TZID=Europe/Berlin:20250414T090000',
  'DTSTART;TZID=Europe/Berlin:20250501T090000', 'DTEND;TZID=Europe/Berlin:20250501T093000', 'SUMMARY:Standup (moved)', 'END:VEVENT');

// All-day, weekly: the dates must stay the dates written, not shift through UTC.
const HOLIDAY = ics('BEGIN:VEVENT', 'UID:holiday', 'DTSTAMP:20250101T000000Z', 'DTSTART;VALUE=DATE:20250328', 'DTEND;VALUE=DATE:20250329',
  'RRULE:FREQ=WEEKLY;COUNT=3', 'SUMMARY:Remote day', 'END:VEVENT');

function report(body: string) {
  return env.req('REPORT', cal(ALICE, 'calendar/'), { headers: { depth: '1' }, body });
}

const query = (calendarData: string, start = '20250320T000000Z', end = '20250412T000000Z') => `<?xml version="1.0" encoding="utf-8"?>
<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
  <d:prop><d:getetag/>${calendarData}</d:prop>
  <c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:time-range start="${start}" end="${end}"/></c:comp-filter></c:comp-filter></c:filter>
</c:calendar-query>`;

/** calendar-data per object name, XML-unescaped, line ends normalised to \n. */
function dataOf(xml: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of xml.matchAll(/<d:response><d:href>([^<]+)<\/d:href>.*?<cal:calendar-data>([\s\S]*?)<\/cal:calendar-data>/g)) {
    out[m[1]!.split('/').pop()!] = m[2]!.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&').replace(/\r\n/g, '\n');
  }
  return out;
}

const lines = (...l: string[]) => l.join('\n') + '\n';

test('expand: UTC instances across the DST change, EXDATE honoured, overrides in place', async () => {
  const r = await report(query('<c:calendar-data><c:expand start="20250320T000000Z" end="20250412T000000Z"/></c:calendar-data>'));
  assert.equal(r.status, 207, r.text);
  const data = dataOf(r.text);
  assert.deepEqual(Object.keys(data).sort(), ['holiday.ics', 'standup.ics']);
  assert.equal(data['standup.ics'], lines(
    'BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Pochtamt tests//EN',
    'BEGIN:VEVENT', 'UID:standup', 'DTSTAMP:20250101T000000Z', 'DTSTART:20250324T080000Z', 'DTEND:20250324T083000Z',
    'SUMMARY:Standup', 'LOCATION:Room 1', 'RECURRENCE-ID:20250324T080000Z', 'END:VEVENT',
    'BEGIN:VEVENT', 'UID:standup', 'DTSTAMP:20250101T000000Z', 'DTSTART:20250331T090000Z', 'DTEND:20250331T093000Z',
    'SUMMARY:Standup (late)', 'RECURRENCE-ID:20250331T070000Z', 'END:VEVENT',
    'END:VCALENDAR'));
  assert.equal(data['holiday.ics'], lines(
    'BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Pochtamt tests//EN',
    'BEGIN:VEVENT', 'UID:holiday', 'DTSTAMP:20250101T000000Z', 'DTSTART;VALUE=DATE:20250328', 'DTEND;VALUE=DATE:20250329', 'SUMMARY:Remote day', 'RECURRENCE-ID;VALUE=DATE:20250328', 'END:VEVENT',
    'BEGIN:VEVENT', 'UID:holiday', 'DTSTAMP:20250101T000000Z', 'DTSTART;VALUE=DATE:20250404', 'DTEND;VALUE=DATE:20250405', 'SUMMARY:Remote day', 'RECURRENCE-ID;VALUE=DATE:20250404', 'END:VEVENT',
    'BEGIN:VEVENT', 'UID:holiday', 'DTSTAMP:20250101T000000Z', 'DTSTART;VALUE=DATE:20250411', 'DTEND;VALUE=DATE:20250412', 'SUMMARY:Remote day', 'RECURRENCE-ID;VALUE=DATE:20250411', 'END:VEVENT',
    'END:VCALENDAR'));
  assert.doesNotMatch(r.text, /RRULE|EXDATE|VTIMEZONE|TZID/);
});

test('expand picks up the override moved into the range and drops the one moved out', async () => {
  const r = await report(query('<c:calendar-data><c:expand start="20250410T000000Z" end="20250505T000000Z"/></c:calendar-data>', '20250410T000000Z', '20250505T000000Z'));
  const data = dataOf(r.text)['standup.ics']!;
  assert.deepEqual([...data.matchAll(/^DTSTART:(.+)$/gm)].map((m) => m[1]), ['20250421T070000Z', '20250501T070000Z']);
  assert.deepEqual([...data.matchAll(/^RECURRENCE-ID:(.+)$/gm)].map((m) => m[1]), ['20250421T070000Z', '20250414T070000Z']);
  assert.match(data, /SUMMARY:Standup \(moved\)/);
});

test('limit-recurrence-set keeps the master and only the overrides that touch the range', async () => {
  const r = await report(query('<c:calendar-data><c:limit-recurrence-set start="20250320T000000Z" end="20250412T000000Z"/></c:calendar-data>'));
  const data = dataOf(r.text)['standup.ics']!;
  assert.equal(data, STANDUP.replace(/\r\n/g, '\n').replace(/BEGIN:VEVENT\nUID:standup\nDTSTAMP:20250101T000000Z\nRECURRENCE-ID;TZID=Europe\/Berlin:20250414T090000[\s\S]*?END:VEVENT\n/, ''));
  assert.match(data, /RRULE:FREQ=WEEKLY;COUNT=6/);
  assert.match(data, /EXDATE;TZID=Europe\/Berlin:20250407T090000/);
  // The override moved out to 1 May still counts: its original slot (14 April) is in range.
  const later = dataOf((await report(query('<c:calendar-data><c:limit-recurrence-set start="20250413T000000Z" end="20250415T000000Z"/></c:calendar-data>', '20250401T000000Z', '20250601T000000Z'))).text)['standup.ics']!;
  assert.match(later, /Standup \(moved\)/);
  assert.doesNotMatch(later, /Standup \(late\)/);
});

test('comp/prop selection in calendar-multiget, with novalue, allprop and allcomp', async () => {
  const body = (cd: string) => `<?xml version="1.0"?><c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/>${cd}</d:prop><d:href>${cal(ALICE, 'calendar/standup.ics')}</d:href></c:calendar-multiget>`;
  const r = await report(body(`<c:calendar-data><c:comp name="VCALENDAR"><c:prop name="VERSION"/>
    <c:comp name="VEVENT"><c:prop name="SUMMARY"/><c:prop name="UID"/><c:prop name="RECURRENCE-ID"/><c:prop name="LOCATION" novalue="yes"/></c:comp>
  </c:comp></c:calendar-data>`));
  assert.equal(r.status, 207, r.text);
  assert.equal(dataOf(r.text)['standup.ics'], lines(
    'BEGIN:VCALENDAR', 'VERSION:2.0',
    'BEGIN:VEVENT', 'UID:standup', 'SUMMARY:Standup', 'LOCATION:', 'END:VEVENT',
    'BEGIN:VEVENT', 'UID:standup', 'RECURRENCE-ID;TZID=Europe/Berlin:20250331T090000', 'SUMMARY:Standup (late)', 'END:VEVENT',
    'BEGIN:VEVENT', 'UID:standup', 'RECURRENCE-ID;TZID=Europe/Berlin:20250414T090000', 'SUMMARY:Standup (moved)', 'END:VEVENT',
    'END:VCALENDAR'));
  const all = await report(body('<c:calendar-data><c:comp name="VCALENDAR"><c:allprop/><c:allcomp/></c:comp></c:calendar-data>'));
  assert.equal(dataOf(all.text)['standup.ics'], STANDUP.replace(/\r\n/g, '\n'));
  // Selection and expansion together: expanded first, then cut.
  const both = await report(body('<c:calendar-data><c:comp name="VCALENDAR"><c:comp name="VEVENT"><c:prop name="DTSTART"/></c:comp></c:comp><c:expand start="20250320T000000Z" end="20250401T000000Z"/></c:calendar-data>'));
  assert.equal(dataOf(both.text)['standup.ics'], lines('BEGIN:VCALENDAR', 'BEGIN:VEVENT', 'DTSTART:20250324T080000Z', 'END:VEVENT',
    'BEGIN:VEVENT', 'DTSTART:20250331T090000Z', 'END:VEVENT', 'END:VCALENDAR'));
  // A plain calendar-data is the stored text, byte for byte (CRLF kept).
  const plain = await report(body('<c:calendar-data/>'));
  assert.ok(plain.text.includes(STANDUP.replace(/\r\n/g, '\r\n').split('\r\n').slice(0, 4).join('\r\n')), plain.text);
});

test('bad calendar-data requests: other media types 403, malformed 400', async () => {
  const r = await report(query('<c:calendar-data content-type="application/calendar+json"/>'));
  assert.equal(r.status, 403);
  assert.match(r.text, /supported-calendar-data/);
  assert.equal((await report(query('<c:calendar-data version="3.0"/>'))).status, 403);
  assert.equal((await report(query('<c:calendar-data><c:comp name="VEVENT"/></c:calendar-data>'))).status, 400);
  assert.equal((await report(query('<c:calendar-data><c:expand start="20250320T000000Z"/></c:calendar-data>'))).status, 400);
  assert.equal((await report(query('<c:calendar-data><c:expand start="2025" end="x"/></c:calendar-data>'))).status, 400);
  assert.equal((await report(query('<c:calendar-data><c:comp name="VCALENDAR"><c:allprop/><c:prop name="UID"/></c:comp></c:calendar-data>'))).status, 400);
});
