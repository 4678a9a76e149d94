// UIDL [msg] (RFC 1939 §7): "n unique-id"; the id is UIDVALIDITY.UID (see Maildrop.uniqueId).
import { textLines } from '../../../protocols/pop3/response.js';
import type { Pop3CommandSpec } from '../types.js';
import { messageArg } from './message-arg.js';

export const uidl: Pop3CommandSpec = {
  name: 'UIDL',
  states: ['TRANSACTION'],
  minArgs: 0,
  maxArgs: 1,
  handle(ctx, cmd) {
    const md = ctx.maildrop!;
    if (cmd.args.length) {
      const r = messageArg(ctx, cmd.args[0]);
      if ('error' in r) return r.error;
      return { kind: 'ok', text: `${r.entry.n} ${md.uniqueId(r.entry)}` };
    }
    return { kind: 'multi', text: 'Unique-id listing follows', content: textLines(md.live().map((e) => `${e.n} ${md.uniqueId(e)}`)) };
  },
};
