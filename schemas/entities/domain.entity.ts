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
  @EpochColumn() createdAt!: number;
}
