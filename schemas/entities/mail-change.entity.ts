import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { BigIntColumn, EpochColumn } from './columns.js';

/**
 * Append-only change log, written in the same transaction as the change it describes.
 * Other sessions and other nodes tail it by id to learn of new messages, flag changes and
 * expunges (and IMAP QRESYNC reads expunges from it by modseq).
 */
@Entity('mail_change')
@Index('mail_change_mailbox_modseq', ['mailboxId', 'modseq'])
export class MailChangeEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Index() @Column({ type: 'integer' }) accountId!: number;
  @Column({ type: 'integer' }) mailboxId!: number;
  /** 'append' | 'flags' | 'expunge' | 'mailbox' */
  @Column({ type: 'varchar', length: 16 }) kind!: string;
  @Column({ type: 'integer', nullable: true }) uid!: number | null;
  @BigIntColumn() modseq!: number;
  @EpochColumn() at!: number;
}
