import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * One entry of a mailbox's access control list (RFC 4314): the rights `subjectKind`/`subjectId`
 * has on mailbox `mailboxId`. Subjects are an account, a group (its members, nested groups
 * included, at the time of each check) or 'anyone' (every authenticated user; subjectId 0).
 * `rights` holds the letters in canonical order ("lrswipkxtea" at most). The owner of a mailbox
 * has no row: it always has every right.
 */
@Entity('mailbox_acl')
@Index('mailbox_acl_entry', ['mailboxId', 'subjectKind', 'subjectId'], { unique: true })
@Index('mailbox_acl_subject', ['subjectKind', 'subjectId'])
export class MailboxAclEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'integer' }) mailboxId!: number;
  @Column({ type: 'varchar', length: 8 }) subjectKind!: 'account' | 'group' | 'anyone';
  @Column({ type: 'integer' }) subjectId!: number;
  @Column({ type: 'varchar', length: 32 }) rights!: string;
}

/**
 * A subscription (RFC 9051 §6.3.7) of an account to another account's mailbox (shared folders).
 * Subscriptions to one's own mailboxes stay the `subscribed` flag on the mailbox row.
 */
@Entity('mailbox_subscription')
@Index('mailbox_subscription_entry', ['accountId', 'mailboxId'], { unique: true })
export class MailboxSubscriptionEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'integer' }) accountId!: number;
  @Index() @Column({ type: 'integer' }) mailboxId!: number;
}
