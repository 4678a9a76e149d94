// Walking recurrence rules for a time-range far from DTSTART: a simple daily or weekly rule is
// walked from its last period before the range, not from DTSTART, and a filter stops at the
// first overlapping instance. Checked three ways: the same instances as the full walk for many
// rules and windows (DST in Europe/Berlin and America/New_York, EXDATE, a moved override, UNTIL,
// all-day, an unsynchronised DTSTART that must not be shortcut); the work bound itself (a walk
// capped at a few dozen instances still finds 2099's instance, and an open-ended range finds the
// next one); and over sockets, a calendar-query for 2099 and an open-ended one ("from now on",
// what DAVx5 sends with a past-events limit) answering infinite weekly events.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import ICAL from 'ical.js';
import { instances, matchesFilter, MAX_ITERATIONS, REQUEST_WALK_BUDGET, walkBudget, WalkBudgetExceeded } from '../../src/protocols/dav/icalendar.js';
import type { CompFilter } from '../../src/protocols/dav/requests.js';
import { ALICE, BERLIN_TZ, cal, hrefs, ics, startDav, vevent } from './helpers.js';

const DAY = 86_400_000;
const parse = (text: string) => new ICAL.Component(ICAL.parse(text) as unknown[]);
const span = (l: Array<{ start: number; end: number }>) => l.map((i) => `${new Date(i.start).toISOString()}/${(i.end - i.start) / 60_000}`).join(',');

function weekly(rule: string, extra: string[] = [], tz: 'berlin' | 'ny' | 'date' = 'berlin', uid = 'r'): string {
  const start = tz === 'date' ? 'DTSTART;VALUE=DATE:20250106' : tz === 'ny' ? 'DTSTART;TZID=America/New_York:20250106T090000' : 'DTSTART;TZID=Europe/Berlin:20250106T090000';
  const end = tz === 'date' ? 'DTEND;VALUE=DATE:20250107' : tz === 'ny' ? 'DTEND;TZID=America/New_York:20250106T100000' : 'DTEND;TZID=Europe/Berlin:20250106T100000';
  return ics(...(tz === 'berlin' ? BERLIN_TZ : []), ...vevent(uid, start, end, `RRULE:${rule}`, ...extra, 'SUMMARY:x'));
}

const RULES = [
  'FREQ=WEEKLY', 'FREQ=WEEKLY;BYDAY=MO', 'FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE,FR', 'FREQ=WEEKLY;INTERVAL=3;WKST=SU;BYDAY=MO,SU',
  'FREQ=DAILY', 'FREQ=DAILY;INTERVAL=3', 'FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR', 'FREQ=WEEKLY;INTERVAL=2;UNTIL=20270301T000000Z',
  // Not shortcut: COUNT counts from DTSTART, and a DTSTART outside BYDAY is an extra instance.
  'FREQ=WEEKLY;COUNT=120', 'FREQ=WEEKLY;BYDAY=TU,TH', 'FREQ=MONTHLY;BYMONTHDAY=6',
];

test('walking from a later period gives the same instances as walking from DTSTART', () => {
  let compared = 0;
  for (const tz of ['berlin', 'ny', 'date'] as const) {
    for (const rule of RULES) {
      const exdate = tz === 'date' ? 'EXDATE;VALUE=DATE:20260302' : tz === 'ny' ? 'EXDATE;TZID=America/New_York:20260302T090000' : 'EXDATE;TZID=Europe/Berlin:20260302T090000';
      const moved = tz === 'date' ? [] : vevent('r', tz === 'ny' ? 'RECURRENCE-ID;TZID=America/New_York:20250804T090000' : 'RECURRENCE-ID;TZID=Europe/Berlin:20250804T090000',
        'DTSTART:20261110T150000Z', 'DTEND:20261110T160000Z', 'SUMMARY:moved');
      const text = weekly(rule, [exdate], tz).replace('END:VCALENDAR', [...moved, 'END:VCALENDAR'].join('\r\n'));
      const vcal = parse(text);
      // The reference: one walk from DTSTART over everything up to 2031, cut to each window.
      const all = instances(vcal, 'VEVENT', { start: null, end: Date.UTC(2031, 0, 1) }, { floatingTz: null }).list;
      for (let d = 0; d < 1900; d += 17) {
        const range = { start: Date.UTC(2025, 0, 1) + d * DAY + (d % 11) * 3600_000, end: Date.UTC(2025, 0, 1) + (d + 1 + (d % 10)) * DAY };
        const want = all.filter((i) => (i.end > i.start ? i.start < range.end && i.end > range.start : i.start >= range.start && i.start < range.end));
        assert.equal(span(instances(vcal, 'VEVENT', range, { floatingTz: null }).list), span(want), `${tz} ${rule} ${new Date(range.start).toISOString()}`);
        compared++;
      }
    }
  }
  assert.ok(compared > 1000);
});

