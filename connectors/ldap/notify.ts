// NAME notify — Active Directory change notification: one persistent search with
// LDAP_SERVER_NOTIFICATION_OID (1.2.840.113556.1.4.528, MS-ADTS §3.1.1.3.4.1.9) on its own
// service-bound TLS connection. The DC answers nothing until an object in scope changes, then
// sends a SearchResultEntry with the request's message id, and never a SearchResultDone.
// AD's rules for the request: filter exactly (objectClass=*); scope base or one-level, or
// subtree only when the base is the head of a naming context (so: the defaultNamingContext);
// at most five such searches per connection. Deleted objects are reported with isDeleted TRUE
// and a DN under CN=Deleted Objects (AD does so by itself; Samba only when the search also
// carries the show-deleted control, so it is sent, non-critical).
// This only says "something changed"; what changed is read by the normal incremental sync
// (uSNChanged cursor), so a lost or duplicated notification costs a late or an extra sync,
// never a wrong state.
// ldapts has no streaming search API: it collects SearchResultEntry messages per message id
// until SearchResultDone. We listen on its message parser for entries of our search and empty
// the collected list each time, so nothing accumulates. This reaches into two private fields
// of ldapts' Client (messageParser, messageDetailsByMessageId); if a future ldapts renames them,
// start() fails with a clear error and the caller keeps polling.
// Samba 4 also implements the control: it re-runs pending notification searches right after
// any change made over LDAP, and every 5 s otherwise (changes written straight into sam.ldb,
// e.g. by `samba-tool -s`).
import type { EventEmitter } from 'node:events';
import { Client, Control, SearchEntry } from 'ldapts';
import { dnKey } from './escape.js';
import { isTransient, LdapEntry, type LdapClientOptions } from './ldap-client.js';

export const NOTIFICATION_OID = '1.2.840.113556.1.4.528';
const SHOW_DELETED_OID = '1.2.840.113556.1.4.417';

export type NotifyState = 'off' | 'starting' | 'active' | 'refused' | 'down';

export interface NotifierOptions extends LdapClientOptions {
  /** DNs whose subtrees matter (user and group bases); other changes are ignored. */
  scopes: string[];
  onChange: (e: { dn: string; deleted: boolean; usn: string | null }) => void;
  /** Called on every state change (active → down after a drop, refused, …) with a reason. */
  onState: (state: NotifyState, reason: string | null) => void;
}

interface ClientInternals {
  messageParser: EventEmitter;
  messageDetailsByMessageId: Map<string, { message: unknown; searchEntries?: unknown[] }>;
}

/** Reconnect pause after a drop: 2 s doubling to 60 s. */
const RETRY_MIN_MS = 2000;
const RETRY_MAX_MS = 60_000;

export class ChangeNotifier {
  private client: Client | null = null;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private failures = 0;
  private _state: NotifyState = 'off';
  private readonly scopeKeys: string[];

  constructor(private readonly o: NotifierOptions) {
    this.scopeKeys = o.scopes.map((s) => dnKey(s));
  }

  get state(): NotifyState {
    return this._state;
  }

  private set(state: NotifyState, reason: string | null): void {
    if (state === this._state) return;
    this._state = state;
    this.o.onState(state, reason);
  }

  /** Starts (and keeps re-registering after drops) until stop(); never throws. */
  start(): void {
    this.stopped = false;
    void this.connect();
  }

  private retryLater(reason: string): void {
    if (this.stopped) return;
    this.set('down', reason);
    this.failures++;
    const ms = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (this.failures - 1));
    this.timer = setTimeout(() => void this.connect(), ms);
    this.timer.unref();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.set(this._state === 'off' ? 'starting' : this._state, null);
    const u = new URL(this.o.url);
    const ca = this.o.ca ?? (this.o.caFile ? [(await import('node:fs')).readFileSync(this.o.caFile)] : undefined);
    const tlsOptions = { ...(ca ? { ca } : {}), ...(this.o.servername ? { servername: this.o.servername } : {}), minVersion: 'TLSv1.2' as const };
    // timeout 0: the search stays open for as long as the connection lives.
    const c = new Client({ url: this.o.url, timeout: 0, connectTimeout: this.o.connectTimeoutMs ?? 5000, tlsOptions, strictDN: false });
    this.client = c;
    try {
      const internals = c as unknown as Partial<ClientInternals>;
      if (!internals.messageParser?.on || !(internals.messageDetailsByMessageId instanceof Map)) {
        this.set('refused', 'this ldapts version exposes no message parser; notifications off, polling');
        return;
      }
      if (this.o.startTls && u.protocol !== 'ldaps:') await c.startTLS(tlsOptions);
      await c.bind(this.o.bindDn, this.o.bindPassword);
      const dse = await c.search('', { scope: 'base', filter: '(objectClass=*)', attributes: ['defaultNamingContext', 'supportedControl'] });
      const root = dse.searchEntries[0];
      const controls = [root?.supportedControl ?? []].flat().map(String);
      const nc = String([root?.defaultNamingContext ?? ''].flat()[0] ?? '');
      if (!controls.includes(NOTIFICATION_OID) || !nc) {
        await c.unbind().catch(() => undefined);
        this.set('refused', 'the directory does not offer the change notification control');
        return;
      }
      const attributes = ['uSNChanged', 'isDeleted'];
      internals.messageParser.on('message', (m: unknown) => {
        if (!(m instanceof SearchEntry)) return;
        const details = internals.messageDetailsByMessageId!.get(String(m.messageId));
        const req = details?.message as { controls?: Control[] } | undefined;
        if (!req?.controls?.some((x) => x.type === NOTIFICATION_OID)) return;
        // ldapts pushed the entry onto its per-request list before this listener ran: drop it.
        if (details!.searchEntries) details!.searchEntries.length = 0;
        const e = LdapEntry.from(m.toObject(attributes, []), []);
        const deleted = /^true$/i.test(e.first('isDeleted') ?? '');
        const key = dnKey(e.dn);
        if (!deleted && !this.scopeKeys.some((s) => key === s || key.endsWith(`,${s}`))) return;
        this.o.onChange({ dn: e.dn, deleted, usn: e.first('uSNChanged') ?? null });
      });
      // Show-deleted (non-critical): Samba reports deletions only with it; AD does either way.
      const search = c.search(nc, { scope: 'sub', filter: '(objectClass=*)', attributes }, [
        new Control(NOTIFICATION_OID, { critical: true }), new Control(SHOW_DELETED_OID, { critical: false }),
      ]);
      // The DC refuses a bad request at once; silence means the registration stands.
      const early = await Promise.race([
        search.then(() => 'done' as const, (e: unknown) => e as Error),
        new Promise<'registered'>((r) => setTimeout(() => r('registered'), 250)),
      ]);
      if (early !== 'registered') {
        await c.unbind().catch(() => undefined);
        if (early === 'done' || !isTransient(early)) {
          this.set('refused', early === 'done' ? 'the DC ended the notification search' : `the DC refused the notification search: ${early.message}`);
          return;
        }
        throw early;
      }
      this.failures = 0;
      this.set('active', null);
      // Resolves or rejects only when the search ends: abandoned, connection lost, DC restart.
      await search.catch((e: unknown) => e);
      if (!this.stopped) {
        await c.unbind().catch(() => undefined);
        this.retryLater('notification connection closed');
      }
    } catch (e) {
      await c.unbind().catch(() => undefined);
      this.retryLater(`notification search failed: ${(e as Error).message}`);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const c = this.client;
    this.client = null;
    await c?.unbind().catch(() => undefined);
    this._state = 'off';
  }
}
