// The Pochtamt side of the IMAP benchmark: a fresh instance in the temporary folder (SQLite
// store), loaded through the library before the server starts (corpus through
// app.delivery.deliver, the 100,000-message mailbox through mailStore.append in big
// transactions), then run as a separate `pochtamt serve` process with only the IMAP and MX
// listeners on loopback ports.
import path from 'node:path';
import type { App } from '../../src/instance/app.js';
import { parseMessageMetadata } from '../../src/mime/message-metadata.js';
import { createInstance, openInstance, serveInstance } from '../common/pochtamt-instance.js';
import type { BenchData, Server } from './common.js';
import { waitForImap } from './common.js';
import { CORPUS_SENDER } from './corpus.js';

export interface PochtamtOptions {
  dir: string;
  imapPort: number;
  smtpPort: number;
  maxConnections: number;
  maxFds: number;
}

export async function setupPochtamt(o: PochtamtOptions, data: BenchData, say: (s: string) => void): Promise<Server> {
  const t0 = Date.now();
  // IMAP + MX on loopback, every other listener off, limits for the IDLE test, quiet logs.
  const dataDir = await createInstance({
    dir: o.dir, domain: data.domain, bench: 'imap', via: 'library', listeners: { imap: o.imapPort, smtp: o.smtpPort },
    limits: { maxConnections: o.maxConnections, maxConnectionsPerIp: o.maxConnections },
    // LOGIN over plain loopback connections, as the Dovecot side is configured: the figures are IMAP's, not TLS's.
    // The IDLE test opens --idle-per-user sessions per account (100 by default), over the per-account cap.
    edit: (cfg) => {
      cfg.auth = { ...((cfg.auth as object) ?? {}), allowPlaintextWithoutTls: true };
      cfg.limits = { ...((cfg.limits as object) ?? {}), imapConnectionsPerAccount: o.maxConnections };
    },
  }, say);

  const app = await openInstance(dataDir);
  try {
    for (const u of data.allUsers()) await app.accounts.addAccount({ address: u, password: data.password });
    say(`  Pochtamt: instance and ${data.allUsers().length} accounts ready (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    await loadCorpus(app, data, say);
    if (data.bigCount > 0) await loadBig(app, data, say);
  } finally {
    await app.close();
  }

  // Serve as a separate process, through bash to raise its open-files limit.
  const server = await serveInstance({
    dataDir, logFile: path.join(o.dir, 'pochtamt.log'), maxFds: o.maxFds, shell: 'bash', fallback: true, stopGraceMs: 20_000,
    ready: (isDead) => waitForImap(o.imapPort, 60_000, isDead),
  }, say);
  say(`  Pochtamt: pid ${server.pid}, IMAP 127.0.0.1:${o.imapPort}, MX 127.0.0.1:${o.smtpPort} (${server.via})`);
  return {
    name: 'pochtamt',
    label: 'Pochtamt',
    imapPort: o.imapPort,
    logFile: server.logFile,
    pids: () => [server.pid],
    alive: () => server.alive(),
    memoryKind: 'RSS',
    deliver: { kind: 'smtp', port: o.smtpPort },
    stop: () => server.stop(),
  };
}

/** Every corpus message once, to all load users in one delivery (one blob, one row per user), as SMTP would. */
async function loadCorpus(app: App, data: BenchData, say: (s: string) => void): Promise<void> {
  const t0 = Date.now();
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < data.corpus.length) {
      const i = next++;
      const r = await app.delivery.deliver({ queueId: `BENCH${i}`, sender: CORPUS_SENDER, recipients: data.loadUsers, raw: data.corpus[i]! });
      if (r.failed.length) throw new Error(`corpus delivery ${i} failed: ${JSON.stringify(r.failed[0])}`);
      if (++done % 500 === 0) say(`  Pochtamt: corpus ${done}/${data.corpus.length}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  say(`  Pochtamt: ${data.corpus.length} messages delivered to ${data.loadUsers.length} mailboxes in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/** The big mailbox: a pool of distinct small messages (one blob each), appended bigCount times in batches. */
async function loadBig(app: App, data: BenchData, say: (s: string) => void): Promise<void> {
  const t0 = Date.now();
  const account = await app.accounts.getAccount(data.bigUser);
  if (!account) throw new Error(`no account ${data.bigUser}`);
  const inbox = await app.mailStore.inbox(account.id);
  const pool = await Promise.all(data.bigPool.map(async (raw) => ({ hash: await app.store.blobs.put(raw), size: raw.length, metadata: parseMessageMetadata(raw) })));
  const batch = 2000;
  const base = Date.UTC(2023, 0, 1);
  for (let start = 0; start < data.bigCount; start += batch) {
    const end = Math.min(start + batch, data.bigCount);
    await app.store.write(async (ctx) => {
      for (let i = start; i < end; i++) {
        const m = pool[i % pool.length]!;
        await app.mailStore.append(ctx, {
          accountId: account.id, mailboxId: inbox.id, blobHash: m.hash, size: m.size, metadata: m.metadata,
          internalDate: base + i * 60_000, flags: data.bigFlags(i),
        });
      }
    });
    if ((end / batch) % 10 === 0 || end === data.bigCount) say(`  Pochtamt: big mailbox ${end}/${data.bigCount}`);
  }
  say(`  Pochtamt: ${data.bigCount} messages in ${data.bigUser} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
