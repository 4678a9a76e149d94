// One POP3 connection: the RFC 1939 state machine (AUTHORIZATION -> TRANSACTION -> UPDATE),
// the dispatcher over the command table, pipelining (RFC 2449 §6.6: commands are read ahead
// but run strictly one at a time, in order), the STLS upgrade (RFC 2595), idle timeouts and
// the bad-command limit. Owns the socket: only this module writes to it.
// Must not touch SQL or parse wire bytes itself (protocols/pop3 does that). Socket errors and
// disconnects end the session quietly; a dropped session never enters UPDATE (no deletions).
import type net from 'node:net';
import tls from 'node:tls';
import { MAX_LINE_BYTES, Pop3LineReader, type LineEvent } from '../../protocols/pop3/line-reader.js';
import { parseCommand } from '../../protocols/pop3/command.js';
import { continuationLine, errLine, okLine, stuffMultiLine } from '../../protocols/pop3/response.js';
import type { Logger } from '../../observability/logger.js';
import { POP3_COMMANDS } from './command-table.js';
import type { Maildrop } from './maildrop.js';
import { bad, type Pop3Context, type Pop3Deps, type Pop3Result, type Pop3State } from './types.js';

/** Protocol errors (unknown command, wrong state, syntax, over-long line) before we hang up. */
export const MAX_BAD_COMMANDS = 20;
/** Parsed lines waiting to run before we stop reading from the socket (back-pressure on pipelining). */
export const MAX_QUEUED_LINES = 64;
/** Idle limit before login; short, since an idle unauthenticated connection is only a cost. */
export const PREAUTH_IDLE_MS = 60_000;
/** Idle limit after login: RFC 1939 §3 requires at least 10 minutes. */
export const AUTHENTICATED_IDLE_MS = 10 * 60_000;
/** After our last line, how long the peer gets to close before we destroy the socket. */
const CLOSE_GRACE_MS = 5_000;

export interface Pop3SessionOptions {
  remoteAddress: string;
  /** Implicit TLS (pop3s). */
  secure: boolean;
  /** Context for STLS; null where STLS is not offered. */
  stlsContext: tls.SecureContext | null;
  timeouts: { preAuthMs: number; authenticatedMs: number };
  /** Called once, when the connection is gone. */
  onClose: () => void;
}

export class Pop3Session implements Pop3Context {
  state: Pop3State = 'AUTHORIZATION';
  pendingUser: string | null = null;
  maildrop: Maildrop | null = null;
  user: string | null = null;
  authFailures = 0;
  secure: boolean;
  closed = false;

  private socket: net.Socket;
  private readonly raw: net.Socket;
  private readonly reader = new Pop3LineReader();
  /** Lines read ahead (pipelining); `head` avoids O(n) shifts when a client sends many at once. */
  private queue: LineEvent[] = [];
  private head = 0;
  private busy = false;
  /** Set after our final line: no further input is run. */
  private ending = false;
  private upgraded = false;
  private inputEnded = false;
  private continuation: ((line: string) => Promise<Pop3Result>) | null = null;
  private badCommands = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly log: Logger;

  constructor(socket: net.Socket, readonly deps: Pop3Deps, private readonly opts: Pop3SessionOptions) {
    this.socket = socket;
    this.raw = socket;
    this.secure = opts.secure;
    this.log = deps.log.child({ ip: opts.remoteAddress });
  }

  get remoteAddress(): string {
    return this.opts.remoteAddress;
  }

  get stlsAvailable(): boolean {
    return !this.secure && !this.upgraded && this.opts.stlsContext !== null;
  }

  start(): void {
    this.attach(this.socket);
    this.write(okLine('Pochtamt POP3 server ready'));
    this.armIdle();
  }

  /** Drops the connection at once (server shutdown). Nothing marked is deleted. */
  destroy(): void {
    this.socket.destroy();
    if (this.raw !== this.socket) this.raw.destroy();
  }

  // ---- input ------------------------------------------------------------------------------------

  private readonly onData = (chunk: Buffer): void => {
    if (this.ending) return;
    for (const ev of this.reader.push(chunk)) this.queue.push(ev);
    if (this.queue.length - this.head > MAX_QUEUED_LINES) this.socket.pause();
    void this.drain();
  };

  private readonly onError = (e: Error): void => {
    // 'close' follows every socket error; nothing to do but note it.
    this.log.debug({ event: 'pop3.connection.error', err: e.message }, 'socket error');
  };

  private readonly onClose = (): void => this.cleanup();

  /**
   * The client half-closed (e.g. `printf 'STAT\r\nQUIT\r\n' | nc`). Listeners allow half-open
   * sockets so the replies to commands already read still go out; we close once they have run.
   */
  private readonly onEnd = (): void => {
    this.inputEnded = true;
    if (!this.busy) this.finish();
  };

  private attach(s: net.Socket): void {
    s.on('data', this.onData);
    s.on('end', this.onEnd);
    s.on('error', this.onError);
    s.on('close', this.onClose);
  }

