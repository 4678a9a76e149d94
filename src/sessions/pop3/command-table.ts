// The POP3 command table: keyword -> module. Each module declares the states where it is
// legal and its arity; the session's dispatcher checks both before calling it, so adding a
// command is one new file and one entry here. APOP is deliberately absent (it needs the
// plaintext password stored).
import { auth } from './commands/auth.js';
import { capa } from './commands/capa.js';
import { dele } from './commands/dele.js';
import { list } from './commands/list.js';
import { noop } from './commands/noop.js';
import { pass } from './commands/pass.js';
import { quit } from './commands/quit.js';
import { retr } from './commands/retr.js';
import { rset } from './commands/rset.js';
import { stat } from './commands/stat.js';
import { stls } from './commands/stls.js';
import { top } from './commands/top.js';
import { uidl } from './commands/uidl.js';
import { user } from './commands/user.js';
import type { Pop3CommandSpec } from './types.js';

export const POP3_COMMANDS: ReadonlyMap<string, Pop3CommandSpec> = new Map(
  [capa, user, pass, auth, stls, quit, stat, list, uidl, retr, top, dele, rset, noop].map((c) => [c.name, c]),
);
