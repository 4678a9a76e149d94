// CardDAV address-data conversion and property selection (RFC 6352 §10.4) with tsdav and raw
// requests: a 3.0 card asked for as 4.0 and a 4.0 group asked for as 3.0 (VERSION, TYPE/PREF,
// PHOTO data: URI vs ENCODING=b, KIND/MEMBER vs X-ADDRESSBOOKSERVER-*, UID urn:uuid:, BDAY
// without a year), the stored bytes never change, <prop name="EMAIL"/> subsetting, the GAL
// converted too, unsupported versions refused with CARDDAV:supported-address-data.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createDAVClient } from 'tsdav';
import { ALICE, PASSWORDS, books, startDav, type DavEnv } from './helpers.js';

let env: DavEnv;
let client: Awaited<ReturnType<typeof createDAVClient>>;

const ADA3 = ['BEGIN:VCARD', 'VERSION:3.0', 'UID:ada-1', 'FN:Ada Lovelace', 'N:Lovelace;Ada;;;',
  'EMAIL;TYPE=INTERNET,WORK,pref:ada@analytical.example', 'EMAIL;TYPE=INTERNET,HOME:ada@home.example', 'TEL;TYPE=CELL:+44 20 7946 0000',
  'BDAY;X-APPLE-OMIT-YEAR=1604:1604-12-10', 'PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRg==', 'END:VCARD', ''].join('\r\n');
const TEAM4 = ['BEGIN:VCARD', 'VERSION:4.0', 'UID:urn:uuid:0b6b1c1e-4b0a-4d3a-9f5e-1c2d3e4f5a6b', 'KIND:group', 'FN:Engines',
  'MEMBER:urn:uuid:ada-1', 'BDAY:18151210', 'TEL;VALUE=uri;TYPE="voice,work";PREF=1:tel:+1-555-0100',
  'PHOTO:data:image/png;base64,iVBORw0KGgo=', 'END:VCARD', ''].join('\r\n');

before(async () => {
  env = await startDav();
  for (const [name, body] of [['ada.vcf', ADA3], ['team.vcf', TEAM4]] as const) {
    const r = await env.req('PUT', books(ALICE, `contacts/${name}`), { body, headers: { 'content-type': 'text/vcard' } });
    assert.equal(r.status, 201, r.text);
  }
  client = await createDAVClient({ serverUrl: env.base, credentials: { username: ALICE, password: PASSWORDS[ALICE]! }, authMethod: 'Basic', defaultAccountType: 'carddav' });
});
after(async () => { await env.stop(); });

const url = (name: string) => `${env.base}${books(ALICE, `contacts/${name}`)}`;
const addressData = (attrs: Record<string, string>, inner: Record<string, unknown> = {}) => ({ 'd:getetag': {}, 'card:address-data': { _attributes: attrs, ...inner } });

async function multiget(props: Record<string, unknown>, names: string[]) {
  const res = await client.addressBookMultiGet({ url: `${env.base}${books(ALICE, 'contacts/')}`, props, objectUrls: names.map((n) => books(ALICE, `contacts/${n}`)), depth: '1' });
  const out: Record<string, string> = {};
  for (const r of res) {
    const v = r.props?.addressData as unknown;
    out[String(r.href).split('/').pop()!] = (typeof v === 'string' ? v : String((v as { _cdata?: string; _text?: string })?._cdata ?? (v as { _text?: string })?._text ?? '')).replace(/\r\n/g, '\n').trim();
  }
  return out;
}

test('a vCard 3.0 asked for as 4.0 is converted; the stored card is untouched', async () => {
  const got = await multiget(addressData({ 'content-type': 'text/vcard', version: '4.0' }), ['ada.vcf', 'team.vcf']);
  assert.equal(got['ada.vcf'], ['BEGIN:VCARD', 'VERSION:4.0', 'UID;VALUE=text:ada-1', 'FN:Ada Lovelace', 'N:Lovelace;Ada;;;',
    'EMAIL;TYPE=work;PREF=1:ada@analytical.example', 'EMAIL;TYPE=home:ada@home.example', 'TEL;TYPE=cell:+44 20 7946 0000',
    'BDAY:--1210', 'PHOTO:data:image/jpeg;base64,/9j/4AAQSkZJRg==', 'END:VCARD'].join('\n'));
  // Already 4.0: exactly as stored.
  assert.equal(got['team.vcf'], TEAM4.replace(/\r\n/g, '\n').trim());
  const raw = await env.req('GET', books(ALICE, 'contacts/ada.vcf'));
  assert.equal(raw.text, ADA3);
});

test('a vCard 4.0 group asked for as 3.0 uses the Apple group form', async () => {
  const got = await multiget(addressData({ 'content-type': 'text/vcard', version: '3.0' }), ['team.vcf']);
  assert.equal(got['team.vcf'], ['BEGIN:VCARD', 'VERSION:3.0', 'UID:0b6b1c1e-4b0a-4d3a-9f5e-1c2d3e4f5a6b', 'X-ADDRESSBOOKSERVER-KIND:group', 'FN:Engines', 'N:Engines;;;;',
    'X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:ada-1', 'BDAY:1815-12-10', 'TEL;TYPE=VOICE,WORK,PREF:+1-555-0100',
    'PHOTO;ENCODING=b;TYPE=PNG:iVBORw0KGgo=', 'END:VCARD'].join('\n'));
  assert.equal((await env.req('GET', books(ALICE, 'contacts/team.vcf'))).text, TEAM4);
});

