// CardDAV with a real client library (tsdav): discovery from the server root, the default
// Contacts book and the read-only Global Address List, create/fetch/update/delete vCards 3.0
// and 4.0 (stored byte-for-byte), addressbook-query text-match, multiget, sync.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createDAVClient } from 'tsdav';
import { ALICE, BOB, PASSWORDS, books, hrefs, startDav, type DavEnv } from './helpers.js';

let env: DavEnv;
let client: Awaited<ReturnType<typeof createDAVClient>>;
before(async () => {
  env = await startDav();
  client = await createDAVClient({
    serverUrl: env.base, credentials: { username: ALICE, password: PASSWORDS[ALICE]! }, authMethod: 'Basic', defaultAccountType: 'carddav',
  });
});
after(async () => { await env.stop(); });

const card3 = ['BEGIN:VCARD', 'VERSION:3.0', 'UID:ada-1', 'FN:Ada Lovelace', 'N:Lovelace;Ada;;;', 'EMAIL;TYPE=INTERNET:ada@analytical.example', 'END:VCARD', ''].join('\r\n');
const card4 = ['BEGIN:VCARD', 'VERSION:4.0', 'UID:urn:uuid:grace-2', 'FN:Grace Hopper', 'EMAIL:grace@navy.example', 'TEL;VALUE=uri:tel:+1-555-0100', 'END:VCARD', ''].join('\r\n');

test('tsdav discovers the address books, including the Global Address List', async () => {
  const list = await client.fetchAddressBooks();
  const names = list.map((b) => String(b.displayName)).sort();
  assert.deepEqual(names, ['Contacts', 'Global Address List']);
});

test('create, fetch, update, delete vCards 3.0 and 4.0 as sent', async () => {
  const contacts = (await client.fetchAddressBooks()).find((b) => b.displayName === 'Contacts')!;
  const r1 = await client.createVCard({ addressBook: contacts, filename: 'ada.vcf', vCardString: card3 });
  assert.equal(r1.status, 201);
  const r2 = await client.createVCard({ addressBook: contacts, filename: 'grace.vcf', vCardString: card4 });
  assert.equal(r2.status, 201);
  const cards = await client.fetchVCards({ addressBook: contacts });
  const byName = new Map(cards.map((c) => [c.url.split('/').pop()!, c]));
  // tsdav trims the XML text; the raw GET shows the bytes are exactly what was sent.
  assert.equal(String(byName.get('ada.vcf')!.data).trim(), card3.trim());
  assert.equal((await env.req('GET', books(ALICE, 'contacts/grace.vcf'))).text, card4);
  const ada = byName.get('ada.vcf')!;
  const upd = await client.updateVCard({ vCard: { ...ada, data: card3.replace('Ada Lovelace', 'Augusta Ada King') } });
  assert.equal(upd.status, 204);
  const stale = await client.updateVCard({ vCard: { ...ada, data: card3 } });
  assert.equal(stale.status, 412);
  const dup = await env.req('PUT', books(ALICE, 'contacts/dup.vcf'), { body: card3, headers: { 'content-type': 'text/vcard' } });
  assert.equal(dup.status, 409);
  assert.match(dup.text, /no-uid-conflict/);
  const g = byName.get('grace.vcf')!;
  assert.equal((await client.deleteVCard({ vCard: g })).status, 204);
  assert.equal((await client.fetchVCards({ addressBook: contacts })).length, 1);
});

test('addressbook-query by e-mail, on the personal book and the GAL', async () => {
  await env.req('PUT', books(ALICE, 'contacts/grace.vcf'), { body: card4, headers: { 'content-type': 'text/vcard' } });
  const q = (email: string, book: string) => env.req('REPORT', books(ALICE, book), {
    headers: { depth: '1' },
    body: `<?xml version="1.0"?><card:addressbook-query xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><card:address-data/></d:prop>
      <card:filter><card:prop-filter name="EMAIL"><card:text-match collation="i;unicode-casemap" match-type="contains">${email}</card:text-match></card:prop-filter></card:filter></card:addressbook-query>`,
  });
  const r = await q('GRACE@navy', 'contacts/');
  assert.equal(r.status, 207);
  assert.deepEqual(hrefs(r.text), ['grace.vcf']);
  const gal = await q('bob@example', 'gal/');
  assert.equal(gal.status, 207);
  assert.match(gal.text, new RegExp(`EMAIL;TYPE=INTERNET,WORK:${BOB}`));
  assert.doesNotMatch(gal.text, /EMAIL[^\n]*alice@/);
  // the GAL is read-only
  const put = await env.req('PUT', books(ALICE, 'gal/new.vcf'), { body: card3, headers: { 'content-type': 'text/vcard' } });
  assert.equal(put.status, 403);
});

test('sync-collection through tsdav', async () => {
  const contacts = (await client.fetchAddressBooks()).find((b) => b.displayName === 'Contacts')!;
  const first = await client.syncCollection({ url: contacts.url, props: { 'd:getetag': {} }, syncLevel: 1, syncToken: '' });
  assert.ok(first.length >= 2);
  const token = (await env.req('PROPFIND', books(ALICE, 'contacts/'), { headers: { depth: '0' }, body: '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:sync-token/></d:prop></d:propfind>' }))
    .text.match(/<d:sync-token>([^<]+)</)![1]!;
  await env.req('DELETE', books(ALICE, 'contacts/grace.vcf'));
  const changes = await client.syncCollection({ url: contacts.url, props: { 'd:getetag': {} }, syncLevel: 1, syncToken: token });
  assert.deepEqual(changes.map((c) => decodeURIComponent(String(c.href)).split('/').pop()), ['grace.vcf']);
  assert.equal(changes[0]!.status, 404);
});
