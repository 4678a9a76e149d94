// Calendar, contact and WebDAV file storage: collections in per-user homes, their objects, the
// RFC 6578 change log, sharing grants and publish (subscription) tokens. The only code that
// touches the dav_* tables; the DAV layer above never sees an EntityManager.
// Must not: parse iCalendar/vCard (callers hand in the derived fields) or decide HTTP statuses.
// Contract highlights: every write bumps the collection's syncToken and logs a dav_change row
// in the same transaction; candidatesInRange() is a SQL prefilter (callers still evaluate).
// BUGS: the change log is never compacted; group grants are resolved per call (no cache).
import { createHash, randomBytes } from 'node:crypto';
import { In, IsNull, type EntityManager, type SelectQueryBuilder } from 'typeorm';
import {
  AccountEntity, DavChangeEntity, DavCollectionEntity, DavObjectEntity, DavProxyEntity, DavShareEntity, GroupEntity, GroupMemberEntity,
} from '../../../schemas/entities/index.js';
import type { Store } from '../../store/store.js';
import { ServiceError } from '../errors.js';

export type Home = 'calendars' | 'addressbooks' | 'files';
export type CollectionKind = 'calendar' | 'addressbook' | 'collection';
/** What the current user may do with a collection. */
export type Access = 'owner' | 'read-write' | 'read' | 'freebusy';
export type GrantAccess = Exclude<Access, 'owner'>;
/** A calendar-proxy delegation: calendar-proxy-read or calendar-proxy-write. */
export type ProxyAccess = 'read' | 'read-write';

export interface NewObject {
  data: string;
  contentType: string;
  uid: string | null;
  componentType: string | null;
  firstStart: number | null;
  lastEnd: number | null;
  recurring: boolean;
  /** Stored VEVENT instances (occurrenceSummary); null/absent = not computed. */
  occurrences?: string | null;
  /** Bytes of the resource when `data` is an encoding of it (plain files are stored base64). */
  size?: number;
}

export interface PutOptions {
  /** Required current ETag (If-Match); '*' = must exist. */
  ifMatch?: string | null;
  /** '*' = must not exist (If-None-Match: *). */
  ifNoneMatchStar?: boolean;
}

export type PutResult =
  | { ok: true; etag: string; created: boolean; object: DavObjectEntity }
  | { ok: false; reason: 'precondition' | 'uid-conflict'; conflictName?: string };

export interface ChangeSet { token: number; changed: DavObjectEntity[]; deleted: string[]; truncated: boolean }

/** What a time-range query needs of a candidate object. */
export interface CandidateRow { id: number; name: string; etag: string; componentType: string | null; occurrences: string | null; data: string }

export interface SharedCollection { collection: DavCollectionEntity; access: GrantAccess; owner: AccountEntity }

export const DEFAULTS: Array<{ home: Home; path: string; kind: CollectionKind; displayName: string; components: string }> = [
  { home: 'calendars', path: 'calendar', kind: 'calendar', displayName: 'Calendar', components: 'VEVENT' },
  { home: 'calendars', path: 'tasks', kind: 'calendar', displayName: 'Tasks', components: 'VTODO' },
  { home: 'addressbooks', path: 'contacts', kind: 'addressbook', displayName: 'Contacts', components: '' },
];

const MAX_GROUP_DEPTH = 10;
/** Bound parameters per objectsByIds() query (well under SQLite's and Postgres's limits). */
const OBJECTS_BY_IDS_CHUNK = 900;
const ACCESS_RANK: Record<GrantAccess, number> = { freebusy: 1, read: 2, 'read-write': 3 };

export function etagOf(data: string): string {
  return `"${createHash('sha256').update(data).digest('base64url').slice(0, 27)}"`;
}

export class GroupwareService {
  private readonly defaultsDone = new Set<number>();

  constructor(private readonly store: Store, private readonly now: () => number = Date.now) {}

  private get em(): EntityManager {
    return this.store.em;
  }

  // ---- collections ----------------------------------------------------------------------------

