// Child processes for the benchmarks: commands run to completion (with or without a log file),
// long-running children with captured logs, pid helpers, log tails.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, openSync, readFileSync } from 'node:fs';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

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
