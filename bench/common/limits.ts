// Open-files limit of the benchmark process: read it, and re-run the benchmark under a raised
// `ulimit -n` when it is too low for many idle connections.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Soft/hard "Max open files" of this process. */
export function fileLimits(): { soft: number; hard: number } {
  try {
    const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    const n = (s?: string) => (s === 'unlimited' ? 1 << 20 : Number(s));
    if (m) return { soft: n(m[1]), hard: n(m[2]) };
  } catch { /* not Linux */ }
  return { soft: 1024, hard: 1024 };
}

export interface RaiseOptions {
  /** Environment variable marking the re-run (so it is not re-run again). */
  marker: string;
  /** Test named in the warning when the limit stays too low, e.g. 'the IDLE test'. */
  test: string;
  /** Shell that runs `ulimit -n` (default sh). */
  shell?: 'sh' | 'bash';
  /** As root, raise to at least this many (above the hard limit); otherwise min(hard, max(needed, 8192)). */
  rootAtLeast?: number;
}

/**
 * Makes sure this process may open `needed` descriptors: returns the soft limit when it is high
 * enough (or when already re-run), else re-runs this process under `ulimit -n` and exits with its status.
 */
export function ensureFileLimit(needed: number, o: RaiseOptions): number {
  const { soft, hard } = fileLimits();
  if (soft >= needed) return soft;
  if (process.env[o.marker]) {
    process.stderr.write(`warning: open files limit is ${soft} (need ${needed}); ${o.test} may fail\n`);
    return soft;
  }
  const target = o.rootAtLeast !== undefined && process.getuid?.() === 0 ? Math.max(needed, o.rootAtLeast) : Math.min(hard, Math.max(needed, 8192));
  const r = spawnSync(o.shell ?? 'sh', ['-c', `ulimit -n ${target} && exec "$0" "$@"`, process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    { stdio: 'inherit', env: { ...process.env, [o.marker]: '1' } });
  process.exit(r.status ?? 1);
}
