// NAME directory-sync.service — keeps accounts, aliases and distribution lists in step with the
// configured directories (config `directories`): a full read first, then incremental runs every
// pollSeconds (AD uSNChanged, OpenLDAP entryCSN), a periodic full re-read, and for OpenLDAP a
// periodic id scan to find deletions. On AD a change-notification search (connectors/ldap/
// notify.ts) starts an incremental run as soon as the DC reports a change; while it is active
// the poll slows to notifyPollSeconds, and it falls back to pollSeconds whenever it is not. Also the status (`pochtamt directory status`), the
// read-only address book (Global Address List, `directory search`) and the retention purge.
// Must not: delete an account or mail by itself (only purge(), an explicit admin command),
// disable anyone because the directory is unreachable or returned nothing, or merge
// conflicting addresses. State (cursor, last run, counts, errors, conflicts): directory_state.
// BUGS: one sync at a time per directory per process; a CLI `directory sync` beside a running
// server is safe (idempotent writes) but does the work twice.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { IsNull, LessThan, Not, type EntityManager } from 'typeorm';
import {
  AccountEntity, DirectoryEntryEntity, DirectoryStateEntity, DomainEntity,
} from '../../schemas/entities/index.js';
import { DirectoryConnector } from '../../connectors/ldap/directory-connector.js';
import { ChangeNotifier, type NotifyState } from '../../connectors/ldap/notify.js';
import { dnKey } from '../../connectors/ldap/escape.js';
import type { AddressBookFields, AttributeMap, DirectoryGroup, DirectoryUser } from '../../connectors/ldap/profiles.js';
import type { DirectoryConfig } from '../config/config.js';
import { normalizeDomain } from '../mail/address.js';
import type { Logger } from '../observability/logger.js';
import type { Store } from '../store/store.js';
import type { AccountService } from './account.service.js';
import { DirectoryAuthenticator, type DirectoryHandle } from './directory-auth.js';
import { DirectoryWriter, emptyCounts, type ApplyCounts, type Conflict } from './directory-apply.js';
import { ServiceError } from './errors.js';
import type { MailStoreService } from './mail-store.service.js';

/**
 * Users or groups written per transaction: bounds how long one sync transaction keeps other
 * SQLite writers waiting (~0.1 s of work), while a full run of 10,000 users commits (and
 * fsyncs) 20 times rather than 10,000.
 */
const BATCH = 500;
/** An incremental run with more changes than this preloads lookups as a full run does. */
const PRELOAD_ABOVE = 500;
/** An idle incremental run updates directory_state (last run) at most this often. */
const IDLE_SAVE_MS = 30_000;

export interface SyncReport {
  directoryId: string;
  mode: 'full' | 'incremental';
  ok: boolean;
  error?: string;
  durationMs: number;
  counts: ApplyCounts & { seenUsers: number; seenGroups: number; membershipsChanged: number };
  cursor: string | null;
}

export interface DirectoryStatus {
  id: string;
  type: string;
  url: string;
  enabled: boolean;
  configError: string | null;
  cursor: string | null;
  lastRunAt: number | null;
  lastSuccessAt: number | null;
  lastFullAt: number | null;
  lastError: string | null;
  lastRun: Record<string, unknown>;
  conflicts: Array<Conflict & { since: number }>;
  users: number;
  accounts: number;
  disabledAccounts: number;
  deletedAccounts: number;
  purgeable: number;
  lists: number;
  /** AD change notification: off, starting, active, refused (polling), down (reconnecting; polling). */
  notify: { state: NotifyState; reason: string | null; syncs: number };
  /** Idle connections in the bind pool for password checks. */
  bindPoolIdle: number;
}

/** One user or group of the directory address book, with the Global Address List fields. */
export interface AddressBookEntry extends Omit<AddressBookFields, 'mail'> {
  directoryId: string;
  kind: 'user' | 'group';
  externalId: string;
  dn: string;
  mail: string | null;
  addresses: string[];
  disabled: boolean;
}

interface Handle extends DirectoryHandle {
  cfg: DirectoryConfig;
  configError: string | null;
  domainsReady: boolean;
  /** AD change notification (null: off, or not AD). */
  notifier: ChangeNotifier | null;
  notifyState: NotifyState;
  notifyReason: string | null;
  /** Syncs started by a notification (status, tests). */
  notifiedSyncs: number;
  notifyTimer: NodeJS.Timeout | null;
  /** A notification-triggered sync is queued or running. */
  notifyQueued: boolean;
  /** Another notification arrived meanwhile. */
  notifyAgain: boolean;
}

