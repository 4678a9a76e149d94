// Heap sizing for the long-running server (`pochtamt serve` / `start`), not for one-shot commands.
// V8 sets the old generation's next limit after each full collection from how fast the program
// allocated lately. After an idle spell (a quiet night, minutes between bursts) that rate is near
// zero, so the limit lands just above the live heap and the next burst of work runs one full
// collection after another until the estimate recovers: on the CalDAV benchmark's calendar a
// one-month query used 13–14 ms of CPU warm and 23–30 ms after 300 s idle (six full collections
// of 22–26 ms in its first second). A fixed growing factor keeps room for a burst, at the cost of
// an old generation up to twice its live size (tens of MB here). An operator's own
// `node --heap-growing-percent=N` wins (N = 0: V8's heuristic).
import v8 from 'node:v8';

export const SERVER_HEAP_GROWING_PERCENT = 100;

/** Returns the percent set, or null when the node command line already sets one. */
export function tuneServerHeap(execArgv: readonly string[] = process.execArgv): number | null {
  if (execArgv.some((a) => /^--heap[-_]growing[-_]percent\b/.test(a))) return null;
  v8.setFlagsFromString(`--heap-growing-percent=${SERVER_HEAP_GROWING_PERCENT}`);
  return SERVER_HEAP_GROWING_PERCENT;
}