  /** Creates Calendar, Tasks and Contacts the first time an owner's homes are used. Idempotent. */
  async ensureDefaults(ownerId: number): Promise<void> {
    if (this.defaultsDone.has(ownerId)) return;
    const have = await this.em.find(DavCollectionEntity, { where: { ownerId }, select: { id: true, home: true } });
    const homes = new Set(have.map((h) => h.home));
    const missing = DEFAULTS.filter((d) => !homes.has(d.home));
    if (missing.length) {
      try {
        await this.store.write(async ({ em }) => {
          for (const d of missing) {
            if (await em.countBy(DavCollectionEntity, { ownerId, home: d.home, path: d.path })) continue;
            await em.save(this.newCollection(em, ownerId, d.home, d.path, d.kind, { displayName: d.displayName, components: d.components }));
          }
        });
      } catch (e) {
        // A concurrent first request (PostgreSQL) created them: the unique index decides.
        if (!(await this.em.countBy(DavCollectionEntity, { ownerId }))) throw e;
      }
    }
    this.defaultsDone.add(ownerId);
  }

  private newCollection(em: EntityManager, ownerId: number, home: Home, path: string, kind: CollectionKind,
    props: Partial<DavCollectionEntity>): DavCollectionEntity {
    const now = this.now();
    return em.create(DavCollectionEntity, {
      ownerId, home, path, kind, displayName: '', description: '', components: kind === 'calendar' ? 'VEVENT,VTODO' : '',
      timezone: null, color: null, sortOrder: null, deadProps: '{}', syncToken: 0, publishToken: null, freebusyToken: null,
      createdAt: now, updatedAt: now, ...props,
    });
  }

  getCollection(ownerId: number, home: Home, path: string): Promise<DavCollectionEntity | null> {
    return this.em.findOneBy(DavCollectionEntity, { ownerId, home, path });
  }

  getCollectionById(id: number): Promise<DavCollectionEntity | null> {
    return this.em.findOneBy(DavCollectionEntity, { id });
  }

  /** Direct child collections of `parentPath` ('' = the home itself). */
  async childCollections(ownerId: number, home: Home, parentPath: string): Promise<DavCollectionEntity[]> {
    const rows = (await this.em.find(DavCollectionEntity, { where: { ownerId, home }, order: { path: 'ASC' } }))
      .filter((r) => !parentPath || r.path.startsWith(`${parentPath}/`));
    const depth = parentPath ? parentPath.split('/').length + 1 : 1;
    return rows.filter((r) => r.path.split('/').length === depth);
  }

  async createCollection(ownerId: number, home: Home, path: string, kind: CollectionKind, props: Partial<DavCollectionEntity>): Promise<DavCollectionEntity> {
    return this.store.write(async ({ em }) => {
      if (await em.countBy(DavCollectionEntity, { ownerId, home, path })) throw new ServiceError('EXISTS', 'collection exists');
      return em.save(this.newCollection(em, ownerId, home, path, kind, props));
    });
  }

  async updateCollection(id: number, patch: Partial<DavCollectionEntity>): Promise<void> {
    await this.store.write(async ({ em }) => {
      await em.update(DavCollectionEntity, { id }, { ...patch, updatedAt: this.now() });
      await em.increment(DavCollectionEntity, { id }, 'syncToken', 1);
    });
  }

  /** Deletes a collection with everything below it (nested plain collections included). */
  async deleteCollection(c: DavCollectionEntity): Promise<void> {
    await this.store.write(async ({ em }) => {
      const all = [c, ...await descendants(em, c)];
      const ids = all.map((x) => x.id);
      await em.delete(DavObjectEntity, { collectionId: In(ids) });
      await em.delete(DavChangeEntity, { collectionId: In(ids) });
      await em.delete(DavShareEntity, { collectionId: In(ids) });
      await em.delete(DavCollectionEntity, { id: In(ids) });
    });
  }

  /** Moves (renames) a plain collection and its descendants within one home. */
  async moveCollection(c: DavCollectionEntity, newPath: string): Promise<void> {
    await this.store.write(async ({ em }) => {
      const desc = await descendants(em, c);
      await em.update(DavCollectionEntity, { id: c.id }, { path: newPath, updatedAt: this.now() });
      for (const d of desc) await em.update(DavCollectionEntity, { id: d.id }, { path: newPath + d.path.slice(c.path.length) });
    });
  }