test('address-data property selection (raw addressbook-query)', async () => {
  const r = await env.req('REPORT', books(ALICE, 'contacts/'), { headers: { depth: '1' }, body: `<?xml version="1.0"?>
<card:addressbook-query xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">
  <d:prop><card:address-data content-type="text/vcard" version="4.0"><card:prop name="EMAIL"/><card:prop name="FN" novalue="yes"/></card:address-data></d:prop>
  <card:filter><card:prop-filter name="EMAIL"><card:text-match match-type="starts-with">ada@</card:text-match></card:prop-filter></card:filter>
</card:addressbook-query>` });
  assert.equal(r.status, 207, r.text);
  const m = /<card:address-data>([\s\S]*?)<\/card:address-data>/.exec(r.text);
  assert.ok(m, r.text);
  assert.equal(m[1]!.replace(/\r\n/g, '\n'), ['BEGIN:VCARD', 'VERSION:4.0', 'UID;VALUE=text:ada-1', 'FN:', 'EMAIL;TYPE=work;PREF=1:ada@analytical.example',
    'EMAIL;TYPE=home:ada@home.example', 'END:VCARD', ''].join('\n'));
});

test('the GAL converts too; supported-address-data lists 3.0 and 4.0; other versions are refused', async () => {
  const gal = await env.req('REPORT', books(ALICE, 'gal/'), { headers: { depth: '1' }, body: `<?xml version="1.0"?>
<card:addressbook-query xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">
  <d:prop><card:address-data version="4.0"/></d:prop>
  <card:filter><card:prop-filter name="EMAIL"><card:text-match match-type="equals">${ALICE}</card:text-match></card:prop-filter></card:filter>
</card:addressbook-query>` });
  assert.equal(gal.status, 207, gal.text);
  assert.match(gal.text, /VERSION:4\.0/);
  assert.match(gal.text, new RegExp(`EMAIL;TYPE=work:${ALICE}`));
  const pf = await env.req('PROPFIND', books(ALICE, 'contacts/'), { headers: { depth: '0' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><card:supported-address-data/></d:prop></d:propfind>' });
  assert.match(pf.text, /<card:address-data-type content-type="text\/vcard" version="3\.0"\/><card:address-data-type content-type="text\/vcard" version="4\.0"\/>/);
  for (const bad of ['version="2.1"', 'content-type="application/vcard+json"']) {
    const r = await env.req('REPORT', books(ALICE, 'contacts/'), { headers: { depth: '1' }, body: `<?xml version="1.0"?><card:addressbook-multiget xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><card:address-data ${bad}/></d:prop><d:href>${books(ALICE, 'contacts/ada.vcf')}</d:href></card:addressbook-multiget>` });
    assert.equal(r.status, 403, bad);
    assert.match(r.text, /supported-address-data/);
  }
  void url;
});

test('GET with Accept: text/vcard; version=… converts; without it the stored bytes and ETag come back', async () => {
  const stored = await env.req('GET', books(ALICE, 'contacts/ada.vcf'));
  assert.equal(stored.status, 200);
  assert.equal(stored.text, ADA3);
  assert.ok(stored.headers.get('etag'));
  assert.equal(stored.headers.get('vary'), 'Accept');
  const as4 = await env.req('GET', books(ALICE, 'contacts/ada.vcf'), { headers: { accept: 'text/vcard; version=4.0, text/vcard;q=0.5' } });
  assert.equal(as4.status, 200);
  assert.match(as4.headers.get('content-type') ?? '', /^text\/vcard; charset=utf-8; version=4\.0$/);
  assert.match(as4.text, /\r\nVERSION:4\.0\r\n/);
  assert.match(as4.text, /\r\nFN:Ada Lovelace\r\n/);
  assert.equal(as4.headers.get('etag'), null, 'converted bytes carry no ETag');
  // Asking for the stored version, or preferring a range without a version, serves the stored card.
  assert.equal((await env.req('GET', books(ALICE, 'contacts/ada.vcf'), { headers: { accept: 'text/vcard; version=3.0' } })).text, ADA3);
  assert.equal((await env.req('GET', books(ALICE, 'contacts/ada.vcf'), { headers: { accept: 'text/vcard, text/vcard; version=4.0; q=0.4' } })).text, ADA3);
  // Malformed or unknown ranges never fail the GET: the stored card comes back.
  for (const accept of ['text/vcard; version=5.0', 'text/vcard; version=4.0; q=abc', ';;;,,,=', 'text/vcard; version=4.0;q=0',
    `${'text/plain, '.repeat(400)}text/vcard; version=4.0`]) {
    const r = await env.req('GET', books(ALICE, 'contacts/ada.vcf'), { headers: { accept } });
    assert.equal(r.status, 200, accept.slice(0, 40));
    assert.equal(r.text, ADA3, accept.slice(0, 40));
  }
  const as3 = await env.req('GET', books(ALICE, 'contacts/team.vcf'), { headers: { accept: 'text/vcard;version="3.0"' } });
  assert.match(as3.text, /\r\nVERSION:3\.0\r\n/);
  assert.match(as3.text, /X-ADDRESSBOOKSERVER-KIND:group/);
});
