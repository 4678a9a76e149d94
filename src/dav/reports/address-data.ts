// CARDDAV:address-data in REPORT answers (RFC 6352 §10.4): the versions we can produce, the
// supported-address-data precondition, and the per-answer conversion/property cut.
import { carddavCondition } from '../../protocols/dav/multistatus.js';
import type { AddressDataRequest } from '../../protocols/dav/requests.js';
import { convertVCard, selectVCardProps } from '../../protocols/dav/vcard-convert.js';
import { HttpError } from '../types.js';

export const VCARD_VERSIONS = ['3.0', '4.0'] as const;

/** RFC 6352 §8.6/§8.7 precondition CARDDAV:supported-address-data: a media type we can produce. */
export function checkAddressData(req: AddressDataRequest | null): void {
  if (!req) return;
  const ok = (req.contentType === 'text/vcard' || req.contentType === 'text/x-vcard')
    && (req.version === null || (VCARD_VERSIONS as readonly string[]).includes(req.version));
  if (!ok) throw new HttpError(403, `address-data ${req.contentType} ${req.version ?? ''} not supported`, carddavCondition('supported-address-data'));
}

/** The address-data value for a stored card: converted and/or cut as requested, else as stored. */
export function renderAddressData(data: string, req: AddressDataRequest | null | undefined): string {
  if (!req) return data;
  let out = req.version ? convertVCard(data, req.version as '3.0' | '4.0') : data;
  if (req.props) out = selectVCardProps(out, req.props);
  return out;
}

