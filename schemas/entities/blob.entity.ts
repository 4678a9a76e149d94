import { Column, Entity, PrimaryColumn } from 'typeorm';
import { BigIntColumn, EpochColumn } from './columns.js';

/** Reference count of a content-addressed blob: messages and queue entries that use it. */
@Entity('blob')
export class BlobEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 }) hash!: string;
  @BigIntColumn() size!: number;
  @Column({ type: 'integer', default: 0 }) refCount!: number;
  @EpochColumn() createdAt!: number;
}
