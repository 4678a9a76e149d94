// NAME ldap-client — one directory connection on ldapts: LDAPS or StartTLS (CA file, server
// name), a service bind, paged searches, reconnect with exponential backoff, and password
// verification by a separate simple bind (RFC 4513 §5.1) for bind-through logins.
// It must not build filters from raw input (callers use escape.ts), must not cache or log
// passwords, and must never report an unauthenticated bind (RFC 4513 §5.1.2: a bind with an
// empty password "succeeds" anonymously) as a successful login.
// RFCs: 4511 (protocol), 4513 (bind, StartTLS), 2696 (paged results), 4515/4514 (escape.ts).
// Password checks run on a small pool of TLS connections kept only for binds.
// BUGS: no SASL, no referral chasing (references are returned and ignored).
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Client, Control, InvalidCredentialsError, ResultCodeError, type Entry } from 'ldapts';

/** AD returns at most 1,000 entries a page (MaxPageSize); stay below it. */
export const MAX_PAGE_SIZE = 1000;
export const DEFAULT_PAGE_SIZE = 500;
/** Backoff after a failed connect: 0.5 s doubling to 30 s. */
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/**
 * Bind pool: a login on a warm TLS connection costs one bind round trip instead of a TCP and
 * TLS handshake plus the bind (most of a login's time on loopback). Idle connections are
 * closed after 60 s, well under AD's MaxConnIdleTime (900 s) and typical slapd idletimeouts.
 */
const DEFAULT_BIND_POOL = 4;
const BIND_POOL_IDLE_MS = 60_000;

export interface LdapClientOptions {
  url: string;
  bindDn: string;
  bindPassword: string;
  /** PEM CA certificates to trust (instead of the system store). */
  ca?: Buffer[];
  caFile?: string | null;
  /** TLS server name to check the certificate against (SNI), when the URL host differs. */
  servername?: string | null;
  startTls?: boolean;
  /** Per-operation timeout. */
  timeoutMs?: number;
  connectTimeoutMs?: number;
  pageSize?: number;
  /** Idle connections kept for password checks (0: a new connection per check). */
  bindPoolSize?: number;
  /** A pooled connection idle this long is closed. */
  bindPoolIdleMs?: number;
  now?: () => number;
}

/** The directory cannot be reached or refuses service now (network, TLS, busy, unavailable). */
export class DirectoryUnavailableError extends Error {
  constructor(message: string, readonly retryAt?: number) {
    super(message);
    this.name = 'DirectoryUnavailableError';
  }
}

/** An entry with lower-cased attribute names; values as strings, binary attributes as Buffers. */
export class LdapEntry {
  readonly attrs = new Map<string, string[]>();
  readonly bin = new Map<string, Buffer[]>();
  constructor(readonly dn: string) {}

  static from(e: Entry, binary: readonly string[]): LdapEntry {
    const out = new LdapEntry(e.dn);
    const bin = new Set(binary.map((b) => b.toLowerCase()));
    for (const [k, v] of Object.entries(e)) {
      if (k === 'dn') continue;
      const key = k.toLowerCase();
      const list = (Array.isArray(v) ? v : [v]) as Array<string | Buffer>;
      if (bin.has(key)) out.bin.set(key, list.map((x) => (Buffer.isBuffer(x) ? x : Buffer.from(x, 'utf8'))));
      else out.attrs.set(key, list.map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : x)));
    }
    return out;
  }

  all(name: string): string[] {
    return this.attrs.get(name.toLowerCase()) ?? [];
  }

  first(name: string): string | undefined {
    return this.all(name)[0];
  }

  buffer(name: string): Buffer | undefined {
    return this.bin.get(name.toLowerCase())?.[0];
  }
}

export interface SearchArgs {
  base: string;
  scope?: 'base' | 'one' | 'sub';
  filter: string;
  attributes: string[];
  /** Attributes to return as bytes (objectGUID). */
  binary?: string[];
  controls?: Control[];
  /** false for a single-entry search (rootDSE); default true (RFC 2696 paging). */
  paged?: boolean;
  sizeLimit?: number;
}

/** Result of a password check; `reason` is for logs only (never shown to the client). */
export type BindOutcome =
  | { ok: true }
  | { ok: false; kind: 'bad-credentials' | 'disabled' | 'locked' | 'expired' | 'must-change' | 'no-such-user' | 'refused'; reason: string };

/**
 * AD puts a Win32 error in the diagnostic message of result 49 (`… AcceptSecurityContext error,
 * data 52e, v…`). Maps it to a kind and a log reason; unknown sub-codes stay 'bad-credentials'.
 */
