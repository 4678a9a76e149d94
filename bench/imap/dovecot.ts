// The reference: a private Dovecot (Debian dovecot-imapd + dovecot-lmtpd) with its config,
// base_dir, state_dir and instance_name in the temporary folder, IMAP and LMTP on loopback
// ports, a passwd-file userdb and maildir. Mailboxes are loaded by writing maildir files (the
// big one as hard links to a pool of distinct messages) and indexed with `doveadm index`
// before the server starts.
import { chmodSync, chownSync, linkSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { onCleanup } from '../common/cleanup.js';
import { descendants } from '../common/memory.js';
import { killPid, pidAlive, run, runLogged, spawnLogged, stopChild, tail, type Child } from '../common/process.js';
import { pool, waitForImap, type BenchData, type Server } from './common.js';
import { CORPUS_SENDER } from './corpus.js';

export interface DovecotOptions {
  dir: string;
  imapPort: number;
  lmtpPort: number;
  /** Connections the server must accept at once (IDLE test + load clients). */
  maxConnections: number;
  maxFds: number;
  /** imap_hibernate_timeout in seconds (0: off, Dovecot's default). */
  hibernateSeconds: number;
  instanceName: string;
}

/** Each user gets its own uid: Linux allows 128 inotify instances per uid, and Dovecot needs one per IDLE process. */
const UID_BASE = 70000;
const GID = 65534;

const maildirFlags = (flags: string[]) => flags.map((f) => ({ '\\Draft': 'D', '\\Flagged': 'F', '\\Answered': 'R', '\\Seen': 'S' })[f] ?? '').sort().join('');

export async function setupDovecot(o: DovecotOptions, data: BenchData, say: (s: string) => void): Promise<Server> {
  const dv = path.join(o.dir, 'dovecot');
  const baseDir = path.join(dv, 'run');
  const stateDir = path.join(dv, 'state');
  const mailRoot = path.join(dv, 'mail');
  for (const d of [dv, baseDir, stateDir, mailRoot]) mkdirSync(d, { recursive: true });
  for (const d of [o.dir, dv, baseDir, mailRoot]) chmodSync(d, 0o755);
  const logFile = path.join(dv, 'dovecot.log');
  const users = data.allUsers();
  const homeOf = (u: string) => path.join(mailRoot, u.split('@')[0]!);
  const uidOf = new Map(users.map((u, i) => [u, UID_BASE + i]));
  writeFileSync(path.join(dv, 'users'), users.map((u) => `${u}:{PLAIN}${data.password}:${uidOf.get(u)}:${GID}::${homeOf(u)}::\n`).join(''));

  const processLimit = o.maxConnections + 200;
  const conf = path.join(dv, 'dovecot.conf');
  writeFileSync(conf, `# private Dovecot for the Pochtamt IMAP benchmark
instance_name = ${o.instanceName}
base_dir = ${baseDir}
state_dir = ${stateDir}
log_path = ${logFile}
protocols = imap lmtp
listen = 127.0.0.1
ssl = no
auth_mechanisms = plain login
disable_plaintext_auth = no
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_fsync = optimized
# Fallback when inotify is not available (e.g. /proc/sys/fs/inotify/max_user_instances reached).
mailbox_idle_check_interval = 1 secs
imap_hibernate_timeout = ${o.hibernateSeconds} secs
default_process_limit = ${processLimit}
default_client_limit = ${processLimit * 2 + 1000}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${path.join(dv, 'users')}
}
userdb {
  driver = passwd-file
  args = username_format=%u ${path.join(dv, 'users')}
}
# "High-performance" login mode (Dovecot's documented tuning for many connections).
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${o.imapPort}
  }
  inet_listener imaps {
    port = 0
  }
  service_count = 0
  process_min_avail = 2
}
service imap {
  process_limit = ${processLimit}
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = ${o.lmtpPort}
  }
}
protocol imap {
  mail_max_userip_connections = ${o.maxConnections + 100}
}
protocol lmtp {
  postmaster_address = postmaster@${data.domain}
}
`);

  // Maildirs: the corpus in every load user's INBOX (files as Dovecot's LMTP would write them,
  // with the Return-Path line Pochtamt's delivery adds), the big mailbox as hard links.
  const t0 = Date.now();
  const mkMaildir = (u: string) => {
    const md = path.join(homeOf(u), 'Maildir');
    for (const s of ['cur', 'new', 'tmp']) mkdirSync(path.join(md, s), { recursive: true });
    return md;
  };
  const chownTree = (u: string) => run('chown', ['-R', `${uidOf.get(u)}:${GID}`, homeOf(u)]);
  const stamp = Math.floor(Date.UTC(2024, 0, 1) / 1000);
  for (const u of users) mkMaildir(u);
  const corpusFiles = data.corpus.map((raw) => Buffer.concat([Buffer.from(`Return-Path: <${CORPUS_SENDER}>\r\n`, 'latin1'), raw]));
  for (const u of data.loadUsers) {
    const cur = path.join(homeOf(u), 'Maildir', 'cur');
    corpusFiles.forEach((f, i) => writeFileSync(path.join(cur, `${stamp + i}.M${i}P1.bench,S=${f.length},W=${f.length}:2,`), f));
  }
  for (const u of users) chownTree(u);
  say(`  Dovecot: ${data.corpus.length} messages written to ${data.loadUsers.length} maildirs (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  if (data.bigCount > 0) {
    const t1 = Date.now();
    const md = path.join(homeOf(data.bigUser), 'Maildir');
    const poolDir = path.join(homeOf(data.bigUser), 'pool');
    mkdirSync(poolDir, { recursive: true });
    const poolFiles = data.bigPool.map((raw, i) => {
      const f = path.join(poolDir, String(i));
      writeFileSync(f, raw);
      return { file: f, size: raw.length };
    });
    chownTree(data.bigUser);
    for (let i = 0; i < data.bigCount; i++) {
      const p = poolFiles[i % poolFiles.length]!;
      linkSync(p.file, path.join(md, 'cur', `${stamp + i}.M${i}P2.bench,S=${p.size},W=${p.size}:2,${maildirFlags(data.bigFlags(i))}`));
    }
    say(`  Dovecot: ${data.bigCount} maildir files for ${data.bigUser} (${((Date.now() - t1) / 1000).toFixed(1)} s)`);
  }
  // The master stays in the foreground (-F) as our child, under a raised open-files limit.
  const master: Child = spawnLogged('bash', ['-c', `ulimit -n ${o.maxFds} 2>/dev/null; exec dovecot -F -c "$0"`, conf], path.join(dv, 'master.log'));
  const seen = new Set<number>();
  const stop = async () => {
    if (master.proc.pid) for (const p of descendants(master.proc.pid)) seen.add(p);
    await stopChild(master, 20_000);
    // Workers the master did not take down (it normally does).
    for (const p of seen) if (p !== master.proc.pid && pidAlive(p)) await killPid(p, 2000);
  };
  const unregister = onCleanup('dovecot', stop);
  try {
    await waitForImap(o.imapPort, 30_000, () => master.exitCode !== undefined);
  } catch (e) {
    unregister();
    await stop();
    throw new Error(`Dovecot did not start: ${(e as Error).message}\n--- ${logFile}\n${tail(logFile)}\n--- master\n${tail(path.join(dv, 'master.log'))}`);
  }
  // Index everything now (doveadm needs the running auth service), so that the first SELECT does not pay for it.
  const t2 = Date.now();
  await pool([...data.loadUsers, ...(data.bigCount > 0 ? [data.bigUser] : [])], 2, async (u) => {
    await runLogged('doveadm', ['-c', conf, 'index', '-u', u, 'INBOX'], path.join(dv, 'doveadm.log'), { timeoutMs: 1_800_000 });
  });
  say(`  Dovecot: doveadm index done (${((Date.now() - t2) / 1000).toFixed(1)} s)`);

  say(`  Dovecot: master pid ${master.proc.pid}, IMAP 127.0.0.1:${o.imapPort}, LMTP 127.0.0.1:${o.lmtpPort}`);
  return {
    name: 'dovecot',
    label: 'Dovecot',
    imapPort: o.imapPort,
    logFile,
    pids: () => {
      const p = master.proc.pid ? descendants(master.proc.pid) : [];
      for (const x of p) seen.add(x);
      return p;
    },
    alive: () => master.exitCode === undefined,
    memoryKind: 'PSS',
    deliver: { kind: 'lmtp', port: o.lmtpPort },
    async stop() { unregister(); await stop(); },
  };
}
