// Real directory servers for the directory tests, started by the project's own scripts in
// test/directory/fixtures (OpenLDAP slapd on 127.0.0.1:1389/1636, Samba AD DC on 389/636).
// When the binaries are missing the suites are skipped with a reason naming the Debian
// packages (.ci/run installs them). Also: an ldapts admin client, waitFor(), SMTP helpers.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import { Client } from 'ldapts';
import nodemailer from 'nodemailer';
import { AccountEntity, MailboxEntity } from '../../schemas/entities/index.js';
import { ServiceError } from '../../src/services/errors.js';
import type { TestInstance } from '../helpers/instance.js';

const run = promisify(execFile);
const here = path.dirname(new URL(import.meta.url).pathname);
// The scripts live in the source tree (test/directory/fixtures); compiled tests run from dist*/test/directory.
export const FIXTURES = [path.resolve(here, 'fixtures'), path.resolve(here, '../../../test/directory/fixtures')]
  .find((p) => existsSync(path.join(p, 'start-slapd.sh')))!;

const has = (bin: string) => ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((d) => existsSync(path.join(d, bin)));

export const SLAPD_SKIP: string | false = ['slapd', 'ldapadd', 'openssl', 'flock', 'ss'].every(has) ? false
  : 'OpenLDAP not installed (apt-get install slapd ldap-utils openssl iproute2 util-linux)';
export const SAMBA_SKIP: string | false = ['samba', 'samba-tool', 'ldapsearch', 'openssl'].every(has)
  && existsSync('/usr/share/samba/setup') ? false
  : 'Samba AD DC not installed (apt-get install samba-ad-dc samba-ad-provision ldap-utils openssl iproute2 util-linux)';