  /** Copies a collection (depth 0: properties only; infinity: members and descendants). */
  async copyCollection(c: DavCollectionEntity, newPath: string, deep: boolean): Promise<void> {
    await this.store.write(async ({ em }) => {
      const src = deep ? [c, ...await descendants(em, c)] : [c];
      for (const s of src) {
        const copy = await em.save(this.newCollection(em, s.ownerId, s.home as Home, newPath + s.path.slice(c.path.length), s.kind as CollectionKind, {
          displayName: s.displayName, description: s.description, components: s.components, timezone: s.timezone,
          color: s.color, sortOrder: s.sortOrder, deadProps: s.deadProps,
        }));
        if (!deep) continue;
        for (const o of await em.findBy(DavObjectEntity, { collectionId: s.id })) {
          const { id: _id, ...rest } = o;
          copy.syncToken++;
          await em.save(em.create(DavObjectEntity, { ...rest, collectionId: copy.id, modToken: copy.syncToken }));
          await em.save(em.create(DavChangeEntity, { collectionId: copy.id, token: copy.syncToken, name: o.name, deleted: false }));
        }
        await em.update(DavCollectionEntity, { id: copy.id }, { syncToken: copy.syncToken });
      }
    });
  }

  // ---- objects ------------------------------------------------------------------------------

  listObjects(collectionId: number): Promise<DavObjectEntity[]> {
    return this.em.find(DavObjectEntity, { where: { collectionId }, order: { name: 'ASC' } });
  }

  /** Names and ETags only: cheap listings (PROPFIND Depth 1 without data). */
  listObjectHeads(collectionId: number): Promise<DavObjectEntity[]> {
    return this.em.find(DavObjectEntity, {
      where: { collectionId }, order: { name: 'ASC' },
      select: { id: true, collectionId: true, name: true, etag: true, contentType: true, size: true, componentType: true, deadProps: true, createdAt: true, updatedAt: true, uid: true },
    });
  }

  getObject(collectionId: number, name: string): Promise<DavObjectEntity | null> {
    return this.em.findOneBy(DavObjectEntity, { collectionId, name });
  }

  async getObjects(collectionId: number, names: string[]): Promise<DavObjectEntity[]> {
    const out: DavObjectEntity[] = [];
    for (let i = 0; i < names.length; i += 500) {
      out.push(...await this.em.findBy(DavObjectEntity, { collectionId, name: In(names.slice(i, i + 500)) }));
    }
    return out;
  }

  /**
   * Candidates for a time-range query: objects whose stored range [firstStart, lastEnd] meets
   * [start, end] (nulls are open). Cost: one indexed range scan; the caller still evaluates
   * each candidate exactly (recurrences, floating times, VTODO rules).
   */
  candidatesInRange(collectionId: number, componentType: string | null, start: number | null, end: number | null): Promise<DavObjectEntity[]> {
    return this.rangeQuery(collectionId, componentType, start, end).getMany();
  }

  /**
   * candidatesInRange() without the data column: only what deciding a match needs (id, name,
   * etag, componentType, occurrences). Rows the caller must parse, or answer with calendar-data,
   * are read afterwards with objectsByIds().
   */
  candidateSummariesInRange(collectionId: number, componentType: string | null, start: number | null, end: number | null): Promise<Array<Omit<CandidateRow, 'data'>>> {
    return this.rawRows(this.rangeQuery(collectionId, componentType, start, end)
      .select(['o.id', 'o.name', 'o.etag', 'o.componentType', 'o.occurrences']), false);
  }

  /**
   * candidatesInRange() for answering with calendar-data: the decision columns and the data in
   * one read (the prefilter is tight, so nearly every candidate is answered anyway).
   */
  candidateRowsInRange(collectionId: number, componentType: string | null, start: number | null, end: number | null): Promise<CandidateRow[]> {
    return this.rawRows(this.rangeQuery(collectionId, componentType, start, end)
      .select(['o.id', 'o.name', 'o.etag', 'o.componentType', 'o.occurrences', 'o.data']), true);
  }

  /**
   * Runs a candidate query as plain SQL (the builder's own text and parameters, so both
   * dialects) and maps the few columns by hand: entity hydration cost four times the query
   * itself for ~700 rows, which was most of a one-month calendar-query.
   */
  private async rawRows(qb: SelectQueryBuilder<DavObjectEntity>, withData: true): Promise<CandidateRow[]>;
  private async rawRows(qb: SelectQueryBuilder<DavObjectEntity>, withData: false): Promise<Array<Omit<CandidateRow, 'data'>>>;
  private async rawRows(qb: SelectQueryBuilder<DavObjectEntity>, withData: boolean): Promise<Array<Omit<CandidateRow, 'data'> & { data?: string }>> {
    const [sql, params] = qb.getQueryAndParameters();
    const rows = await this.em.query(sql, params) as Array<Record<string, unknown>>;
    return rows.map((r) => {
      const row: Omit<CandidateRow, 'data'> & { data?: string } = {
        id: Number(r.o_id), name: r.o_name as string, etag: r.o_etag as string,
        componentType: (r.o_componentType as string | null) ?? null, occurrences: (r.o_occurrences as string | null) ?? null,
      };
      if (withData) row.data = r.o_data as string;
      return row;
    });
  }