/** Changes often come in bursts (a user and its group memberships): one sync for a burst. */
const NOTIFY_DEBOUNCE_MS = 150;

export class DirectoryService {
  readonly authenticator: DirectoryAuthenticator;
  private readonly handles = new Map<string, Handle>();
  private readonly running = new Map<string, Promise<SyncReport>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private stopped = true;

  constructor(
    private readonly store: Store,
    private readonly accounts: AccountService,
    private readonly mailStore: MailStoreService,
    configs: DirectoryConfig[],
    dataDir: string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    for (const cfg of configs) this.handles.set(cfg.id, makeHandle(cfg, dataDir));
    const live = new Map([...this.handles].filter(([, h]) => h.cfg.enabled && !h.configError));
    this.authenticator = new DirectoryAuthenticator(store, () => live, log);
  }

  get ids(): string[] {
    return [...this.handles.keys()];
  }

  private handle(id: string): Handle {
    const h = this.handles.get(id);
    if (!h) throw new ServiceError('NOT_FOUND', `no directory '${id}' in the config (see pochtamt directory list)`);
    return h;
  }

  // ---- the loop -----------------------------------------------------------------------------

  /** Starts the sync loop of every enabled directory: the first run now, then every pollSeconds. */
  start(): void {
    this.stopped = false;
    for (const [id, h] of this.handles) {
      if (!h.cfg.enabled) continue;
      if (h.configError) {
        this.log.error({ event: 'directory.config.invalid', directory: id, err: h.configError }, 'directory not started');
        continue;
      }
      this.schedule(id, 0);
      if (h.cfg.type === 'ad' && h.cfg.notify) this.startNotifier(h);
    }
  }

  /** Poll interval now: slow while AD change notification is active, pollSeconds otherwise. */
  private pollMs(h: Handle): number {
    return (h.notifyState === 'active' ? Math.max(h.cfg.pollSeconds, h.cfg.notifyPollSeconds) : h.cfg.pollSeconds) * 1000;
  }

  private schedule(id: string, delayMs: number): void {
    if (this.stopped) return;
    const old = this.timers.get(id);
    if (old) clearTimeout(old);
    const t = setTimeout(() => {
      this.timers.delete(id);
      void this.sync(id).catch(() => undefined).finally(() => {
        if (!this.timers.has(id)) this.schedule(id, this.pollMs(this.handle(id)));
      });
    }, delayMs);
    this.timers.set(id, t);
  }

  private startNotifier(h: Handle): void {
    const id = h.cfg.id;
    const o = h.connector.o;
    h.notifier = new ChangeNotifier({
      ...o,
      scopes: [o.userBaseDn || o.baseDn, o.groupBaseDn || o.baseDn],
      onChange: () => this.notified(h),
      onState: (state, reason) => {
        const was = h.notifyState;
        h.notifyState = state;
        h.notifyReason = reason;
        const level = state === 'active' || state === 'starting' ? 'info' : 'warn';
        this.log[level]({ event: 'directory.notify.state', directory: id, state, reason }, `directory change notification ${state}`);
        // Back to the short poll at once when notifications stop; after (re)registering, one
        // sync catches what changed while nobody was listening.
        if (state === 'active' && was !== 'starting') this.notified(h);
        if (state !== 'active' && was === 'active' && this.timers.has(id)) this.schedule(id, this.pollMs(h));
      },
    });
    h.notifier.start();
  }

