import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { BigIntColumn, EpochColumn } from './columns.js';

/** A message waiting for remote delivery. Survives restarts; the bytes are a blob. */
@Entity('queue_message')
export class QueueMessageEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'varchar', length: 32, unique: true }) queueId!: string;
  /** Envelope sender; '' is the null reverse-path (bounces are never sent to it). */
  @Column({ type: 'varchar', length: 320 }) sender!: string;
  @Column({ type: 'varchar', length: 64 }) blobHash!: string;
  @BigIntColumn() size!: number;
  @Column({ type: 'varchar', length: 998, nullable: true }) messageIdHeader!: string | null;
  /** Account that submitted it, if any (for per-account views). */
  @Column({ type: 'integer', nullable: true }) accountId!: number | null;
  /** Set when this message is itself a DSN, so it is never bounced again. */
  @Column({ type: 'boolean', default: false }) isBounce!: boolean;
  @EpochColumn() createdAt!: number;
  @EpochColumn() expiresAt!: number;
  /** Set once every recipient is final and any DSN is queued; the row is then kept for trace. */
  @EpochColumn({ nullable: true }) completedAt!: number | null;
}

/** One remote recipient of a queued message, with its own retry schedule. */
@Entity('queue_recipient')
@Index('queue_recipient_due', ['status', 'nextAttemptAt'])
export class QueueRecipientEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Index() @Column({ type: 'integer' }) queueMessageId!: number;
  @Column({ type: 'varchar', length: 320 }) recipient!: string;
  @Column({ type: 'varchar', length: 253 }) domain!: string;
  /** 'pending' | 'delivered' | 'failed' (permanent) | 'expired' */
  @Column({ type: 'varchar', length: 16, default: 'pending' }) status!: string;
  @Column({ type: 'integer', default: 0 }) attempts!: number;
  @EpochColumn() nextAttemptAt!: number;
  @Column({ type: 'text', nullable: true }) lastReply!: string | null;
  @Column({ type: 'varchar', length: 255, nullable: true }) lastHost!: string | null;
  @EpochColumn() updatedAt!: number;
}
