// Test data for the DAV benchmark: deterministic (seeded) VEVENTs with VTIMEZONEs spread over two
// years, some weekly recurring with COUNT/UNTIL/no end, EXDATEs and overridden instances, some
// all-day; vCard 3.0 contacts with unique e-mail addresses. Also computes, independently of any
// server, which events a time range must match (RFC 4791 §9.9), so wrong answers show up.
import { between as int, pick, rng, shuffle } from '../common/random.js';

/** First day of the data (UTC); events spread over DATA_DAYS days from here. */
export const DATA_START = Date.UTC(2025, 0, 1);
export const DATA_DAYS = 730;
const DAY = 86_400_000;
const MIN = 60_000;

// ------------------------------------------------------------------ time zones

const VTIMEZONES: Record<string, string> = {
  'Europe/Berlin': vtz('Europe/Berlin', [['DAYLIGHT', '+0100', '+0200', 'CEST', '19700329T020000', 'FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU'],
    ['STANDARD', '+0200', '+0100', 'CET', '19701025T030000', 'FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU']]),
  'Europe/London': vtz('Europe/London', [['DAYLIGHT', '+0000', '+0100', 'BST', '19700329T010000', 'FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU'],
    ['STANDARD', '+0100', '+0000', 'GMT', '19701025T020000', 'FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU']]),
  'America/New_York': vtz('America/New_York', [['DAYLIGHT', '-0500', '-0400', 'EDT', '19700308T020000', 'FREQ=YEARLY;BYMONTH=3;BYDAY=2SU'],
    ['STANDARD', '-0400', '-0500', 'EST', '19701101T020000', 'FREQ=YEARLY;BYMONTH=11;BYDAY=1SU']]),
  'America/Los_Angeles': vtz('America/Los_Angeles', [['DAYLIGHT', '-0800', '-0700', 'PDT', '19700308T020000', 'FREQ=YEARLY;BYMONTH=3;BYDAY=2SU'],
    ['STANDARD', '-0700', '-0800', 'PST', '19701101T020000', 'FREQ=YEARLY;BYMONTH=11;BYDAY=1SU']]),
  'Asia/Tokyo': vtz('Asia/Tokyo', [['STANDARD', '+0900', '+0900', 'JST', '19700101T000000', null]]),
};

function vtz(tzid: string, parts: Array<[string, string, string, string, string, string | null]>): string {
  const out = ['BEGIN:VTIMEZONE', `TZID:${tzid}`];
  for (const [kind, from, to, name, start, rule] of parts) {
    out.push(`BEGIN:${kind}`, `TZOFFSETFROM:${from}`, `TZOFFSETTO:${to}`, `TZNAME:${name}`, `DTSTART:${start}`);
    if (rule) out.push(`RRULE:${rule}`);
    out.push(`END:${kind}`);
  }
  out.push('END:VTIMEZONE');
  return out.join('\r\n');
}

/** null = UTC ("Z" times). Weights roughly like a European company with US and Asian contacts. */
const ZONES: Array<[string | null, number]> = [
  ['Europe/Berlin', 40], [null, 15], ['America/New_York', 20], ['Europe/London', 10], ['America/Los_Angeles', 10], ['Asia/Tokyo', 5],
];

const dtfCache = new Map<string, Intl.DateTimeFormat>();
/** Offset of zone from UTC at instant t, in ms (local = utc + offset). */
function tzOffset(tz: string, t: number): number {
  let f = dtfCache.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    dtfCache.set(tz, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(t)).map((x) => [x.type, x.value]));
  const local = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
  return local - Math.floor(t / 1000) * 1000;
}

