// Shared types of the IMAP session layer: connection states, the command table row and the
// typed result every command handler returns (the session writes the tagged line).
// RFC 9051 §3 (states), §7.1 (status responses and response codes).
import type { ImapRequest } from '../../protocols/imap/receiver.js';
import type { ArgReader } from '../../protocols/imap/args.js';
import type { ImapSession } from './session.js';

export type ImapState = 'not-authenticated' | 'authenticated' | 'selected' | 'logout';

export interface CommandResult {
  status: 'OK' | 'NO' | 'BAD';
  /** Response code without brackets, e.g. "TRYCREATE" or "COPYUID 7 1:3 10:12". */
  code?: string;
  text: string;
  /** What the session does after writing the tagged line. */
  after?: 'starttls' | 'compress' | 'close';
}

export const ok = (text: string, code?: string): CommandResult => ({ status: 'OK', text, code });
export const no = (text: string, code?: string): CommandResult => ({ status: 'NO', text, code });
export const bad = (text: string, code?: string): CommandResult => ({ status: 'BAD', text, code });

export type CommandHandler = (s: ImapSession, req: ImapRequest, args: ArgReader) => Promise<CommandResult>;

/** One row of the command table. */
export interface CommandSpec {
  /** States in which the command is legal; elsewhere it is answered BAD. */
  states: readonly ImapState[];
  /**
   * Mailbox updates the session may send after the command (RFC 9051 §7.5.1: no EXPUNGE after
   * FETCH, STORE or SEARCH, since the client may be relying on sequence numbers).
   */
  updates: 'all' | 'no-expunge';
  /** Arguments must not be logged (LOGIN, AUTHENTICATE). */
  sensitive?: boolean;
  handler: CommandHandler;
}

export const ANY: readonly ImapState[] = ['not-authenticated', 'authenticated', 'selected'];
export const NOT_AUTH: readonly ImapState[] = ['not-authenticated'];
export const AUTH: readonly ImapState[] = ['authenticated', 'selected'];
export const SELECTED: readonly ImapState[] = ['selected'];