  /**
   * A change was reported: one incremental sync soon (debounced). A notification during that
   * sync asks for one more after it, since the sync may have read the directory before the change.
   */
  private notified(h: Handle): void {
    if (this.stopped) return;
    if (h.notifyQueued) {
      h.notifyAgain = true;
      return;
    }
    if (h.notifyTimer) return;
    h.notifyTimer = setTimeout(() => {
      h.notifyTimer = null;
      h.notifyQueued = true;
      h.notifiedSyncs++;
      void this.sync(h.cfg.id).catch(() => undefined).finally(() => {
        h.notifyQueued = false;
        if (h.notifyAgain) {
          h.notifyAgain = false;
          this.notified(h);
        }
      });
    }, NOTIFY_DEBOUNCE_MS);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const h of this.handles.values()) {
      if (h.notifyTimer) clearTimeout(h.notifyTimer);
      h.notifyTimer = null;
      await h.notifier?.stop();
      h.notifier = null;
      h.notifyState = 'off';
    }
    await Promise.all([...this.running.values()].map((p) => p.catch(() => undefined)));
    await Promise.all([...this.handles.values()].map((h) => h.connector.close().catch(() => undefined)));
  }

  // ---- one run ------------------------------------------------------------------------------

  /** One sync run (full when asked, when there is no cursor yet, or when one is due). Never throws for directory errors: see report.ok. */
  sync(id: string, opts: { full?: boolean } = {}): Promise<SyncReport> {
    const h = this.handle(id);
    if (h.configError) throw new ServiceError('INVALID', `directory ${id}: ${h.configError}`);
    const prev = this.running.get(id) ?? Promise.resolve(null);
    const next = prev.catch(() => null).then(async () => {
      // SQLite: another process (a CLI beside the server) writing between our read and write
      // makes the transaction fail at once with SQLITE_BUSY; that is worth a quick retry.
      for (let attempt = 0; ; attempt++) {
        const r = await this.run(h, opts.full ?? false);
        if (r.ok || attempt >= 3 || !/SQLITE_BUSY|database is locked/i.test(r.error ?? '')) return r;
        await new Promise((res) => setTimeout(res, 100 + Math.random() * 200 * (attempt + 1)));
      }
    });
    this.running.set(id, next);
    void next.finally(() => { if (this.running.get(id) === next) this.running.delete(id); }).catch(() => undefined);
    return next;
  }

  private async state(id: string): Promise<DirectoryStateEntity> {
    const s = await this.store.em.findOneBy(DirectoryStateEntity, { directoryId: id });
    return s ?? this.store.em.create(DirectoryStateEntity, {
      directoryId: id, cursor: null, lastRunAt: null, lastSuccessAt: null, lastFullAt: null, lastIdScanAt: null,
      lastError: null, counts: '{}', conflicts: '[]', updatedAt: this.now(),
    });
  }

  private async ensureDomains(h: Handle): Promise<void> {
    if (h.domainsReady) return;
    for (const d of h.cfg.domains) {
      if (!(await this.accounts.getDomain(d))) {
        await this.accounts.addDomain(d).catch((e: unknown) => {
          if (!(e instanceof ServiceError && e.code === 'EXISTS')) throw e;
        });
        this.log.info({ event: 'directory.domain.added', directory: h.cfg.id, domain: d }, 'domain added for directory');
      }
    }
    h.domainsReady = true;
  }

  private acceptDomain(h: Handle): (em: EntityManager, domain: string) => Promise<DomainEntity | null> {
    const allowed = new Set(h.cfg.domains.map((d) => safeDomain(d)).filter(Boolean));
    const cache = new Map<string, DomainEntity | null>();
    return async (em, domain) => {
      const ascii = safeDomain(domain);
      if (!ascii || (allowed.size && !allowed.has(ascii))) return null;
      if (!cache.has(ascii)) cache.set(ascii, await em.findOneBy(DomainEntity, { name: ascii }));
      return cache.get(ascii)!;
    };
  }

  private async run(h: Handle, forceFull: boolean): Promise<SyncReport> {
    const started = this.now();
    const id = h.cfg.id;
    const state = await this.state(id);
    const full = forceFull || !state.cursor || !state.lastFullAt || started - state.lastFullAt >= h.cfg.fullSyncSeconds * 1000;
    const counts = { ...emptyCounts(), seenUsers: 0, seenGroups: 0, membershipsChanged: 0 };
    const conflicts: Conflict[] = [];
    const writer = new DirectoryWriter(id, this.mailStore, this.acceptDomain(h), conflicts, counts, this.now);
    const touched = new Set<string>();
    let cursor = state.cursor;
    try {
      await this.ensureDomains(h);
      let changed = false;
      if (full) {
        const scan = await h.connector.fullScan();
        counts.seenUsers = scan.users.length;
        counts.seenGroups = scan.groups.length;
        await writer.preload(this.store.em);
        await this.applyUsers(writer, scan.users);
        await this.applyGroups(writer, scan.groups);
        await this.deleteMissing(h, writer, new Set(scan.users.map((u) => u.externalId)), new Set(scan.groups.map((g) => g.externalId)));
        cursor = scan.cursor;
        state.lastFullAt = started;
        state.lastIdScanAt = started;
        changed = true;
      } else {
        const cs = await h.connector.changesSince(state.cursor!);
        counts.seenUsers = cs.users.length;
        counts.seenGroups = cs.groups.length;
        for (const x of [...cs.users, ...cs.groups]) touched.add(x.externalId);
        if (cs.users.length + cs.groups.length + cs.deletedIds.length > PRELOAD_ABOVE) await writer.preload(this.store.em);
        // Users first, then groups, then deletions, as in a full run; a small change set is one transaction.
        await this.applyChanges(writer, cs.users, cs.groups, cs.deletedIds);
        changed = cs.users.length + cs.groups.length + cs.deletedIds.length > 0;
        if (h.cfg.type === 'ldap' && (!state.lastIdScanAt || started - state.lastIdScanAt >= h.cfg.deleteScanSeconds * 1000)) {
          const ids = await h.connector.allIds();
          const before = counts.deleted;
          await this.deleteMissing(h, writer, ids.users, ids.groups);
          state.lastIdScanAt = started;
          if (counts.deleted > before) changed = true;
        }
        cursor = cs.next;
      }
      if (changed) counts.membershipsChanged = await this.recomputeMembers(h, writer, full);
      // Conflicts: a full run knows them all; an incremental one only for the entries it saw.
      const old = JSON.parse(state.conflicts) as Array<Conflict & { since: number }>;
      const kept = full ? [] : old.filter((c) => !touched.has(c.externalId));
      const merged = [...kept, ...conflicts.map((c) => ({ ...c, since: old.find((o) => o.externalId === c.externalId && o.address === c.address)?.since ?? started }))];
      for (const c of conflicts) {
        if (!old.some((o) => o.externalId === c.externalId && o.address === c.address)) {
          this.log.warn({ event: 'directory.conflict.detected', directory: id, ...c }, `address conflict: ${c.address} (${c.reason})`);
        }
      }
      // An idle poll (nothing changed, no error to clear) is recorded at most every IDLE_SAVE_MS,
      // so a 2 s poll does not cost a disk sync every 2 s.
      const idle = !full && !changed && cursor === state.cursor && state.lastError === null
        && merged.length === old.length && state.lastSuccessAt !== null && started - state.lastSuccessAt < IDLE_SAVE_MS;
      if (!idle) {
        Object.assign(state, {
          cursor, lastRunAt: started, lastSuccessAt: this.now(), lastError: null, conflicts: JSON.stringify(merged),
          counts: JSON.stringify({ mode: full ? 'full' : 'incremental', durationMs: this.now() - started, ...counts }), updatedAt: this.now(),
        });
        await this.store.write(({ em }) => em.save(state));
      }
      const report: SyncReport = { directoryId: id, mode: full ? 'full' : 'incremental', ok: true, durationMs: this.now() - started, counts, cursor };
      if (changed || full) {
        this.log.info({ event: 'directory.sync.completed', directory: id, mode: report.mode, ms: report.durationMs, ...counts }, 'directory sync');
      }
      return report;
    } catch (e) {
      const msg = (e as Error).message ?? String(e);
      this.log.warn({ event: 'directory.sync.failed', directory: id, mode: full ? 'full' : 'incremental', err: msg }, 'directory sync failed');
      // During an outage every poll fails; record the first failure, then at most every 5 s.
      if (state.lastError === null || started - (state.lastRunAt ?? 0) >= 5000) {
        Object.assign(state, { lastRunAt: started, lastError: msg.slice(0, 2000), updatedAt: this.now() });
        await this.store.write(({ em }) => em.save(state)).catch(() => undefined);
      }
      return { directoryId: id, mode: full ? 'full' : 'incremental', ok: false, error: msg, durationMs: this.now() - started, counts, cursor: state.cursor };
    }
  }

  /**
   * One write transaction of the writer: its in-memory lookups follow the transaction (undone
   * when it rolls back or is retried, kept once it commits).
   */
  private async batch(w: DirectoryWriter, fn: (em: EntityManager) => Promise<void>): Promise<void> {
    try {
      await this.store.write(async ({ em, afterCommit }) => {
        w.beginBatch();
        afterCommit(() => w.commitBatch());
        await fn(em);
        await w.flush(em);
      });
    } catch (e) {
      w.abortBatch();
      throw e;
    }
  }

  private async applyUsers(w: DirectoryWriter, users: DirectoryUser[]): Promise<void> {
    for (let i = 0; i < users.length; i += BATCH) {
      const chunk = users.slice(i, i + BATCH);
      await this.batch(w, async (em) => { for (const u of chunk) await w.applyUser(em, u); });
    }
  }

  private async applyGroups(w: DirectoryWriter, groups: DirectoryGroup[]): Promise<void> {
    for (let i = 0; i < groups.length; i += BATCH) {
      const chunk = groups.slice(i, i + BATCH);
      await this.batch(w, async (em) => { for (const g of chunk) await w.applyGroup(em, g); });
    }
  }

  private async applyChanges(w: DirectoryWriter, users: DirectoryUser[], groups: DirectoryGroup[], deletedIds: string[]): Promise<void> {
    type Op = { u: DirectoryUser } | { g: DirectoryGroup } | { del: string };
    const ops: Op[] = [...users.map((u) => ({ u })), ...groups.map((g) => ({ g })), ...deletedIds.map((del) => ({ del }))];
    for (let i = 0; i < ops.length; i += BATCH) {
      const chunk = ops.slice(i, i + BATCH);
      await this.batch(w, async (em) => {
        for (const op of chunk) {
          if ('u' in op) await w.applyUser(em, op.u);
          else if ('g' in op) await w.applyGroup(em, op.g);
          else {
            const e = await em.findOneBy(DirectoryEntryEntity, { directoryId: w.directoryId, externalId: op.del });
            if (!e) continue;
            if (e.kind === 'group') await w.deleteGroup(em, op.del);
            else await w.deleteUser(em, op.del);
          }
        }
      });
    }
  }

  /**
   * Entries we know that the directory no longer returns are deleted. An empty answer while we
   * know users is refused as an error (wrong baseDn or filter, or a half-broken server) rather
   * than taken as "everyone left".
   */
  private async deleteMissing(h: Handle, w: DirectoryWriter, users: Set<string>, groups: Set<string>): Promise<void> {
    const known = await this.store.em.find(DirectoryEntryEntity, {
      where: { directoryId: h.cfg.id, deletedAt: IsNull() }, select: { id: true, externalId: true, kind: true },
    });
    const knownUsers = known.filter((k) => k.kind === 'user');
    if (users.size === 0 && knownUsers.length > 0) {
      throw new Error(`the directory returned no users but ${knownUsers.length} are known; nothing marked deleted (check baseDn and userFilter)`);
    }
    const gone = known.filter((k) => (k.kind === 'user' ? !users.has(k.externalId) : !groups.has(k.externalId)));
    if (!gone.length) return;
    await this.batch(w, async (em) => {
      for (const k of gone) {
        if (k.kind === 'group') await w.deleteGroup(em, k.externalId);
        else await w.deleteUser(em, k.externalId);
      }
    });
  }

  /**
   * Flattened, transitive members of the lists: AD asks the DC (LDAP_MATCHING_RULE_IN_CHAIN);
   * OpenLDAP is walked here from the stored member DNs / memberUids (cycles stop at seen groups).
   * A full run recomputes every list; an incremental one only the lists that reach (through
   * nesting) a group or user entry this run applied or deleted. Returns the number of lists
   * whose members changed.
   */
  private async recomputeMembers(h: Handle, w: DirectoryWriter, full: boolean): Promise<number> {
    const id = h.cfg.id;
    const p = (i: number) => this.store.param(i);
    type Row = { kind: string; dn: string; dnKey: string; login: string | null; accountId: number | string | null; groupId: number | string | null; members: string };
    // A full run reads every entry; an incremental one the groups, and later only the users it needs.
    const rows = await this.store.em.query(
      `SELECT "kind", "dn", "dnKey", "login", "accountId", "groupId", "members" FROM "directory_entry" WHERE "directoryId" = ${p(1)} AND "deletedAt" IS NULL${full ? '' : ` AND "kind" = 'group'`}`,
      [id],
    ) as Row[];
    interface G { dn: string; dnKey: string; groupId: number | null; dns: string[]; uids: string[]; incomplete: boolean }
    const userByDn = new Map<string, number | null>();
    const userByLogin = new Map<string, number | null>();
    const groupByDn = new Map<string, G>();
    const addUser = (r: Row) => {
      const acc = r.accountId === null ? null : Number(r.accountId);
      userByDn.set(r.dnKey, acc);
      if (r.login) userByLogin.set(r.login, acc);
    };
    for (const r of rows) {
      if (r.kind === 'user') addUser(r);
      else {
        const m = JSON.parse(r.members || '{}') as { dns?: string[]; uids?: string[]; incomplete?: boolean };
        groupByDn.set(r.dnKey, {
          dn: r.dn, dnKey: r.dnKey, groupId: r.groupId === null ? null : Number(r.groupId),
          dns: (m.dns ?? []).map((d) => dnKey(d)), uids: (m.uids ?? []).map((u) => u.toLowerCase()), incomplete: m.incomplete === true,
        });
      }
    }
    let lists = [...groupByDn.values()].filter((g) => g.groupId !== null);
    if (!full) {
      // Groups whose own members changed or that name an affected entry, then every group
      // that contains one of those, transitively.
      const parents = new Map<string, string[]>();
      const start = new Set<string>();
      for (const g of groupByDn.values()) {
        if (w.touchedGroups.has(g.dnKey)) start.add(g.dnKey);
        for (const k of g.dns) {
          if (w.affectedKeys.has(k)) start.add(g.dnKey);
          if (groupByDn.has(k)) {
            let l = parents.get(k);
            if (!l) parents.set(k, (l = []));
            l.push(g.dnKey);
          }
        }
        for (const uid of g.uids) if (w.affectedKeys.has(`uid:${uid}`)) start.add(g.dnKey);
      }
      const reach = new Set<string>();
      const stack = [...start];
      while (stack.length) {
        const k = stack.pop()!;
        if (reach.has(k)) continue;
        reach.add(k);
        for (const parent of parents.get(k) ?? []) stack.push(parent);
      }
      lists = lists.filter((g) => reach.has(g.dnKey));
      if (lists.length) {
        // The user entries these lists can reach: their member DNs and uids, through nesting.
        const dns = new Set<string>();
        const uids = new Set<string>();
        const seen = new Set<string>();
        const collect = (g: G) => {
          if (seen.has(g.dnKey)) return;
          seen.add(g.dnKey);
          for (const k of g.dns) {
            const sub = groupByDn.get(k);
            if (sub) collect(sub);
            dns.add(k);
          }
          for (const u of g.uids) uids.add(u);
        };
        for (const l of lists) collect(l);
        const userSql = `SELECT "kind", "dn", "dnKey", "login", "accountId", "groupId", "members" FROM "directory_entry" WHERE "directoryId" = ${p(1)} AND "deletedAt" IS NULL AND "kind" = 'user'`;
        if (dns.size + uids.size > 1000) {
          // Many: one read of all users costs less than many indexed IN lists.
          for (const r of await this.store.em.query(userSql, [id]) as Row[]) addUser(r);
        } else {
          const fetch = async (col: 'dnKey' | 'login', keys: string[]) => {
            for (let i = 0; i < keys.length; i += 500) {
              const chunk = keys.slice(i, i + 500);
              const found = await this.store.em.query(`${userSql} AND "${col}" IN (${this.store.params(2, chunk.length)})`, [id, ...chunk]) as Row[];
              for (const r of found) addUser(r);
            }
          };
          await fetch('dnKey', [...dns]);
          await fetch('login', [...uids]);
        }
      }
    }
    if (!lists.length) return 0;
    const wanted = new Map<number, number[]>();
    // Nesting is expanded here from the stored member DNs / memberUids (cycles stop at seen
    // groups). On AD that gives what LDAP_MATCHING_RULE_IN_CHAIN gives as long as every member
    // DN is a known user or group and no group came with ranged (partial) members; a list for
    // which that does not hold asks the DC instead.
    let accountByExt: Map<string, number> | null = null;
    for (const list of lists) {
      const out = new Set<number>();
      const seen = new Set<string>();
      let exact = true;
      const walk = (g: G) => {
        if (seen.has(g.dnKey)) return;
        seen.add(g.dnKey);
        if (g.incomplete) exact = false;
        for (const k of g.dns) {
          const acc = userByDn.get(k);
          if (acc) out.add(acc);
          const sub = groupByDn.get(k);
          if (sub) walk(sub);
          else if (acc === undefined) exact = false;
        }
        for (const uid of g.uids) {
          const acc = userByLogin.get(uid);
          if (acc) out.add(acc);
        }
      };
      walk(list);
      if (h.cfg.type === 'ad' && !exact) {
        if (!accountByExt) {
          accountByExt = new Map();
          const ext = await this.store.em.query(
            `SELECT "externalId", "accountId" FROM "directory_entry" WHERE "directoryId" = ${p(1)} AND "kind" = 'user' AND "deletedAt" IS NULL AND "accountId" IS NOT NULL`,
            [id],
          ) as Array<{ externalId: string; accountId: number | string }>;
          for (const r of ext) accountByExt.set(r.externalId, Number(r.accountId));
        }
        const ids = (await h.connector.transitiveUserIds(list.dn)).map((x) => accountByExt!.get(x)).filter((x): x is number => x !== undefined);
        wanted.set(list.groupId!, [...new Set(ids)]);
      } else wanted.set(list.groupId!, [...out]);
    }
    let changed = 0;
    await this.store.write(async ({ em }) => {
      changed = await w.setMembersMany(em, wanted);
    });
    return changed;
  }

  // ---- status, address book, purge ------------------------------------------------------------

  async status(): Promise<DirectoryStatus[]> {
    const em = this.store.em;
    const out: DirectoryStatus[] = [];
    for (const [id, h] of this.handles) {
      const s = await em.findOneBy(DirectoryStateEntity, { directoryId: id });
      const retentionCut = this.now() - h.cfg.deletedRetentionDays * 86400_000;
      out.push({
        id, type: h.cfg.type, url: h.cfg.url, enabled: h.cfg.enabled, configError: h.configError,
        cursor: s?.cursor ?? null, lastRunAt: s?.lastRunAt ?? null, lastSuccessAt: s?.lastSuccessAt ?? null,
        lastFullAt: s?.lastFullAt ?? null, lastError: s?.lastError ?? null,
        lastRun: JSON.parse(s?.counts ?? '{}') as Record<string, unknown>,
        conflicts: JSON.parse(s?.conflicts ?? '[]') as Array<Conflict & { since: number }>,
        users: await em.countBy(DirectoryEntryEntity, { directoryId: id, kind: 'user', deletedAt: IsNull() }),
        accounts: await em.countBy(AccountEntity, { directoryId: id, source: 'directory', deletedAt: IsNull() }),
        disabledAccounts: await em.countBy(AccountEntity, { directoryId: id, source: 'directory', enabled: false, deletedAt: IsNull() }),
        deletedAccounts: await em.countBy(AccountEntity, { directoryId: id, source: 'directory', deletedAt: Not(IsNull()) }),
        purgeable: await em.countBy(AccountEntity, { directoryId: id, source: 'directory', deletedAt: LessThan(retentionCut) }),
        lists: await em.countBy(DirectoryEntryEntity, { directoryId: id, kind: 'group', groupId: Not(IsNull()), deletedAt: IsNull() }),
        notify: { state: h.notifyState, reason: h.notifyReason, syncs: h.notifiedSyncs },
        bindPoolIdle: h.connector.client.idleBindConnections,
      });
    }
    return out;
  }

  /**
   * The read-only address book (Global Address List): live directory users and groups whose
   * name, login, mail or address-book fields contain `query` (case-insensitive); all when empty.
   */
  async search(query = '', opts: { limit?: number; directoryId?: string } = {}): Promise<AddressBookEntry[]> {
    const q = query.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`);
    const qb = this.store.em.createQueryBuilder(DirectoryEntryEntity, 'e').where('e.deletedAt IS NULL');
    if (opts.directoryId) qb.andWhere('e.directoryId = :d', { d: opts.directoryId });
    if (q) {
      qb.andWhere(`(LOWER(e.attributes) LIKE :q ESCAPE '\\' OR LOWER(e.dn) LIKE :q ESCAPE '\\' OR e.login LIKE :q ESCAPE '\\')`, { q: `%${q}%` });
    }
    const rows = await qb.orderBy('e.mail', 'ASC').addOrderBy('e.id', 'ASC').limit(opts.limit ?? 100).getMany();
    return rows.map((r) => {
      const a = JSON.parse(r.attributes || '{}') as { book?: Record<string, string>; addresses?: string[] };
      return {
        directoryId: r.directoryId, kind: r.kind as 'user' | 'group', externalId: r.externalId, dn: r.dn, mail: r.mail,
        addresses: a.addresses ?? [], disabled: r.disabled, ...(a.book ?? {}),
      };
    });
  }

  /** Directory accounts deleted longer ago than their directory's retention. */
  async purgeable(): Promise<AccountEntity[]> {
    const out: AccountEntity[] = [];
    for (const [id, h] of this.handles) {
      const cut = this.now() - h.cfg.deletedRetentionDays * 86400_000;
      out.push(...await this.store.em.find(AccountEntity, { where: { directoryId: id, source: 'directory', deletedAt: LessThan(cut) } }));
    }
    return out;
  }

  /** Deletes (with their mail) the accounts purgeable() lists. Only `pochtamt directory purge` calls this. */
  async purge(): Promise<string[]> {
    const done: string[] = [];
    for (const a of await this.purgeable()) {
      await this.accounts.removeAccount(a.address);
      await this.store.write(({ em }) => em.update(DirectoryEntryEntity, { directoryId: a.directoryId!, externalId: a.externalId! }, { accountId: null }));
      this.log.info({ event: 'directory.account.purged', directory: a.directoryId, user: a.address }, 'deleted directory account purged');
      done.push(a.address);
    }
    return done;
  }
}

function safeDomain(d: string): string | null {
  try {
    return normalizeDomain(d);
  } catch {
    return null;
  }
}

/** NetBIOS name from the first DC= of the base DN, when the config names none. */
function netbiosOf(cfg: DirectoryConfig): string {
  if (cfg.netbiosDomain) return cfg.netbiosDomain.toUpperCase();
  const m = /(?:^|,)\s*dc=([^,]+)/i.exec(cfg.baseDn);
  return (m?.[1] ?? cfg.id).toUpperCase();
}

function makeHandle(cfg: DirectoryConfig, dataDir: string): Handle {
  let configError: string | null = null;
  let bindPassword = cfg.bindPassword ?? '';
  try {
    if (cfg.bindPasswordFile) bindPassword = readFileSync(path.resolve(dataDir, cfg.bindPasswordFile), 'utf8').split(/\r?\n/)[0] ?? '';
  } catch (e) {
    configError = `cannot read bindPasswordFile: ${(e as Error).message}`;
  }
  if (!configError && !bindPassword) configError = 'bindPassword or bindPasswordFile is required';
  const url = cfg.url.toLowerCase();
  if (!configError && url.startsWith('ldap://') && !cfg.startTls && !cfg.allowInsecure) {
    configError = 'refusing to send passwords without TLS: use ldaps://, startTls: true (or allowInsecure: true for tests)';
  }
  let connector: DirectoryConnector;
  try {
    connector = new DirectoryConnector({
      id: cfg.id, type: cfg.type, url: cfg.url, bindDn: cfg.bindDn, bindPassword,
      caFile: cfg.caFile ? path.resolve(dataDir, cfg.caFile) : null, servername: cfg.servername, startTls: cfg.startTls,
      timeoutMs: cfg.timeoutSeconds * 1000, pageSize: cfg.pageSize, baseDn: cfg.baseDn, userBaseDn: cfg.userBaseDn,
      groupBaseDn: cfg.groupBaseDn, userFilter: cfg.userFilter, groupFilter: cfg.groupFilter,
      attributes: cfg.attributes as Partial<AttributeMap>, changeAttribute: cfg.changeAttribute, bindPoolSize: cfg.bindPoolSize,
    });
  } catch (e) {
    configError ??= (e as Error).message;
    connector = new DirectoryConnector({ id: cfg.id, type: cfg.type, url: 'ldaps://invalid.invalid', bindDn: '', bindPassword: '', baseDn: cfg.baseDn });
  }
  return {
    cfg, connector, netbiosDomain: netbiosOf(cfg), configError, domainsReady: false, loginCacheMs: (cfg.loginCacheSeconds ?? 0) * 1000,
    notifier: null, notifyState: 'off', notifyReason: null, notifiedSyncs: 0, notifyTimer: null, notifyQueued: false, notifyAgain: false,
  };
}
