// Cleanup registry shared by the benchmarks: steps run in reverse order, also on Ctrl-C /
// SIGTERM / SIGHUP; runMain() wraps a harness's main() so cleanup always runs.

type CleanupFn = () => Promise<void> | void;
const cleanups: Array<{ name: string; fn: CleanupFn }> = [];
let cleaning: Promise<void> | null = null;

/** Registers a cleanup step; steps run in reverse order of registration. Returns an unregister function. */
export function onCleanup(name: string, fn: CleanupFn): () => void {
  const entry = { name, fn };
  cleanups.push(entry);
  return () => {
    const i = cleanups.indexOf(entry);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

/** True once cleanup has started (e.g. after Ctrl-C): errors from the interrupted work are expected then. */
export const isCleaningUp = () => cleaning !== null;

export function runCleanups(): Promise<void> {
  if (cleaning) return cleaning;
  cleaning = (async () => {
    while (cleanups.length) {
      const { name, fn } = cleanups.pop()!;
      try {
        await fn();
      } catch (e) {
        process.stderr.write(`cleanup '${name}' failed: ${(e as Error).message}\n`);
      }
    }
  })();
  return cleaning;
}

export function installSignalHandlers(): void {
  let count = 0;
  const handler = (sig: NodeJS.Signals) => {
    count++;
    if (count > 1) {
      process.stderr.write(`\n${sig} again: exiting without finishing cleanup\n`);
      process.exit(130);
    }
    process.stderr.write(`\n${sig}: stopping servers and removing temporary files...\n`);
    void runCleanups().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  process.on('SIGHUP', handler);
}

/** Runs main(); reports a failure as "<label> failed: ..." (unless interrupted), then cleans up. */
export function runMain(label: string, main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    if (isCleaningUp()) return;
    process.stderr.write(`\n${label} failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }).finally(() => runCleanups());
}
