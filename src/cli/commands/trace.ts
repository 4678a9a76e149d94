// trace: what happened to a message.
import type { Command } from 'commander';
import { parseSince, print, UsageError, withApp } from '../context.js';

export function register(program: Command): void {
  program.command('trace').description('what happened to a message: every step from reception to delivery or bounce')
    .option('--message-id <id>', 'Message-ID header (with or without <>)')
    .option('--queue-id <id>', 'queue id given at reception (in SMTP replies and Received headers)')
    .option('--from <address>', 'envelope sender')
    .option('--to <address>', 'recipient')
    .option('--since <when>', 'only messages seen since, e.g. 2h, 7d or an ISO date')
    .option('--limit <n>', 'at most this many messages', '50')
    .option('--json', 'JSON output')
    .action((o: Record<string, string | undefined>, cmd: Command) => withApp(cmd, async (app) => {
      if (!o.messageId && !o.queueId && !o.from && !o.to && !o.since) {
        throw new UsageError('give at least one of --message-id, --queue-id, --from, --to, --since');
      }
      const results = await app.trace.search({
        messageId: o.messageId, queueId: o.queueId, from: o.from, to: o.to,
        since: o.since ? parseSince(o.since) : undefined, limit: Number(o.limit) || 50,
      });
      const view = results.map((r) => ({
        queueId: r.queueId,
        events: r.events.map((e) => ({
          at: new Date(e.at).toISOString(), event: e.event, sender: e.sender, recipient: e.recipient,
          messageId: e.messageIdHeader, detail: e.detail ? JSON.parse(e.detail) as Record<string, unknown> : {},
        })),
      }));
      print(cmd, view, () => view.map((m) => [`queue id ${m.queueId}`, ...m.events.map((e) => {
        const who = [e.sender !== null && e.sender !== undefined ? `from=<${e.sender}>` : '', e.recipient ? `to=<${e.recipient}>` : '']
          .filter(Boolean).join(' ');
        const extra = Object.entries(e.detail).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
        return `  ${e.at}  ${e.event.padEnd(24)} ${who} ${extra}`.trimEnd();
      })].join('\n')).join('\n\n') || '(no matching messages)');
    }));
}
