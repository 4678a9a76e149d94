// SELECT + FETCH 1:* (FLAGS) on the big mailbox, timed from a lean raw-socket client (a full
// client library would spend more time parsing 100,000 FETCH lines than some servers take).
import { sleep } from '../common/process.js';
import { memoryKiB, type Server } from './common.js';
import { RawImap, q } from './raw.js';

export interface BigRun { selectMs: number; fetchMs: number; totalMs: number; exists: number; fetched: number; bytes: number }
export interface BigResult { server: string; runs: BigRun[]; memAfterKiB: number; error: string | null }

export async function runBig(o: { server: Server; user: string; password: string; repeats: number; expected: number }): Promise<BigResult> {
  const res: BigResult = { server: o.server.label, runs: [], memAfterKiB: 0, error: null };
  for (let k = 0; k < o.repeats; k++) {
    const c = new RawImap(o.server.imapPort);
    try {
      await c.ready();
      await c.command(`LOGIN ${q(o.user)} ${q(o.password)}`);
      let exists = 0;
      let fetched = 0;
      c.onUntagged = (line) => {
        if (line.endsWith(' EXISTS')) exists = Number(line.slice(2, line.indexOf(' ', 2)));
        else if (/^\* \d+ FETCH /.test(line)) fetched++;
      };
      const bytes0 = c.bytesIn;
      const t0 = performance.now();
      await c.command('SELECT INBOX');
      const t1 = performance.now();
      await c.command('FETCH 1:* (FLAGS)');
      const t2 = performance.now();
      res.runs.push({ selectMs: t1 - t0, fetchMs: t2 - t1, totalMs: t2 - t0, exists, fetched, bytes: c.bytesIn - bytes0 });
      if (exists !== o.expected || fetched !== o.expected) {
        res.error ??= `expected ${o.expected} messages, SELECT said ${exists} EXISTS and FETCH returned ${fetched}`;
      }
      await c.logout();
    } catch (e) {
      res.error ??= (e as Error).message;
      c.destroy();
      break;
    }
    await sleep(500);
  }
  res.memAfterKiB = memoryKiB(o.server);
  return res;
}