/** UTC instant of a wall-clock time (given as if it were UTC ms) in zone tz; null zone = UTC. */
export function wallToUtc(wall: number, tz: string | null): number {
  if (!tz) return wall;
  let t = wall - tzOffset(tz, wall);
  t = wall - tzOffset(tz, t); // second pass settles DST edges
  return t;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
/** YYYYMMDDTHHMMSS of a wall time held as UTC ms. */
function fmtLocal(wall: number): string {
  const d = new Date(wall);
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}T${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;
}
export const fmtUtc = (t: number) => `${fmtLocal(t)}Z`;
const fmtDate = (wall: number) => fmtLocal(wall).slice(0, 8);

/** RFC 5545 §3.1: lines of at most 75 octets, continuation lines start with a space. */
function fold(line: string): string {
  const b = Buffer.from(line, 'utf8');
  if (b.length <= 75) return line;
  const parts: string[] = [];
  let i = 0;
  let first = true;
  while (i < b.length) {
    let n = Math.min(first ? 75 : 74, b.length - i);
    while (n > 1 && i + n < b.length && (b[i + n]! & 0xc0) === 0x80) n--; // don't split a UTF-8 sequence
    parts.push((first ? '' : ' ') + b.subarray(i, i + n).toString('utf8'));
    i += n;
    first = false;
  }
  return parts.join('\r\n');
}
const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/;/g, '\\;').replace(/,/g, '\\,').replace(/\n/g, '\\n');

// ------------------------------------------------------------------ events

/** One occurrence as UTC [start, end) in ms. */
interface Span { start: number; end: number }

export interface EventSpec {
  uid: string;
  /** Resource name in the collection. */
  name: string;
  ics: string;
  recurring: boolean;
  /** Occurrences, as UTC spans; for unbounded rules only up to `expandedUntil`. */
  spans: Span[];
  /** Unbounded rule: occurrences continue past the last span, weekly. */
  unbounded: boolean;
}

const FIRST = ['Anna', 'Ben', 'Clara', 'David', 'Elena', 'Felix', 'Greta', 'Hugo', 'Ida', 'Jonas', 'Karin', 'Lukas', 'Mia', 'Noah', 'Olga', 'Paul',
  'Rosa', 'Sven', 'Tara', 'Uwe', 'Vera', 'Wolf', 'Yara', 'Zoe', 'Amir', 'Chen', 'Fatima', 'Hiro', 'Ines', 'José', 'Kofi', 'Léa', 'Maria', 'Priya'];
const LAST = ['Schmidt', 'Müller', 'Smith', 'Johnson', 'Garcia', 'Rossi', 'Dubois', 'Nowak', 'Kowalski', 'Tanaka', 'Kim', 'Nguyen', 'Petrov',
  'Jensen', 'Larsen', 'Silva', 'Novak', 'Weber', 'Wagner', 'Becker', 'Hoffmann', 'Schulz', 'Koch', 'Richter', 'Klein', 'Wolf', 'Brown', 'Lee'];
const TOPICS = ['Budget review', 'Sprint planning', 'Customer call', '1:1', 'Design review', 'Quarterly business review', 'Interview',
  'Team lunch', 'Release retrospective', 'Board meeting', 'Training: security awareness', 'Vendor demo', 'Dentist', 'Project kickoff',
  'Architecture sync', 'Marketing sync', 'Offsite preparation', 'Support escalation', 'Hiring committee', 'Weekly status'];
const PLACES = ['Room Berlin (3rd floor)', 'Room Lisbon', 'https://meet.example.com/abc-defg-hij', 'Café Einstein, Unter den Linden 42',
  'Client office, 5th Avenue 350, New York', 'Teams', 'Phone', 'Building B, Auditorium', ''];
const COMPANIES = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark', 'wayne', 'tyrell', 'cyberdyne', 'soylent'];

function asciiName(s: string): string {
  return s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[^A-Za-z]/g, '').toLowerCase();
}

/** The calendar object's text: one VCALENDAR with VTIMEZONE (if zoned) and the VEVENT(s). */
function wrapCalendar(tz: string | null, vevents: string[][]): string {
  const lines = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Pochtamt//DAV benchmark//EN', 'CALSCALE:GREGORIAN'];
  const body = lines.map(fold).join('\r\n') + '\r\n' + (tz ? `${VTIMEZONES[tz]}\r\n` : '');
  return body + vevents.map((v) => v.map(fold).join('\r\n')).join('\r\n') + '\r\nEND:VCALENDAR\r\n';
}

/** DTSTART/DTEND/RECURRENCE-ID/EXDATE property line for a wall time in tz (or UTC). */
function dtProp(name: string, wall: number, tz: string | null): string {
  return tz ? `${name};TZID=${tz}:${fmtLocal(wall)}` : `${name}:${fmtUtc(wall)}`;
}

/**
 * Generates `count` events; `recurringShare` of them weekly recurring. Deterministic for a seed.
 * Resource names are `ev-<index>.ics`.
 */
