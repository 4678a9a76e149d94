// The Pochtamt side of the SMTP benchmark: a fresh instance (bench/common/pochtamt-instance.ts)
// with only the MX listener on a loopback port, one recipient account, run as a separate
// `pochtamt serve` process; stored messages are counted in its SQLite store.
import path from 'node:path';
import { onCleanup } from '../common/cleanup.js';
import { waitForGreeting } from '../common/net.js';
import { openStoreReadonly, type SqliteDb } from '../common/pochtamt-db.js';
import { addAccount, createInstance, serveInstance } from '../common/pochtamt-instance.js';

export interface Pochtamt {
  pid: number;
  port: number;
  dataDir: string;
  logFile: string;
  /** How the server was started (CLI or the bench's own serve.js). */
  via: string;
  /** Messages in the recipient's INBOX (mailbox.messageCount). */
  storedCount(): number;
  /** The store, opened read-only (e.g. for trace_event rows). */
  db: SqliteDb;
  alive(): boolean;
  stop(): Promise<void>;
}

interface Options {
  dir: string; port: number; domain: string; user: string; password: string; maxFds: number;
  /** Further config changes (the --policy mode's policy section). */
  edit?: (cfg: Record<string, unknown>) => void;
  /** Name of the server's cleanup step (several instances may run). */
  cleanupName?: string;
}

export async function setupPochtamt(o: Options, log: (s: string) => void): Promise<Pochtamt> {
  // Limits for the idle test.
  const dataDir = await createInstance({
    dir: o.dir, domain: o.domain, bench: 'smtp', via: 'cli', listeners: { smtp: o.port },
    limits: { maxConnections: 5000, maxConnectionsPerIp: 2000 }, ...(o.edit ? { edit: o.edit } : {}),
  }, log);
  await addAccount(dataDir, o.user, o.password, 'cli', log);
  // Through sh to raise the open-files limit for the idle test.
  const server = await serveInstance({
    dataDir, logFile: path.join(o.dir, 'pochtamt.log'), maxFds: o.maxFds, shell: 'sh', fallback: true, ...(o.cleanupName ? { cleanupName: o.cleanupName } : {}),
    ready: (isDead) => waitForGreeting(o.port, 60_000, isDead),
  }, log);

  const db = openStoreReadonly(dataDir);
  db.pragma('busy_timeout = 5000');
  const countStmt = db.prepare(
    `SELECT coalesce(sum(b."messageCount"), 0) AS n FROM mailbox b JOIN account a ON a.id = b."accountId"
      WHERE a.address = ? AND b.name = 'INBOX'`);
  const closeDb = onCleanup('pochtamt db', () => { if (db.open) db.close(); });
  return {
    pid: server.pid,
    port: o.port,
    dataDir,
    logFile: server.logFile,
    via: server.via,
    db,
    storedCount: () => (countStmt.get(o.user.toLowerCase()) as { n: number }).n,
    alive: () => server.alive(),
    async stop() {
      closeDb();
      if (db.open) db.close();
      await server.stop();
    },
  };
}