  /** The time-range prefilter shared by the candidate queries, ordered by name. */
  private rangeQuery(collectionId: number, componentType: string | null, start: number | null, end: number | null) {
    const qb = this.em.createQueryBuilder(DavObjectEntity, 'o');
    // The range test runs on the (collectionId, firstStart, lastEnd) index alone (covering), and
    // the outer query fetches just those rows by primary key: repeating collectionId outside
    // made SQLite walk the whole collection by name instead (4x slower on 10,000 events).
    if (start !== null || end !== null) {
      const sub = qb.subQuery().select('i.id').from(DavObjectEntity, 'i').where('i.collectionId = :collectionId');
      if (start !== null) sub.andWhere('(i.lastEnd IS NULL OR i.lastEnd >= :start)');
      if (end !== null) sub.andWhere('(i.firstStart IS NULL OR i.firstStart <= :end)');
      qb.where(`o.id IN ${sub.getQuery()}`, { collectionId, start, end });
    } else {
      qb.where('o.collectionId = :collectionId', { collectionId });
    }
    if (componentType) qb.andWhere('o.componentType = :componentType', { componentType });
    return qb.orderBy('o.name', 'ASC');
  }

  /**
   * id, name, etag and data of the given objects of one collection (rows deleted meanwhile are
   * simply missing), read in chunks of bound parameters.
   */
  async objectsByIds(collectionId: number, ids: number[]): Promise<Array<Pick<DavObjectEntity, 'id' | 'name' | 'etag' | 'data'>>> {
    const out: Array<Pick<DavObjectEntity, 'id' | 'name' | 'etag' | 'data'>> = [];
    for (let k = 0; k < ids.length; k += OBJECTS_BY_IDS_CHUNK) {
      const chunk = ids.slice(k, k + OBJECTS_BY_IDS_CHUNK);
      out.push(...await this.em.createQueryBuilder(DavObjectEntity, 'o')
        .select(['o.id', 'o.name', 'o.etag', 'o.data'])
        .where('o.collectionId = :collectionId', { collectionId })
        .andWhere('o.id IN (:...ids)', { ids: chunk })
        .getMany());
    }
    return out;
  }

  /**
   * Stores occurrence summaries computed lazily for rows written before the column existed.
   * Derived data: no sync-token bump; a row whose ETag changed meanwhile is left alone.
   */
  async fillOccurrences(items: Array<{ id: number; etag: string; occurrences: string }>): Promise<void> {
    if (!items.length) return;
    await this.store.write(async ({ em }) => {
      for (const it of items) await em.update(DavObjectEntity, { id: it.id, etag: it.etag }, { occurrences: it.occurrences });
    });
  }

  byComponent(collectionId: number, componentType: string | null): Promise<DavObjectEntity[]> {
    return this.em.find(DavObjectEntity, { where: componentType ? { collectionId, componentType } : { collectionId }, order: { name: 'ASC' } });
  }

  async putObject(c: DavCollectionEntity, name: string, o: NewObject, opts: PutOptions = {}): Promise<PutResult> {
    return this.store.write(async ({ em }) => {
      const existing = await em.findOneBy(DavObjectEntity, { collectionId: c.id, name });
      if (opts.ifNoneMatchStar && existing) return { ok: false, reason: 'precondition' };
      if (opts.ifMatch && (!existing || (opts.ifMatch !== '*' && !etagListHas(opts.ifMatch, existing.etag)))) return { ok: false, reason: 'precondition' };
      if (o.uid !== null && c.kind !== 'collection') {
        const clash = await em.findOne(DavObjectEntity, { where: { collectionId: c.id, uid: o.uid }, select: { id: true, name: true } });
        if (clash && clash.name !== name) return { ok: false, reason: 'uid-conflict', conflictName: clash.name };
      }
      const token = await this.bump(em, c.id);
      const now = this.now();
      const etag = etagOf(o.data);
      const fields = {
        data: o.data, contentType: o.contentType, uid: o.uid, componentType: o.componentType, firstStart: o.firstStart,
        lastEnd: o.lastEnd, recurring: o.recurring, occurrences: o.occurrences ?? null, etag, size: o.size ?? Buffer.byteLength(o.data), modToken: token, updatedAt: now,
      };
      let row: DavObjectEntity;
      if (existing) {
        await em.update(DavObjectEntity, { id: existing.id }, fields);
        row = Object.assign(existing, fields);
      } else {
        row = await em.save(em.create(DavObjectEntity, { collectionId: c.id, name, deadProps: '{}', createdAt: now, ...fields }));
      }
      await em.save(em.create(DavChangeEntity, { collectionId: c.id, token, name, deleted: false }));
      return { ok: true, etag, created: !existing, object: row };
    });
  }

