// A bounded cache of parsed calendar objects keyed by ETag (the ETag is a content hash, so a
// key never maps to two different texts). Time-range queries re-read the same recurring
// masters on every request; parsing them once keeps the query cost in the SQL prefilter.
// Bounded by entries and by the text size of the entries (a parsed object takes roughly 10-20
// times its text in memory), least recently used first out. Plain VEVENT time-range queries
// do not come here at all (they use the stored occurrences).
// Must not: hand out components for callers to modify (expandObject clones before changing).
import { parseICalendar } from '../protocols/dav/icalendar.js';

const MAX_ENTRIES = 2000;
/** Sum of the cached texts' lengths (characters). */
const MAX_TEXT = 4 * 1024 * 1024;
const cache = new Map<string, { v: ReturnType<typeof parseICalendar>; size: number }>();
let textSize = 0;

export function parsedCalendar(etag: string, data: string): ReturnType<typeof parseICalendar> {
  const hit = cache.get(etag);
  if (hit) {
    cache.delete(etag);
    cache.set(etag, hit);
    return hit.v;
  }
  const v = parseICalendar(data);
  if (data.length > MAX_TEXT / 4) return v; // too big to keep
  cache.set(etag, { v, size: data.length });
  textSize += data.length;
  while (cache.size > MAX_ENTRIES || textSize > MAX_TEXT) {
    const [k, e] = cache.entries().next().value!;
    cache.delete(k);
    textSize -= e.size;
  }
  return v;
}
