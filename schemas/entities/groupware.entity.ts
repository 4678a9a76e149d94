import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { BigIntColumn, EpochColumn } from './columns.js';

/**
 * A DAV collection in one owner's home: a calendar, an address book or a plain WebDAV
 * collection. `home` is 'calendars' | 'addressbooks' | 'files'; `path` is relative to the home
 * ('calendar', or 'litmus/coll' for nested plain collections). `syncToken` grows by one with every
 * change inside the collection (RFC 6578 tokens and the CS:getctag both derive from it).
 */
@Entity('dav_collection')
@Index('dav_collection_owner_path', ['ownerId', 'home', 'path'], { unique: true })
export class DavCollectionEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'integer' }) ownerId!: number;
  @Column({ type: 'varchar', length: 16 }) home!: string;
  @Column({ type: 'varchar', length: 1024 }) path!: string;
  /** 'calendar' | 'addressbook' | 'collection' */
  @Column({ type: 'varchar', length: 16 }) kind!: string;
  @Column({ type: 'varchar', length: 512, default: '' }) displayName!: string;
  @Column({ type: 'text', default: '' }) description!: string;
  /** Comma-separated component names a calendar accepts (RFC 4791 §5.2.3), e.g. 'VEVENT,VTODO'. */
  @Column({ type: 'varchar', length: 128, default: '' }) components!: string;
  @Column({ type: 'text', nullable: true }) timezone!: string | null;
  @Column({ type: 'varchar', length: 32, nullable: true }) color!: string | null;
  @Column({ type: 'integer', nullable: true }) sortOrder!: number | null;
  /** Dead properties set by clients: JSON object of Clark name -> serialised XML element. */
  @Column({ type: 'text', default: '{}' }) deadProps!: string;
  @BigIntColumn({ default: 0 }) syncToken!: number;
  /**
   * Oldest sync token still answered incrementally: compaction dropped change rows (deletions)
   * at or below it, so an older token gets DAV:valid-sync-token and the client resyncs.
   */
  @BigIntColumn({ default: 0 }) syncFloor!: number;
  /** Secret for the public read-only subscription URL; null when not published. */
  @Index({ unique: true }) @Column({ type: 'varchar', length: 64, nullable: true }) publishToken!: string | null;
  /** Secret for the public free/busy-only URL (VFREEBUSY, no details); null when not published. */
  @Index({ unique: true }) @Column({ type: 'varchar', length: 64, nullable: true }) freebusyToken!: string | null;
  @EpochColumn() createdAt!: number;
  @EpochColumn() updatedAt!: number;
}

/**
 * One resource in a collection: a calendar object, a vCard, or any file in a plain collection.
 * `firstStart`/`lastEnd` (UTC ms; null = unbounded) bound every occurrence, so a time-range
 * query selects candidates in SQL and expands recurrences only for those; `occurrences` lets a
 * plain VEVENT time-range query decide without parsing at all.
 */
@Entity('dav_object')
@Index('dav_object_collection_name', ['collectionId', 'name'], { unique: true })
@Index('dav_object_collection_uid', ['collectionId', 'uid'])
@Index('dav_object_collection_range', ['collectionId', 'firstStart', 'lastEnd'])
export class DavObjectEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'integer' }) collectionId!: number;
  @Column({ type: 'varchar', length: 512 }) name!: string;
  @Column({ type: 'varchar', length: 512, nullable: true }) uid!: string | null;
  @Column({ type: 'varchar', length: 128 }) contentType!: string;
  @Column({ type: 'varchar', length: 80 }) etag!: string;
  @Column({ type: 'text' }) data!: string;
  @Column({ type: 'integer' }) size!: number;
  /** VEVENT | VTODO | VJOURNAL | VCARD | null for plain files. */
  @Column({ type: 'varchar', length: 16, nullable: true }) componentType!: string | null;
  @BigIntColumn({ nullable: true }) firstStart!: number | null;
  @BigIntColumn({ nullable: true }) lastEnd!: number | null;
  @Column({ type: 'boolean', default: false }) recurring!: boolean;
  /**
   * VEVENT instances in UTC for plain time-range queries (occurrenceSummary() in
   * src/protocols/dav/icalendar.ts): null = not computed yet (rows from before the column;
   * filled lazily by calendar-query), '' = not applicable (the query parses the object).
   */
  @Column({ type: 'text', nullable: true }) occurrences!: string | null;
  @Column({ type: 'text', default: '{}' }) deadProps!: string;
  @BigIntColumn({ default: 0 }) modToken!: number;
  /**
   * RFC 6638 §3.2.10 Schedule-Tag of a scheduling object resource (one with an ORGANIZER);
   * null for everything else. Unlike the ETag it stays put when the server only merges
   * attendee replies or SCHEDULE-STATUS into the resource.
   */
  @Column({ type: 'varchar', length: 80, nullable: true }) scheduleTag!: string | null;
  @EpochColumn() createdAt!: number;
  @EpochColumn() updatedAt!: number;
}

