// quarantine list [--all] | show ID [--raw] | release ID | delete ID | expire [--days N], each
// with --json: messages the policy held (src/policy/quarantine.service.ts). Release delivers to
// the original recipients as held, once (a second release says so and delivers nothing).
import type { Command } from 'commander';
import type { QuarantineSummary } from '../../policy/quarantine.service.js';
import { print, UsageError, withApp } from '../context.js';

function idOf(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`invalid quarantine id '${s}'`);
  return n;
}

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

function view(r: QuarantineSummary) {
  return {
    id: r.id, queueId: r.queueId, sender: r.sender || '<>', recipients: JSON.parse(r.recipients) as string[], accountId: r.accountId,
    step: r.step, reason: r.reason, subject: r.subject, size: r.size, at: iso(r.createdAt)!,
    status: r.releasedAt !== null ? 'released' : r.releaseStartedAt !== null ? 'releasing' : 'held', releasedAt: iso(r.releasedAt),
  };
}

export function register(program: Command): void {
  const q = program.command('quarantine').description('messages held by the security policy');
  q.command('list').description('held messages, newest first').option('--limit <n>', 'at most this many', '100')
    .option('--all', 'include released messages (kept until the retention sweep)').option('--json', 'JSON output')
    .action((o: { limit: string; all?: boolean }, cmd: Command) => withApp(cmd, async (app) => {
      const rows = (await app.policy.quarantine.list(Number(o.limit) || 100, { released: Boolean(o.all) })).map(view);
      print(cmd, rows, () => rows.map((r) => `${String(r.id).padStart(5)}  ${r.at}  ${r.queueId}  ${r.sender} -> ${r.recipients.join(',')}  `
        + `[${r.step}] ${r.reason}${r.status === 'held' ? '' : `  (${r.status}${r.releasedAt ? ` ${r.releasedAt}` : ''})`}`).join('\n')
        || '(quarantine is empty)');
    }));
  q.command('show <id>').description('one held message').option('--raw', 'print the message itself').option('--json', 'JSON output')
    .action((id: string, o: { raw?: boolean }, cmd: Command) => withApp(cmd, async (app) => {
      const r = await app.policy.quarantine.get(idOf(id));
      if (!r) throw new UsageError(`no quarantined message ${id}`);
      if (o.raw) {
        process.stdout.write(Buffer.from(r.rawBase64, 'base64'));
        return;
      }
      const v = view(r);
      print(cmd, v, () => [`id         ${v.id}`, `queue id   ${v.queueId}`, `held at    ${v.at}`, `status     ${v.status}${v.releasedAt ? ` ${v.releasedAt}` : ''}`,
        `sender     ${v.sender}`, `recipients ${v.recipients.join(', ')}`, ...(v.accountId !== null ? [`account    ${v.accountId}`] : []),
        `subject    ${v.subject ?? ''}`, `size       ${v.size}`, `step       ${v.step}`, `reason     ${v.reason}`].join('\n'));
    }));
  q.command('release <id>').description('deliver a held message to its recipients (once)').option('--json', 'JSON output')
    .action((id: string, _o: unknown, cmd: Command) => withApp(cmd, async (app) => {
      const n = idOf(id);
      const r = await app.policy.quarantine.release(n);
      if (!r) throw new UsageError(`no quarantined message ${id}`);
      if (r.kind === 'busy') throw new UsageError(`a release of ${n} is under way since ${iso(r.since)}; try again later`);
      if (r.kind === 'already') {
        print(cmd, { released: n, already: true, releasedAt: iso(r.releasedAt), stored: 0, queued: 0, failed: 0 },
          () => `${n} was already released at ${iso(r.releasedAt)}; nothing delivered`);
        return;
      }
      const d = r.result;
      print(cmd, { released: n, already: false, stored: d.stored.length, queued: d.queued.length, failed: d.failed.length,
        failures: d.failed.map((f) => ({ recipient: f.recipient, status: f.status, diagnostic: f.diagnostic })) },
      () => `released ${n}: ${d.stored.length} stored, ${d.queued.length} queued, ${d.failed.length} failed`);
    }));
  q.command('delete <id>').description('discard a held message').option('--json', 'JSON output')
    .action((id: string, _o: unknown, cmd: Command) => withApp(cmd, async (app) => {
      if (!(await app.policy.quarantine.delete(idOf(id)))) throw new UsageError(`no quarantined message ${id}`);
      print(cmd, { deleted: Number(id) }, () => `deleted ${id}`);
    }));
  q.command('expire').description('delete messages held longer than the retention now (a server does it hourly)')
    .option('--days <n>', 'retention in days (default: policy.quarantine.retentionDays)').option('--json', 'JSON output')
    .action((o: { days?: string }, cmd: Command) => withApp(cmd, async (app) => {
      const days = o.days === undefined ? app.config.policy.quarantine.retentionDays : Number(o.days);
      if (!Number.isFinite(days) || days < 0) throw new UsageError(`invalid --days '${o.days}'`);
      const removed = await app.policy.quarantine.sweep(days);
      print(cmd, { expired: removed, retentionDays: days }, () => `expired ${removed} message(s) held longer than ${days} day(s)`);
    }));
}
