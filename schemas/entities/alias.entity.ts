import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { EpochColumn } from './columns.js';

/** An extra address that delivers to one or more accounts and/or external forwards. */
@Entity('alias')
export class AliasEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'varchar', length: 320, unique: true }) address!: string;
  @Index() @Column({ type: 'integer' }) domainId!: number;
  @Column({ type: 'varchar', length: 16, default: 'local' }) source!: string;
  @EpochColumn() createdAt!: number;
}

/**
 * One target of an alias: exactly one of accountId, groupId or forwardTo is set. A group target
 * makes the alias a further address of that distribution list (a directory group's secondary
 * addresses: AD proxyAddresses `smtp:`, the second and later `mail` values in OpenLDAP).
 */
@Entity('alias_target')
@Index('alias_target_unique', ['aliasId', 'accountId', 'forwardTo'], { unique: true })
export class AliasTargetEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Index() @Column({ type: 'integer' }) aliasId!: number;
  @Index() @Column({ type: 'integer', nullable: true }) accountId!: number | null;
  @Column({ type: 'varchar', length: 320, nullable: true }) forwardTo!: string | null;
  @Index() @Column({ type: 'integer', nullable: true }) groupId!: number | null;
}
