// Network helpers for the benchmarks: a free loopback port, waiting for an SMTP/LMTP greeting or
// for an HTTP server to answer.
import http from 'node:http';
import net from 'node:net';
import { sleep } from './process.js';

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Waits until host:port answers with an SMTP/LMTP 220 greeting. */
export async function waitForGreeting(port: number, timeoutMs: number, isDead?: () => boolean, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = 'timeout';
  while (Date.now() < deadline) {
    if (isDead?.()) throw new Error('process exited before it was listening');
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, host);
      let buf = '';
      const done = (v: boolean) => { s.destroy(); resolve(v); };
      s.setTimeout(3000, () => { lastErr = 'no greeting'; done(false); });
      s.on('data', (d) => { buf += d.toString('latin1'); if (buf.includes('\n')) { if (!buf.startsWith('220')) lastErr = buf.trim(); done(buf.startsWith('220')); } });
      s.on('error', (e) => { lastErr = e.message; done(false); });
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing greets on 127.0.0.1:${port} (${lastErr})`);
}

/** Waits until GET url answers (any HTTP status). */
export async function waitForHttp(url: string, timeoutMs: number, isDead?: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'timeout';
  while (Date.now() < deadline) {
    if (isDead?.()) throw new Error('process exited before it was listening');
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get(url, { agent: false, timeout: 3000 }, (res) => { res.resume(); res.on('end', () => resolve(true)); });
      req.on('timeout', () => { last = 'no answer'; req.destroy(); });
      req.on('error', (e) => { last = e.message; resolve(false); });
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing answers HTTP on ${url} (${last})`);
}
