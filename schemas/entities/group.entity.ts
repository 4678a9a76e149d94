import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { EpochColumn } from './columns.js';

/** A distribution list: mail to `address` goes to every member (nested groups expanded). */
@Entity('mail_group')
@Index('group_external', ['directoryId', 'externalId'], { unique: true })
export class GroupEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'varchar', length: 320, unique: true }) address!: string;
  @Index() @Column({ type: 'integer' }) domainId!: number;
  @Column({ type: 'varchar', length: 256, default: '' }) displayName!: string;
  /** Whether members may use the group address as their From (submission). */
  @Column({ type: 'boolean', default: false }) membersMaySendAs!: boolean;
  @Column({ type: 'varchar', length: 16, default: 'local' }) source!: string;
  @Column({ type: 'varchar', length: 64, nullable: true }) directoryId!: string | null;
  @Column({ type: 'varchar', length: 256, nullable: true }) externalId!: string | null;
  @EpochColumn() createdAt!: number;
}

/** One member: exactly one of accountId, memberGroupId or externalAddress is set. */
@Entity('mail_group_member')
export class GroupMemberEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Index() @Column({ type: 'integer' }) groupId!: number;
  @Index() @Column({ type: 'integer', nullable: true }) accountId!: number | null;
  @Column({ type: 'integer', nullable: true }) memberGroupId!: number | null;
  @Column({ type: 'varchar', length: 320, nullable: true }) externalAddress!: string | null;
}
