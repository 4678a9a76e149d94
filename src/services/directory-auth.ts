// NAME directory-auth — bind-through logins for accounts that live in a directory: finds the
// account for a login (UPN user@REALM, or DOMAIN\sAMAccountName/uid; primary and alias addresses
// are found by AccountService) and verifies the password by binding as the user's DN (from the
// synced entry: no search first) on the connector's pool of TLS bind connections.
// Login cache (loginCacheSeconds, default 60, 0 = off): after a successful bind, an HMAC of
// DN and password under a key that exists only in this process's memory is kept with the
// entry's password stamp (connector.passwordStamp, read just before the bind). A later login
// with the same password is accepted without a bind only if the stamp read live from the
// directory is unchanged, so a password change, reset, disable or lockout takes effect at once;
// the DC still decides whenever anything changed, the entry looks disabled/locked/expired, or
// the directory is unreachable (then the login is TEMPORARY, as without the cache). A failed
// check drops the entry. The trade-off: a process memory dump within the TTL exposes HMACs
// (not passwords) that an attacker could try offline against candidate passwords.
// Must not: accept an empty password (an LDAP unauthenticated bind "succeeds", RFC 4513
// §5.1.2), treat an unreachable directory as success or as a reason to disable anyone.
// Errors: ServiceError AUTH_FAILED (wrong password, unknown user), DISABLED (disabled, locked),
// TEMPORARY (directory unreachable: SMTP 454, IMAP NO [UNAVAILABLE]).
// BUGS: throttling is left to the protocol listeners (AuthThrottle); no per-DN lockout guard.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { DirectoryEntryEntity, AccountEntity } from '../../schemas/entities/index.js';
import { dnKey } from '../../connectors/ldap/escape.js';
import { DirectoryUnavailableError, type BindOutcome } from '../../connectors/ldap/ldap-client.js';
import type { DirectoryConnector } from '../../connectors/ldap/directory-connector.js';
import type { Logger } from '../observability/logger.js';
import type { Store } from '../store/store.js';
import type { DirectoryLogin } from './account.service.js';
import { ServiceError } from './errors.js';

/** Longest login name looked up (a UPN is at most 320; DOMAIN\name far less). */
const MAX_LOGIN_CHARS = 512;

export interface DirectoryHandle {
  connector: DirectoryConnector;
  netbiosDomain: string;
  /** Successful checks kept this long (0: off). */
  loginCacheMs: number;
}

/** Most cached checks per process (oldest dropped first). */
const LOGIN_CACHE_MAX = 10_000;

/** Successful password checks, as HMACs under a per-process random key (never the password). */
export class LoginCache {
  private readonly key = randomBytes(32);
  private readonly map = new Map<string, { mac: Buffer; stamp: string; until: number }>();
  hits = 0;

  constructor(private readonly now: () => number = Date.now) {}

  private mac(dn: string, password: string): Buffer {
    return createHmac('sha256', this.key).update(dn).update('\0').update(password, 'utf8').digest();
  }

  /** The stamp stored with this DN and password, or null (absent, expired, other password). */
  stampFor(dnKey: string, dn: string, password: string): string | null {
    const e = this.map.get(dnKey);
    if (!e) return null;
    if (e.until <= this.now()) {
      this.map.delete(dnKey);
      return null;
    }
    return timingSafeEqual(e.mac, this.mac(dn, password)) ? e.stamp : null;
  }

  put(dnKey: string, dn: string, password: string, stamp: string, ttlMs: number): void {
    this.map.delete(dnKey);
    if (this.map.size >= LOGIN_CACHE_MAX) this.map.delete(this.map.keys().next().value!);
    this.map.set(dnKey, { mac: this.mac(dn, password), stamp, until: this.now() + ttlMs });
  }

  forget(dnKey: string): void {
    this.map.delete(dnKey);
  }

  get size(): number {
    return this.map.size;
  }
}

export class DirectoryAuthenticator implements DirectoryLogin {
  readonly cache = new LoginCache();

  constructor(
    private readonly store: Store,
    private readonly directories: () => Map<string, DirectoryHandle>,
    private readonly log: Logger,
  ) {}

