// RETR msg (RFC 1939 §5): the stored bytes, byte-stuffed by the session's writer. Marks the
// message \Seen for IMAP clients of the same account (best effort: a failure to flag must not
// fail the download).
import type { Pop3CommandSpec } from '../types.js';
import { messageArg, readMessage } from './message-arg.js';

export const retr: Pop3CommandSpec = {
  name: 'RETR',
  states: ['TRANSACTION'],
  minArgs: 1,
  maxArgs: 1,
  async handle(ctx, cmd) {
    const r = messageArg(ctx, cmd.args[0]);
    if ('error' in r) return r.error;
    const m = await readMessage(ctx, r.entry);
    if ('error' in m) return m.error;
    const md = ctx.maildrop!;
    try {
      await ctx.deps.mailStore.setFlags(md.accountId, md.mailboxId, [r.entry.uid], ['\\Seen'], 'add');
    } catch (e) {
      ctx.deps.log.warn({ event: 'pop3.flags.failed', user: ctx.user, uid: r.entry.uid, err: (e as Error).message }, 'cannot set \\Seen');
    }
    return { kind: 'multi', text: `${m.bytes.length} octets`, content: m.bytes };
  },
};
