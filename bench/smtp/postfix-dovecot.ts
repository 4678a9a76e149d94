// The reference: a private Postfix instance on a loopback port relaying the bench domain to a
// private Dovecot LMTP (unix socket) that stores into maildir. Both come from Debian and run
// with configs in a temporary folder: no system daemon, no port below 1024.
import { chmodSync, chownSync, mkdirSync, readdirSync, statSync, watch, writeFileSync } from 'node:fs';
import path from 'node:path';
import { onCleanup } from '../common/cleanup.js';
import { waitForGreeting } from '../common/net.js';
import { killPid, pidAlive, readPidFile, run, runLogged, sleep, spawnLogged, stopChild, tail, waitForPid, type Child } from '../common/process.js';

export interface PostfixDovecot {
  port: number;
  /** Pids of the Postfix and Dovecot master processes. */
  masterPids: number[];
  /** Messages delivered into the maildir's new/, counted from inotify events (cheap). */
  storedCount(): number;
  /** Files in new/ + cur/, by listing the folders (exact but costly with many files). */
  exactCount(): number;
  /** Time (ms since epoch) of the last change to the maildir new/ folder. */
  lastStoreTime(): number;
  logs: string[];
  stop(): Promise<void>;
}

interface Options { dir: string; port: number; domain: string; user: string; instanceName: string }

function uidOf(name: string, fallback: number): { uid: number; gid: number } {
  const r = run('getent', ['passwd', name], { allowFail: true });
  const f = r.out.trim().split(':');
  return r.code === 0 && f.length >= 4 ? { uid: Number(f[2]), gid: Number(f[3]) } : { uid: fallback, gid: fallback };
}

