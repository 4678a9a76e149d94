import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { BigIntColumn, EpochColumn } from './columns.js';

/**
 * A folder. `name` is the full path with '/' as the hierarchy delimiter (INBOX is always
 * "INBOX"). uidNext and highestModseq are advanced inside the transaction that stores or
 * changes a message, so UIDs are never reused and MODSEQ only grows (RFC 9051 §2.3.1.1, RFC 7162).
 */
@Entity('mailbox')
@Index('mailbox_account_name', ['accountId', 'name'], { unique: true })
export class MailboxEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'integer' }) accountId!: number;
  @Column({ type: 'varchar', length: 1024 }) name!: string;
  /** RFC 6154 attribute without the backslash: Sent, Drafts, Trash, Junk, Archive; null for plain folders. */
  @Column({ type: 'varchar', length: 16, nullable: true }) specialUse!: string | null;
  @BigIntColumn() uidValidity!: number;
  @Column({ type: 'integer', default: 1 }) uidNext!: number;
  @BigIntColumn({ default: 1 }) highestModseq!: number;
  @Column({ type: 'integer', default: 0 }) messageCount!: number;
  @BigIntColumn({ default: 0 }) totalBytes!: number;
  @Column({ type: 'boolean', default: true }) subscribed!: boolean;
  @EpochColumn() createdAt!: number;
}
