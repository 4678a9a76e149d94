// Small process/file helpers for the SMTP benchmark: a cleanup registry that also runs on
// Ctrl-C, child processes with captured logs, port waiting, RSS sampling.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- cleanup registry

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

// ---------------------------------------------------------------- processes

export function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  const out = r.stdout.trim();
  return r.status === 0 && out ? out : null;
}

/** Runs a command to completion; throws with its output if it fails. */
export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; allowFail?: boolean; timeoutMs?: number } = {}): { code: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 120_000 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const code = r.status ?? -1;
  if (code !== 0 && !opts.allowFail) {
    throw new Error(`${cmd} ${args.join(' ')} failed (exit ${code}${r.error ? `, ${r.error.message}` : ''}):\n${out.trim()}`);
  }
  return { code, out };
}

/**
 * Runs a command to completion without blocking the event loop (so Ctrl-C still works), its
 * output going to logFile rather than a pipe: daemons that fork keep inherited descriptors,
 * and a pipe would then never reach end-of-file.
 */
export async function runLogged(cmd: string, args: string[], logFile: string, opts: { allowFail?: boolean; timeoutMs?: number } = {}): Promise<number> {
  appendFileSync(logFile, `$ ${cmd} ${args.join(' ')}\n`);
  const child = spawnLogged(cmd, args, logFile);
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  const code = (await child.exited) ?? -1;
  clearTimeout(timer);
  if (code !== 0 && !opts.allowFail) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${code}):\n${tail(logFile, 15)}`);
  return code;
}

export interface Child {
  proc: ChildProcess;
  logFile: string;
  exited: Promise<number | null>;
  exitCode: number | null | undefined;
}

/** Spawns a long-running child with stdout+stderr appended to logFile. */
export function spawnLogged(cmd: string, args: string[], logFile: string, opts: SpawnOptions = {}): Child {
  const fd = openSync(logFile, 'a');
  const proc = spawn(cmd, args, { ...opts, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const child: Child = { proc, logFile, exitCode: undefined, exited: null as unknown as Promise<number | null> };
  child.exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => {
      child.exitCode = code ?? (signal ? 128 : null);
      resolve(child.exitCode);
    });
    proc.once('error', (e) => {
      child.exitCode = -1;
      try { appendFileSync(logFile, `spawn error: ${e.message}\n`); } catch { /* ignore */ }
      resolve(-1);
    });
  });
  return child;
}

/** SIGTERM, then SIGKILL after graceMs if the process is still there. */
export async function stopChild(child: Child, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== undefined) return;
  child.proc.kill('SIGTERM');
  const t = setTimeout(() => { if (child.exitCode === undefined) child.proc.kill('SIGKILL'); }, graceMs);
  await child.exited;
  clearTimeout(t);
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Signals pid and waits for it to disappear (SIGKILL after graceMs). */
export async function killPid(pid: number, graceMs = 10_000): Promise<void> {
  if (!pidAlive(pid)) return;
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  const deadline = Date.now() + graceMs;
  while (pidAlive(pid) && Date.now() < deadline) await sleep(50);
  if (pidAlive(pid)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    while (pidAlive(pid)) await sleep(20);
  }
}

export async function waitForPid(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pidAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

export function readPidFile(file: string): number | null {
  if (!existsSync(file)) return null;
  const n = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
  return Number.isFinite(n) && n > 0 ? n : null;
}

export function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// ---------------------------------------------------------------- network

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Waits until host:port answers with an SMTP/LMTP 220 greeting. */
export async function waitForGreeting(port: number, timeoutMs: number, isDead?: () => boolean, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = 'timeout';
  while (Date.now() < deadline) {
    if (isDead?.()) throw new Error('process exited before it was listening');
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, host);
      let buf = '';
      const done = (v: boolean) => { s.destroy(); resolve(v); };
      s.setTimeout(3000, () => { lastErr = 'no greeting'; done(false); });
      s.on('data', (d) => { buf += d.toString('latin1'); if (buf.includes('\n')) { if (!buf.startsWith('220')) lastErr = buf.trim(); done(buf.startsWith('220')); } });
      s.on('error', (e) => { lastErr = e.message; done(false); });
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing greets on 127.0.0.1:${port} (${lastErr})`);
}

// ---------------------------------------------------------------- memory

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

/** Descendant pids of pid (including pid), from /proc. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  try {
    for (const e of spawnSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' }).stdout.split('\n')) {
      const [p, pp] = e.trim().split(/\s+/).map(Number);
      if (!p || pp === undefined) continue;
      if (!children.has(pp)) children.set(pp, []);
      children.get(pp)!.push(p);
    }
  } catch { /* no ps */ }
  const out: number[] = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
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