export function generateEvents(count: number, seed: number, recurringShare = 0.1): EventSpec[] {
  const r = rng(seed);
  const out: EventSpec[] = [];
  const recurringEvery = recurringShare > 0 ? Math.round(1 / recurringShare) : 0;
  const zoneTotal = ZONES.reduce((s, z) => s + z[1], 0);
  const stamp = fmtUtc(Date.UTC(2024, 11, 1, 9, 30, 0));
  for (let i = 0; i < count; i++) {
    const recurring = recurringEvery > 0 && i % recurringEvery === recurringEvery - 1;
    let x = r() * zoneTotal;
    let tz: string | null = null;
    for (const [z, w] of ZONES) { if ((x -= w) < 0) { tz = z; break; } }
    const day = int(r, 0, DATA_DAYS - 1);
    const allDay = !recurring && r() < 0.05;
    const uid = `${(seed >>> 0).toString(16)}-${i}-${Math.floor(r() * 1e9).toString(36)}@bench.pochtamt`;
    const organizer = `${asciiName(pick(r, FIRST))}.${asciiName(pick(r, LAST))}@${pick(r, COMPANIES)}.example`;
    const summary = `${pick(r, TOPICS)}${r() < 0.3 ? ` – ${pick(r, LAST)}` : ''}`;
    const common: string[] = [
      `UID:${uid}`, `DTSTAMP:${stamp}`, `CREATED:${stamp}`, `LAST-MODIFIED:${stamp}`, 'SEQUENCE:0', `SUMMARY:${esc(summary)}`,
    ];
    const place = pick(r, PLACES);
    if (place) common.push(`LOCATION:${esc(place)}`);
    if (r() < 0.6) {
      common.push(`DESCRIPTION:${esc(`Agenda:\n1. Status of ${pick(r, TOPICS).toLowerCase()}\n2. Open points from last time (see the shared notes)\n3. Next steps and owners\n\nDial-in: +49 30 1234567, PIN ${int(r, 100000, 999999)}`)}`);
    }
    common.push(`CLASS:${r() < 0.9 ? 'PUBLIC' : 'PRIVATE'}`, `STATUS:${r() < 0.95 ? 'CONFIRMED' : 'TENTATIVE'}`, `TRANSP:${allDay ? 'TRANSPARENT' : 'OPAQUE'}`);
    if (r() < 0.4) common.push(`CATEGORIES:${pick(r, ['Work', 'Customer', 'Internal', 'Travel', 'Personal'])}`);
    if (r() < 0.35) {
      common.push(`ORGANIZER;CN=${esc(organizer)}:mailto:${organizer}`);
      const n = int(r, 1, 6);
      for (let k = 0; k < n; k++) {
        const a = `${asciiName(pick(r, FIRST))}.${asciiName(pick(r, LAST))}${k}@${pick(r, COMPANIES)}.example`;
        common.push(`ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=${pick(r, ['ACCEPTED', 'NEEDS-ACTION', 'TENTATIVE', 'DECLINED'])};RSVP=TRUE;CN=${esc(a.split('@')[0]!)}:mailto:${a}`);
      }
    }
    const alarm = r() < 0.5 ? ['BEGIN:VALARM', 'ACTION:DISPLAY', 'DESCRIPTION:Reminder', `TRIGGER:-PT${pick(r, [5, 10, 15, 30])}M`, 'END:VALARM'] : [];

    if (allDay) {
      const days = pick(r, [1, 1, 1, 2, 3]);
      const wall = DATA_START + day * DAY;
      const vevent = ['BEGIN:VEVENT', ...common, `DTSTART;VALUE=DATE:${fmtDate(wall)}`, `DTEND;VALUE=DATE:${fmtDate(wall + days * DAY)}`, ...alarm, 'END:VEVENT'];
      // Floating dates: evaluated in UTC (the calendar has no CALDAV:calendar-timezone).
      out.push({ uid, name: `ev-${i}.ics`, ics: wrapCalendar(null, [vevent]), recurring: false, spans: [{ start: wall, end: wall + days * DAY }], unbounded: false });
      continue;
    }
    const startWall = DATA_START + day * DAY + (7 * 60 + int(r, 0, 44) * 15) * MIN; // 07:00 .. 18:00
    const dur = pick(r, [30, 30, 60, 60, 60, 90, 120]) * MIN;
    if (!recurring) {
      const vevent = ['BEGIN:VEVENT', ...common, dtProp('DTSTART', startWall, tz), dtProp('DTEND', startWall + dur, tz), ...alarm, 'END:VEVENT'];
      const s = wallToUtc(startWall, tz);
      out.push({ uid, name: `ev-${i}.ics`, ics: wrapCalendar(tz, [vevent]), recurring: false, spans: [{ start: s, end: wallToUtc(startWall + dur, tz) }], unbounded: false });
      continue;
    }
    // Weekly recurring: COUNT, UNTIL or no end; INTERVAL 1 or 2; EXDATE on the 2nd instance and an
    // override of the 3rd (moved two hours later) for some.
    const interval = r() < 0.2 ? 2 : 1;
    const step = interval * 7 * DAY;
    const kind = r();
    const byday = ['SU', 'MO', 'TU', 'WE', 'TH', 'FR', 'SA'][new Date(startWall).getUTCDay()]!;
    let rule = `FREQ=WEEKLY;BYDAY=${byday}${interval > 1 ? `;INTERVAL=${interval}` : ''}`;
    let last: number; // index of the last instance (inclusive), or Infinity
    if (kind < 0.4) {
      const n = int(r, 4, 40);
      rule += `;COUNT=${n}`;
      last = n - 1;
    } else if (kind < 0.7) {
      last = int(r, 3, 50);
      rule += `;UNTIL=${fmtUtc(wallToUtc(startWall + last * step, tz))}`;
    } else {
      last = Infinity;
    }
    const exdate = last >= 3 && r() < 0.3;
    const override = last >= 3 && r() < 0.2;
    const master = ['BEGIN:VEVENT', ...common, dtProp('DTSTART', startWall, tz), dtProp('DTEND', startWall + dur, tz), `RRULE:${rule}`];
    if (exdate) master.push(dtProp('EXDATE', startWall + step, tz));
    master.push(...alarm, 'END:VEVENT');
    const vevents = [master];
    if (override) {
      const orig = startWall + 2 * step;
      const moved = orig + 2 * 60 * MIN;
      vevents.push(['BEGIN:VEVENT', `UID:${uid}`, `DTSTAMP:${stamp}`, 'SEQUENCE:1', dtProp('RECURRENCE-ID', orig, tz),
        dtProp('DTSTART', moved, tz), dtProp('DTEND', moved + dur, tz), `SUMMARY:${esc(`${summary} (moved)`)}`, 'END:VEVENT']);
    }
    // Occurrences up to two years after the data's end (the query windows stay within the data).
    const expandEnd = DATA_START + (DATA_DAYS + 400) * DAY;
    const spans: Span[] = [];
    for (let k = 0; k <= last; k++) {
      let w = startWall + k * step;
      if (w > expandEnd) break;
      if (exdate && k === 1) continue;
      if (override && k === 2) w += 2 * 60 * MIN;
      spans.push({ start: wallToUtc(w, tz), end: wallToUtc(w + dur, tz) });
    }
    out.push({ uid, name: `ev-${i}.ics`, ics: wrapCalendar(tz, vevents), recurring: true, spans, unbounded: last === Infinity });
  }
  return out;
}

