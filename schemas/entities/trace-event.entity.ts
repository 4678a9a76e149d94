import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { EpochColumn } from './columns.js';

/** One step in a message's life, searchable with `pochtamt trace`. Mirrors a pino log line. */
@Entity('trace_event')
export class TraceEventEntity {
  @PrimaryGeneratedColumn() id!: number;
  @Index() @Column({ type: 'varchar', length: 32 }) queueId!: string;
  @Index() @EpochColumn() at!: number;
  /** area.noun.verb, e.g. smtp.rcpt.rejected, delivery.local.stored, queue.attempt.deferred */
  @Column({ type: 'varchar', length: 64 }) event!: string;
  @Index() @Column({ type: 'varchar', length: 998, nullable: true }) messageIdHeader!: string | null;
  @Index() @Column({ type: 'varchar', length: 320, nullable: true }) sender!: string | null;
  @Index() @Column({ type: 'varchar', length: 320, nullable: true }) recipient!: string | null;
  @Column({ type: 'text', default: '' }) detail!: string;
}
