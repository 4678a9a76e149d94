// Hostile and malformed input: bad iCalendar/vCard (400 + valid-calendar-data/valid-address-data),
// bodies over the limit (413), XML with a DOCTYPE, external entities or entity bombs (rejected,
// no file read), path traversal (.. and %2e%2e), wrong Content-Type, bad Basic credentials.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ALICE, books, cal, ics, startDav, vevent, type DavEnv } from './helpers.js';

let env: DavEnv;
before(async () => { env = await startDav(); });
after(async () => { await env.stop(); });

test('malformed iCalendar and vCard are refused with the precondition element', async () => {
  for (const body of ['not a calendar', 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:notadate\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n',
    'BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\n']) {
    const r = await env.req('PUT', cal(ALICE, 'calendar/bad.ics'), { body });
    assert.equal(r.status, 400, body);
    assert.match(r.text, /<cal:valid-calendar-data\/>/);
  }
  const noUid = await env.req('PUT', cal(ALICE, 'calendar/nouid.ics'), { body: ics('BEGIN:VEVENT', 'DTSTART:20250101T000000Z', 'END:VEVENT') });
  assert.equal(noUid.status, 403);
  assert.match(noUid.text, /valid-calendar-object-resource/);
  const method = await env.req('PUT', cal(ALICE, 'calendar/m.ics'), { body: ics('METHOD:REQUEST', ...vevent('m1', 'DTSTART:20250101T000000Z')) });
  assert.equal(method.status, 403);
  const card = await env.req('PUT', books(ALICE, 'contacts/bad.vcf'), { body: 'BEGIN:VCARD\r\nVERSION:4.0\r\nFN:x\r\n', headers: { 'content-type': 'text/vcard' } });
  assert.equal(card.status, 400);
  assert.match(card.text, /<card:valid-address-data\/>/);
  const v2 = await env.req('PUT', books(ALICE, 'contacts/v2.vcf'), { body: 'BEGIN:VCARD\r\nVERSION:2.1\r\nUID:a\r\nFN:x\r\nEND:VCARD\r\n', headers: { 'content-type': 'text/vcard' } });
  assert.equal(v2.status, 403);
  assert.match(v2.text, /supported-address-data/);
});

test('wrong Content-Type', async () => {
  const r = await env.req('PUT', cal(ALICE, 'calendar/ct.ics'), { body: ics(...vevent('ct-1', 'DTSTART:20250101T000000Z')), headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 415);
  assert.match(r.text, /supported-calendar-data/);
  const pf = await env.req('PROPFIND', cal(ALICE), { body: '{"prop": 1}', headers: { 'content-type': 'application/json' } });
  assert.equal(pf.status, 415);
});

test('a 10 MB body is refused with 413', async () => {
  const big = 'X'.repeat(10 * 1024 * 1024);
  const r = await env.req('PUT', cal(ALICE, 'calendar/big.ics'), { body: big }).catch((e: Error) => ({ status: -1, text: e.message, headers: new Headers() }));
  assert.equal(r.status, 413, r.text);
  const x = await env.req('PROPFIND', cal(ALICE), { body: `<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop>${'<d:x/>'.repeat(1_800_000)}</d:prop></d:propfind>` })
    .catch((e: Error) => ({ status: -1, text: e.message, headers: new Headers() }));
  assert.equal(x.status, 413);
});

test('DOCTYPE, external entities and entity bombs are rejected without reading files', async () => {
  const bodies = [
    `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><d:propfind xmlns:d="DAV:"><d:prop><d:displayname>&xxe;</d:displayname></d:prop></d:propfind>`,
    `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]><d:propfind xmlns:d="DAV:"><d:prop><d:x>&lol4;</d:x></d:prop></d:propfind>`,
    `<?xml version="1.0"?><!DOCTYPE d SYSTEM "http://127.0.0.1:9/evil.dtd"><d:propfind xmlns:d="DAV:"><d:allprop/></d:propfind>`,
    `<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:displayname>&xxe;</d:displayname></d:prop></d:propfind>`,
  ];
  for (const body of bodies) {
    for (const [m, p] of [['PROPFIND', cal(ALICE)], ['PROPPATCH', cal(ALICE, 'calendar/')], ['REPORT', cal(ALICE, 'calendar/')]] as const) {
      const r = await env.req(m, p, { body, headers: { depth: '0' } });
      assert.equal(r.status, 400, `${m} ${body.slice(0, 60)}`);
      assert.doesNotMatch(r.text, /root:|lollol/);
    }
  }
  const deep = `<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop>${'<d:a>'.repeat(200)}${'</d:a>'.repeat(200)}</d:prop></d:propfind>`;
  assert.equal((await env.req('PROPFIND', cal(ALICE), { body: deep })).status, 400);
});

test('path traversal and bad segments', async () => {
  for (const p of ['/dav/calendars/alice@example.test/calendar/../../../../etc/passwd', '/dav/calendars/alice@example.test/%2e%2e/%2e%2e/etc/passwd',
    '/dav/files/alice@example.test/%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/dav/calendars/alice@example.test/calendar/%00.ics', '/dav/calendars/alice@example.test/calendar/%zz']) {
    const r = await env.req('GET', p);
    assert.ok([400, 404].includes(r.status), `${p} -> ${r.status}`);
    assert.doesNotMatch(r.text, /root:/);
  }
});

test('authentication: missing or wrong credentials get 401 with a Basic challenge', async () => {
  const none = await env.req('PROPFIND', cal(ALICE), { user: null });
  assert.equal(none.status, 401);
  assert.match(none.headers.get('www-authenticate')!, /^Basic realm="Pochtamt"/);
  const wrong = await env.req('PROPFIND', cal(ALICE), { password: 'nope' });
  assert.equal(wrong.status, 401);
});