  /** Runs queued lines one at a time; re-entrant calls return at once. */
  private async drain(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.head < this.queue.length && !this.ending) {
        const ev = this.queue[this.head++]!;
        if (this.head > 1024) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
        await this.handle(ev);
        if (this.socket.writableNeedDrain && !this.ending) await this.waitDrain();
      }
    } catch (e) {
      this.log.error({ event: 'pop3.session.error', err: (e as Error).message }, 'session error');
      this.finish(errLine('Internal error, closing connection', 'SYS/TEMP'));
    } finally {
      this.busy = false;
    }
    if (this.head >= this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    if (this.inputEnded) this.finish();
    else if (!this.ending && this.socket.isPaused()) this.socket.resume();
  }

  private waitDrain(): Promise<void> {
    const s = this.socket;
    return new Promise((resolve) => {
      const done = () => {
        s.off('drain', done);
        s.off('close', done);
        resolve();
      };
      s.on('drain', done);
      s.on('close', done);
    });
  }

  private async handle(ev: LineEvent): Promise<void> {
    this.armIdle();
    try {
      this.apply(await this.run(ev));
    } finally {
      this.armIdle();
    }
  }

  private async run(ev: LineEvent): Promise<Pop3Result> {
    if (ev.kind === 'too-long') {
      this.continuation = null; // an over-long SASL response cancels the exchange
      return bad(`Line too long (max ${MAX_LINE_BYTES} octets)`);
    }
    if (this.continuation) {
      const next = this.continuation;
      this.continuation = null;
      return next(ev.line);
    }
    const parsed = parseCommand(ev.line);
    if (!parsed.ok) return bad(`Syntax error: ${parsed.reason}`);
    const cmd = parsed.command;
    const spec = POP3_COMMANDS.get(cmd.name);
    if (!spec) return bad('Unknown command');
    if (!spec.states.includes(this.state)) return bad(`${cmd.name} not valid in this state`);
    if (cmd.args.length < spec.minArgs || cmd.args.length > spec.maxArgs) return bad(`Wrong number of arguments for ${cmd.name}`);
    // Never the arguments of AUTH/PASS: they are credentials.
    this.log.debug({ event: 'pop3.command.received', command: cmd.name, args: spec.sensitive ? undefined : cmd.args }, 'command');
    try {
      return await spec.handle(this, cmd);
    } catch (e) {
      this.log.error({ event: 'pop3.command.failed', command: cmd.name, user: this.user, err: (e as Error).message }, 'command failed');
      return { kind: 'err', code: 'SYS/TEMP', text: 'Internal error, try again later' };
    }
  }

  // ---- output -----------------------------------------------------------------------------------

  private apply(r: Pop3Result): void {
    if (this.closed || this.ending) return;
    switch (r.kind) {
      case 'ok':
        this.write(okLine(r.text));
        break;
      case 'multi':
        this.write(okLine(r.text));
        this.write(stuffMultiLine(r.content));
        break;
      case 'continue':
        this.write(continuationLine(r.challenge));
        this.continuation = r.next;
        break;
      case 'err':
        this.write(errLine(r.text, r.code));
        if (r.bad && ++this.badCommands >= MAX_BAD_COMMANDS) {
          this.log.warn({ event: 'pop3.connection.abusive', bad: this.badCommands }, 'too many bad commands');
          this.finish(errLine('Too many bad commands, closing connection'));
          return;
        }
        break;
    }
    if (r.kind !== 'multi' && r.kind !== 'continue') {
      if (r.after === 'close') this.finish();
      else if (r.after === 'starttls') this.startTls();
    }
  }

  private write(data: string | Buffer): void {
    const s = this.socket;
    if (s.destroyed || s.writableEnded) return;
    s.write(data);
  }

  /** Sends `line` (if any), half-closes, and destroys the socket if the peer does not close. */
  private finish(line?: string): void {
    if (this.ending) return;
    if (line) this.write(line);
    this.ending = true;
    this.continuation = null;
    this.clearIdle();
    if (!this.socket.destroyed) this.socket.end();
    setTimeout(() => this.destroy(), CLOSE_GRACE_MS).unref();
  }

  /**
   * RFC 2595 §4: after "+OK" the handshake starts at once. Whatever the client pipelined after
   * STLS arrived in plaintext and is dropped, never run over TLS (the STARTTLS command
   * injection of CVE-2011-0411); the client re-issues CAPA.
   */
  private startTls(): void {
    this.reader.reset();
    this.queue = [];
    this.head = 0;
    this.continuation = null;
    this.upgraded = true;
    const raw = this.socket;
    raw.off('data', this.onData); // raw keeps onError/onClose: its errors must never go unhandled
    raw.off('end', this.onEnd);
    const secure = new tls.TLSSocket(raw, { isServer: true, secureContext: this.opts.stlsContext! });
    this.socket = secure;
    this.secure = true;
    secure.once('secure', () => {
      this.log.debug({ event: 'pop3.tls.started', protocol: secure.getProtocol() }, 'STLS done');
    });
    this.attach(secure);
    if (raw.isPaused()) raw.resume();
  }

  // ---- lifetime ---------------------------------------------------------------------------------

  private armIdle(): void {
    this.clearIdle();
    if (this.ending || this.closed) return;
    const ms = this.state === 'AUTHORIZATION' ? this.opts.timeouts.preAuthMs : this.opts.timeouts.authenticatedMs;
    this.idleTimer = setTimeout(() => {
      this.log.info({ event: 'pop3.connection.timeout', user: this.user, state: this.state }, 'idle timeout');
      // RFC 1939 §3 autologout: close without entering UPDATE, so nothing is deleted.
      this.finish(errLine('Idle timeout, closing connection'));
    }, ms);
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  private cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    this.ending = true;
    this.continuation = null;
    this.clearIdle();
    this.queue = [];
    this.head = 0;
    // In UPDATE the QUIT handler still runs the expunge and releases the lock when it is done.
    if (this.maildrop && this.state === 'TRANSACTION') this.deps.locks.release(this.maildrop.accountId);
    this.log.debug({ event: 'pop3.connection.closed', user: this.user, state: this.state }, 'closed');
    this.opts.onClose();
  }
}