export type Env = Record<string, string>;
const parse = (s: string): Env => Object.fromEntries(s.trim().split('\n').filter((l) => l.includes('='))
  .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

export async function tempWorkdir(name: string): Promise<string> {
  return path.join(await mkdtemp(path.join(os.tmpdir(), 'pochtamt-dir-')), name);
}

export function startSlapd(workdir: string): Env {
  return parse(execFileSync(path.join(FIXTURES, 'start-slapd.sh'), [workdir], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', timeout: 60_000 }));
}
export function stopSlapd(workdir: string, purge = false): void {
  execFileSync(path.join(FIXTURES, 'stop-slapd.sh'), [workdir, ...(purge ? ['--purge'] : [])], { stdio: 'ignore', timeout: 30_000 });
}
export function startSamba(workdir: string): Env {
  return parse(execFileSync(path.join(FIXTURES, 'start-samba.sh'), [workdir], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', timeout: 180_000 }));
}
export function stopSamba(workdir: string, purge = false): void {
  execFileSync(path.join(FIXTURES, 'stop-samba.sh'), [workdir, ...(purge ? ['--purge'] : [])], { stdio: 'ignore', timeout: 30_000 });
}

/** samba-tool against the DC's sam.ldb (the running DC sees the change at once). */
export async function sambaTool(env: Env, ...args: string[]): Promise<string> {
  const { stdout } = await run('samba-tool', [...args, '-s', env.SAMBA_CONF!], { timeout: 60_000 });
  return stdout;
}

/** An admin connection for changing the directory from a test (over LDAPS). */
export async function adminClient(url: string, bindDn: string, password: string, caFile: string): Promise<Client> {
  const c = new Client({ url, tlsOptions: { ca: [readFileSync(caFile)] }, timeout: 10_000 });
  await c.bind(bindDn, password);
  return c;
}

export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 5000, stepMs = 50): Promise<{ value: T; ms: number }> {
  const start = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return { value: v as T, ms: Date.now() - start };
    } catch (e) {
      last = e;
    }
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** AUTH through the real submission listener; resolves to 'ok' or the SMTP reply code. */
export async function smtpLogin(port: number, user: string, pass: string): Promise<'ok' | number> {
  const t = nodemailer.createTransport({
    host: '127.0.0.1', port, secure: false, auth: { user, pass }, tls: { rejectUnauthorized: false },
    connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000,
  });
  try {
    await t.verify();
    return 'ok';
  } catch (e) {
    return (e as { responseCode?: number }).responseCode ?? -1;
  } finally {
    t.close();
  }
}

/** Sends one message to `to` through the MX listener (no AUTH). */
export async function sendMx(port: number, to: string, subject = 'directory test'): Promise<void> {
  const t = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, connectionTimeout: 10_000 });
  try {
    await t.sendMail({ from: 'sender@remote.test', to, subject, text: 'hello' });
  } finally {
    t.close();
  }
}

/**
 * AUTH PLAIN by hand on the submission listener (after STARTTLS), for credentials nodemailer
 * will not send (an empty password). Resolves to the reply code of AUTH.
 */
export async function rawAuthPlain(port: number, user: string, pass: string): Promise<number> {
  const net = await import('node:net');
  const tls = await import('node:tls');
  const plain = net.connect(port, '127.0.0.1');
  let sock: import('node:net').Socket = plain;
  let buf = '';
  let waiter: ((line: string) => void) | null = null;
  const onData = (d: Buffer) => {
    buf += d.toString('latin1');
    let i: number;
    while ((i = buf.indexOf('\r\n')) >= 0) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (l[3] === ' ' && waiter) { const w = waiter; waiter = null; w(l); }
    }
  };
  const reply = () => new Promise<string>((resolve) => { waiter = resolve; });
  plain.on('data', onData);
  plain.on('error', () => undefined);
  try {
    await reply();
    plain.write('EHLO test.example\r\n');
    await reply();
    plain.write('STARTTLS\r\n');
    await reply();
    plain.off('data', onData);
    sock = tls.connect({ socket: plain, rejectUnauthorized: false });
    sock.on('data', onData);
    sock.on('error', () => undefined);
    sock.write('EHLO test.example\r\n');
    await reply();
    sock.write(`AUTH PLAIN ${Buffer.from(`\0${user}\0${pass}`).toString('base64')}\r\n`);
    const l = await reply();
    return Number(l.slice(0, 3));
  } finally {
    sock.end('QUIT\r\n');
    sock.destroy();
  }
}

/** IMAP LOGIN through the real listener; resolves to 'ok' or the NO response code ('AUTHENTICATIONFAILED', 'UNAVAILABLE', …). */
export async function imapLogin(port: number, user: string, pass: string): Promise<string> {
  const { ImapFlow } = await import('imapflow');
  const c = new ImapFlow({ host: '127.0.0.1', port, secure: false, auth: { user, pass }, tls: { rejectUnauthorized: false }, logger: false });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.logout();
    return 'ok';
  } catch (e) {
    const x = e as { serverResponseCode?: string; authenticationFailed?: boolean; message?: string };
    return x.serverResponseCode ?? (x.authenticationFailed ? 'NO' : `error: ${x.message}`);
  } finally {
    c.close();
  }
}

/**
 * What the directory suites ask of the running instance (`inst()` is read at each call: the
 * instance is started in before()): the synced account, its INBOX's message count, and the
 * outcome of a login ('ok' or the ServiceError code).
 */
export function storeProbes(inst: () => TestInstance) {
  return {
    account: (address: string) => inst().app.store.em.findOneBy(AccountEntity, { address }),
    inboxCount: async (accountId: number) => (await inst().app.store.em.findOneBy(MailboxEntity, { accountId, name: 'INBOX' }))?.messageCount ?? -1,
    authCode: async (user: string, pass: string) => {
      try {
        await inst().app.accounts.authenticate(user, pass);
        return 'ok';
      } catch (e) {
        assert.ok(e instanceof ServiceError, `expected a ServiceError, got ${String(e)}`);
        return e.code;
      }
    },
  };
}
