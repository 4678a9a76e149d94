// Column helpers shared by the entities. Times are stored as epoch milliseconds in a
// BIGINT so SQLite and PostgreSQL agree to the millisecond and no time zone is involved;
// node-postgres returns BIGINT as a string, hence the transformer.
import { Column, type ColumnOptions, type ValueTransformer } from 'typeorm';

export const bigintNumber: ValueTransformer = {
  to: (v: number | null | undefined) => v,
  from: (v: string | number | null) => (v === null || v === undefined ? v : Number(v)),
};

/** A BIGINT column read back as a JS number (safe up to 2^53). */
export function BigIntColumn(options: ColumnOptions = {}): PropertyDecorator {
  return Column({ type: 'bigint', transformer: bigintNumber, ...options });
}

/** Epoch milliseconds. */
export const EpochColumn = BigIntColumn;
