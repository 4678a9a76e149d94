// TOP msg n (RFC 1939 §7): header, blank line and the first n body lines. Does not mark \Seen
// (clients use TOP to preview).
import { parseNonNegative } from '../../../protocols/pop3/command.js';
import { messageTop } from '../../../protocols/pop3/response.js';
import type { Pop3CommandSpec } from '../types.js';
import { messageArg, readMessage } from './message-arg.js';

export const top: Pop3CommandSpec = {
  name: 'TOP',
  states: ['TRANSACTION'],
  minArgs: 2,
  maxArgs: 2,
  async handle(ctx, cmd) {
    const r = messageArg(ctx, cmd.args[0]);
    if ('error' in r) return r.error;
    const lines = parseNonNegative(cmd.args[1]);
    if (lines === null) return { kind: 'err', text: 'Invalid line count', bad: true };
    const m = await readMessage(ctx, r.entry);
    if ('error' in m) return m.error;
    return { kind: 'multi', text: 'Top of message follows', content: messageTop(m.bytes, lines) };
  },
};
