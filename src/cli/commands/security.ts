// security bans | ban IP | unban IP | allow|deny|unlist PATTERN [--for OWNER] | lists [--for OWNER]
// Bans are the brute-force bans every node enforces (src/policy/guard.ts); lists are the sender
// allow/deny lists the spam step consults (src/policy/sender-lists.ts). Acts on the store only,
// so it works whether or not the server is running.
import net from 'node:net';
import type { Command } from 'commander';
import { normalizeIp } from '../../policy/guard.js';
import { print, UsageError, withApp } from '../context.js';

function checkIp(ip: string): string {
  const n = normalizeIp(ip.trim());
  if (!net.isIP(n)) throw new UsageError(`not an IP address: '${ip}'`);
  return n;
}

export function register(program: Command): void {
  const sec = program.command('security').description('brute-force bans and sender allow/deny lists');
  sec.command('bans').description('IP addresses banned for failed logins (all protocols, all nodes)').option('--json', 'JSON output')
    .action((_o: unknown, cmd: Command) => withApp(cmd, async (app) => {
      const rows = (await app.guard.listBans()).map((b) => ({
        ip: b.ip, reason: b.reason, failures: b.failures, since: new Date(b.createdAt).toISOString(), until: new Date(b.expiresAt).toISOString(),
      }));
      print(cmd, rows, () => rows.map((b) => `${b.ip.padEnd(39)} until ${b.until}  ${b.reason}`).join('\n') || '(no bans)');
    }));
  sec.command('ban <ip>').description('ban an IP address by hand').option('--minutes <n>', 'length of the ban', '60')
    .option('--reason <text>', 'why', 'banned by the administrator')
    .action((ip: string, o: { minutes: string; reason: string }, cmd: Command) => withApp(cmd, async (app) => {
      const minutes = Number(o.minutes);
      if (!(minutes > 0)) throw new UsageError('--minutes must be a positive number');
      const row = await app.guard.ban(checkIp(ip), o.reason, 0, minutes);
      if (!row) throw new UsageError(`${ip} is in policy.trustedNetworks and cannot be banned`);
      print(cmd, { banned: row.ip, until: new Date(row.expiresAt).toISOString() }, () => `banned ${row.ip} until ${new Date(row.expiresAt).toISOString()}`);
    }));
  sec.command('unban <ip>').description('lift a ban now')
    .action((ip: string, _o: unknown, cmd: Command) => withApp(cmd, async (app) => {
      const key = checkIp(ip);
      if (!(await app.guard.unban(key))) throw new UsageError(`${key} is not banned`);
      print(cmd, { unbanned: key }, () => `unbanned ${key} (other nodes follow within seconds)`);
    }));
  for (const kind of ['allow', 'deny'] as const) {
    sec.command(`${kind} <pattern>`)
      .description(`${kind === 'allow' ? 'never treat as spam' : 'refuse'} mail from a sender address or @domain`)
      .option('--for <owner>', 'recipient address, local domain or * (everyone)', '*')
      .action((pattern: string, o: { for: string }, cmd: Command) => withApp(cmd, async (app) => {
        const row = await app.policy.lists.add(o.for, pattern, kind);
        print(cmd, { owner: row.owner, pattern: row.pattern, kind }, () => `${kind} ${row.pattern} for ${row.owner}`);
      }));
  }
  sec.command('unlist <pattern>').description('remove a sender from the allow/deny lists')
    .option('--for <owner>', 'recipient address, local domain or *', '*')
    .action((pattern: string, o: { for: string }, cmd: Command) => withApp(cmd, async (app) => {
      if (!(await app.policy.lists.remove(o.for, pattern))) throw new UsageError(`${pattern} is not listed for ${o.for}`);
      print(cmd, { removed: pattern, owner: o.for }, () => `removed ${pattern} for ${o.for}`);
    }));
  sec.command('lists').description('sender allow/deny lists').option('--for <owner>', 'only this owner').option('--json', 'JSON output')
    .action((o: { for?: string }, cmd: Command) => withApp(cmd, async (app) => {
      const rows = (await app.policy.lists.list(o.for)).map((r) => ({ owner: r.owner, pattern: r.pattern, kind: r.kind }));
      print(cmd, rows, () => rows.map((r) => `${r.kind.padEnd(6)} ${r.pattern.padEnd(40)} for ${r.owner}`).join('\n') || '(no entries)');
    }));
}