  async setObjectDeadProps(c: DavCollectionEntity, o: DavObjectEntity, deadProps: string): Promise<void> {
    await this.store.write(async ({ em }) => {
      const token = await this.bump(em, c.id);
      await em.update(DavObjectEntity, { id: o.id }, { deadProps, modToken: token, updatedAt: this.now() });
      await em.save(em.create(DavChangeEntity, { collectionId: c.id, token, name: o.name, deleted: false }));
    });
  }

  /** Deletes one object; false if it was gone or its ETag did not match `ifMatch`. */
  async deleteObject(c: DavCollectionEntity, name: string, ifMatch?: string | null): Promise<boolean> {
    return this.store.write(async ({ em }) => {
      const existing = await em.findOne(DavObjectEntity, { where: { collectionId: c.id, name }, select: { id: true, etag: true } });
      if (!existing) return false;
      if (ifMatch && ifMatch !== '*' && !etagListHas(ifMatch, existing.etag)) return false;
      const token = await this.bump(em, c.id);
      await em.delete(DavObjectEntity, { id: existing.id });
      await em.save(em.create(DavChangeEntity, { collectionId: c.id, token, name, deleted: true }));
      return true;
    });
  }

  /** Copies or moves one object between collections of the same owner (or within one). */
  async transferObject(from: DavCollectionEntity, name: string, to: DavCollectionEntity, toName: string, move: boolean): Promise<{ created: boolean }> {
    return this.store.write(async ({ em }) => {
      const src = await em.findOneByOrFail(DavObjectEntity, { collectionId: from.id, name });
      const dest = await em.findOneBy(DavObjectEntity, { collectionId: to.id, name: toName });
      if (dest) await em.delete(DavObjectEntity, { id: dest.id });
      const token = await this.bump(em, to.id);
      const { id: _id, ...rest } = src;
      await em.save(em.create(DavObjectEntity, { ...rest, collectionId: to.id, name: toName, modToken: token, updatedAt: this.now() }));
      await em.save(em.create(DavChangeEntity, { collectionId: to.id, token, name: toName, deleted: false }));
      if (move) {
        const t2 = await this.bump(em, from.id);
        await em.delete(DavObjectEntity, { id: src.id });
        await em.save(em.create(DavChangeEntity, { collectionId: from.id, token: t2, name, deleted: true }));
      }
      return { created: !dest };
    });
  }

  private async bump(em: EntityManager, collectionId: number): Promise<number> {
    await em.increment(DavCollectionEntity, { id: collectionId }, 'syncToken', 1);
    const c = await em.findOneOrFail(DavCollectionEntity, { where: { id: collectionId }, select: { id: true, syncToken: true } });
    return c.syncToken;
  }

  // ---- scheduling lookups ---------------------------------------------------------------------

  /** The owner's calendar object with this UID (implicit scheduling finds copies by UID). */
  async findByUid(ownerId: number, uid: string): Promise<{ collection: DavCollectionEntity; object: DavObjectEntity } | null> {
    const cols = await this.em.findBy(DavCollectionEntity, { ownerId, kind: 'calendar' });
    if (!cols.length) return null;
    const o = await this.em.findOne(DavObjectEntity, { where: { collectionId: In(cols.map((c) => c.id)), uid }, order: { id: 'ASC' } });
    return o ? { collection: cols.find((c) => c.id === o.collectionId)!, object: o } : null;
  }

  /** Where invitations land: 'calendar' if it takes the type, else the first calendar that does. */
  async defaultCalendar(ownerId: number, componentType: string): Promise<DavCollectionEntity | null> {
    await this.ensureDefaults(ownerId);
    const cols = await this.em.find(DavCollectionEntity, { where: { ownerId, kind: 'calendar' }, order: { id: 'ASC' } });
    const takes = (c: DavCollectionEntity) => c.components.split(',').includes(componentType);
    return cols.find((c) => c.path === 'calendar' && takes(c)) ?? cols.find(takes) ?? null;
  }