test('a range decades after DTSTART is reached in a few steps for simple rules, and open ranges stop at the first instance', () => {
  const vcal = parse(weekly('FREQ=WEEKLY;BYDAY=MO'));
  // 6 January 2099 is a Tuesday: the Monday before, 09:00 Berlin (CET) = 08:00Z.
  const week = { start: Date.UTC(2099, 0, 1), end: Date.UTC(2099, 0, 8) };
  const found = instances(vcal, 'VEVENT', week, { floatingTz: null }, 50).list;
  assert.equal(span(found), `${new Date(Date.UTC(2099, 0, 5, 8)).toISOString()}/60`);
  // Walked from DTSTART, 50 instances end in 1 December 2025: nothing found.
  const cut = instances(parse(weekly('FREQ=WEEKLY;BYDAY=MO;COUNT=100000')), 'VEVENT', week, { floatingTz: null }, 50);
  assert.equal(cut.list.length, 0);
  assert.equal(cut.complete, false);
  // Open-ended (start only): the first instance after the start ends the walk.
  const open = instances(vcal, 'VEVENT', { start: Date.UTC(2090, 0, 1), end: null }, { floatingTz: null }, 50, { any: true }).list;
  assert.equal(open.length, 1);
  assert.ok(open[0]!.start >= Date.UTC(2090, 0, 1) && open[0]!.start < Date.UTC(2090, 0, 8));
  const filter: CompFilter = {
    name: 'VCALENDAR', isNotDefined: false, timeRange: null, propFilters: [],
    compFilters: [{ name: 'VEVENT', isNotDefined: false, timeRange: { start: Date.UTC(2090, 0, 1), end: null }, propFilters: [], compFilters: [] }],
  } as unknown as CompFilter;
  assert.equal(matchesFilter(vcal, filter, null), true);
  // UNTIL before the range: no instance, and none invented at the shifted start.
  const ended = parse(weekly('FREQ=WEEKLY;BYDAY=MO;UNTIL=20300101T000000Z'));
  assert.equal(instances(ended, 'VEVENT', week, { floatingTz: null }).list.length, 0);
  assert.equal(instances(ended, 'VEVENT', { start: Date.UTC(2029, 11, 24), end: Date.UTC(2029, 11, 31) }, { floatingTz: null }, 50).list.length, 1);
});


const rangeQuery = (range: string) => `<?xml version="1.0" encoding="utf-8"?>
<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
  <d:prop><d:getetag/></d:prop>
  <c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">${range}</c:comp-filter></c:comp-filter></c:filter>
</c:calendar-query>`;

// A server of its own (not a hook): the walks above block the event loop for seconds, and an
// in-process server's keep-alive timers would then close the client's idle connections under it.
test('calendar-query for 2099 and from 2090 on answers the infinite rules over sockets', async (t) => {
  const env = await startDav();
  t.after(() => env.stop());
  for (const [name, rule] of [['monday', 'FREQ=WEEKLY;BYDAY=MO'], ['daily', 'FREQ=DAILY;INTERVAL=2'], ['ended', 'FREQ=WEEKLY;UNTIL=20260101T000000Z']] as const) {
    assert.equal((await env.req('PUT', cal(ALICE, `calendar/${name}.ics`), { body: weekly(rule, [], 'berlin', name) })).status, 201);
  }
  const q = async (range: string) => {
    const r = await env.req('REPORT', cal(ALICE, 'calendar/'), { headers: { depth: '1' }, body: rangeQuery(range) });
    assert.equal(r.status, 207, r.text);
    return hrefs(r.text);
  };
  // Monday 5 January 2099, 08:00-09:00Z: the Monday rule, and the every-other-day rule from
  // Monday 6 January 2025 when the number of days between is even (else on the 6th).
  const days = (Date.UTC(2099, 0, 5) - Date.UTC(2025, 0, 6)) / DAY;
  assert.deepEqual(await q('<c:time-range start="20990105T073000Z" end="20990105T083000Z"/>'), days % 2 === 0 ? ['daily.ics', 'monday.ics'] : ['monday.ics']);
  assert.deepEqual(await q('<c:time-range start="20990106T073000Z" end="20990106T083000Z"/>'), days % 2 === 0 ? [] : ['daily.ics']);
  assert.deepEqual(await q('<c:time-range start="20900101T000000Z"/>'), ['daily.ics', 'monday.ics']);
  assert.deepEqual(await q('<c:time-range start="20251201T000000Z"/>'), ['daily.ics', 'ended.ics', 'monday.ics']);
});

