// The IMAP load mix: N imapflow clients, each logged in to one of the load accounts with INBOX
// selected, issuing commands back to back (no think time) for T seconds, picking each command
// with a seeded PRNG so that both servers get the same sequence of choices. One more imapflow
// connection per account sits in IDLE and times the EXISTS that APPENDs by the clients cause.
import { ImapFlow } from 'imapflow';
import { isCleaningUp } from '../common/cleanup.js';
import { cpuSeconds } from '../common/memory.js';
import { between, pick, rng } from '../common/random.js';
import { sleep } from '../common/process.js';
import { memoryKiB, percentile, type Server } from './common.js';
import { RARE_WORD, makeSmallMessage } from './corpus.js';

export const OPS = ['SELECT', 'FETCH FLAGS', 'FETCH BODYSTRUCTURE', 'FETCH BODY[]', 'STORE', 'APPEND', 'SEARCH', 'EXPUNGE'] as const;
export type Op = (typeof OPS)[number];
/** Relative weights of the mix (per 100 commands). */
export const WEIGHTS: Record<Op, number> = {
  SELECT: 5, 'FETCH FLAGS': 20, 'FETCH BODYSTRUCTURE': 15, 'FETCH BODY[]': 20, STORE: 15, APPEND: 8, SEARCH: 10, EXPUNGE: 7,
};
export const IDLE_ROW = 'IDLE wake-up';
/** A client expunges only messages it appended at least this long ago. */
export const EXPUNGE_AFTER_MS = 3000;

export interface OpStats { count: number; errors: number; latencies: number[]; firstError: string | null }
export interface LoadResult {
  server: string;
  seconds: number;
  clients: number;
  ops: Record<string, OpStats>;
  total: number;
  totalErrors: number;
  /** APPENDs whose EXISTS no IDLE connection reported within 5 s of the end. */
  wakeupsMissed: number;
  cpuSeconds: number;
  peakMemKiB: number;
  reconnects: number;
  /** Warm-up, before the clock: the first text SEARCH of each account (ms, in account order). */
  warmupSearchMs: number[];
  fatal: string | null;
}

export interface LoadOptions {
  server: Server;
  users: string[];
  password: string;
  clients: number;
  seconds: number;
  seed: number;
  progress: (s: string) => void;
}

const newStats = (): OpStats => ({ count: 0, errors: 0, latencies: [], firstError: null });

function client(port: number, user: string, password: string): ImapFlow {
  return new ImapFlow({
    host: '127.0.0.1', port, secure: false, doSTARTTLS: false, auth: { user, pass: password },
    logger: false, disableAutoIdle: true, disableCompression: true, connectionTimeout: 60_000, greetingTimeout: 60_000, socketTimeout: 300_000,
  });
}

