// HTTP Basic authentication (RFC 7617) for the DAV routes against the shared account model,
// with the instance-wide brute-force throttle: each failure counts against the IP and the account
// exactly as a POP3/IMAP/SMTP failure does, so enough of them ban the IP on every protocol
// (src/policy/guard.ts), and a banned IP is refused with 403 before any password is checked.
// A short in-memory cache of verified credentials (keyed by a hash of user+password) spares an
// argon2 verification on every request of a sync.
// Must not: log or keep the password; accept credentials over plain HTTP from non-loopback peers
// unless auth.allowPlaintextWithoutTls is set.
// BUGS: a password changed elsewhere keeps working for up to CACHE_TTL_MS on this process.
import { createHash } from 'node:crypto';
import type { Request } from 'express';
import type { AccountEntity } from '../../schemas/entities/index.js';
import type { App } from '../instance/app.js';
import { ServiceError } from '../services/errors.js';
import { clientOf } from '../http/forwarded.js';
import { HttpError } from './types.js';

export const REALM = 'Pochtamt';
const CACHE_TTL_MS = 60_000;
const CACHE_MAX = 10_000;

export const CHALLENGE = `Basic realm="${REALM}", charset="UTF-8"`;
const BANNED = 'Too many failed logins from your address, try again later';

/** Per instance (an account id means nothing in another instance's store). */
const caches = new WeakMap<App, Map<string, { accountId: number; until: number }>>();

function isLoopback(ip: string | undefined): boolean {
  return !!ip && (ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.'));
}

export async function authenticate(app: App, req: Request): Promise<AccountEntity> {
  const header = req.headers.authorization ?? '';
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) throw new HttpError(401, 'authentication required', undefined, { 'WWW-Authenticate': CHALLENGE });
  // The real client behind a trusted reverse proxy (src/http/forwarded.ts), else the peer.
  const { ip, secure } = clientOf(req, app.guard.trustedProxies);
  // src/http/http-app.ts refuses banned IPs already; checked here too so no route can skip it.
  if (app.guard.isBanned(ip)) throw new HttpError(403, BANNED, undefined, { Connection: 'close' });
  if (!secure && !isLoopback(ip) && !app.config.auth.allowPlaintextWithoutTls) {
    throw new HttpError(403, 'use HTTPS to log in');
  }
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new HttpError(401, 'bad credentials', undefined, { 'WWW-Authenticate': CHALLENGE });
  const user = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  let cache = caches.get(app);
  if (!cache) caches.set(app, (cache = new Map()));
  const key = createHash('sha256').update(user.toLowerCase()).update('\0').update(password).digest('base64');
  const hit = cache.get(key);
  if (hit && hit.until > Date.now()) {
    const acc = await app.accounts.getAccountById(hit.accountId);
    if (acc && acc.enabled && !acc.deletedAt) return acc;
    cache.delete(key);
  }
  const delay = Math.min(app.throttle.delayMs(ip, user), app.config.limits.authMaxDelaySeconds * 1000);
  if (delay > 0) {
    await new Promise((r) => setTimeout(r, delay));
    // Parallel requests of the same guesser may have got the IP banned meanwhile.
    if (app.guard.isBanned(ip)) throw new HttpError(403, BANNED, undefined, { Connection: 'close' });
  }
  try {
    const acc = await app.accounts.authenticate(user, password);
    app.throttle.success(ip, user);
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
    cache.set(key, { accountId: acc.id, until: Date.now() + CACHE_TTL_MS });
    return acc;
  } catch (e) {
    if (e instanceof ServiceError && (e.code === 'AUTH_FAILED' || e.code === 'DISABLED')) {
      app.throttle.failure(ip, user);
      app.log.warn({ event: 'dav.auth.failed', ip, user, reason: e.code }, 'DAV login failed');
      throw new HttpError(401, 'invalid credentials', undefined, { 'WWW-Authenticate': CHALLENGE });
    }
    throw e;
  }
}
