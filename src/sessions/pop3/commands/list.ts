// LIST [msg] (RFC 1939 §5): "n size" for one message or for every message not marked deleted.
import { textLines } from '../../../protocols/pop3/response.js';
import type { Pop3CommandSpec } from '../types.js';
import { messageArg } from './message-arg.js';

export const list: Pop3CommandSpec = {
  name: 'LIST',
  states: ['TRANSACTION'],
  minArgs: 0,
  maxArgs: 1,
  handle(ctx, cmd) {
    const md = ctx.maildrop!;
    if (cmd.args.length) {
      const r = messageArg(ctx, cmd.args[0]);
      if ('error' in r) return r.error;
      return { kind: 'ok', text: `${r.entry.n} ${r.entry.size}` };
    }
    const { count, octets } = md.stat();
    return { kind: 'multi', text: `${count} messages (${octets} octets)`, content: textLines(md.live().map((e) => `${e.n} ${e.size}`)) };
  },
};
