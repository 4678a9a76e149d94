import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { EpochColumn } from './columns.js';

/** A mail domain. `name` is the lower-case ASCII (punycode) form; every lookup uses it. */
@Entity('domain')
export class DomainEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Column({ type: 'varchar', length: 253, unique: true }) name!: string;
  @Column({ type: 'varchar', length: 253 }) unicodeName!: string;
  @Column({ type: 'varchar', length: 63, nullable: true }) dkimSelector!: string | null;
  /** PKCS#8 PEM. Kept in the store so every node signs with the same key. */
  @Column({ type: 'text', nullable: true }) dkimPrivateKey!: string | null;
  /**
   * The key `domain dkim-rotate` replaced: no longer used for signing, kept (with its selector,
   * whose DNS record should stay published) until `--retire` or the grace period after
   * dkimRotatedAt, so mail signed with it shortly before the rotation still verifies.
   */
  @Column({ type: 'varchar', length: 63, nullable: true }) dkimPreviousSelector!: string | null;
  @Column({ type: 'text', nullable: true }) dkimPreviousPrivateKey!: string | null;
  @EpochColumn({ nullable: true }) dkimRotatedAt!: number | null;
  @EpochColumn() createdAt!: number;
}
