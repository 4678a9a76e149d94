import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { BigIntColumn, EpochColumn } from './columns.js';

/**
 * A person (or role) with a mailbox. Every protocol authenticates against this row.
 * `source` is 'local' for accounts managed by the CLI, or 'directory' for accounts owned by
 * a directory connector, which finds them again by (directoryId, externalId) — a stable id
 * such as objectGUID — so renames never lose the mailbox.
 */
@Entity('account')
@Index('account_external', ['directoryId', 'externalId'], { unique: true })
export class AccountEntity {
  @PrimaryGeneratedColumn() id!: number;
  /** Primary address, local part as given (compared case-insensitively), domain in ASCII lower case. */
  @Column({ type: 'varchar', length: 320, unique: true }) address!: string;
  @Index() @Column({ type: 'integer' }) domainId!: number;
  @Column({ type: 'varchar', length: 256, default: '' }) displayName!: string;
  /** argon2id PHC string; null for directory accounts (bind-through) or login-disabled roles. */
  @Column({ type: 'varchar', length: 256, nullable: true }) passwordHash!: string | null;
  @Column({ type: 'varchar', length: 16, default: 'local' }) source!: string;
  /**
   * 'user': a person who logs in. 'shared': a shared mailbox (e.g. support@) that never logs in;
   * its folders are reached through ACL grants under the "Shared Folders" IMAP namespace.
   */
  @Column({ type: 'varchar', length: 16, default: 'user' }) kind!: 'user' | 'shared';
  @Column({ type: 'varchar', length: 64, nullable: true }) directoryId!: string | null;
  @Column({ type: 'varchar', length: 256, nullable: true }) externalId!: string | null;
  @Column({ type: 'boolean', default: true }) enabled!: boolean;
  @Column({ type: 'boolean', default: false }) isAdmin!: boolean;
  /** 0 means unlimited. */
  @BigIntColumn({ default: 0 }) quotaBytes!: number;
  @Column({ type: 'integer', default: 0 }) quotaMessages!: number;
  @BigIntColumn({ default: 0 }) usedBytes!: number;
  @Column({ type: 'integer', default: 0 }) usedMessages!: number;
  @EpochColumn() createdAt!: number;
  @EpochColumn() updatedAt!: number;
  /** Set when the directory deleted the person: the mailbox is kept, disabled, until purged. */
  @EpochColumn({ nullable: true }) deletedAt!: number | null;
}
