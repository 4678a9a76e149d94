// NOOP (RFC 1939 §5). Resets the idle timer like every other line.
import type { Pop3CommandSpec } from '../types.js';

export const noop: Pop3CommandSpec = {
  name: 'NOOP',
  states: ['TRANSACTION'],
  minArgs: 0,
  maxArgs: 0,
  handle() {
    return { kind: 'ok' };
  },
};
