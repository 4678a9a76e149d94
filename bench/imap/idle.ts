// Many concurrent authenticated IDLE connections (lean raw-socket clients, so one process holds
// 10,000), the server's memory with them open, and one delivery to every account they are
// logged in to: the time until each connection has reported the new message (* n EXISTS).
import { sleep } from '../common/process.js';
import { memoryKiB, percentile, pool, type Server } from './common.js';
import { RawImap, q, sendMail } from './raw.js';
import { CORPUS_SENDER } from './corpus.js';

export interface IdleOptions {
  server: Server;
  /** Connection i logs in to users[i % users.length]. */
  users: string[];
  password: string;
  connections: number;
  /** Handshakes (connect, LOGIN, SELECT, IDLE) in flight at once. */
  parallel: number;
  message: Buffer;
  waitSeconds: number;
  progress: (s: string) => void;
}

export interface IdleResult {
  server: string;
  wanted: number;
  opened: number;
  failed: number;
  firstError: string | null;
  openSeconds: number;
  memBeforeKiB: number;
  memWithKiB: number;
  /** Connections the server had closed by the time of the delivery. */
  droppedBeforeDelivery: number;
  deliverMs: number | null;
  seen: number;
  p50Ms: number | null;
  p95Ms: number | null;
  allMs: number | null;
  memAfterKiB: number;
  error: string | null;
}

interface Conn { c: RawImap; exists: number; seenAt: number | null }

export async function runIdle(o: IdleOptions): Promise<IdleResult> {
  const { server } = o;
  const res: IdleResult = {
    server: server.label, wanted: o.connections, opened: 0, failed: 0, firstError: null, openSeconds: 0, memBeforeKiB: memoryKiB(server),
    memWithKiB: 0, droppedBeforeDelivery: 0, deliverMs: null, seen: 0, p50Ms: null, p95Ms: null, allMs: null, memAfterKiB: 0, error: null,
  };
  const conns: Conn[] = [];
  let t0 = 0;
  try {
    const start = performance.now();
    let lastProgress = 0;
    await pool(Array.from({ length: o.connections }, (_, i) => i), o.parallel, async (i) => {
      const c = new RawImap(server.imapPort);
      const conn: Conn = { c, exists: 0, seenAt: null };
      const timer = setTimeout(() => c.destroy(), 180_000);
      try {
        await c.ready();
        await c.command(`LOGIN ${q(o.users[i % o.users.length]!)} ${q(o.password)}`);
        c.onUntagged = (line) => { const m = /^\* (\d+) EXISTS/i.exec(line); if (m) conn.exists = Number(m[1]); };
        await c.command('SELECT INBOX');
        c.onUntagged = (line) => {
          const m = /^\* (\d+) EXISTS/i.exec(line);
          if (m && Number(m[1]) > conn.exists && conn.seenAt === null && t0) conn.seenAt = performance.now();
        };
        await c.idle();
        conns.push(conn);
      } catch (e) {
        res.failed++;
        res.firstError ??= (e as Error).message;
        c.destroy();
      } finally {
        clearTimeout(timer);
      }
      const now = performance.now();
      if (now - lastProgress > 1000) {
        lastProgress = now;
        o.progress(`  ${server.label}: ${conns.length}/${o.connections} IDLE connections (${res.failed} failed)`);
      }
    });
    res.openSeconds = (performance.now() - start) / 1000;
    res.opened = conns.length;
    await sleep(2000);
    res.memWithKiB = memoryKiB(server);
    res.droppedBeforeDelivery = conns.filter((x) => x.c.closed).length;
    if (!conns.length) throw new Error(`no IDLE connection could be opened: ${res.firstError}`);

    // One delivery to every account the connections are logged in to.
    t0 = performance.now();
    await sendMail({ port: server.deliver.port, lmtp: server.deliver.kind === 'lmtp', from: CORPUS_SENDER, recipients: o.users, raw: o.message });
    res.deliverMs = performance.now() - t0;
    const live = conns.filter((x) => !x.c.closed);
    const deadline = performance.now() + o.waitSeconds * 1000;
    while (performance.now() < deadline && live.some((x) => x.seenAt === null && !x.c.closed)) await sleep(20);
    const times = conns.filter((x) => x.seenAt !== null).map((x) => x.seenAt! - t0);
    res.seen = times.length;
    res.p50Ms = percentile(times, 50);
    res.p95Ms = percentile(times, 95);
    res.allMs = res.seen === conns.length ? Math.max(...times) : null;
    if (res.seen < conns.length) {
      const closed = conns.filter((x) => x.c.closed).length;
      res.error = `${conns.length - res.seen} of ${conns.length} connections did not report the new message within ${o.waitSeconds} s`
        + (closed ? ` (${closed} were closed by the server)` : '');
    }
  } catch (e) {
    res.error = (e as Error).message;
  } finally {
    for (const x of conns) x.c.destroy();
  }
  await sleep(2000);
  res.memAfterKiB = memoryKiB(server);
  return res;
}