/** RFC 4791 §9.9: a VEVENT with DTEND overlaps [start, end) if it starts before end and ends after start. */
export function expectedMatches(events: EventSpec[], start: number, end: number): Set<string> {
  const hits = new Set<string>();
  for (const e of events) if (e.spans.some((s) => s.start < end && s.end > start)) hits.add(e.name);
  return hits;
}

/** The same event, modified as a client would (new SUMMARY, SEQUENCE and LAST-MODIFIED); times unchanged. */
export function modifiedEvent(e: EventSpec, round: number): string {
  const lm = fmtUtc(Date.UTC(2025, 0, 1) + round * 3600_000);
  return e.ics
    .replace(/^SUMMARY:(.*)$/m, (_m, s: string) => `SUMMARY:${s} [rev ${round}]`)
    .replace(/^SEQUENCE:\d+$/m, `SEQUENCE:${round + 1}`)
    .replace(/^LAST-MODIFIED:.*$/m, `LAST-MODIFIED:${lm}`);
}

/** One-month windows [start, end) inside the data span, each starting on a different day, in shuffled order. */
export function monthWindows(n: number, seed: number): Array<{ start: number; end: number; label: string }> {
  const out: Array<{ start: number; end: number; label: string }> = [];
  const span = DATA_DAYS - 31;
  for (let i = 0; i < n; i++) {
    const start = DATA_START + Math.floor((i * span) / Math.max(n, 1)) * DAY;
    const d = new Date(start);
    const end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate());
    out.push({ start, end, label: new Date(start).toISOString().slice(0, 10) });
  }
  return shuffle(rng(seed ^ 0x5eed), out);
}