/** Change log for RFC 6578: one row per put/delete, `token` = the collection's syncToken after it. */
@Entity('dav_change')
@Index('dav_change_collection_token', ['collectionId', 'token'])
export class DavChangeEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'integer' }) collectionId!: number;
  @BigIntColumn() token!: number;
  @Column({ type: 'varchar', length: 512 }) name!: string;
  @Column({ type: 'boolean', default: false }) deleted!: boolean;
}

/** A grant on a collection to one account or one group (members, nested, at request time). */
@Entity('dav_share')
@Index('dav_share_collection', ['collectionId'])
@Index('dav_share_account', ['granteeAccountId'])
@Index('dav_share_group', ['granteeGroupId'])
export class DavShareEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'integer' }) collectionId!: number;
  @Column({ type: 'integer', nullable: true }) granteeAccountId!: number | null;
  @Column({ type: 'integer', nullable: true }) granteeGroupId!: number | null;
  /** 'read' | 'read-write' | 'freebusy' */
  @Column({ type: 'varchar', length: 16 }) access!: string;
  /**
   * 'accepted' (in force), 'pending' (invitation sent to the sharee's notification collection,
   * no access until accepted) or 'declined' (kept so the owner sees the answer; no access).
   */
  @Column({ type: 'varchar', length: 16, default: 'accepted' }) status!: string;
  /** calendarserver-sharing invitation UID (names the sharee's invite notification). */
  @Column({ type: 'varchar', length: 64, nullable: true }) inviteUid!: string | null;
  @EpochColumn() createdAt!: number;
}

/**
 * An iMIP (RFC 6047) message received by mail, waiting to be applied to a local recipient's
 * calendar. Written after the mail itself was committed and removed once processed, so work
 * left over by a crash or restart is picked up again. `sender` is the From address delivery
 * found authenticated (the identity the ORGANIZER or ATTENDEE must match).
 */
@Entity('dav_itip_inbound')
@Index('dav_itip_inbound_account', ['accountId'])
export class DavItipInboundEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'integer' }) accountId!: number;
  @Column({ type: 'varchar', length: 64 }) queueId!: string;
  @Column({ type: 'varchar', length: 320 }) sender!: string;
  @Column({ type: 'text' }) itip!: string;
  @Column({ type: 'integer', default: 0 }) attempts!: number;
  @EpochColumn() createdAt!: number;
}

/**
 * Calendar delegation (calendarserver caldav-proxy): the delegate (one account or one group,
 * members resolved at request time) may read ('read') or read and write ('read-write') every
 * calendar of `ownerId`, as a member of the owner's calendar-proxy-read/-write principal.
 */
@Entity('dav_proxy')
@Index('dav_proxy_owner', ['ownerId'])
@Index('dav_proxy_account', ['delegateAccountId'])
@Index('dav_proxy_group', ['delegateGroupId'])
export class DavProxyEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'integer' }) ownerId!: number;
  @Column({ type: 'integer', nullable: true }) delegateAccountId!: number | null;
  @Column({ type: 'integer', nullable: true }) delegateGroupId!: number | null;
  /** 'read' | 'read-write' */
  @Column({ type: 'varchar', length: 16 }) access!: string;
  @EpochColumn() createdAt!: number;
}
