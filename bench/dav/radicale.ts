// The reference: Radicale (Debian package `radicale`) with a private config, filesystem storage
// in the temporary folder, htpasswd auth (plain-text file, so that no bcrypt runs per request:
// Radicale has no credential cache), on a loopback port, as `python3 -m radicale --config FILE`.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { onCleanup } from '../common/cleanup.js';
import { waitForHttp } from '../common/net.js';
import { run, spawnLogged, stopChild, tail, type Child } from '../common/process.js';
import type { DavServer } from './pochtamt.js';

/** Debian's python (peers.md: a pyenv python3 earlier on PATH lacks Debian's modules). */
export const RADICALE_PYTHON = '/usr/bin/python3';

export function radicaleVersion(): string | null {
  const r = run(RADICALE_PYTHON, ['-m', 'radicale', '--version'], { allowFail: true, timeoutMs: 30_000 });
  return r.code === 0 ? r.out.trim() : null;
}

interface Options { dir: string; port: number; user: string; password: string; maxConnections: number }

export async function startRadicale(o: Options, log: (s: string) => void): Promise<DavServer> {
  const root = path.join(o.dir, 'radicale');
  mkdirSync(path.join(root, 'collections'), { recursive: true });
  const users = path.join(root, 'users');
  writeFileSync(users, `${o.user}:${o.password}\n`, { mode: 0o600 });
  const conf = path.join(root, 'config');
  writeFileSync(conf, `# written by bench/dav
[server]
hosts = 127.0.0.1:${o.port}
max_connections = ${o.maxConnections}
timeout = 300

[encoding]
request = utf-8
stock = utf-8

[auth]
type = htpasswd
htpasswd_filename = ${users}
htpasswd_encryption = plain
delay = 0

[rights]
type = owner_only

[storage]
type = multifilesystem
filesystem_folder = ${path.join(root, 'collections')}

[web]
type = none

[logging]
level = warning
mask_passwords = True
`);
  const version = radicaleVersion() ?? '?';
  const logFile = path.join(o.dir, 'radicale.log');
  const child: Child = spawnLogged(RADICALE_PYTHON, ['-m', 'radicale', '--config', conf], logFile,
    { env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  const unregister = onCleanup('radicale server', () => stopChild(child));
  try {
    await waitForHttp(`http://127.0.0.1:${o.port}/`, 60_000, () => child.exitCode !== undefined);
  } catch (e) {
    unregister();
    await stopChild(child);
    throw new Error(`Radicale did not start: ${(e as Error).message}\n--- ${logFile}\n${tail(logFile)}`);
  }
  log(`  Radicale ${version} pid ${child.proc.pid}, HTTP on 127.0.0.1:${o.port}, storage ${path.join(root, 'collections')}`);
  return {
    name: 'radicale',
    label: 'Radicale',
    pid: child.proc.pid!,
    baseUrl: new URL(`http://127.0.0.1:${o.port}/`),
    discoveryPaths: ['/.well-known/caldav', '/'],
    user: o.user,
    password: o.password,
    logFile,
    version,
    alive: () => child.exitCode === undefined,
    stop: async () => { unregister(); await stopChild(child, 15_000); },
    // multifilesystem keeps one file per item, named by its href, in
    // collection-root/<path>; its item cache and sync history are rebuilt from the files on the
    // next read, as after any change made outside Radicale.
    async preload(collectionPath, items) {
      const rel = decodeURIComponent(collectionPath).split('/').filter(Boolean);
      if (rel.some((x) => x === '..' || x.startsWith('.'))) throw new Error(`unexpected collection path ${collectionPath}`);
      const folder = path.join(root, 'collections', 'collection-root', ...rel);
      for (const it of items) {
        const tmp = path.join(folder, `.bench-tmp-${it.name}`);
        writeFileSync(tmp, it.body);
        renameSync(tmp, path.join(folder, it.name));
      }
    },
  };
}
