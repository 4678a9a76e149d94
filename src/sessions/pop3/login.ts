// Verifies credentials for USER/PASS and AUTH PLAIN alike, then locks and snapshots the
// maildrop and enters TRANSACTION (RFC 1939 §4). The reply to a failed attempt is held back by
// the shared AuthThrottle, so guessing is as slow over POP3 as over SMTP.
// Must not log passwords. Response codes: RFC 3206 [AUTH] for refused credentials (and for a
// disabled account: the user must act, a retry will not help), [SYS/TEMP] for a backend
// failure, RFC 2449 [IN-USE] when another session holds the maildrop.
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceError } from '../../services/errors.js';
import { Maildrop } from './maildrop.js';
import type { Pop3Context, Pop3Result } from './types.js';

/** Failed logins on one connection before it is closed (the throttle slows each one further). */
export const MAX_AUTH_FAILURES_PER_CONNECTION = 5;

export async function login(ctx: Pop3Context, username: string, password: string, mechanism: 'USER' | 'PLAIN'): Promise<Pop3Result> {
  const { accounts, throttle, locks, mailStore, log } = ctx.deps;
  const ip = ctx.remoteAddress;
  const delay = Math.min(throttle.delayMs(ip, username), ctx.deps.maxAuthDelayMs);
  if (delay > 0) await sleep(delay);
  if (ctx.closed) return { kind: 'err', text: 'connection closed' };

  let account;
  try {
    account = await accounts.authenticate(username, password);
  } catch (e) {
    if (!(e instanceof ServiceError)) {
      log.error({ event: 'pop3.auth.error', ip, user: username, err: (e as Error).message }, 'authentication backend error');
      return { kind: 'err', code: 'SYS/TEMP', text: 'Temporary authentication failure, try again later' };
    }
    if (e.code === 'TEMPORARY') {
      log.warn({ event: 'pop3.auth.failed', ip, user: username, mechanism, reason: e.code }, 'temporary auth failure');
      return { kind: 'err', code: 'SYS/TEMP', text: 'Temporary authentication failure, try again later' };
    }
    throttle.failure(ip, username);
    ctx.authFailures++;
    log.warn({ event: 'pop3.auth.failed', ip, user: username, mechanism, reason: e.code }, 'auth failed');
    const tooMany = ctx.authFailures >= MAX_AUTH_FAILURES_PER_CONNECTION;
    return { kind: 'err', code: 'AUTH', text: tooMany ? 'Authentication failed, closing connection' : 'Authentication failed',
      after: tooMany ? 'close' : undefined };
  }
  throttle.success(ip, username);
  if (ctx.closed) return { kind: 'err', text: 'connection closed' };

  if (!locks.acquire(account.id)) {
    log.info({ event: 'pop3.maildrop.locked', ip, user: account.address }, 'maildrop in use');
    return { kind: 'err', code: 'IN-USE', text: 'Maildrop already locked by another session' };
  }
  let maildrop: Maildrop;
  try {
    maildrop = await Maildrop.open(mailStore, account.id);
  } catch (e) {
    locks.release(account.id);
    log.error({ event: 'pop3.maildrop.error', ip, user: account.address, err: (e as Error).message }, 'cannot open maildrop');
    return { kind: 'err', code: 'SYS/TEMP', text: 'Cannot open maildrop, try again later' };
  }
  // The client may have gone while the snapshot was read: then nobody would release the lock.
  if (ctx.closed) {
    locks.release(account.id);
    return { kind: 'err', text: 'connection closed' };
  }
  ctx.maildrop = maildrop;
  ctx.user = account.address;
  ctx.pendingUser = null;
  ctx.state = 'TRANSACTION';
  const { count, octets } = maildrop.stat();
  log.info({ event: 'pop3.auth.succeeded', ip, user: account.address, mechanism, messages: count }, 'login');
  return { kind: 'ok', text: `Logged in, ${count} messages (${octets} octets)` };
}