  /** Every calendar an owner has (free/busy of a user covers all of them). */
  calendarsOf(ownerId: number): Promise<DavCollectionEntity[]> {
    return this.em.find(DavCollectionEntity, { where: { ownerId, kind: 'calendar' }, order: { id: 'ASC' } });
  }

  // ---- sync ---------------------------------------------------------------------------------

  /**
   * Changes after `since` (0 = initial sync: every member). null if `since` is in the future of
   * this collection (a token from elsewhere). With `limit`, stops after that many names and
   * returns the token reached, with truncated = true.
   */
  async changesSince(c: DavCollectionEntity, since: number, limit: number | null): Promise<ChangeSet | null> {
    const fresh = await this.em.findOneByOrFail(DavCollectionEntity, { id: c.id });
    if (since > fresh.syncToken || since < 0) return null;
    if (since === 0) {
      const all = await this.listObjects(c.id);
      return { token: fresh.syncToken, changed: all, deleted: [], truncated: false };
    }
    const rows = await this.em.find(DavChangeEntity, { where: { collectionId: c.id }, order: { token: 'ASC' } })
      .then((r) => r.filter((x) => x.token > since));
    const last = new Map<string, { token: number; deleted: boolean }>();
    let token = fresh.syncToken;
    let truncated = false;
    for (const r of rows) {
      if (limit !== null && !last.has(r.name) && last.size >= limit) {
        token = r.token - 1;
        truncated = true;
        break;
      }
      last.set(r.name, { token: r.token, deleted: r.deleted });
    }
    const names = [...last.keys()];
    const present = names.length ? await this.getObjects(c.id, names) : [];
    const presentNames = new Set(present.map((p) => p.name));
    return { token, changed: present, deleted: names.filter((n) => !presentNames.has(n)), truncated };
  }

  // ---- sharing ------------------------------------------------------------------------------

  /** Groups `accountId` belongs to, directly or through nested groups. */
  async groupsOf(accountId: number): Promise<number[]> {
    const found = new Set<number>();
    let frontier = (await this.em.find(GroupMemberEntity, { where: { accountId }, select: { groupId: true } })).map((m) => m.groupId);
    for (let depth = 0; frontier.length && depth <= MAX_GROUP_DEPTH; depth++) {
      const next: number[] = [];
      for (const g of frontier) if (!found.has(g)) { found.add(g); next.push(g); }
      frontier = next.length
        ? (await this.em.find(GroupMemberEntity, { where: { memberGroupId: In(next) }, select: { groupId: true } })).map((m) => m.groupId)
        : [];
    }
    return [...found];
  }

  private async grantsFor(accountId: number): Promise<DavShareEntity[]> {
    const groups = await this.groupsOf(accountId);
    const direct = await this.em.findBy(DavShareEntity, { granteeAccountId: accountId });
    const viaGroups = groups.length ? await this.em.findBy(DavShareEntity, { granteeGroupId: In(groups) }) : [];
    return [...direct, ...viaGroups];
  }

  /**
   * The user's access to a collection: owner, the strongest grant (a share of the collection,
   * or for calendars a calendar-proxy delegation by its owner), or null (no access at all).
   */
  async accessFor(accountId: number, c: DavCollectionEntity): Promise<Access | null> {
    if (c.ownerId === accountId) return 'owner';
    const groups = await this.groupsOf(accountId);
    const rows = await this.em.findBy(DavShareEntity, [
      { collectionId: c.id, granteeAccountId: accountId },
      ...(groups.length ? [{ collectionId: c.id, granteeGroupId: In(groups) }] : []),
    ]);
    const proxy = c.home === 'calendars' ? await this.proxyAccess(accountId, c.ownerId, groups) : null;
    return strongest([...rows.map((r) => r.access as GrantAccess), ...(proxy ? [proxy] : [])]);
  }

  /** Collections of other owners shared with this user in a home (freebusy grants excluded). */
  async sharedWith(accountId: number, home: Home): Promise<SharedCollection[]> {
    const grants = await this.grantsFor(accountId);
    const byCollection = new Map<number, GrantAccess[]>();
    for (const g of grants) byCollection.set(g.collectionId, [...(byCollection.get(g.collectionId) ?? []), g.access as GrantAccess]);
    if (!byCollection.size) return [];
    const cols = await this.em.findBy(DavCollectionEntity, { id: In([...byCollection.keys()]), home });
    const owners = cols.length ? await this.em.findBy(AccountEntity, { id: In([...new Set(cols.map((c) => c.ownerId))]) }) : [];
    const out: SharedCollection[] = [];
    for (const c of cols) {
      const access = strongest(byCollection.get(c.id)!)!;
      const owner = owners.find((o) => o.id === c.ownerId);
      if (access === 'freebusy' || c.ownerId === accountId || !owner || owner.deletedAt) continue;
      out.push({ collection: c, access, owner });
    }
    return out.sort((a, b) => a.collection.id - b.collection.id);
  }

