// The Pochtamt side of the DAV benchmark: a fresh instance (bench/common/pochtamt-instance.ts)
// with only the plain-HTTP listener on a loopback port, one account, run as a separate
// `pochtamt serve` process.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { waitForHttp } from '../common/net.js';
import { addAccount, createInstance, distRoot, serveInstance } from '../common/pochtamt-instance.js';

export interface DavServer {
  name: 'pochtamt' | 'radicale';
  label: string;
  pid: number;
  baseUrl: URL;
  /** Where discovery starts (context paths to PROPFIND for current-user-principal). */
  discoveryPaths: string[];
  user: string;
  password: string;
  logFile: string;
  version: string;
  alive(): boolean;
  stop(): Promise<void>;
  /** Writes resources straight into the server's storage (untimed bulk load), if the bench knows how. */
  preload?(collectionPath: string, items: Array<{ name: string; body: string }>): Promise<void>;
}

interface Options { dir: string; port: number; domain: string; user: string; password: string }

function version(): string {
  try {
    return (JSON.parse(readFileSync(path.join(distRoot, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

export async function startPochtamt(o: Options, log: (s: string) => void): Promise<DavServer> {
  const dataDir = await createInstance({ dir: o.dir, domain: o.domain, bench: 'dav', via: 'cli', listeners: { http: o.port } }, log);
  await addAccount(dataDir, o.user, o.password, 'cli', log);
  const server = await serveInstance({
    dataDir, logFile: path.join(o.dir, 'pochtamt.log'), fallback: false,
    ready: (isDead) => waitForHttp(`http://127.0.0.1:${o.port}/healthz`, 60_000, isDead),
  }, log);
  log(`  Pochtamt pid ${server.pid}, HTTP on 127.0.0.1:${o.port}, data ${dataDir}`);
  return {
    name: 'pochtamt',
    label: 'Pochtamt',
    pid: server.pid,
    baseUrl: new URL(`http://127.0.0.1:${o.port}/`),
    // RFC 6764: /.well-known/caldav first (as clients given an address do), then the context path, then "/".
    discoveryPaths: ['/.well-known/caldav', '/dav/', '/'],
    user: o.user,
    password: o.password,
    logFile: server.logFile,
    version: version(),
    alive: () => server.alive(),
    stop: () => server.stop(),
  };
}
