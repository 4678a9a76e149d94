// quarantine list | show ID [--raw] | release ID | delete ID: messages the policy held
// (src/policy/quarantine.service.ts). Release delivers to the original recipients as held.
import type { Command } from 'commander';
import { print, UsageError, withApp } from '../context.js';

function idOf(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`invalid quarantine id '${s}'`);
  return n;
}

export function register(program: Command): void {
  const q = program.command('quarantine').description('messages held by the security policy');
  q.command('list').description('held messages, newest first').option('--limit <n>', 'at most this many', '100').option('--json', 'JSON output')
    .action((o: { limit: string }, cmd: Command) => withApp(cmd, async (app) => {
      const rows = (await app.policy.quarantine.list(Number(o.limit) || 100)).map((r) => ({
        id: r.id, queueId: r.queueId, sender: r.sender || '<>', recipients: JSON.parse(r.recipients) as string[], step: r.step,
        reason: r.reason, subject: r.subject, size: r.size, at: new Date(r.createdAt).toISOString(),
      }));
      print(cmd, rows, () => rows.map((r) => `${String(r.id).padStart(5)}  ${r.at}  ${r.queueId}  ${r.sender} -> ${r.recipients.join(',')}  [${r.step}] ${r.reason}`).join('\n')
        || '(quarantine is empty)');
    }));
  q.command('show <id>').description('one held message').option('--raw', 'print the message itself').option('--json', 'JSON output')
    .action((id: string, o: { raw?: boolean }, cmd: Command) => withApp(cmd, async (app) => {
      const r = await app.policy.quarantine.get(idOf(id));
      if (!r) throw new UsageError(`no quarantined message ${id}`);
      const raw = Buffer.from(r.rawBase64, 'base64');
      if (o.raw) {
        process.stdout.write(raw);
        return;
      }
      const v = { id: r.id, queueId: r.queueId, sender: r.sender || '<>', recipients: JSON.parse(r.recipients) as string[], step: r.step,
        reason: r.reason, subject: r.subject, size: r.size, at: new Date(r.createdAt).toISOString() };
      print(cmd, v, () => [`id         ${v.id}`, `queue id   ${v.queueId}`, `held at    ${v.at}`, `sender     ${v.sender}`,
        `recipients ${v.recipients.join(', ')}`, `subject    ${v.subject ?? ''}`, `size       ${v.size}`, `step       ${v.step}`, `reason     ${v.reason}`].join('\n'));
    }));
  q.command('release <id>').description('deliver a held message to its recipients')
    .action((id: string, _o: unknown, cmd: Command) => withApp(cmd, async (app) => {
      const r = await app.policy.quarantine.release(idOf(id));
      if (!r) throw new UsageError(`no quarantined message ${id}`);
      print(cmd, { released: Number(id), stored: r.stored.length, queued: r.queued.length, failed: r.failed.length },
        () => `released ${id}: ${r.stored.length} stored, ${r.queued.length} queued, ${r.failed.length} failed`);
    }));
  q.command('delete <id>').description('discard a held message')
    .action((id: string, _o: unknown, cmd: Command) => withApp(cmd, async (app) => {
      if (!(await app.policy.quarantine.delete(idOf(id)))) throw new UsageError(`no quarantined message ${id}`);
      print(cmd, { deleted: Number(id) }, () => `deleted ${id}`);
    }));
}
