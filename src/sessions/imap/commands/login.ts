// LOGIN (RFC 9051 §6.2.3) and the login step shared with AUTHENTICATE: refused before TLS
// unless plaintext is allowed (LOGINDISABLED), slowed by the shared AuthThrottle after
// failures, and the connection is closed after MAX_AUTH_FAILURES. Never logs the password.
// Response codes: [AUTHENTICATIONFAILED], [UNAVAILABLE], [PRIVACYREQUIRED], [LIMIT] when the
// account has limits.imapConnectionsPerAccount sessions already (RFC 5530).
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceError } from '../../../services/errors.js';
import type { ImapSession } from '../session.js';
import { no, ok, type CommandHandler, type CommandResult } from '../types.js';

export const MAX_AUTH_FAILURES = 5;

export async function completeLogin(s: ImapSession, username: string, password: string, mechanism: string): Promise<CommandResult> {
  const { app } = s.deps;
  const ip = s.remoteAddress;
  const delay = Math.min(app.throttle.delayMs(ip, username), app.config.limits.authMaxDelaySeconds * 1000);
  if (delay > 0) await sleep(delay);
  let account;
  try {
    account = await app.accounts.authenticate(username, password);
  } catch (e) {
    if (e instanceof ServiceError && e.code === 'TEMPORARY') return no('Temporary authentication failure', 'UNAVAILABLE');
    if (!(e instanceof ServiceError)) {
      s.log.error({ event: 'imap.auth.error', ip, err: (e as Error).message }, 'auth backend error');
      return no('Temporary authentication failure', 'UNAVAILABLE');
    }
    app.throttle.failure(ip, username);
    s.authFailures++;
    s.log.warn({ event: 'imap.auth.failed', ip, user: username, mechanism, reason: e.code }, 'auth failed');
    const r = no(e.code === 'DISABLED' ? 'Account disabled' : 'Invalid credentials', 'AUTHENTICATIONFAILED');
    return s.authFailures >= MAX_AUTH_FAILURES ? { ...r, after: 'close' } : r;
  }
  app.throttle.success(ip, username);
  if (!s.loggedIn({ id: account.id, address: account.address })) {
    s.log.warn({ event: 'imap.auth.limit', ip, user: account.address, max: app.config.limits.imapConnectionsPerAccount }, 'too many sessions');
    return no('Too many connections for this account', 'LIMIT');
  }
  s.log.info({ event: 'imap.auth.succeeded', ip, user: account.address, mechanism }, 'login');
  return ok('Logged in', `CAPABILITY ${s.capabilities().join(' ')}`);
}

export const login: CommandHandler = async (s, _req, args) => {
  const user = args.astring('user name');
  const pass = args.astring('password');
  args.end();
  if (!s.plaintextAllowed) return no('Use STARTTLS first', 'PRIVACYREQUIRED');
  return completeLogin(s, user, pass, 'LOGIN');
};