export function classifyBindFailure(message: string): Extract<BindOutcome, { ok: false }> {
  const m = /data ([0-9a-f]{3,8})\b/i.exec(message);
  const sub = m?.[1]?.toLowerCase();
  switch (sub) {
    case '52e': return { ok: false, kind: 'bad-credentials', reason: 'AD 52e: invalid password' };
    case '525': return { ok: false, kind: 'no-such-user', reason: 'AD 525: user not found' };
    case '530': return { ok: false, kind: 'refused', reason: 'AD 530: not permitted to log on at this time' };
    case '531': return { ok: false, kind: 'refused', reason: 'AD 531: not permitted to log on from this workstation' };
    case '532': return { ok: false, kind: 'expired', reason: 'AD 532: password expired' };
    case '533': return { ok: false, kind: 'disabled', reason: 'AD 533: account disabled' };
    case '701': return { ok: false, kind: 'expired', reason: 'AD 701: account expired' };
    case '773': return { ok: false, kind: 'must-change', reason: 'AD 773: user must change password' };
    case '775': return { ok: false, kind: 'locked', reason: 'AD 775: account locked out' };
    default: return { ok: false, kind: 'bad-credentials', reason: sub ? `AD ${sub}: invalid credentials` : 'invalid credentials (49)' };
  }
}

/**
 * Result codes that mean "try again later" rather than "no" (RFC 4511 §A.2). operationsError (1)
 * is here because Samba AD answers it under load (ldb_wait: a search the DC gave up on), where
 * the same request succeeds a moment later.
 */
const TRANSIENT_CODES = new Set([1 /* operationsError */, 51 /* busy */, 52 /* unavailable */, 3 /* timeLimitExceeded */, 80 /* other */]);
/** The server answered but could not serve the request now: worth a retry of the same request. */
const RETRY_CODES = new Set([1, 51, 52, 80]);
/** Retries of a whole search after such an answer, and the first pause (doubling). */
const SEARCH_RETRIES = 3;
const SEARCH_RETRY_MS = 200;

/** The server itself answered "busy / operations error" (as opposed to being unreachable). */
export function isServerBusy(e: unknown): boolean {
  const cause = e instanceof DirectoryUnavailableError ? (e as { cause?: unknown }).cause : e;
  return cause instanceof ResultCodeError && RETRY_CODES.has(cause.code);
}

/** True for failures where the directory was not reached or did not answer. */
export function isTransient(e: unknown): boolean {
  if (e instanceof DirectoryUnavailableError) return true;
  if (e instanceof ResultCodeError) return TRANSIENT_CODES.has(e.code);
  const err = e as NodeJS.ErrnoException & { message?: string };
  if (typeof err?.code === 'string') return true; // ECONNREFUSED, ECONNRESET, ETIMEDOUT, ERR_TLS_*, CERT_*
  return /timeout|timed out|connection|socket|closed|tls|certificate/i.test(String(err?.message ?? e));
}

export class LdapClient {
  private client: Client | null = null;
  private connecting: Promise<Client> | null = null;
  private failures = 0;
  private retryAt = 0;
  private readonly now: () => number;
  private readonly tlsOptions: ConnectionOptions;
  readonly secure: boolean;

  constructor(private readonly o: LdapClientOptions) {
    this.now = o.now ?? Date.now;
    const u = new URL(o.url);
    if (u.protocol !== 'ldap:' && u.protocol !== 'ldaps:') throw new Error(`directory url must be ldap:// or ldaps:// (got ${u.protocol})`);
    const ca = o.ca ?? (o.caFile ? [readFileSync(o.caFile)] : undefined);
    this.tlsOptions = { ...(ca ? { ca } : {}), ...(o.servername ? { servername: o.servername } : {}), minVersion: 'TLSv1.2' };
    this.secure = u.protocol === 'ldaps:' || Boolean(o.startTls);
  }

  get pageSize(): number {
    return Math.min(MAX_PAGE_SIZE, Math.max(1, this.o.pageSize ?? DEFAULT_PAGE_SIZE));
  }

  /** When the last connect failed, until when new attempts are refused (epoch ms; 0 = now). */
  get unavailableUntil(): number {
    return this.retryAt > this.now() ? this.retryAt : 0;
  }

  private newClient(): Client {
    return new Client({
      url: this.o.url,
      timeout: this.o.timeoutMs ?? 10_000,
      connectTimeout: this.o.connectTimeoutMs ?? 5_000,
      tlsOptions: this.tlsOptions,
      strictDN: false,
    });
  }

