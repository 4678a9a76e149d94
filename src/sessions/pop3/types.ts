// Shared types of the POP3 session layer: states (RFC 1939 §3), what a command handler sees
// (Pop3Context), what it returns (Pop3Result) and the row every command module exports
// (Pop3CommandSpec). Handlers return results; only pop3-session.ts writes to the socket.
import type { Logger } from '../../observability/logger.js';
import type { Pop3Command } from '../../protocols/pop3/command.js';
import type { Pop3RespCode } from '../../protocols/pop3/response.js';
import type { AccountService } from '../../services/account.service.js';
import type { AuthThrottle } from '../../services/auth-throttle.js';
import type { MailStoreService } from '../../services/mail-store.service.js';
import type { Maildrop, MaildropLocks } from './maildrop.js';

export type Pop3State = 'AUTHORIZATION' | 'TRANSACTION' | 'UPDATE';

/** Collaborators of every session on one listener (injected explicitly, no container). */
export interface Pop3Deps {
  accounts: Pick<AccountService, 'authenticate'>;
  mailStore: Pick<MailStoreService, 'inbox' | 'listMessages' | 'getMessage' | 'getMessageBytes' | 'setFlags' | 'expunge'>;
  throttle: AuthThrottle;
  log: Logger;
  /** Per-process maildrop locks, shared by the pop3 and pop3s listeners. */
  locks: MaildropLocks;
  /** config.auth.allowPlaintextWithoutTls */
  allowPlaintextWithoutTls: boolean;
  /** Upper bound of the throttle's delay (config.limits.authMaxDelaySeconds). */
  maxAuthDelayMs: number;
}

/** The session as a command handler sees it. Handlers may change the mutable fields. */
export interface Pop3Context {
  readonly deps: Pop3Deps;
  readonly remoteAddress: string;
  /** The connection is TLS (implicit or after STLS). */
  readonly secure: boolean;
  /** STLS can still be offered (plain listener, not yet upgraded). */
  readonly stlsAvailable: boolean;
  /** The client went away; async handlers check this before taking resources. */
  readonly closed: boolean;
  state: Pop3State;
  /** Name given by USER, waiting for PASS. */
  pendingUser: string | null;
  /** Set in TRANSACTION (and UPDATE). */
  maildrop: Maildrop | null;
  /** Address of the logged-in account, for logs. */
  user: string | null;
  authFailures: number;
}

export type Pop3After = 'close' | 'starttls';

export type Pop3Result =
  | { kind: 'ok'; text?: string; after?: Pop3After }
  /** +OK status line, then `content` byte-stuffed and terminated. */
  | { kind: 'multi'; text: string; content: Buffer }
  /** `bad` marks a protocol error (unknown, out of state, syntax): these count toward the disconnect limit. */
  | { kind: 'err'; text: string; code?: Pop3RespCode; bad?: boolean; after?: 'close' }
  /** SASL continuation: send "+ challenge" and hand the next line to `next` (RFC 5034 §4). */
  | { kind: 'continue'; challenge: string; next: (line: string) => Promise<Pop3Result> };

/** One row of the command table: the keyword, where it is legal, its arity and its handler. */
export interface Pop3CommandSpec {
  readonly name: string;
  readonly states: readonly Pop3State[];
  readonly minArgs: number;
  readonly maxArgs: number;
  /** The arguments are credentials: the dispatcher never logs them. */
  readonly sensitive?: boolean;
  handle(ctx: Pop3Context, cmd: Pop3Command): Pop3Result | Promise<Pop3Result>;
}

export const ok = (text?: string, after?: Pop3After): Pop3Result => ({ kind: 'ok', text, after });
export const err = (text: string, code?: Pop3RespCode): Pop3Result => ({ kind: 'err', text, code });
export const bad = (text: string): Pop3Result => ({ kind: 'err', text, bad: true });
