import { Column, Entity, Index, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import { EpochColumn } from './columns.js';

/**
 * Sync state of one configured directory (config `directories[].id`): where incremental sync
 * resumes (`cursor`: AD highestCommittedUSN, OpenLDAP contextCSN or modifyTimestamp), when it
 * last ran, what it did, the last error and the open conflicts (JSON).
 */
@Entity('directory_state')
export class DirectoryStateEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 }) directoryId!: string;
  @Column({ type: 'varchar', length: 256, nullable: true }) cursor!: string | null;
  @EpochColumn({ nullable: true }) lastRunAt!: number | null;
  @EpochColumn({ nullable: true }) lastSuccessAt!: number | null;
  @EpochColumn({ nullable: true }) lastFullAt!: number | null;
  @EpochColumn({ nullable: true }) lastIdScanAt!: number | null;
  @Column({ type: 'text', nullable: true }) lastError!: string | null;
  /** JSON: counts of the last run (created, updated, disabled, deleted, ...). */
  @Column({ type: 'text', default: '{}' }) counts!: string;
  /** JSON: open conflicts, [{ externalId, dn, address, reason, since }]. */
  @Column({ type: 'text', default: '[]' }) conflicts!: string;
  @EpochColumn() updatedAt!: number;
}

/**
 * The local copy of one directory user or group: its current DN and login names (for
 * bind-through logins and membership), the account or distribution list it feeds, and its
 * address-book attributes (JSON) for the Global Address List. Found by (directoryId,
 * externalId), the stable id (objectGUID, entryUUID), so renames keep the same row.
 */
@Entity('directory_entry')
@Index('directory_entry_external', ['directoryId', 'externalId'], { unique: true })
@Index('directory_entry_dn', ['directoryId', 'dnKey'])
@Index('directory_entry_login', ['directoryId', 'login'])
export class DirectoryEntryEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'varchar', length: 64 }) directoryId!: string;
  @Column({ type: 'varchar', length: 256 }) externalId!: string;
  /** 'user' or 'group'. */
  @Column({ type: 'varchar', length: 8 }) kind!: string;
  @Column({ type: 'text' }) dn!: string;
  /** Normalised DN for lookups (see connectors/ldap/escape.ts dnKey). */
  @Column({ type: 'varchar', length: 1024 }) dnKey!: string;
  /** sAMAccountName or uid, lower case. */
  @Column({ type: 'varchar', length: 256, nullable: true }) login!: string | null;
  /** userPrincipalName, lower case. */
  @Index() @Column({ type: 'varchar', length: 320, nullable: true }) upn!: string | null;
  @Column({ type: 'varchar', length: 320, nullable: true }) mail!: string | null;
  @Index() @Column({ type: 'integer', nullable: true }) accountId!: number | null;
  @Column({ type: 'integer', nullable: true }) groupId!: number | null;
  @Column({ type: 'boolean', default: false }) disabled!: boolean;
  /** JSON: { book: {displayName, title, ...}, addresses: [...] }. */
  @Column({ type: 'text', default: '{}' }) attributes!: string;
  /** JSON (groups): { dns: [...], uids: [...] } — direct members as the directory lists them. */
  @Column({ type: 'text', default: '{}' }) members!: string;
  @EpochColumn({ nullable: true }) deletedAt!: number | null;
  @EpochColumn() updatedAt!: number;
}