  listShares(collectionId: number): Promise<DavShareEntity[]> {
    return this.em.find(DavShareEntity, { where: { collectionId }, order: { id: 'ASC' } });
  }

  /** Grants (or changes) access for one account or group; replaces an earlier grant to it. */
  async grant(collectionId: number, grantee: { accountId?: number; groupId?: number }, access: GrantAccess): Promise<void> {
    if (!grantee.accountId === !grantee.groupId) throw new ServiceError('INVALID', 'grant to exactly one account or group');
    await this.store.write(async ({ em }) => {
      const where = grantee.accountId ? { collectionId, granteeAccountId: grantee.accountId } : { collectionId, granteeGroupId: grantee.groupId! };
      await em.delete(DavShareEntity, where);
      await em.save(em.create(DavShareEntity, {
        collectionId, granteeAccountId: grantee.accountId ?? null, granteeGroupId: grantee.groupId ?? null, access, createdAt: this.now(),
      }));
      await em.increment(DavCollectionEntity, { id: collectionId }, 'syncToken', 1);
    });
  }

  async revoke(collectionId: number, grantee: { accountId?: number; groupId?: number }): Promise<void> {
    await this.store.write(async ({ em }) => {
      if (grantee.accountId) await em.delete(DavShareEntity, { collectionId, granteeAccountId: grantee.accountId });
      if (grantee.groupId) await em.delete(DavShareEntity, { collectionId, granteeGroupId: grantee.groupId });
      await em.increment(DavCollectionEntity, { id: collectionId }, 'syncToken', 1);
    });
  }

  // ---- calendar delegation (calendar-proxy-read / calendar-proxy-write) ------------------------

  /** What `accountId` may do with every calendar of `ownerId` as a proxy (strongest), or null. */
  async proxyAccess(accountId: number, ownerId: number, groups?: number[]): Promise<ProxyAccess | null> {
    if (accountId === ownerId) return null;
    const g = groups ?? await this.groupsOf(accountId);
    const rows = await this.em.findBy(DavProxyEntity, [
      { ownerId, delegateAccountId: accountId },
      ...(g.length ? [{ ownerId, delegateGroupId: In(g) }] : []),
    ]);
    return rows.some((r) => r.access === 'read-write') ? 'read-write' : rows.length ? 'read' : null;
  }

  /** The owner's delegates of one kind (the group-member-set of a proxy principal). */
  proxiesOf(ownerId: number, access: ProxyAccess): Promise<DavProxyEntity[]> {
    return this.em.find(DavProxyEntity, { where: { ownerId, access }, order: { id: 'ASC' } });
  }

  /** Owners who delegated to the account (directly or through its groups), with the access. */
  async proxyFor(accountId: number): Promise<Array<{ ownerId: number; access: ProxyAccess }>> {
    const groups = await this.groupsOf(accountId);
    const rows = await this.em.findBy(DavProxyEntity, [
      { delegateAccountId: accountId },
      ...(groups.length ? [{ delegateGroupId: In(groups) }] : []),
    ]);
    const best = new Map<number, ProxyAccess>();
    for (const r of rows) {
      if (r.ownerId === accountId) continue;
      if (best.get(r.ownerId) !== 'read-write') best.set(r.ownerId, r.access as ProxyAccess);
    }
    return [...best].map(([ownerId, access]) => ({ ownerId, access })).sort((a, b) => a.ownerId - b.ownerId);
  }

  /** Replaces the owner's delegates of one kind (PROPPATCH of group-member-set: the whole set). */
  async setProxies(ownerId: number, access: ProxyAccess, delegates: Array<{ accountId?: number; groupId?: number }>): Promise<void> {
    await this.store.write(async ({ em }) => {
      await em.delete(DavProxyEntity, { ownerId, access });
      const seen = new Set<string>();
      for (const d of delegates) {
        const key = d.accountId ? `a${d.accountId}` : `g${d.groupId}`;
        if (seen.has(key) || d.accountId === ownerId) continue;
        seen.add(key);
        await em.save(em.create(DavProxyEntity, { ownerId, delegateAccountId: d.accountId ?? null, delegateGroupId: d.groupId ?? null, access, createdAt: this.now() }));
      }
    });
  }

