// The command table: wire name -> legal states, which updates may follow, handler. Adding a
// command is one module under commands/ and one row here; "UID FETCH" and "FETCH" share a
// module and differ by the request's command name. Aliases are data, not code.
import { deleteacl, getacl, listrights, myrights, setacl } from './commands/acl.js';
import { append } from './commands/append.js';
import { authenticate } from './commands/authenticate.js';
import { capability } from './commands/capability.js';
import { close, unselect } from './commands/close.js';
import { compress } from './commands/compress.js';
import { copy, move } from './commands/copy.js';
import { create } from './commands/create.js';
import { deleteMailbox } from './commands/delete.js';
import { enable } from './commands/enable.js';
import { expunge } from './commands/expunge.js';
import { fetch } from './commands/fetch.js';
import { id } from './commands/id.js';
import { idle } from './commands/idle.js';
import { list, lsub } from './commands/list.js';
import { login } from './commands/login.js';
import { logout } from './commands/logout.js';
import { namespace } from './commands/namespace.js';
import { noop } from './commands/noop.js';
import { getquota, getquotaroot } from './commands/quota.js';
import { rename } from './commands/rename.js';
import { search } from './commands/search.js';
import { select } from './commands/select.js';
import { sort, thread } from './commands/sort.js';
import { starttls } from './commands/starttls.js';
import { status } from './commands/status.js';
import { store } from './commands/store.js';
import { subscribe, unsubscribe } from './commands/subscribe.js';
import { ANY, AUTH, NOT_AUTH, SELECTED, type CommandSpec } from './types.js';

const row = (states: CommandSpec['states'], handler: CommandSpec['handler'], extra: Partial<CommandSpec> = {}): CommandSpec =>
  ({ states, handler, updates: 'all', ...extra });

export const COMMANDS: ReadonlyMap<string, CommandSpec> = new Map<string, CommandSpec>([
  ['CAPABILITY', row(ANY, capability)],
  ['NOOP', row(ANY, noop)],
  ['CHECK', row(SELECTED, noop)],
  ['LOGOUT', row([...ANY, 'logout'], logout)],
  ['ID', row(ANY, id)],
  ['STARTTLS', row(NOT_AUTH, starttls)],
  ['LOGIN', row(NOT_AUTH, login, { sensitive: true })],
  ['AUTHENTICATE', row(NOT_AUTH, authenticate, { sensitive: true })],
  ['ENABLE', row(AUTH, enable)],
  ['NAMESPACE', row(AUTH, namespace)],
  ['LIST', row(AUTH, list)],
  ['LSUB', row(AUTH, lsub)],
  ['STATUS', row(AUTH, status)],
  ['CREATE', row(AUTH, create)],
  ['DELETE', row(AUTH, deleteMailbox)],
  ['RENAME', row(AUTH, rename)],
  ['SUBSCRIBE', row(AUTH, subscribe)],
  ['UNSUBSCRIBE', row(AUTH, unsubscribe)],
  ['SELECT', row(AUTH, select)],
  ['EXAMINE', row(AUTH, select)],
  ['CLOSE', row(SELECTED, close)],
  ['UNSELECT', row(SELECTED, unselect)],
  ['APPEND', row(AUTH, append)],
  ['GETQUOTA', row(AUTH, getquota)],
  ['GETQUOTAROOT', row(AUTH, getquotaroot)],
  ['IDLE', row(AUTH, idle)],
  ['EXPUNGE', row(SELECTED, expunge)],
  ['UID EXPUNGE', row(SELECTED, expunge)],
  ['FETCH', row(SELECTED, fetch, { updates: 'no-expunge' })],
  ['UID FETCH', row(SELECTED, fetch)],
  ['STORE', row(SELECTED, store, { updates: 'no-expunge' })],
  ['UID STORE', row(SELECTED, store)],
  ['SEARCH', row(SELECTED, search, { updates: 'no-expunge' })],
  ['UID SEARCH', row(SELECTED, search)],
  ['COPY', row(SELECTED, copy)],
  ['UID COPY', row(SELECTED, copy)],
  ['MOVE', row(SELECTED, move)],
  ['UID MOVE', row(SELECTED, move)],
  ['SETACL', row(AUTH, setacl)],
  ['DELETEACL', row(AUTH, deleteacl)],
  ['GETACL', row(AUTH, getacl)],
  ['LISTRIGHTS', row(AUTH, listrights)],
  ['MYRIGHTS', row(AUTH, myrights)],
  ['SORT', row(SELECTED, sort, { updates: 'no-expunge' })],
  ['UID SORT', row(SELECTED, sort)],
  ['COMPRESS', row(AUTH, compress)],
  ['THREAD', row(SELECTED, thread, { updates: 'no-expunge' })],
  ['UID THREAD', row(SELECTED, thread)],
]);