  /** The directory account a non-address login names (UPN or DOMAIN\name), or null. */
  async findAccount(login: string): Promise<AccountEntity | null> {
    if (!login || login.length > MAX_LOGIN_CHARS || /[\u0000-\u001f\u007f]/.test(login)) return null;
    const em = this.store.em;
    let entry: DirectoryEntryEntity | null = null;
    const bs = login.indexOf('\\');
    if (bs > 0) {
      const domain = login.slice(0, bs).toUpperCase();
      const name = login.slice(bs + 1).toLowerCase();
      if (!name) return null;
      for (const [id, h] of this.directories()) {
        if (h.netbiosDomain.toUpperCase() !== domain) continue;
        entry = await em.findOneBy(DirectoryEntryEntity, { directoryId: id, login: name, kind: 'user' });
        if (entry) break;
      }
    } else if (login.includes('@')) {
      const rows = await em.findBy(DirectoryEntryEntity, { upn: login.toLowerCase(), kind: 'user' });
      if (rows.length === 1) entry = rows[0]!; // the same UPN in two directories is ambiguous: no login
    }
    if (!entry?.accountId || entry.deletedAt) return null;
    return em.findOneBy(AccountEntity, { id: entry.accountId });
  }

  async authenticate(acc: AccountEntity, password: string): Promise<AccountEntity> {
    const fail = (reason: string, code: 'AUTH_FAILED' | 'DISABLED' = 'AUTH_FAILED'): never => {
      this.log.info({ event: 'directory.auth.failed', directory: acc.directoryId, user: acc.address, reason }, 'directory login refused');
      throw new ServiceError(code, code === 'DISABLED' ? 'account disabled' : 'invalid credentials');
    };
    const h = acc.directoryId ? this.directories().get(acc.directoryId) : undefined;
    if (!h) return fail(`directory ${acc.directoryId} is not configured`);
    if (!password) return fail('empty password (never sent to the directory: it would be an anonymous bind)');
    const entry = await this.store.em.findOneBy(DirectoryEntryEntity, { directoryId: acc.directoryId!, externalId: acc.externalId! });
    if (!entry || entry.deletedAt) return fail('no directory entry for the account');
    let outcome: BindOutcome;
    const key = `${acc.directoryId}\0${entry.dnKey}`;
    try {
      let stamp: string | null = null;
      if (h.loginCacheMs > 0) {
        // Read before the bind: a change between the two then shows up as a different stamp.
        stamp = await h.connector.passwordStamp(entry.dn).catch(() => null);
        const cached = this.cache.stampFor(key, entry.dn, password);
        if (cached !== null && stamp !== null && cached === stamp) {
          this.cache.hits++;
          if (!acc.enabled || acc.deletedAt) return fail('account disabled in Pochtamt (directory sync)', 'DISABLED');
          return acc;
        }
      }
      outcome = await h.connector.verifyPassword(entry.dn, password);
      if (outcome.ok && stamp !== null) this.cache.put(key, entry.dn, password, stamp, h.loginCacheMs);
      if (!outcome.ok) this.cache.forget(key);
      if (!outcome.ok && (outcome.kind === 'bad-credentials' || outcome.kind === 'no-such-user')) {
        // Renamed or moved since the last sync? Look the stable id up and try its current DN.
        const current = await h.connector.dnOf(entry.externalId);
        if (current && dnKey(current) !== entry.dnKey) {
          outcome = await h.connector.verifyPassword(current, password);
          await this.store.write(({ em }) => em.update(DirectoryEntryEntity, { id: entry.id }, { dn: current, dnKey: dnKey(current).slice(0, 1024) }));
        }
      }
    } catch (e) {
      if (e instanceof DirectoryUnavailableError) {
        this.log.warn({ event: 'directory.auth.unavailable', directory: acc.directoryId, user: acc.address, err: e.message }, 'directory unreachable');
        throw new ServiceError('TEMPORARY', 'directory temporarily unavailable');
      }
      throw e;
    }
    if (!outcome.ok) return fail(outcome.reason, outcome.kind === 'disabled' || outcome.kind === 'locked' ? 'DISABLED' : 'AUTH_FAILED');
    if (!acc.enabled || acc.deletedAt) return fail('account disabled in Pochtamt (directory sync)', 'DISABLED');
    return acc;
  }
}
