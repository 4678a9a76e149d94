// Command-line and work-folder scaffolding shared by the benchmark runners: `--flag value` /
// `--flag=value` parsing with environment fallbacks, and the temporary work folder.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { onCleanup } from './cleanup.js';

export interface FlagSpec {
  known: string[];
  /** Flags without a value. */
  booleans: string[];
  /** Flags whose value may be left out (then they read as `true`). */
  optionalValue?: string[];
  help: string;
}

export interface Flags {
  get(flag: string): string | true | undefined;
  /** The flag's value, else the environment variable's, else def. */
  str(flag: string, envName: string, def: string): string;
  num(flag: string, envName: string, def: number, min: number, integer?: boolean): number;
  int(flag: string, envName: string, def: number, min: number): number;
  /** Flag given, or the environment variable is 1/true/yes. */
  bool(flag: string, envName: string): boolean;
}

/** Parses argv; prints the help and exits on --help; throws on unknown or incomplete options. */
export function parseFlags(argv: string[], env: NodeJS.ProcessEnv, spec: FlagSpec): Flags {
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument '${a}'\n\n${spec.help}`);
    const [k, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
    if (!spec.known.includes(k)) throw new Error(`unknown option --${k}\n\n${spec.help}`);
    if (spec.booleans.includes(k)) flags.set(k, true);
    else if (inline !== undefined) flags.set(k, inline);
    else if (spec.optionalValue?.includes(k) && (i + 1 >= argv.length || argv[i + 1]!.startsWith('--'))) flags.set(k, true);
    else if (i + 1 < argv.length) flags.set(k, argv[++i]!);
    else throw new Error(`--${k} needs a value`);
  }
  if (flags.has('help')) {
    process.stdout.write(spec.help);
    process.exit(0);
  }
  const str = (flag: string, envName: string, def: string) => {
    const f = flags.get(flag);
    return typeof f === 'string' ? f : env[envName] ?? def;
  };
  const num = (flag: string, envName: string, def: number, min: number, integer = true) => {
    const v = Number(str(flag, envName, String(def)));
    if (!Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) throw new Error(`--${flag}/${envName} must be ${integer ? 'an integer' : 'a number'} >= ${min}`);
    return v;
  };
  return {
    get: (flag) => flags.get(flag),
    str,
    num,
    int: (flag, envName, def, min) => num(flag, envName, def, min),
    bool: (flag, envName) => flags.get(flag) === true || /^(1|true|yes)$/i.test(env[envName] ?? ''),
  };
}

/** A fresh world-readable temporary folder, removed at cleanup (kept, and reported, with keep). */
export function makeWorkDir(prefix: string, keep: boolean, say: (s: string) => void): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  chmodSync(dir, 0o755);
  onCleanup('temporary folder', () => {
    if (keep) say(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}
