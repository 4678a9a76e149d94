// The directory servers of the benchmark, started and stopped by the project's own scripts in
// test/directory/fixtures (start-slapd.sh / start-samba.sh / stop-*.sh; not copied here), plus
// the bulk load (slapadd of a generated LDIF into the stopped slapd, or ldapadd) and the
// ldap-utils calls the benchmark times (ldapadd / ldapmodify as an administrator would run them).
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { onCleanup } from '../common/cleanup.js';
import { runLogged, sleep } from '../common/process.js';

const execFileP = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
/** The scripts stay in the source tree; this file runs from <root>/dist-something/bench/directory. */
export const FIXTURES = [path.resolve(here, '../../test/directory/fixtures'), path.resolve(here, '../../../test/directory/fixtures')]
  .find((p) => existsSync(path.join(p, 'start-slapd.sh'))) ?? null;

export type Env = Record<string, string>;
const parse = (s: string): Env => Object.fromEntries(s.trim().split('\n').filter((l) => l.includes('='))
  .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

const PATH = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;

async function script(name: string, args: string[], extraEnv: Env, timeoutMs: number): Promise<Env> {
  if (!FIXTURES) throw new Error('test/directory/fixtures not found next to the benchmark');
  try {
    const { stdout } = await execFileP(path.join(FIXTURES, name), args, { env: { ...process.env, PATH, ...extraEnv }, timeout: timeoutMs, maxBuffer: 1 << 20 });
    return parse(stdout);
  } catch (e) {
    const x = e as { stderr?: string; message: string };
    throw new Error(`${name} ${args.join(' ')} failed: ${(x.stderr ?? '').trim() || x.message}`);
  }
}

// ------------------------------------------------------------------ prerequisites

const has = (bin: string) => ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((d) => existsSync(path.join(d, bin)));

export const APT_LDAP = 'slapd ldap-utils openssl iproute2 util-linux';
export const APT_AD = 'samba-ad-dc samba-ad-provision ldap-utils openssl iproute2 util-linux';

/** Missing pieces for each server ([] when all is there). */
export function missing(kind: 'ldap' | 'ad'): string[] {
  const bins = kind === 'ldap' ? ['slapd', 'slapadd', 'slappasswd', 'slaptest', 'ldapadd', 'ldapmodify', 'ldapsearch', 'openssl', 'flock', 'ss']
    : ['samba', 'samba-tool', 'ldapadd', 'ldapmodify', 'ldapsearch', 'openssl', 'flock', 'ss'];
  const out = bins.filter((b) => !has(b));
  if (kind === 'ad' && !existsSync('/usr/share/samba/setup/ad-schema')) out.push('/usr/share/samba/setup (samba-ad-provision)');
  if (!FIXTURES) out.push('test/directory/fixtures (project scripts)');
  return out;
}

export function aptCommand(kind: 'ldap' | 'ad'): string {
  return `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${kind === 'ldap' ? APT_LDAP : APT_AD}`;
}

// ------------------------------------------------------------------ ports

/** Who listens on TCP port (ss line), or null when it is free. */
export async function portHolder(port: number): Promise<string | null> {
  try {
    const { stdout } = await execFileP('ss', ['-Hltnp', `sport = :${port}`], { env: { ...process.env, PATH } });
    return stdout.trim().split('\n')[0] || null;
  } catch {
    return null;
  }
}

/** Waits until none of the ports is held (another Samba DC, e.g. the test suite's); never touches the holder. */
export async function waitPortsFree(ports: number[], timeoutMs: number, say: (s: string) => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let told = 0;
  for (;;) {
    const held: string[] = [];
    for (const p of ports) {
      const h = await portHolder(p);
      if (h) held.push(`${p}: ${h.replace(/\s+/g, ' ')}`);
    }
    if (!held.length) return;
    if (Date.now() > deadline) throw new Error(`ports still in use after ${Math.round(timeoutMs / 1000)} s:\n  ${held.join('\n  ')}`);
    if (Date.now() - told > 30_000) {
      say(`  waiting for ports ${ports.join(', ')} (probably the test suite's Samba DC; retrying until it is gone):\n    ${held.join('\n    ')}`);
      told = Date.now();
    }
    await sleep(2000);
  }
}

// ------------------------------------------------------------------ OpenLDAP slapd

export interface Slapd {
  env: Env;
  workdir: string;
  port: number;
  tlsPort: number;
  ldapUrl: string;
  ldapsUrl: string;
}

/**
 * Provisions slapd through start-slapd.sh on the given ports (so it never clashes with the
 * test suite's slapd on 1389/1636), then, for 'slapadd', stops it, bulk-loads `ldifFile`
 * with `slapadd -q -w` (-w writes contextCSN, so the sync cursor is right) and starts it again
 * through the same script (its warm restart). For 'ldapadd' the LDIF goes in over LDAP.
 */
export async function startSlapdLoaded(workdir: string, port: number, tlsPort: number, ldifFile: string, mode: 'slapadd' | 'ldapadd',
  logFile: string, say: (s: string) => void): Promise<Slapd> {
  const extra = { SLAPD_PORT: String(port), SLAPD_TLS_PORT: String(tlsPort) };
  onCleanup('slapd', () => stopSlapd(workdir));
  let env = await script('start-slapd.sh', [workdir], extra, 60_000);
  const t0 = Date.now();
  if (mode === 'slapadd') {
    await stopSlapd(workdir);
    await runLogged('slapadd', ['-q', '-w', '-f', env.SLAPD_CONF!, '-l', ldifFile], logFile, { timeoutMs: 600_000 });
    env = await script('start-slapd.sh', [workdir], extra, 60_000);
  } else {
    await runLogged('ldapadd', ['-x', '-H', `ldap://127.0.0.1:${port}`, '-D', env.SLAPD_ADMIN_DN!, '-w', env.SLAPD_ADMIN_PASS!, '-f', ldifFile],
      logFile, { timeoutMs: 1_800_000 });
  }
  say(`  slapd: loaded with ${mode} in ${((Date.now() - t0) / 1000).toFixed(1)} s (pid ${env.SLAPD_PID}, ${env.SLAPD_LDAPS_URL})`);
  return { env, workdir, port, tlsPort, ldapUrl: env.SLAPD_URL!, ldapsUrl: env.SLAPD_LDAPS_URL! };
}

export async function stopSlapd(workdir: string): Promise<void> {
  if (FIXTURES) await script('stop-slapd.sh', [workdir], {}, 30_000);
}

// ------------------------------------------------------------------ Samba AD DC

export interface Samba {
  env: Env;
  workdir: string;
}

export async function startSamba(workdir: string, say: (s: string) => void): Promise<Samba> {
  onCleanup('samba', () => stopSamba(workdir));
  const t0 = Date.now();
  const env = await script('start-samba.sh', [workdir], {}, 300_000);
  say(`  samba: provisioned and started in ${((Date.now() - t0) / 1000).toFixed(1)} s (pid ${env.SAMBA_PID}, ${env.SAMBA_LDAPS_URL})`);
  return { env, workdir };
}

export async function stopSamba(workdir: string): Promise<void> {
  if (FIXTURES) await script('stop-samba.sh', [workdir], {}, 30_000);
}

// ------------------------------------------------------------------ ldap-utils

export interface Admin {
  url: string;
  bindDn: string;
  password: string;
  caFile: string;
}

/** ldapadd / ldapmodify as an administrator, LDIF on a file; resolves when the tool has exited. */
export async function ldapTool(tool: 'ldapadd' | 'ldapmodify', a: Admin, ldif: string, file: string, logFile?: string, timeoutMs = 120_000): Promise<void> {
  writeFileSync(file, ldif);
  const args = ['-x', '-H', a.url, '-D', a.bindDn, '-w', a.password, '-f', file];
  const env = { ...process.env, PATH, LDAPTLS_CACERT: a.caFile };
  if (logFile) {
    // runLogged has no env option; LDAPTLS_CACERT through env(1).
    await runLogged('env', [`LDAPTLS_CACERT=${a.caFile}`, tool, ...args], logFile, { timeoutMs });
    return;
  }
  try {
    await execFileP(tool, args, { env, timeout: timeoutMs, maxBuffer: 16 << 20 });
  } catch (e) {
    const x = e as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${tool} failed: ${(x.stderr ?? '').trim() || x.message}`);
  }
}
