// Security state shared by every node through the store (issue 6): greylisting triplets and
// auto-whitelist entries, temporary IP bans, token buckets for rate limits, quarantined
// messages and per-user/per-domain sender allow/deny lists. Small rows, keyed for one lookup.
import { Column, Entity, Index, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import { EpochColumn } from './columns.js';

/**
 * One greylisting entry. `key` is 't|<client net>|<sender>|<recipient>' for a triplet or
 * 'awl|<client net>' for a client network that retried successfully (auto-whitelist).
 * `passedAt` is set once the triplet was retried after the delay.
 */
@Entity('greylist')
export class GreylistEntity {
  @PrimaryColumn({ type: 'varchar', length: 700 }) key!: string;
  @EpochColumn() firstSeen!: number;
  @Index() @EpochColumn() lastSeen!: number;
  @EpochColumn({ nullable: true }) passedAt!: number | null;
}

/** A temporary ban of one client IP (brute force), enforced at connect by every auth protocol. */
@Entity('security_ban')
export class BanEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 }) ip!: string;
  @Column({ type: 'varchar', length: 255 }) reason!: string;
  @Column({ type: 'integer', default: 0 }) failures!: number;
  @EpochColumn() createdAt!: number;
  @Index() @EpochColumn() expiresAt!: number;
}

/**
 * A token bucket (rate limit) shared by all nodes: `tokens` left at `updatedAt`; refills at the
 * configured rate. Updated with one atomic upsert per check (src/policy/rate-limit.ts).
 */
@Entity('rate_bucket')
export class RateBucketEntity {
  @PrimaryColumn({ type: 'varchar', length: 400 }) key!: string;
  @Column({ type: 'double precision' }) tokens!: number;
  @Index() @EpochColumn() updatedAt!: number;
}

/**
 * A message held by policy instead of delivered; `pochtamt quarantine release` delivers it.
 * Released rows stay (releasedAt set) until the retention sweep removes them, so a second
 * release is answered from the row instead of delivering again.
 */
@Entity('quarantine')
export class QuarantineEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Index() @Column({ type: 'varchar', length: 32 }) queueId!: string;
  @Column({ type: 'varchar', length: 320 }) sender!: string;
  /** JSON array of envelope recipients. */
  @Column({ type: 'text' }) recipients!: string;
  /** The authenticated submitter (submission listeners), null for mail from outside. */
  @Column({ type: 'integer', nullable: true }) accountId!: number | null;
  @Column({ type: 'varchar', length: 64 }) step!: string;
  @Column({ type: 'varchar', length: 1000 }) reason!: string;
  @Column({ type: 'varchar', length: 998, nullable: true }) subject!: string | null;
  @Column({ type: 'integer' }) size!: number;
  /** The message as it would have been stored, base64 (portable between SQLite and PostgreSQL). */
  @Column({ type: 'text' }) rawBase64!: string;
  @Index() @EpochColumn() createdAt!: number;
  /** A release is under way since then (claimed; a stale claim may be taken over). */
  @EpochColumn({ nullable: true }) releaseStartedAt!: number | null;
  /** Delivered by a release at this time. */
  @EpochColumn({ nullable: true }) releasedAt!: number | null;
}

/**
 * A sender allow/deny entry. owner: a recipient address, a local domain, or '*' (everyone).
 * pattern: a sender address or '@domain' (matches the domain and its subdomains).
 */
@Entity('sender_list')
@Index('sender_list_owner_pattern', ['owner', 'pattern'], { unique: true })
export class SenderListEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'varchar', length: 320 }) owner!: string;
  @Column({ type: 'varchar', length: 320 }) pattern!: string;
  /** 'allow' | 'deny' */
  @Column({ type: 'varchar', length: 8 }) kind!: string;
  @EpochColumn() createdAt!: number;
}
