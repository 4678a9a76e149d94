// Test helpers for the DAV suite: a real instance on loopback with users alice, bob and carol,
// and a small fetch-based DAV client that returns status, headers and body text.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseXml, type XmlElement } from '../../src/protocols/dav/xml.js';
import { startInstance, type TestInstance } from '../helpers/instance.js';

export const ALICE = 'alice@example.test';
export const BOB = 'bob@example.test';
export const CAROL = 'carol@example.test';
export const PASSWORDS: Record<string, string> = { [ALICE]: 'alice-secret-1', [BOB]: 'bob-secret-1', [CAROL]: 'carol-secret-1' };

export interface DavEnv {
  inst: TestInstance;
  base: string;
  req(method: string, p: string, o?: { user?: string | null; body?: string | Buffer; headers?: Record<string, string>; password?: string }): Promise<{ status: number; headers: Headers; text: string }>;
  stop(): Promise<void>;
}

export async function startDav(o: { postgres?: boolean; config?: Record<string, unknown> } = {}): Promise<DavEnv> {
  const inst = await startInstance({ postgres: o.postgres, config: o.config });
  for (const [address, password] of Object.entries(PASSWORDS)) {
    await inst.app.accounts.addAccount({ address, password, displayName: address.split('@')[0]!.replace(/^./, (c) => c.toUpperCase()) });
  }
  const base = `http://127.0.0.1:${inst.ports.http}`;
  return {
    inst, base,
    async req(method, p, o = {}) {
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      const user = o.user === undefined ? ALICE : o.user;
      if (user) headers.authorization = `Basic ${Buffer.from(`${user}:${o.password ?? PASSWORDS[user]}`).toString('base64')}`;
      if (o.body !== undefined && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) {
        headers['content-type'] = method === 'PUT' ? 'text/calendar; charset=utf-8' : 'application/xml; charset=utf-8';
      }
      const res = await fetch(base + p, { method, headers, body: o.body, redirect: 'manual' });
      return { status: res.status, headers: res.headers, text: await res.text() };
    },
    stop: () => inst.stop(),
  };
}

export const cal = (user: string, rest = '') => `/dav/calendars/${user}/${rest}`;
export const books = (user: string, rest = '') => `/dav/addressbooks/${user}/${rest}`;

/** An iCalendar object with CRLF line ends. */
export function ics(...lines: string[]): string {
  return ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Pochtamt tests//EN', ...lines, 'END:VCALENDAR', ''].join('\r\n');
}

export function vevent(uid: string, ...props: string[]): string[] {
  return ['BEGIN:VEVENT', `UID:${uid}`, 'DTSTAMP:20250101T000000Z', ...props, 'END:VEVENT'];
}

export function calendarQuery(start: string, end: string, comp = 'VEVENT', extraProp = ''): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
  <d:prop><d:getetag/>${extraProp}</d:prop>
  <c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="${comp}"><c:time-range start="${start}" end="${end}"/></c:comp-filter></c:comp-filter></c:filter>
</c:calendar-query>`;
}

/** Object names (last path segment) in a multistatus body that came back with 200 propstats. */
export function hrefs(xml: string): string[] {
  return [...xml.matchAll(/<d:href>([^<]+)<\/d:href>/g)].map((m) => decodeURIComponent(m[1]!.split('/').filter(Boolean).pop()!)).sort();
}

/** A Debian tool, or null when it is not installed (the test is then skipped with the reason). */
export function debianTool(file: string): string | null {
  return existsSync(file) ? file : null;
}

export function pythonHasCaldav(): boolean {
  if (!existsSync('/usr/bin/python3')) return false;
  return spawnSync('/usr/bin/python3', ['-c', 'import caldav'], { stdio: 'ignore' }).status === 0;
}

// The repository root (compiled tests run two folders below it, in the build folder).
export const REPO = path.resolve(import.meta.dirname, '..', '..', '..');

/**
 * A time-range query asking for calendar-data gives back each stored object's text: non-ASCII
 * as it is, markup characters escaped (the answer is parsed, so either way must read back as the
 * stored text). Run on SQLite and PostgreSQL: the answer is built from the stored bytes.
 */
export async function calendarDataRoundTrip(env: DavEnv): Promise<void> {
  assert.equal((await env.req('MKCALENDAR', cal(ALICE, 'roundtrip/'))).status, 201);
  const plain = ics(...vevent('rt-plain', 'DTSTART:20310303T090000Z', 'DTEND:20310303T100000Z', 'SUMMARY:Grüße aus Köln – 日本 🎉'));
  const markup = ics(...vevent('rt-markup', 'DTSTART:20310303T110000Z', 'DTEND:20310303T120000Z', 'SUMMARY:R&D <review> "final"'));
  for (const [name, body] of [['rt-plain.ics', plain], ['rt-markup.ics', markup]] as const) {
    assert.equal((await env.req('PUT', cal(ALICE, `roundtrip/${name}`), { body })).status, 201);
  }
  const r = await env.req('REPORT', cal(ALICE, 'roundtrip/'), { headers: { depth: '1' },
    body: calendarQuery('20310303T000000Z', '20310304T000000Z', 'VEVENT', '<c:calendar-data/>') });
  assert.equal(r.status, 207);
  assert.ok(r.text.includes('SUMMARY:Grüße aus Köln – 日本 🎉'), r.text);
  assert.ok(r.text.includes('SUMMARY:R&amp;D &lt;review&gt; &quot;final&quot;'), r.text);
  const datas: string[] = [];
  (function walk(e: XmlElement) {
    if (e.ns === 'urn:ietf:params:xml:ns:caldav' && e.local === 'calendar-data') datas.push(e.text);
    e.children.forEach(walk);
  })(parseXml(r.text));
  // An XML parser hands text back with CRLF as LF (XML 1.0 §2.11).
  assert.deepEqual(datas.sort(), [markup, plain].map((x) => x.replace(/\r\n/g, '\n')).sort());
}

/** Europe/Berlin as clients send it (CET/CEST with the EU rules). */
export const BERLIN_TZ = [
  'BEGIN:VTIMEZONE', 'TZID:Europe/Berlin',
  'BEGIN:DAYLIGHT', 'TZOFFSETFROM:+0100', 'TZOFFSETTO:+0200', 'TZNAME:CEST', 'DTSTART:19700329T020000', 'RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU', 'END:DAYLIGHT',
  'BEGIN:STANDARD', 'TZOFFSETFROM:+0200', 'TZOFFSETTO:+0100', 'TZNAME:CET', 'DTSTART:19701025T030000', 'RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU', 'END:STANDARD',
  'END:VTIMEZONE',
];