  /** Opens a connection (TLS as configured), without binding. */
  private async open(): Promise<Client> {
    const c = this.newClient();
    try {
      if (this.o.startTls && !this.o.url.startsWith('ldaps:')) await c.startTLS(this.tlsOptions);
      return c;
    } catch (e) {
      await c.unbind().catch(() => undefined);
      throw e;
    }
  }

  /** The bound service connection, reconnecting (with backoff) when needed. */
  private async service(): Promise<Client> {
    if (this.client?.isConnected && this.client.isBound) return this.client;
    if (this.connecting) return this.connecting;
    if (this.retryAt > this.now()) {
      throw new DirectoryUnavailableError(`directory ${this.o.url} unreachable; next attempt in ${this.retryAt - this.now()} ms`, this.retryAt);
    }
    this.connecting = (async () => {
      const old = this.client;
      this.client = null;
      await old?.unbind().catch(() => undefined);
      let c: Client | null = null;
      try {
        c = await this.open();
        if (!this.o.bindPassword) throw new Error('the service bind needs a password (an empty one is an anonymous bind)');
        await c.bind(this.o.bindDn, this.o.bindPassword);
        this.failures = 0;
        this.retryAt = 0;
        this.client = c;
        return c;
      } catch (e) {
        await c?.unbind().catch(() => undefined);
        this.failures++;
        this.retryAt = this.now() + Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (this.failures - 1));
        if (isTransient(e)) throw new DirectoryUnavailableError(`directory ${this.o.url} unreachable: ${(e as Error).message}`, this.retryAt);
        throw e;
      } finally {
        this.connecting = null;
      }
    })();
    return this.connecting;
  }

  /** Runs `fn` on the service connection; one transparent retry when a stale connection broke. */
  private async withService<T>(fn: (c: Client) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const c = await this.service();
      try {
        return await fn(c);
      } catch (e) {
        if (!isTransient(e)) throw e;
        if (this.client === c) {
          this.client = null;
          await c.unbind().catch(() => undefined);
        }
        if (attempt >= 1) throw Object.assign(new DirectoryUnavailableError(`directory ${this.o.url}: ${(e as Error).message}`), { cause: e });
      }
    }
  }

  /** All entries of a (paged) search; search references (referrals) are ignored. */
  async search(a: SearchArgs): Promise<LdapEntry[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        const out: LdapEntry[] = [];
        for await (const page of this.pages(a)) out.push(...page);
        return out;
      } catch (e) {
        // A DC under load answers some searches with busy / operations error: the whole search
        // (it was collected, not yet handed out) is sent again after a short pause.
        if (attempt >= SEARCH_RETRIES || !isServerBusy(e)) throw e;
        await new Promise((r) => setTimeout(r, SEARCH_RETRY_MS * 2 ** attempt));
      }
    }
  }

  /** Page by page, so a large directory never sits in memory twice. */
  async *pages(a: SearchArgs): AsyncGenerator<LdapEntry[]> {
    const binary = a.binary ?? [];
    // ldapts matches explicitBufferAttributes against the type as the server spells it.
    const explicit = binary.flatMap((b) => [b, b.toLowerCase()]);
    const opts = {
      scope: a.scope ?? 'sub', filter: a.filter, attributes: a.attributes, explicitBufferAttributes: explicit,
      sizeLimit: a.sizeLimit ?? 0,
    } as const;
    if (a.paged === false) {
      const r = await this.withService((c) => c.search(a.base, opts, a.controls));
      yield r.searchEntries.map((e) => LdapEntry.from(e, binary));
      return;
    }
    // A paged search cannot be resumed on a new connection, so a broken one fails the whole
    // search (the caller's next cycle starts over); only the initial connect is retried.
    const c = await this.service();
    try {
      for await (const page of c.searchPaginated(a.base, { ...opts, paged: { pageSize: this.pageSize } }, a.controls)) {
        yield page.searchEntries.map((e) => LdapEntry.from(e, binary));
      }
    } catch (e) {
      if (isTransient(e)) {
        if (this.client === c) this.client = null;
        await c.unbind().catch(() => undefined);
        throw Object.assign(new DirectoryUnavailableError(`directory ${this.o.url}: ${(e as Error).message}`), { cause: e });
      }
      throw e;
    }
  }

  /** Attributes of the root DSE (RFC 4512 §5.1). */
  async rootDse(attributes: string[]): Promise<LdapEntry> {
    const [e] = await this.search({ base: '', scope: 'base', filter: '(objectClass=*)', attributes, paged: false });
    if (!e) throw new DirectoryUnavailableError('root DSE not readable');
    return e;
  }

  /**
   * Checks a password by a simple bind as `dn` on a connection of the bind pool (TLS as
   * configured), never on the service connection, so the service identity never changes. An
   * empty password or DN is refused here, before any network I/O: to LDAP it would be an
   * anonymous bind that "succeeds". Throws DirectoryUnavailableError when the directory cannot
   * give an answer.
   */
  async verifyPassword(dn: string, password: string): Promise<BindOutcome> {
    if (!password || !dn || !dn.includes('=')) return { ok: false, kind: 'bad-credentials', reason: 'empty password or DN (would be an anonymous bind)' };
    if (this.retryAt > this.now()) throw new DirectoryUnavailableError(`directory ${this.o.url} unreachable`, this.retryAt);
    // A pooled connection may have been closed by the server while idle (AD drops idle LDAP
    // connections after MaxConnIdleTime): such a failure is retried once on a new connection.
    for (let attempt = 0; ; attempt++) {
      const pooled = attempt === 0 ? this.takeIdle() : null;
      let c: Client | null = pooled;
      try {
        c ??= await this.open();
        await c.bind(dn, password);
        this.release(c);
        return { ok: true };
      } catch (e) {
        if (e instanceof InvalidCredentialsError) {
          // A failed bind leaves the connection anonymous and usable (RFC 4511 §4.2.1).
          if (c) this.release(c);
          return classifyBindFailure(e.message);
        }
        if (c) await c.unbind().catch(() => undefined);
        if (isTransient(e)) {
          if (pooled) continue;
          throw new DirectoryUnavailableError(`directory ${this.o.url}: ${(e as Error).message}`);
        }
        if (e instanceof ResultCodeError) return { ok: false, kind: 'refused', reason: `bind refused: ${e.message}` };
        throw e;
      }
    }
  }

  // ---- the bind pool -------------------------------------------------------------------------
  // Connections used only for password checks: each check re-binds, so the identity a
  // connection is left with (the last user, or anonymous after a failure) is never relied on;
  // nothing else (no search) ever runs on them. One check at a time per connection, since a
  // bind must not overlap other operations on its connection (RFC 4511 §4.2.1).
  private readonly idle: Array<{ c: Client; since: number }> = [];
  private idleTimer: NodeJS.Timeout | null = null;
  private closed = false;

  private get poolSize(): number {
    return Math.max(0, this.o.bindPoolSize ?? DEFAULT_BIND_POOL);
  }

  private takeIdle(): Client | null {
    const cutoff = this.now() - (this.o.bindPoolIdleMs ?? BIND_POOL_IDLE_MS);
    while (this.idle.length) {
      const { c, since } = this.idle.pop()!;
      if (c.isConnected && since > cutoff) return c;
      void c.unbind().catch(() => undefined);
    }
    return null;
  }

  private release(c: Client): void {
    if (this.closed || this.idle.length >= this.poolSize || !c.isConnected) {
      void c.unbind().catch(() => undefined);
      return;
    }
    this.idle.push({ c, since: this.now() });
    if (!this.idleTimer) {
      const ms = this.o.bindPoolIdleMs ?? BIND_POOL_IDLE_MS;
      this.idleTimer = setInterval(() => this.reapIdle(), Math.max(1000, ms / 2));
      this.idleTimer.unref();
    }
  }

  /** Closes connections idle longer than bindPoolIdleMs (before the server drops them). */
  private reapIdle(): void {
    const cutoff = this.now() - (this.o.bindPoolIdleMs ?? BIND_POOL_IDLE_MS);
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const x = this.idle[i]!;
      if (x.since <= cutoff || !x.c.isConnected) {
        this.idle.splice(i, 1);
        void x.c.unbind().catch(() => undefined);
      }
    }
    if (!this.idle.length && this.idleTimer) {
      clearInterval(this.idleTimer);
      this.idleTimer = null;
    }
  }

  /** Connections now idle in the bind pool (for tests and status). */
  get idleBindConnections(): number {
    return this.idle.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.idleTimer = null;
    const pooled = this.idle.splice(0).map((x) => x.c);
    const c = this.client;
    this.client = null;
    await Promise.all([c, ...pooled].map((x) => x?.unbind().catch(() => undefined)));
  }
}

/** The show-deleted control (AD, 1.2.840.113556.1.4.417): tombstones appear in searches. */
export const SHOW_DELETED = (): Control => new Control('1.2.840.113556.1.4.417', { critical: true });
