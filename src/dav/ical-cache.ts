// A bounded cache of parsed calendar objects keyed by ETag (the ETag is a content hash, so a
// key never maps to two different texts). Time-range queries re-read the same recurring
// masters on every request; parsing them once keeps the query cost in the SQL prefilter.
// Must not: hand out components for callers to modify (expandObject clones before changing).
import { parseICalendar } from '../protocols/dav/icalendar.js';

const MAX_ENTRIES = 5000;
const cache = new Map<string, ReturnType<typeof parseICalendar>>();

export function parsedCalendar(etag: string, data: string): ReturnType<typeof parseICalendar> {
  const hit = cache.get(etag);
  if (hit) {
    cache.delete(etag);
    cache.set(etag, hit);
    return hit;
  }
  const v = parseICalendar(data);
  cache.set(etag, v);
  if (cache.size > MAX_ENTRIES) cache.delete(cache.keys().next().value!);
  return v;
}