const vevent2099: CompFilter = {
  name: 'VCALENDAR', isNotDefined: false, timeRange: null, propFilters: [],
  compFilters: [{ name: 'VEVENT', isNotDefined: false, timeRange: { start: Date.UTC(2099, 0, 1), end: Date.UTC(2099, 1, 1) }, propFilters: [], compFilters: [] }],
} as unknown as CompFilter;

test('a request walks a bounded number of recurrence instances over all its objects', () => {
  // A monthly rule by weekday is not shortcut: January 2099 is ~1,300 months after DTSTART.
  const monthly = parse(ics(...vevent('m', 'DTSTART:19900109T090000Z', 'DTEND:19900109T100000Z', 'RRULE:FREQ=MONTHLY;BYDAY=2TU', 'SUMMARY:x')));
  const budget = walkBudget(2000);
  assert.equal(matchesFilter(monthly, vevent2099, null, budget), true); // Tuesday 13 January 2099
  assert.ok(budget.left < 2000 - 1000 && budget.left > 0, String(budget.left));
  // What one object took, the next one no longer has: the request stops instead of walking on.
  assert.throws(() => matchesFilter(monthly, vevent2099, null, budget), WalkBudgetExceeded);
  assert.throws(() => matchesFilter(monthly, vevent2099, null, walkBudget(500)), WalkBudgetExceeded);
  // Without a budget (PUT, one object at a time) only the per-object bound applies.
  assert.equal(matchesFilter(monthly, vevent2099, null), true);
});

test('calendar-query over many expensive rules answers in part with number-of-matches-within-limits, busy-time requests refuse, and none stalls the server', async (t) => {
  const env = await startDav();
  t.after(() => env.stop());
  // Every-hour rules from 1990 (BYHOUR: walked from DTSTART): each object walks its whole
  // per-object bound, so enough of them exhaust the request's budget.
  const objects = Math.ceil(REQUEST_WALK_BUDGET / MAX_ITERATIONS) + 2;
  for (let i = 0; i < objects; i++) {
    const body = ics(...vevent(`h${i}`, 'DTSTART:19900101T000000Z', 'DTEND:19900101T003000Z', 'RRULE:FREQ=DAILY;BYHOUR=0,2,4,6,8,10,12,14,16,18,20,22', 'SUMMARY:x'));
    assert.equal((await env.req('PUT', cal(ALICE, `calendar/h${String(i).padStart(3, '0')}.ics`), { body })).status, 201);
  }
  const order: string[] = [];
  const report = env.req('REPORT', cal(ALICE, 'calendar/'), { headers: { depth: '1' }, body: rangeQuery('<c:time-range start="20990101T000000Z" end="20990201T000000Z"/>') })
    .then((r) => { order.push('report'); return r; });
  // Another request sent while the REPORT is busy is answered before it ends.
  await new Promise((r) => setTimeout(r, 100));
  const other = await env.req('PROPFIND', cal(ALICE, ''), { headers: { depth: '0' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/></d:prop></d:propfind>' });
  order.push('propfind');
  assert.equal(other.status, 207);
  const r = await report;
  assert.equal(r.status, 207, r.text);
  assert.deepEqual(order, ['propfind', 'report']);
  assert.match(r.text, /<d:response><d:href>[^<]*\/calendar\/<\/d:href><d:status>HTTP\/1\.1 507 Insufficient Storage<\/d:status><d:error><d:number-of-matches-within-limits\/><\/d:error><\/d:response>/);

  // Busy time under the same budget fails whole: a partial VFREEBUSY would show busy time as free.
  const fb = await env.req('REPORT', cal(ALICE, 'calendar/'), { headers: { depth: '1' }, body: `<?xml version="1.0" encoding="utf-8"?>
<c:free-busy-query xmlns:c="urn:ietf:params:xml:ns:caldav"><c:time-range start="20990101T000000Z" end="20990201T000000Z"/></c:free-busy-query>` });
  assert.equal(fb.status, 507, fb.text);
  assert.match(fb.text, /number-of-matches-within-limits/);
  // The same through the scheduling outbox (a VFREEBUSY request for an attendee's calendars).
  const request = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//test//EN', 'METHOD:REQUEST', 'BEGIN:VFREEBUSY', 'UID:fb-budget',
    'DTSTAMP:20250601T000000Z', 'DTSTART:20990101T000000Z', 'DTEND:20990201T000000Z', `ORGANIZER:mailto:${ALICE}`, `ATTENDEE:mailto:${ALICE}`,
    'END:VFREEBUSY', 'END:VCALENDAR', ''].join('\r\n');
  const ob = await env.req('POST', cal(ALICE, 'outbox/'), { body: request, headers: { 'content-type': 'text/calendar' } });
  assert.equal(ob.status, 507, ob.text);
});