  // ---- publishing (subscription links) --------------------------------------------------------

  /** Returns the collection's secret token, creating one if needed. */
  async publish(c: DavCollectionEntity): Promise<string> {
    if (c.publishToken) return c.publishToken;
    const token = randomBytes(24).toString('base64url');
    await this.store.write(({ em }) => em.update(DavCollectionEntity, { id: c.id }, { publishToken: token }));
    c.publishToken = token;
    return token;
  }

  /** Revokes the link at once; a later publish() makes a new, different one. */
  async unpublish(c: DavCollectionEntity): Promise<void> {
    await this.store.write(({ em }) => em.update(DavCollectionEntity, { id: c.id }, { publishToken: null }));
    c.publishToken = null;
  }

  /** The free/busy-only link's secret, creating one if needed (independent of the full link). */
  async publishFreebusy(c: DavCollectionEntity): Promise<string> {
    if (c.freebusyToken) return c.freebusyToken;
    const token = randomBytes(24).toString('base64url');
    await this.store.write(({ em }) => em.update(DavCollectionEntity, { id: c.id }, { freebusyToken: token }));
    c.freebusyToken = token;
    return token;
  }

  async unpublishFreebusy(c: DavCollectionEntity): Promise<void> {
    await this.store.write(({ em }) => em.update(DavCollectionEntity, { id: c.id }, { freebusyToken: null }));
    c.freebusyToken = null;
  }

  byFreebusyToken(token: string): Promise<DavCollectionEntity | null> {
    if (!/^[A-Za-z0-9_-]{16,64}$/.test(token)) return Promise.resolve(null);
    return this.em.findOneBy(DavCollectionEntity, { freebusyToken: token, kind: 'calendar' });
  }

  byPublishToken(token: string): Promise<DavCollectionEntity | null> {
    if (!/^[A-Za-z0-9_-]{16,64}$/.test(token)) return Promise.resolve(null);
    return this.em.findOneBy(DavCollectionEntity, { publishToken: token, kind: 'calendar' });
  }

  // ---- accounting ---------------------------------------------------------------------------

  /** Bytes of DAV data an owner stores (RFC 4331 quota-used-bytes adds mail usage to this). */
  async bytesUsed(ownerId: number): Promise<number> {
    const r = await this.em.createQueryBuilder(DavObjectEntity, 'o')
      .innerJoin(DavCollectionEntity, 'c', 'c.id = o.collectionId').where('c.ownerId = :ownerId', { ownerId })
      .select('COALESCE(SUM(o.size), 0)', 'n').getRawOne<{ n: string | number }>();
    return Number(r?.n ?? 0);
  }

  // ---- Global Address List ------------------------------------------------------------------

  /** Live accounts and groups for the GAL address book, with a version stamp for its ctag. */
  async galSource(): Promise<{ accounts: AccountEntity[]; groups: GroupEntity[]; members: GroupMemberEntity[] }> {
    const accounts = await this.em.find(AccountEntity, { where: { deletedAt: IsNull() }, order: { address: 'ASC' } });
    const groups = await this.em.find(GroupEntity, { order: { address: 'ASC' } });
    const members = groups.length ? await this.em.findBy(GroupMemberEntity, { groupId: In(groups.map((g) => g.id)) }) : [];
    return { accounts: accounts.filter((a) => a.enabled), groups, members };
  }
}

function strongest(list: GrantAccess[]): GrantAccess | null {
  let best: GrantAccess | null = null;
  for (const a of list) if (!best || ACCESS_RANK[a] > ACCESS_RANK[best]) best = a;
  return best;
}

/** Collections nested below `c` (plain WebDAV folders); filtered in code, not with LIKE. */
async function descendants(em: EntityManager, c: DavCollectionEntity): Promise<DavCollectionEntity[]> {
  const all = await em.findBy(DavCollectionEntity, { ownerId: c.ownerId, home: c.home });
  return all.filter((x) => x.path.startsWith(`${c.path}/`));
}

/** If-Match may list several ETags (RFC 9110 §13.1.1). */
export function etagListHas(header: string, etag: string): boolean {
  return header.split(',').map((s) => s.trim().replace(/^W\//, '')).includes(etag);
}