// ------------------------------------------------------------------ contacts

export interface ContactSpec { uid: string; name: string; email: string; vcf: string }

const STREETS = ['Hauptstraße', 'Main Street', 'Rue de la Paix', 'Via Roma', 'Baker Street', 'Kurfürstendamm', 'Elm Street'];
const CITIES: Array<[string, string, string]> = [['Berlin', '10115', 'Germany'], ['New York', '10001', 'USA'], ['Paris', '75002', 'France'],
  ['London', 'NW1 6XE', 'United Kingdom'], ['Tokyo', '100-0001', 'Japan'], ['Munich', '80331', 'Germany']];
const TITLES = ['Account Manager', 'Software Engineer', 'CFO', 'Head of Sales', 'Office Manager', 'Consultant', 'Product Owner', ''];

/**
 * vCard 3.0 contacts (what most clients still write), resource names `c-<index>.vcf`. The work
 * e-mail address is unique per contact and no address is a substring of another (the index sits
 * between letters and the @), so an addressbook-query "contains <address>" matches exactly one card.
 */
export function generateContacts(count: number, seed: number): ContactSpec[] {
  const r = rng(seed ^ 0xc0ffee);
  const out: ContactSpec[] = [];
  for (let i = 0; i < count; i++) {
    const first = pick(r, FIRST);
    const last = pick(r, LAST);
    const company = pick(r, COMPANIES);
    const email = `${asciiName(first)}.${asciiName(last)}${i}@${company}.example`;
    const uid = `${(seed >>> 0).toString(16)}-contact-${i}-${Math.floor(r() * 1e9).toString(36)}`;
    const [city, zip, country] = pick(r, CITIES);
    const lines = ['BEGIN:VCARD', 'VERSION:3.0', 'PRODID:-//Pochtamt//DAV benchmark//EN', `UID:${uid}`, `FN:${first} ${last}`, `N:${last};${first};;;`,
      `ORG:${company[0]!.toUpperCase()}${company.slice(1)} Inc.`];
    const title = pick(r, TITLES);
    if (title) lines.push(`TITLE:${title}`);
    lines.push(`EMAIL;TYPE=INTERNET,WORK,pref:${email}`);
    if (r() < 0.3) lines.push(`EMAIL;TYPE=INTERNET,HOME:${asciiName(first)}${int(r, 1, 99)}x${i}@mail.example`);
    lines.push(`TEL;TYPE=WORK,VOICE:+49 30 ${int(r, 1000000, 9999999)}`);
    if (r() < 0.7) lines.push(`TEL;TYPE=CELL:+49 170 ${int(r, 1000000, 9999999)}`);
    if (r() < 0.5) lines.push(`ADR;TYPE=WORK:;;${int(r, 1, 200)} ${pick(r, STREETS)};${city};;${zip};${country}`);
    if (r() < 0.2) lines.push(`BDAY:${int(r, 1950, 2000)}-${pad(int(r, 1, 12))}-${pad(int(r, 1, 28))}`);
    if (r() < 0.3) lines.push(`NOTE:${esc(`Met at the ${pick(r, ['trade fair', 'conference', 'workshop'])} in ${city}. Prefers e-mail.`)}`);
    if (r() < 0.3) lines.push(`CATEGORIES:${pick(r, ['Customers', 'Suppliers', 'Colleagues', 'Friends'])}`);
    lines.push('REV:2024-12-01T09:30:00Z', 'END:VCARD');
    out.push({ uid, name: `c-${i}.vcf`, email, vcf: `${lines.map(fold).join('\r\n')}\r\n` });
  }
  return out;
}
