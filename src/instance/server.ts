// `pochtamt serve`: opens the instance and starts every listener, the outbound queue worker
// and blob garbage collection. stop() closes listeners, waits for in-flight work and closes
// the store, so a clean shutdown loses nothing (and a crash loses nothing acknowledged).
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { Server as NetServer } from 'node:net';
import path from 'node:path';
import { BlobEntity } from '../../schemas/entities/index.js';
import { loadConfig, type Config } from '../config/config.js';
import { OutboundWorker } from '../delivery/outbound-worker.js';
import { createHttpApp } from '../http/http-app.js';
import type { Logger } from '../observability/logger.js';
import { createLogger } from '../observability/logger.js';
import { createImapServer } from '../sessions/imap/imap-listener.js';
import { createPop3Server } from '../sessions/pop3/pop3-listener.js';
import { createSmtpServer, type SmtpRole } from '../sessions/smtp/smtp-listener.js';
import { SmtpPolicy } from '../policy/smtp-policy.js';
import { openApp, type App } from './app.js';

export interface RunningServer {
  app: App;
  /** Bound port of each listener (the one the system chose where the config said 0). */
  ports: Record<string, number>;
  stop(): Promise<void>;
}

/** Orphan blobs (written, but their transaction never committed) older than this are removed. */
const ORPHAN_AGE_MS = 60 * 60_000;

export async function startServer(opts: { dataDir: string; config?: Config; log?: Logger }): Promise<RunningServer> {
  const config = opts.config ?? loadConfig(opts.dataDir);
  const log = opts.log ?? createLogger(config.logLevel);
  const app = await openApp({ dataDir: opts.dataDir, config, log });
  const tls = {
    key: readFileSync(path.resolve(opts.dataDir, config.tls.key)),
    cert: readFileSync(path.resolve(opts.dataDir, config.tls.cert)),
  };
  const servers: Array<{ name: string; close: () => Promise<void> }> = [];
  const ports: Record<string, number> = {};

  const listen = (name: string, srv: NetServer, port: number, host: string) => new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, host, () => {
      srv.off('error', reject);
      const addr = srv.address();
      ports[name] = typeof addr === 'object' && addr ? addr.port : port;
      log.info({ event: 'server.listener.started', listener: name, host, port: ports[name] }, `${name} listening`);
      resolve();
    });
  });

  try {
    const smtpPolicy = new SmtpPolicy(app.policy);
    const smtpRoles: Array<[string, SmtpRole]> = [['smtp', 'mx'], ['submission', 'submission'], ['submissions', 'submissions']];
    for (const [name, role] of smtpRoles) {
      const l = config.listeners[name as 'smtp'];
      if (!l.enabled) continue;
      const srv = createSmtpServer(role, {
        hostname: config.hostname, tls, limits: config.limits, allowPlaintextAuth: config.auth.allowPlaintextWithoutTls,
        accounts: app.accounts, mailStore: app.mailStore, delivery: app.delivery, trace: app.trace, throttle: app.throttle, log,
        policy: smtpPolicy,
      });
      await listen(name, srv.server, l.port, l.host);
      servers.push({ name, close: () => new Promise<void>((r) => srv.close(() => r())) });
    }
    for (const [name, implicitTls] of [['pop3', false], ['pop3s', true]] as const) {
      const l = config.listeners[name];
      if (!l.enabled) continue;
      const srv = createPop3Server(app, { implicitTls, tls });
      await listen(name, srv, l.port, l.host);
      servers.push({ name, close: () => closeNetServer(srv) });
    }
    for (const [name, implicitTls] of [['imap', false], ['imaps', true]] as const) {
      const l = config.listeners[name];
      if (!l?.enabled) continue;
      const srv = createImapServer(app, { implicitTls, tls });
      await listen(name, srv, l.port, l.host);
      servers.push({ name, close: () => closeNetServer(srv) });
    }
    if (config.listeners.http.enabled) {
      const http = createHttpApp(app);
      const srv = http.listen(config.listeners.http.port, config.listeners.http.host);
      await new Promise<void>((resolve, reject) => {
        srv.once('listening', resolve);
        srv.once('error', reject);
      });
      const addr = srv.address();
      ports.http = typeof addr === 'object' && addr ? addr.port : config.listeners.http.port;
      servers.push({ name: 'http', close: () => new Promise<void>((r) => { srv.close(() => r()); srv.closeAllConnections(); }) });
    }
    if (config.listeners.https?.enabled) {
      // Same express app as http, with the mail protocols' certificate (CalDAV/CardDAV over TLS).
      const srv = createHttpsServer(tls, createHttpApp(app));
      await listen('https', srv, config.listeners.https.port, config.listeners.https.host);
      servers.push({ name: 'https', close: () => new Promise<void>((r) => { srv.close(() => r()); srv.closeAllConnections(); }) });
    }
  } catch (e) {
    for (const s of servers) await s.close();
    await app.close();
    throw e;
  }

  const outbound = new OutboundWorker(app);
  outbound.start();
  // Ban cache refresh (every node sees a new ban within ~1 s) and hourly pruning of policy tables.
  app.policy.start();
  // Directory sync: first run now, then every pollSeconds, so a new AD user gets a mailbox within seconds.
  app.directories.start();
  // Incoming iMIP left over from a previous run first, then retries of failed ones.
  app.imip.start();
  const gcTimer = setInterval(() => void collectGarbage(app).catch(() => undefined), 3600_000);
  gcTimer.unref();
  void collectGarbage(app).catch((e) => log.warn({ event: 'store.gc.failed', err: (e as Error).message }, 'gc failed'));

  return {
    app,
    ports,
    async stop() {
      clearInterval(gcTimer);
      await Promise.all(servers.map((s) => s.close().catch(() => undefined)));
      await outbound.stop();
      await app.directories.stop();
      await app.close();
    },
  };
}

function closeNetServer(srv: NetServer): Promise<void> {
  return new Promise((resolve) => {
    srv.close(() => resolve());
    (srv as NetServer & { closeAllConnections?: () => void }).closeAllConnections?.();
  });
}

/**
 * Removes blob files no row references: left behind when a process died between writing the
 * bytes and committing the rows (the client never got a 250 for those), or after a refcount
 * reached zero but the unlink did not happen.
 */
export async function collectGarbage(app: App): Promise<number> {
  const cutoff = Date.now() - ORPHAN_AGE_MS;
  let removed = 0;
  for await (const { hash, mtimeMs } of app.store.blobs.list()) {
    if (mtimeMs > cutoff) continue;
    const row = await app.store.em.findOneBy(BlobEntity, { hash });
    if (!row) {
      await app.store.blobs.delete(hash);
      removed++;
    }
  }
  if (removed) app.log.info({ event: 'store.gc.removed', count: removed }, 'orphan blobs removed');
  return removed;
}