export async function startPostfixDovecot(o: Options): Promise<PostfixDovecot> {
  const pfDir = path.join(o.dir, 'postfix');
  const dvDir = path.join(o.dir, 'dovecot');
  const pfConf = path.join(pfDir, 'etc');
  const queueDir = path.join(pfDir, 'queue');
  const dataDir = path.join(pfDir, 'data');
  const baseDir = path.join(dvDir, 'run');
  const mailRoot = path.join(dvDir, 'mail');
  for (const d of [pfDir, pfConf, queueDir, dvDir, baseDir, path.join(dvDir, 'state'), mailRoot]) mkdirSync(d, { recursive: true });
  // Postfix's daemons (user postfix) must reach the LMTP socket; Dovecot's lmtp (mail user) the maildir.
  for (const d of [o.dir, pfDir, dvDir, baseDir]) chmodSync(d, 0o755);
  const postfixUser = uidOf('postfix', -1);
  mkdirSync(dataDir, { recursive: true });
  if (postfixUser.uid >= 0) chownSync(dataDir, postfixUser.uid, postfixUser.gid);

  // Mail is stored as an unprivileged user (Dovecot refuses uid 0).
  const mailUser = uidOf('nobody', 65534);
  chownSync(mailRoot, mailUser.uid, mailUser.gid);
  const [local, domain] = [o.user.split('@')[0]!, o.domain];
  const home = path.join(mailRoot, domain, local);
  const maildir = path.join(home, 'Maildir');
  const newDir = path.join(maildir, 'new');
  const curDir = path.join(maildir, 'cur');
  // Created here (as the mail user) so that new/ can be watched from the first delivery on.
  for (const d of [path.join(mailRoot, domain), home, maildir, newDir, curDir, path.join(maildir, 'tmp')]) {
    mkdirSync(d, { recursive: true, mode: 0o700 });
    chownSync(d, mailUser.uid, mailUser.gid);
  }
  const lmtpSocket = path.join(baseDir, 'lmtp');
  const logs = [path.join(pfDir, 'postfix.log'), path.join(dvDir, 'dovecot.log')];
  const cmdLog = path.join(o.dir, 'postfix-dovecot-commands.log');

  // ------------------------------------------------------------ Dovecot
  writeFileSync(path.join(dvDir, 'users'), `${o.user}:{PLAIN}bench:${mailUser.uid}:${mailUser.gid}::${home}::\n`);
  const dovecotConf = path.join(dvDir, 'dovecot.conf');
  writeFileSync(dovecotConf, `# private Dovecot for the Pochtamt SMTP benchmark
instance_name = ${o.instanceName}
base_dir = ${baseDir}
state_dir = ${path.join(dvDir, 'state')}
log_path = ${logs[1]}
protocols = lmtp
listen = 127.0.0.1
ssl = no
auth_mechanisms = plain
disable_plaintext_auth = no
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_fsync = optimized
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${path.join(dvDir, 'users')}
}
userdb {
  driver = passwd-file
  args = username_format=%u ${path.join(dvDir, 'users')}
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
protocol lmtp {
  postmaster_address = postmaster@${domain}
}
`);

  // ------------------------------------------------------------ Postfix
  writeFileSync(path.join(pfConf, 'main.cf'), `# private Postfix for the Pochtamt SMTP benchmark
compatibility_level = 3.6
queue_directory = ${queueDir}
data_directory = ${dataDir}
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.postfix-bench.test
mydomain = postfix-bench.test
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtputf8_enable = no
biff = no
alias_maps =
alias_database =
local_transport = error:local delivery disabled
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions =
virtual_mailbox_domains = ${domain}
virtual_mailbox_maps = inline:{ ${o.user}=${domain}/${local}/ }
virtual_transport = lmtp:unix:${lmtpSocket}
maillog_file = ${logs[0]}
maillog_file_prefixes = ${o.dir}
`);
  const svc = (name: string, type: string, priv: string, limit: string, cmd: string, wakeup = '-') =>
    `${name.padEnd(10)} ${type.padEnd(10)} ${priv} - n ${wakeup} ${limit} ${cmd}`;
  writeFileSync(path.join(pfConf, 'master.cf'), [
    '# service type private unpriv chroot wakeup maxproc command',
    svc(`127.0.0.1:${o.port}`, 'inet', 'n', '-', 'smtpd'),
    svc('pickup', 'unix', 'n', '1', 'pickup', '60'),
    svc('cleanup', 'unix', 'n', '0', 'cleanup'),
    svc('qmgr', 'unix', 'n', '1', 'qmgr', '300'),
    svc('rewrite', 'unix', '-', '-', 'trivial-rewrite'),
    svc('bounce', 'unix', '-', '0', 'bounce'),
    svc('defer', 'unix', '-', '0', 'bounce'),
    svc('trace', 'unix', '-', '0', 'bounce'),
    svc('verify', 'unix', '-', '1', 'verify'),
    svc('flush', 'unix', 'n', '0', 'flush', '1000?'),
    svc('proxymap', 'unix', '-', '-', 'proxymap'),
    svc('smtp', 'unix', '-', '-', 'smtp'),
    svc('relay', 'unix', '-', '-', 'smtp'),
    svc('showq', 'unix', 'n', '-', 'showq'),
    svc('error', 'unix', '-', '-', 'error'),
    svc('retry', 'unix', '-', '-', 'error'),
    svc('discard', 'unix', '-', '-', 'discard'),
    svc('lmtp', 'unix', '-', '-', 'lmtp'),
    svc('anvil', 'unix', '-', '1', 'anvil'),
    svc('scache', 'unix', '-', '1', 'scache'),
    svc('postlog', 'unix-dgram', 'n', '1', 'postlogd'),
    '',
  ].join('\n'));
  chmodSync(pfConf, 0o755);

  const state = { dovecot: null as Child | null, postfixPid: null as number | null };
  const stop = async () => {
    // Postfix first (it is the one delivering into Dovecot).
    state.postfixPid ??= readPidFile(path.join(queueDir, 'pid', 'master.pid'));
    await runLogged('postfix', ['-c', pfConf, 'stop'], cmdLog, { allowFail: true, timeoutMs: 20_000 });
    if (state.postfixPid && !(await waitForPid(state.postfixPid, 10_000))) await killPid(state.postfixPid);
    if (state.dovecot) await stopChild(state.dovecot);
    // Anything left over (e.g. a master whose pid file appeared late).
    for (const f of [path.join(queueDir, 'pid', 'master.pid'), path.join(baseDir, 'master.pid')]) {
      const p = readPidFile(f);
      if (p && pidAlive(p)) await killPid(p);
    }
  };
  const unregister = onCleanup('postfix+dovecot', stop);

  try {
    // Dovecot's master stays in the foreground (-F) as our child.
    state.dovecot = spawnLogged('dovecot', ['-F', '-c', dovecotConf], cmdLog);
    for (let i = 0; i < 200; i++) {
      if (state.dovecot.exitCode !== undefined) throw new Error(`dovecot exited with ${state.dovecot.exitCode}:\n${tail(cmdLog)}`);
      try { statSync(lmtpSocket); break; } catch { await sleep(50); }
    }
    statSync(lmtpSocket);
    // `postfix check` creates the queue directories with the right owners; `start` runs the master.
    await runLogged('postfix', ['-c', pfConf, 'check'], cmdLog, { allowFail: true });
    await runLogged('postfix', ['-c', pfConf, 'start'], cmdLog);
    for (let i = 0; i < 100 && !(state.postfixPid = readPidFile(path.join(queueDir, 'pid', 'master.pid'))); i++) await sleep(50);
    await waitForGreeting(o.port, 20_000);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- ${logs[0]}\n${tail(logs[0]!)}\n--- ${logs[1]}\n${tail(logs[1]!)}`);
  }

  const count = (d: string) => { try { return readdirSync(d).length; } catch { return 0; } };
  // Listing a folder of 20,000+ files takes tens of ms: polling that would steal CPU from the
  // servers under test. Watch new/ instead and remember every name that appears in it.
  const seen = new Set<string>();
  const watcher = watch(newDir, (_event, name) => { if (name) seen.add(String(name)); });
  watcher.on('error', () => undefined);
  onCleanup('maildir watcher', () => watcher.close());
  return {
    port: o.port,
    masterPids: [state.postfixPid, state.dovecot.proc.pid ?? null].filter((p): p is number => p !== null),
    storedCount: () => seen.size,
    exactCount: () => count(newDir) + count(curDir),
    lastStoreTime: () => { try { return statSync(newDir).mtimeMs; } catch { return Date.now(); } },
    logs,
    async stop() {
      unregister();
      await stop();
    },
  };
}
