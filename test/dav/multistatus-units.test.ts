// objectsMultistatus() with calendar data given as the stored UTF-8 bytes: the same answer,
// byte for byte, as with the data as text, and xmlSafeBytes() agreeing with escapeXml().
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { objectsMultistatus, xmlSafeBytes } from '../../src/protocols/dav/multistatus.js';
import { escapeXml } from '../../src/protocols/dav/xml.js';

const samples = [
  'BEGIN:VCALENDAR\r\nSUMMARY:plain\r\nEND:VCALENDAR\r\n',
  'SUMMARY:Grüße – 日本 🎉\r\n\tfolded\r\n',
  'SUMMARY:R&D', 'a<b', 'a>b', 'say "hi"', 'bell\u0007', 'nul\u0000', 'vt\u000b', 'us\u001f',
  'nonchar \ufffe', 'nonchar \uffff', 'private \uf8ff', 'bmp end \ufffd', '',
];

test('xmlSafeBytes says yes exactly when escapeXml would change nothing', () => {
  for (const s of samples) assert.equal(xmlSafeBytes(Buffer.from(s, 'utf8')), escapeXml(s) === s, JSON.stringify(s));
});

test('an answer built from bytes equals the one built from text', () => {
  const objects = samples.map((s, i) => ({ href: `/dav/calendars/a@b.test/calendar/${i}.ics`, etag: `"e${i}"`, data: s }));
  for (const withEtag of [true, false]) {
    const fromText = objectsMultistatus(objects, withEtag, true);
    const fromBytes = objectsMultistatus(objects.map((o) => ({ ...o, data: Buffer.from(o.data, 'utf8') })), withEtag, true);
    assert.equal(fromBytes.toString('utf8'), fromText.toString('utf8'));
    assert.ok(fromBytes.equals(fromText));
  }
});
