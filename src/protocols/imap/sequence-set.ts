// IMAP sequence sets ("1:3,5,7:*", RFC 9051 §9 sequence-set) and their compact wire form.
// "*" is the largest number in use; "$" (RFC 5182 SEARCHRES) is resolved by the caller.
// Pure: no I/O.

export interface SeqRange { from: number; to: number }
/** `Infinity` stands for "*" until resolved against the mailbox. */
export type SequenceSet = SeqRange[];

const NUM = /^[1-9][0-9]{0,9}$/;
const MAX = 0xffffffff;

/** Parses a sequence set; returns null when it is not one. */
export function parseSequenceSet(text: string): SequenceSet | null {
  if (!text || text.length > 64 * 1024) return null;
  const out: SequenceSet = [];
  for (const part of text.split(',')) {
    const bounds = part.split(':');
    if (bounds.length > 2) return null;
    const nums: number[] = [];
    for (const b of bounds) {
      if (b === '*') nums.push(Infinity);
      else if (NUM.test(b) && Number(b) <= MAX) nums.push(Number(b));
      else return null;
    }
    const [a, z = a] = nums as [number, number?];
    out.push({ from: Math.min(a, z!), to: Math.max(a, z!) });
  }
  return out;
}

/** Does the set contain n, with "*" meaning `max`? */
export function setContains(set: SequenceSet, n: number, max: number): boolean {
  for (const r of set) {
    const from = r.from === Infinity ? max : r.from;
    const to = r.to === Infinity ? max : r.to;
    if (n >= Math.min(from, to) && n <= Math.max(from, to)) return true;
  }
  return false;
}

/** Members of `sorted` (ascending) that the set contains; "*" is the last member. */
export function selectFrom(set: SequenceSet, sorted: readonly number[]): number[] {
  const max = sorted.length ? sorted[sorted.length - 1]! : 0;
  if (set.length === 1) {
    // The common case (1:*, a single range) without scanning every member.
    const r = set[0]!;
    const from = r.from === Infinity ? max : r.from;
    const to = r.to === Infinity ? max : r.to;
    const lo = Math.min(from, to);
    const hi = Math.max(from, to);
    return sorted.slice(lowerBound(sorted, lo), lowerBound(sorted, hi + 1));
  }
  return sorted.filter((n) => setContains(set, n, max));
}

export function lowerBound(sorted: readonly number[], n: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < n) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Compact wire form of a list of numbers: [1,2,3,5] -> "1:3,5". Empty input gives "". */
export function formatSequenceSet(nums: readonly number[]): string {
  const sorted = [...new Set(nums)].sort((a, b) => a - b);
  return formatRuns(sorted);
}

/** Like formatSequenceSet but keeps the given order (COPYUID pairs source and destination by position). */
export function formatOrdered(nums: readonly number[]): string {
  return formatRuns(nums);
}

function formatRuns(nums: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < nums.length;) {
    let j = i;
    while (j + 1 < nums.length && nums[j + 1] === nums[j]! + 1) j++;
    parts.push(j === i ? String(nums[i]) : `${nums[i]}:${nums[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
