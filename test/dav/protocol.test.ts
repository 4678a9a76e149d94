// Pure codec tests (no sockets): the XML layer refuses DTDs and resolves namespaces, request
// parsers produce typed values, and the iCalendar layer computes occurrence ranges.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkCalendarObject } from '../../src/protocols/dav/icalendar.js';
import { multistatus, PropFind } from '../../src/protocols/dav/multistatus.js';
import { parseCalendarQuery, parsePropfind, parsePropPatch } from '../../src/protocols/dav/requests.js';
import { parseXml, serializeXml, x, XmlError } from '../../src/protocols/dav/xml.js';

test('parseXml resolves namespaces and refuses any DOCTYPE', () => {
  const e = parseXml('<?xml version="1.0"?><A:propfind xmlns:A="DAV:"><A:prop><foo xmlns="urn:x"/></A:prop></A:propfind>');
  assert.equal(e.ns, 'DAV:');
  assert.equal(e.children[0]!.children[0]!.ns, 'urn:x');
  assert.throws(() => parseXml('<!DOCTYPE a><a/>'), XmlError);
  assert.throws(() => parseXml('<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>'), XmlError);
  assert.throws(() => parseXml('<a>&undefined;</a>'), XmlError);
  assert.throws(() => parseXml('<a><b></a>'), XmlError);
});

test('serialiser escapes and round-trips namespaces', () => {
  const s = serializeXml(x('DAV:', 'prop', x('urn:other', 'v', '<&>"')));
  const back = parseXml(s);
  assert.equal(back.children[0]!.ns, 'urn:other');
  assert.equal(back.children[0]!.text, '<&>"');
});

test('request parsers', () => {
  assert.deepEqual(parsePropfind(null), { kind: 'allprop', include: [] });
  assert.deepEqual(parsePropfind(parseXml('<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>')), { kind: 'prop', props: ['{DAV:}getetag'] });
  const ops = parsePropPatch(parseXml('<d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>x</d:displayname></d:prop></d:set><d:remove><d:prop><z:a xmlns:z="urn:z"/></d:prop></d:remove></d:propertyupdate>'));
  assert.deepEqual(ops.map((o) => [o.op, o.name]), [['set', '{DAV:}displayname'], ['remove', '{urn:z}a']]);
  const q = parseCalendarQuery(parseXml('<c:calendar-query xmlns:c="urn:ietf:params:xml:ns:caldav"><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:time-range start="20250101T000000Z"/></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>'));
  assert.equal(q.filter.compFilters[0]!.timeRange!.start, Date.UTC(2025, 0, 1));
  assert.equal(q.filter.compFilters[0]!.timeRange!.end, null);
});

test('multistatus groups propstats by status; unknown props are 404', async () => {
  const pf = new PropFind({ kind: 'prop', props: ['{DAV:}displayname', '{urn:x}nope'] });
  pf.handle('{DAV:}displayname', ['Cal']);
  const xml = multistatus([{ href: '/a/', props: await pf.finish() }]);
  assert.match(xml, /<d:displayname>Cal<\/d:displayname><\/d:prop><d:status>HTTP\/1.1 200 OK/);
  assert.match(xml, /nope.*404 Not Found/s);
});

test('occurrence ranges: bounded, unbounded and floating', () => {
  const wrap = (...l: string[]) => ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:x', 'BEGIN:VEVENT', 'UID:u', 'DTSTAMP:20250101T000000Z', ...l, 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
  const bounded = checkCalendarObject(wrap('DTSTART:20250101T100000Z', 'DTEND:20250101T110000Z', 'RRULE:FREQ=DAILY;COUNT=3'), ['VEVENT']);
  assert.ok(bounded.ok);
  if (bounded.ok) {
    assert.equal(bounded.firstStart, Date.UTC(2025, 0, 1, 10));
    assert.equal(bounded.lastEnd, Date.UTC(2025, 0, 3, 11));
    assert.equal(bounded.recurring, true);
  }
  const open = checkCalendarObject(wrap('DTSTART:20250101T100000Z', 'RRULE:FREQ=WEEKLY'), ['VEVENT']);
  assert.ok(open.ok && open.lastEnd === null);
  const floating = checkCalendarObject(wrap('DTSTART;VALUE=DATE:20250101'), ['VEVENT']);
  assert.ok(floating.ok && floating.firstStart! < Date.UTC(2025, 0, 1) && floating.lastEnd! > Date.UTC(2025, 0, 2));
});
