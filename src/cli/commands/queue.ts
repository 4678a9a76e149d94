// queue list | show | retry | remove
import type { Command } from 'commander';
import type { QueueEntry } from '../../services/queue.service.js';
import { print, UsageError, withApp } from '../context.js';

function view(e: QueueEntry) {
  const m = e.message;
  return {
    queueId: m.queueId, sender: m.sender || '<>', size: m.size, messageId: m.messageIdHeader, bounce: m.isBounce,
    createdAt: new Date(m.createdAt).toISOString(), expiresAt: new Date(m.expiresAt).toISOString(),
    completedAt: m.completedAt ? new Date(m.completedAt).toISOString() : null,
    recipients: e.recipients.map((r) => ({
      recipient: r.recipient, status: r.status, attempts: r.attempts, nextAttemptAt: new Date(r.nextAttemptAt).toISOString(),
      lastHost: r.lastHost, lastReply: r.lastReply,
    })),
  };
}

export function register(program: Command): void {
  const queue = program.command('queue').description('the outbound queue');
  queue.command('list').description('messages waiting for remote delivery').option('--all', 'include completed messages')
    .option('--json', 'JSON output')
    .action((o: { all?: boolean }, cmd: Command) => withApp(cmd, async (app) => {
      const list = (await app.queue.list({ all: o.all })).map(view);
      print(cmd, list, () => list.map((m) => `${m.queueId}  ${m.size}B  ${m.sender}  ${m.recipients
        .map((r) => `${r.recipient}[${r.status}${r.attempts ? ` x${r.attempts}` : ''}]`).join(' ')}`).join('\n') || '(queue is empty)');
    }));
  queue.command('show <queueId>').description('one queued message with each recipient\'s state').option('--json', 'JSON output')
    .action((id: string, _o: unknown, cmd: Command) => withApp(cmd, async (app) => {
      const e = await app.queue.get(id);
      if (!e) throw new UsageError(`no queued message ${id}`);
      const v = view(e);
      print(cmd, v, () => [
        `queue id   ${v.queueId}`, `sender     ${v.sender}`, `size       ${v.size}`, `message-id ${v.messageId ?? ''}`,
        `created    ${v.createdAt}`, `expires    ${v.expiresAt}`, `completed  ${v.completedAt ?? '-'}`,
        ...v.recipients.map((r) => `  ${r.recipient}: ${r.status}, ${r.attempts} attempts, next ${r.nextAttemptAt}${r.lastReply ? `\n    last: ${r.lastHost ?? ''} ${r.lastReply}` : ''}`),
      ].join('\n'));
    }));
  queue.command('retry [queueId]').description('attempt delivery now (one message, or all)')
    .action((id: string | undefined, _o: unknown, cmd: Command) => withApp(cmd, async (app) => {
      const n = await app.queue.retryNow(id);
      if (id && !n) throw new UsageError(`no pending recipients for ${id}`);
      print(cmd, { rescheduled: n }, () => `${n} recipient(s) rescheduled for now`);
    }));
  queue.command('remove <queueId>').description('drop a message from the queue without a bounce')
    .action((id: string, _o: unknown, cmd: Command) => withApp(cmd, async (app) => {
      if (!(await app.queue.remove(id))) throw new UsageError(`no queued message ${id}`);
      print(cmd, { removed: id }, () => `removed ${id}`);
    }));
}
