// DELE msg (RFC 1939 §5): only marks; QUIT removes marked messages in UPDATE state.
import type { Pop3CommandSpec } from '../types.js';
import { messageArg } from './message-arg.js';

export const dele: Pop3CommandSpec = {
  name: 'DELE',
  states: ['TRANSACTION'],
  minArgs: 1,
  maxArgs: 1,
  handle(ctx, cmd) {
    const r = messageArg(ctx, cmd.args[0]);
    if ('error' in r) return r.error;
    r.entry.deleted = true;
    return { kind: 'ok', text: `Message ${r.entry.n} deleted` };
  },
};
