// CardDAV plugin (RFC 6352): addressbook-home-set on principals, address book properties,
// address-data on objects (returned as stored: 3.0 or 4.0), the read-only Global Address List,
// addressbook-query and addressbook-multiget, and PUT validation (valid-address-data,
// supported-address-data, no-uid-conflict, max-resource-size).
// address-data in REPORTs is converted to the vCard version the client names (RFC 6352
// §10.4: <address-data content-type="text/vcard" version="4.0"/>) and cut to the listed
// properties (<prop name="EMAIL"/>); see protocols/dav/vcard-convert.ts.
// Must not: rewrite stored vCards (conversion is per answer, on a copy).
import { carddavCondition } from '../../protocols/dav/multistatus.js';
import type { AddressDataRequest } from '../../protocols/dav/requests.js';
import { renderAddressData, VCARD_VERSIONS } from '../reports/address-data.js';
import { checkVCard } from '../../protocols/dav/vcard.js';
import { d, NS } from '../../protocols/dav/xml.js';
import { galCtag, galEntries } from '../gal.js';
import { addressbookMultiget } from '../reports/multiget.js';
import { addressbookQuery } from '../reports/addressbook-query.js';
import { HttpError, type DavPlugin, type LivePatch } from '../types.js';

export const MAX_VCARD_BYTES = 1024 * 1024;
const CARD = (l: string) => `{${NS.CARDDAV}}${l}`;
const REPORTS = [CARD('addressbook-query'), CARD('addressbook-multiget')];
export const carddavPlugin: DavPlugin = {
  name: 'carddav',
  features: ['addressbook'],
  reports: { [CARD('addressbook-query')]: addressbookQuery, [CARD('addressbook-multiget')]: addressbookMultiget },
  supportedReports(r) {
    const n = r.node;
    if (n.kind === 'gal' || (n.kind === 'collection' && n.collection.kind === 'addressbook')) return REPORTS;
    return [];
  },
  async propFind(ctx, r, pf) {
    const n = r.node;
    if (n.kind === 'principal') {
      pf.handle(CARD('addressbook-home-set'), [d('href', ctx.server.homeHref('addressbooks', n.account))]);
    } else if ((n.kind === 'collection' && n.collection.kind === 'addressbook') || n.kind === 'gal') {
      pf.handle(CARD('supported-address-data'), VCARD_VERSIONS.map((version) => ({ ns: NS.CARDDAV, local: 'address-data-type', attrs: { 'content-type': 'text/vcard', version } })));
      pf.handle(CARD('max-resource-size'), [String(MAX_VCARD_BYTES)]);
      if (n.kind === 'collection') {
        pf.handle(CARD('addressbook-description'), n.collection.description ? [n.collection.description] : null);
        pf.handle(`{${NS.CS}}getctag`, [String(n.collection.syncToken)]);
      } else {
        pf.handle(CARD('addressbook-description'), ['Everyone in the organisation (read-only)']);
        pf.handle(`{${NS.CS}}getctag`, async () => [galCtag(await galEntries(ctx.gw))]);
      }
    } else if (n.kind === 'object' && n.parent.collection.kind === 'addressbook') {
      const o = n.object;
      pf.handle(CARD('address-data'), async () => [renderAddressData(o.data ?? (await ctx.gw.getObject(n.parent.collection.id, o.name))?.data ?? '', pf.extras.addressData as AddressDataRequest | null | undefined)]);
    } else if (n.kind === 'gal-card') {
      pf.handle(CARD('address-data'), [renderAddressData(n.data, pf.extras.addressData as AddressDataRequest | null | undefined)]);
    }
  },
  propPatch(_ctx, r, op): LivePatch | undefined {
    const n = r.node;
    if (op.name !== CARD('addressbook-description')) return undefined;
    if (n.kind !== 'collection' || n.collection.kind !== 'addressbook' || n.access !== 'owner') return { status: 403 };
    const text = op.op === 'set' ? op.value.text.trim() : '';
    return { status: 200, apply: (p) => { p.description = text; } };
  },
  validatePut(_ctx, parent, _name, body, contentType) {
    if (parent.collection.kind !== 'addressbook') return undefined;
    const mime = contentType.split(';')[0]!.trim().toLowerCase();
    if (mime && !['text/vcard', 'text/x-vcard', 'text/directory', 'application/octet-stream'].includes(mime)) {
      throw new HttpError(415, `expected text/vcard, got ${mime}`, carddavCondition('supported-address-data'));
    }
    if (Buffer.byteLength(body) > MAX_VCARD_BYTES) throw new HttpError(403, 'vCard too large', carddavCondition('max-resource-size'));
    const res = checkVCard(body);
    if (!res.ok) throw new HttpError(res.condition === 'valid-address-data' ? 400 : 403, res.message, carddavCondition(res.condition));
    return {
      object: { data: body, contentType: `text/vcard; charset=utf-8${res.version === '4.0' ? '; version=4.0' : ''}`, uid: res.uid, componentType: 'VCARD', firstStart: null, lastEnd: null, recurring: false },
    };
  },
};
