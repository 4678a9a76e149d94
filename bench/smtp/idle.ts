// Opens many SMTP connections that stay idle after the greeting, to measure what an idle
// session costs the server.
import net from 'node:net';

export interface IdleConnections {
  opened: number;
  failed: number;
  firstError: string | null;
  /** Connections the server has not closed in the meantime. */
  stillOpen(): number;
  close(): Promise<void>;
}

/** Opens `count` connections to 127.0.0.1:port (at most `parallel` handshakes at a time) and waits for each 220 greeting. */
export async function openIdleConnections(port: number, count: number, parallel = 100, timeoutMs = 30_000): Promise<IdleConnections> {
  const sockets: net.Socket[] = [];
  let failed = 0;
  let firstError: string | null = null;
  const openOne = () => new Promise<void>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      failed++;
      firstError ??= why;
      s.destroy();
      resolve();
    };
    const timer = setTimeout(() => fail('no greeting within timeout'), timeoutMs);
    s.on('data', (d) => {
      if (settled) return;
      buf += d.toString('latin1');
      if (!buf.includes('\n')) return;
      clearTimeout(timer);
      if (!buf.startsWith('220')) return fail(`greeting: ${buf.trim()}`);
      settled = true;
      sockets.push(s);
      resolve();
    });
    s.on('error', (e) => { clearTimeout(timer); fail(e.message); });
    s.on('close', () => { clearTimeout(timer); fail('closed by server'); });
  });
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      await openOne();
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
  return {
    opened: sockets.length,
    failed,
    firstError,
    stillOpen: () => sockets.filter((s) => !s.destroyed && !s.readableEnded).length,
    async close() {
      await Promise.all(sockets.map((s) => new Promise<void>((resolve) => {
        if (s.destroyed) return resolve();
        s.once('close', () => resolve());
        s.end('QUIT\r\n');
        setTimeout(() => { s.destroy(); resolve(); }, 2000).unref();
      })));
    },
  };
}
