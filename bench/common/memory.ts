// Memory and CPU readings from /proc for the benchmarks: RSS/HWM, summed PSS of process trees,
// CPU seconds (including reaped children), process-tree walks.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** VmRSS / VmHWM of a process in KiB (null if it is gone). */
export function procMemKiB(pid: number): { rss: number; hwm: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const get = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0);
    return { rss: get('VmRSS'), hwm: get('VmHWM') };
  } catch {
    return null;
  }
}

/** Samples VmRSS of pid every intervalMs; stop() returns the peak seen (KiB). */
export function sampleRss(pid: number, intervalMs = 100): { stop(): number } {
  let peak = procMemKiB(pid)?.rss ?? 0;
  const t = setInterval(() => {
    const m = procMemKiB(pid);
    if (m && m.rss > peak) peak = m.rss;
  }, intervalMs);
  return {
    stop() {
      clearInterval(t);
      const m = procMemKiB(pid);
      if (m && m.rss > peak) peak = m.rss;
      return peak;
    },
  };
}

/** Proportional set size (KiB) summed over pids: shared pages counted once overall. */
export function pssKiB(pids: number[]): number {
  let sum = 0;
  for (const p of pids) {
    try {
      const s = readFileSync(`/proc/${p}/smaps_rollup`, 'utf8');
      sum += Number(/^Pss:\s+(\d+)/m.exec(s)?.[1] ?? 0);
    } catch { /* gone */ }
  }
  return sum;
}

export const mib = (kib: number) => (kib / 1024).toFixed(1);

const CLK_TCK = (() => {
  const n = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();

/**
 * CPU seconds (user+system) used by pids, including their reaped children (cutime/cstime), so
 * that the delta between two calls over a process tree covers workers that exited in between.
 */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const p of pids) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // after "(comm) ": state is f[0], utime f[11], stime f[12], cutime f[13], cstime f[14]
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch { /* gone */ }
  }
  return ticks / CLK_TCK;
}

/** pid and all its descendants, from /proc/<pid>/task/<tid>/children. */
export function descendants(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      for (const tid of readdirSync(`/proc/${out[i]}/task`)) {
        const kids = readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').trim();
        if (kids) out.push(...kids.split(/\s+/).map(Number));
      }
    } catch { /* gone */ }
  }
  return out;
}