/** Weighted choice of the next command. */
function chooser(r: () => number): () => Op {
  const total = OPS.reduce((s, o) => s + WEIGHTS[o], 0);
  return () => {
    let x = r() * total;
    for (const o of OPS) { x -= WEIGHTS[o]; if (x < 0) return o; }
    return OPS[0];
  };
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const { server } = o;
  const stats: Record<string, OpStats> = Object.fromEntries([...OPS, IDLE_ROW].map((k) => [k, newStats()]));
  const result: LoadResult = {
    server: server.label, seconds: 0, clients: o.clients, ops: stats, total: 0, totalErrors: 0, wakeupsMissed: 0,
    cpuSeconds: 0, peakMemKiB: 0, reconnects: 0, warmupSearchMs: [], fatal: null,
  };
  // APPEND start times per account, consumed in order by that account's IDLE watcher.
  const pendingAppends = new Map<string, number[]>(o.users.map((u) => [u, []]));
  const all: ImapFlow[] = [];
  const closeAll = async () => {
    await Promise.all(all.map(async (c) => {
      try { await Promise.race([c.logout(), sleep(3000)]); } catch { /* already gone */ }
      try { c.close(); } catch { /* ignore */ }
    }));
  };

  try {
    // Watchers: one IDLE connection per account.
    for (const u of o.users) {
      const w = client(server.imapPort, u, o.password);
      all.push(w);
      w.on('error', () => undefined);
      await w.connect();
      await w.mailboxOpen('INBOX');
      w.on('exists', (ev: { count: number; prevCount: number }) => {
        const now = performance.now();
        const q = pendingAppends.get(u)!;
        for (let k = ev.count - ev.prevCount; k > 0 && q.length; k--) {
          stats[IDLE_ROW]!.count++;
          stats[IDLE_ROW]!.latencies.push(Math.max(0, now - q.shift()!));
        }
      });
      void w.idle().catch(() => undefined);
    }
    // Clients, spread over the accounts; all connected and selected before the clock starts.
    const clients: Array<{ c: ImapFlow; user: string; r: () => number; next: () => Op; appended: Array<{ uid: number; at: number }>; n: number }> = [];
    for (let i = 0; i < o.clients; i++) {
      const user = o.users[i % o.users.length]!;
      const c = client(server.imapPort, user, o.password);
      c.on('error', () => undefined);
      all.push(c);
      await c.connect();
      await c.mailboxOpen('INBOX');
      const r = rng(o.seed * 1009 + i);
      clients.push({ c, user, r, next: chooser(r), appended: [], n: 0 });
    }
    // Warm-up: one text SEARCH per account, all accounts at once. Indexes a server builds lazily
    // (Pochtamt computes its search text on the first text SEARCH of a mailbox) exist afterwards,
    // so the timed mix measures the steady state; the warm-up time is reported on its own.
    result.warmupSearchMs = await Promise.all(o.users.slice(0, clients.length).map(async (_, k) => {
      const t = performance.now();
      const res = await clients[k]!.c.search({ body: 'warmup-needle-not-found' }, { uid: true });
      if (res === false) throw new Error('warm-up SEARCH BODY failed');
      return performance.now() - t;
    }));
    await sleep(500);

    const pids = server.pids();
    const cpu0 = cpuSeconds(pids);
    let peak = memoryKiB(server);
    const memTimer = setInterval(() => { peak = Math.max(peak, memoryKiB(server)); }, 500);
    const t0 = performance.now();
    const deadline = t0 + o.seconds * 1000;
    let lastProgress = 0;
    const finishTimes: number[] = [];

    const loop = async (cl: (typeof clients)[number], idx: number) => {
      let { c } = cl;
      while (performance.now() < deadline && !isCleaningUp()) {
        let op = cl.next();
        // EXPUNGE removes this client's own APPENDs once they are EXPUNGE_AFTER_MS old (so the
        // IDLE watchers have seen them); with none that old yet, the client APPENDs instead.
        const ripe = performance.now() - EXPUNGE_AFTER_MS;
        if (op === 'EXPUNGE' && !(cl.appended[0] && cl.appended[0].at < ripe)) op = 'APPEND';
        const st = stats[op]!;
        const exists = c.mailbox ? c.mailbox.exists : 0;
        const start = performance.now();
        try {
          switch (op) {
            case 'SELECT':
              await c.mailboxOpen('INBOX');
              break;
            case 'FETCH FLAGS': {
              const from = between(cl.r, 1, Math.max(1, exists - 99));
              await c.fetchAll(`${from}:${Math.min(exists, from + 99)}`, { uid: true, flags: true });
              break;
            }
            case 'FETCH BODYSTRUCTURE': {
              const from = between(cl.r, 1, Math.max(1, exists - 9));
              await c.fetchAll(`${from}:${Math.min(exists, from + 9)}`, { uid: true, bodyStructure: true });
              break;
            }
            case 'FETCH BODY[]': {
              const m = await c.fetchOne(String(between(cl.r, 1, Math.max(1, exists))), { uid: true, source: true });
              if (!m || !m.source) throw new Error('FETCH BODY[] returned no message');
              break;
            }
            case 'STORE': {
              const seq = String(between(cl.r, 1, Math.max(1, exists)));
              const flag = cl.r() < 0.7 ? '\\Seen' : '\\Flagged';
              if (cl.r() < 0.5) await c.messageFlagsAdd(seq, [flag]);
              else await c.messageFlagsRemove(seq, [flag]);
              break;
            }
            case 'APPEND': {
              const raw = makeSmallMessage(o.seed + 99, idx * 1_000_000 + cl.n++, cl.user);
              const q = pendingAppends.get(cl.user)!;
              const t = performance.now();
              q.push(t);
              try {
                const res = await c.append('INBOX', raw, cl.r() < 0.3 ? ['\\Seen'] : []);
                if (!res) throw new Error('APPEND failed');
                if (res.uid) cl.appended.push({ uid: res.uid, at: t });
              } catch (e) {
                const k = q.indexOf(t);
                if (k >= 0) q.splice(k, 1);
                throw e;
              }
              break;
            }
            case 'SEARCH': {
              const x = cl.r();
              const query = x < 0.3 ? { seen: false } : x < 0.55 ? { from: pick(cl.r, ['dmitri', 'alice', 'example.jp', 'judy']) }
                : x < 0.8 ? { subject: RARE_WORD } : { body: RARE_WORD };
              const res = await c.search(query, { uid: true });
              if (res === false) throw new Error(`SEARCH ${JSON.stringify(query)} failed`);
              break;
            }
            case 'EXPUNGE': {
              let k = 0;
              while (k < cl.appended.length && cl.appended[k]!.at < ripe) k++;
              const uids = cl.appended.splice(0, k).map((x) => x.uid).join(',');
              // STORE +FLAGS (\Deleted) then UID EXPUNGE (UIDPLUS), as messageDelete() does.
              const ok = await c.messageDelete(uids, { uid: true });
              if (!ok) throw new Error('STORE \\Deleted + UID EXPUNGE failed');
              break;
            }
          }
          st.count++;
          st.latencies.push(performance.now() - start);
        } catch (e) {
          st.errors++;
          st.firstError ??= (e as Error & { responseText?: string }).responseText ?? (e as Error).message;
          if (!c.usable) {
            // The connection is gone: a new one, as a client would.
            result.reconnects++;
            try { c.close(); } catch { /* ignore */ }
            await sleep(200);
            const n = client(server.imapPort, cl.user, o.password);
            n.on('error', () => undefined);
            all.push(n);
            try {
              await n.connect();
              await n.mailboxOpen('INBOX');
              cl.c = c = n;
            } catch (e2) {
              result.fatal ??= `client ${idx} could not reconnect: ${(e2 as Error).message}`;
              return;
            }
          }
        }
        const now = performance.now();
        if (idx === 0 && now - lastProgress > 1000) {
          lastProgress = now;
          const done = Object.values(stats).reduce((s, x) => s + x.count, 0) - stats[IDLE_ROW]!.count;
          o.progress(`  ${server.label}: ${((now - t0) / 1000).toFixed(0)}/${o.seconds} s, ${done} commands`);
        }
      }
      finishTimes.push(performance.now());
    };
    await Promise.all(clients.map((cl, i) => loop(cl, i)));
    const end = Math.max(...finishTimes, performance.now() - 1);
    result.seconds = (end - t0) / 1000;
    result.cpuSeconds = cpuSeconds(pids) - cpu0;
    clearInterval(memTimer);
    result.peakMemKiB = Math.max(peak, memoryKiB(server));
    // Give the watchers time to see the last APPENDs.
    for (let i = 0; i < 50 && [...pendingAppends.values()].some((q) => q.length); i++) await sleep(100);
    result.wakeupsMissed = [...pendingAppends.values()].reduce((s, q) => s + q.length, 0);
    if (!server.alive()) result.fatal ??= 'server process exited during the run';
  } catch (e) {
    result.fatal ??= (e as Error & { responseText?: string }).responseText ?? (e as Error).message;
  } finally {
    await closeAll();
  }
  for (const op of OPS) { result.total += stats[op]!.count; result.totalErrors += stats[op]!.errors; }
  return result;
}

export function summary(s: OpStats, seconds: number): { rate: number; p50: number | null; p95: number | null; mean: number | null } {
  const mean = s.latencies.length ? s.latencies.reduce((a, b) => a + b, 0) / s.latencies.length : null;
  return { rate: seconds > 0 ? s.count / seconds : 0, p50: percentile(s.latencies, 50), p95: percentile(s.latencies, 95), mean };
}
