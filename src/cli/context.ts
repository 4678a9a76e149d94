// Shared plumbing for CLI commands: which instance (--data or POCHTAMT_DATA), opening it,
// printing (--json or text), and turning expected errors into one line and a non-zero exit.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/config.js';
import { openApp, type App } from '../instance/app.js';
import { AddressError } from '../mail/address.js';
import { silentLogger } from '../observability/logger.js';
import { ServiceError } from '../services/errors.js';

export class UsageError extends Error {}

export function dataDirOf(cmd: Command): string {
  const opts = cmd.optsWithGlobals() as { data?: string };
  return path.resolve(opts.data ?? process.env.POCHTAMT_DATA ?? './data');
}

export async function withApp<T>(cmd: Command, fn: (app: App) => Promise<T>): Promise<T> {
  const dataDir = dataDirOf(cmd);
  const app = await openApp({ dataDir, config: loadConfig(dataDir), log: silentLogger });
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

export function wantsJson(cmd: Command): boolean {
  return Boolean((cmd.optsWithGlobals() as { json?: boolean }).json);
}

export function print(cmd: Command, value: unknown, text: () => string): void {
  process.stdout.write(wantsJson(cmd) ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
}

/** Passwords come from --password or, with --password-stdin, the first line of standard input. */
export function readPassword(opts: { password?: string; passwordStdin?: boolean }): string | undefined {
  if (opts.passwordStdin) {
    const line = readFileSync(0, 'utf8').split(/\r?\n/)[0] ?? '';
    if (!line) throw new UsageError('no password on standard input');
    return line;
  }
  return opts.password;
}

/** Sizes like 500M, 2G, 1024 (bytes). */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(s.trim());
  if (!m) throw new UsageError(`invalid size '${s}' (use e.g. 500M or 2G)`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as ''];
  return Math.round(Number(m[1]) * mult);
}

/** Durations like 30m, 2h, 7d, or an ISO date; returns epoch ms of "that long ago" / that date. */
export function parseSince(s: string, now = Date.now()): number {
  const m = /^(\d+)\s*([smhd])$/.exec(s.trim());
  if (m) return now - Number(m[1]) * { s: 1000, m: 60_000, h: 3600_000, d: 86400_000 }[m[2] as 's'];
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new UsageError(`invalid time '${s}' (use e.g. 2h, 7d or 2026-11-28T10:00)`);
  return t;
}

export function describeError(e: unknown): { message: string; code: number } | null {
  if (e instanceof ServiceError || e instanceof ConfigError || e instanceof AddressError) return { message: e.message, code: 1 };
  if (e instanceof UsageError) return { message: e.message, code: 2 };
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'EADDRINUSE') return { message: `a port is already in use: ${err.message}`, code: 1 };
  if (err?.code === 'EACCES') return { message: `permission denied: ${err.message}`, code: 1 };
  if (err?.code === 'ECONNREFUSED') return { message: `cannot connect: ${err.message}`, code: 1 };
  return null;
}
