// Read-only access to a benchmark instance's SQLite store (<data>/pochtamt.db), to watch counts
// and rows while the server runs.
import { createRequire } from 'node:module';
import path from 'node:path';

// better-sqlite3 (a Pochtamt dependency) ships no types and @types/better-sqlite3 is not installed.
export interface SqliteDb { open: boolean; pragma(s: string): unknown; prepare(sql: string): { get(...a: unknown[]): unknown }; close(): void }
const Database = createRequire(import.meta.url)('better-sqlite3') as new (file: string, o: { readonly: boolean; fileMustExist: boolean }) => SqliteDb;

export function openStoreReadonly(dataDir: string): SqliteDb {
  return new Database(path.join(dataDir, 'pochtamt.db'), { readonly: true, fileMustExist: true });
}
