// Discovery and transport: OPTIONS/DAV header, /.well-known redirects and in-place PROPFIND,
// current-user-principal and principal properties, Outlook Autodiscover POX, and the HTTPS
// listener with the instance certificate.
import assert from 'node:assert/strict';
import https from 'node:https';
import { after, before, test } from 'node:test';
import { ALICE, BOB, PASSWORDS, startDav, type DavEnv } from './helpers.js';

let env: DavEnv;
before(async () => { env = await startDav(); });
after(async () => { await env.stop(); });

test('OPTIONS advertises the installed features without authentication', async () => {
  const r = await env.req('OPTIONS', '/dav/', { user: null });
  assert.equal(r.status, 200);
  const dav = r.headers.get('dav')!;
  for (const f of ['1', '3', 'access-control', 'calendar-access', 'addressbook', 'extended-mkcol']) assert.ok(dav.split(/,\s*/).includes(f), dav);
  assert.match(r.headers.get('allow')!, /MKCALENDAR/);
});

test('well-known URIs lead to the principal and its homes', async () => {
  for (const w of ['/.well-known/caldav', '/.well-known/carddav']) {
    const g = await env.req('GET', w, { user: null });
    assert.equal(g.status, 301);
    assert.equal(g.headers.get('location'), '/dav/');
    const pf = await env.req('PROPFIND', w, { headers: { depth: '0' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>' });
    assert.equal(pf.status, 207);
    assert.match(pf.text, new RegExp(`<d:current-user-principal><d:href>/dav/principals/users/${ALICE}/</d:href>`));
  }
  const root = await env.req('PROPFIND', '/', { headers: { depth: '0' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>' });
  assert.equal(root.status, 207);
  const p = await env.req('PROPFIND', `/dav/principals/users/${ALICE}/`, {
    headers: { depth: '0' },
    body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><c:calendar-home-set/><card:addressbook-home-set/><c:calendar-user-address-set/><d:displayname/><d:resourcetype/><d:principal-URL/></d:prop></d:propfind>',
  });
  assert.match(p.text, new RegExp(`<cal:calendar-home-set><d:href>/dav/calendars/${ALICE}/</d:href>`));
  assert.match(p.text, new RegExp(`<card:addressbook-home-set><d:href>/dav/addressbooks/${ALICE}/</d:href>`));
  assert.match(p.text, new RegExp(`mailto:${ALICE}`));
  assert.match(p.text, /<d:principal\/>/);
  const quota = await env.req('PROPFIND', `/dav/calendars/${ALICE}/`, { headers: { depth: '0' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:quota-used-bytes/></d:prop></d:propfind>' });
  assert.match(quota.text, /<d:quota-used-bytes>\d+<\/d:quota-used-bytes>/);
  const pn = await env.req('PROPFIND', `/dav/calendars/${ALICE}/calendar/`, { headers: { depth: '0' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:propname/></d:propfind>' });
  assert.match(pn.text, /<d:resourcetype\/>/);
  assert.match(pn.text, /<d:displayname\/>/);
});

test('Outlook Autodiscover POX returns POP/SMTP settings for the caller only', async () => {
  const body = (email: string) => `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>${email}</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`;
  const r = await env.req('POST', '/autodiscover/autodiscover.xml', { body: body(ALICE), headers: { 'content-type': 'text/xml' } });
  assert.equal(r.status, 200);
  assert.match(r.text, /<Action>settings<\/Action>/);
  assert.match(r.text, /<Type>POP3<\/Type>\s*<Server>mail\.example\.test<\/Server>/);
  assert.match(r.text, /<Type>SMTP<\/Type>/);
  assert.match(r.text, new RegExp(`<LoginName>${ALICE}</LoginName>`));
  const other = await env.req('POST', '/Autodiscover/Autodiscover.xml', { body: body(BOB), headers: { 'content-type': 'text/xml' } });
  assert.match(other.text, /<ErrorCode>600<\/ErrorCode>/);
  assert.doesNotMatch(other.text, /POP3/);
  assert.equal((await env.req('POST', '/autodiscover/autodiscover.xml', { user: null, body: body(ALICE) })).status, 401);
  const dtd = await env.req('POST', '/autodiscover/autodiscover.xml', { body: `<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><Autodiscover><Request><EMailAddress>&x;</EMailAddress></Request></Autodiscover>` });
  assert.match(dtd.text, /<ErrorCode>600<\/ErrorCode>/);
  assert.doesNotMatch(dtd.text, /root:/);
});

test('the HTTPS listener serves the same DAV tree with the instance certificate', async () => {
  const port = env.inst.ports.https;
  assert.ok(port, 'https listener is running');
  const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, method: 'PROPFIND', path: '/dav/', rejectUnauthorized: false,
      headers: { authorization: `Basic ${Buffer.from(`${ALICE}:${PASSWORDS[ALICE]}`).toString('base64')}`, depth: '0', 'content-type': 'application/xml' },
    }, (r) => {
      let body = '';
      r.on('data', (c) => { body += c; });
      r.on('end', () => resolve({ status: r.statusCode!, body }));
    });
    req.on('error', reject);
    req.end('<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>');
  });
  assert.equal(res.status, 207);
  assert.match(res.body, /current-user-principal/);
});

test('Thunderbird autoconfig names the CalDAV and CardDAV servers', async () => {
  const r = await env.req('GET', '/mail/config-v1.1.xml?emailaddress=alice%40example.test', { user: null });
  assert.equal(r.status, 200);
  assert.match(r.text, /<calendar type="caldav">[\s\S]*<serverURL>https:\/\/mail\.example\.test:\d+\/\.well-known\/caldav<\/serverURL>/);
  assert.match(r.text, /<addressBook type="carddav">[\s\S]*\/\.well-known\/carddav/);
});

test('Apple configuration profile for the authenticated user', async () => {
  assert.equal((await env.req('GET', '/mobileconfig', { user: null })).status, 401);
  const r = await env.req('GET', '/mobileconfig');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type')!, /application\/x-apple-aspen-config/);
  assert.match(r.text, /com\.apple\.caldav\.account[\s\S]*<key>CalDAVUsername<\/key><string>alice@example\.test<\/string>/);
  assert.match(r.text, /com\.apple\.carddav\.account/);
  assert.doesNotMatch(r.text, new RegExp(PASSWORDS[ALICE]!));
});
