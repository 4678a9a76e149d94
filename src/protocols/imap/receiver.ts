// IMAP command receiver: a bounded, resumable push parser. Bytes go in with feed(); next()
// returns one event at a time (a complete request, a request for a "+" continuation before a
// synchronising literal, or an error to answer), so the session decides when to read on
// (IDLE and AUTHENTICATE take raw lines with nextLine() instead).
// Must not do I/O, read clocks or know about storage. RFC 9051 §2.2, §4.3, §7.5 (continuation),
// RFC 7888 (LITERAL+ / LITERAL-), RFC 3516 (literal8 "~{n}"), RFC 7889 (APPENDLIMIT, [TOOBIG]).
// BUGS: a bare LF is accepted as a line end (IMAP has no smuggling risk like SMTP DATA; some
// scripted clients send LF only). A line over MAX_LINE_BYTES is skipped to its end and answered
// BAD; a non-synchronising literal announced on such a line is then read as commands.
import { tokenize, type Token } from './tokens.js';

/** Longest tag we accept (Stalwart uses the same bound). */
export const MAX_TAG_BYTES = 128;
/** Longest command line, literals excluded. */
export const MAX_LINE_BYTES = 64 * 1024;
/** Longest command name ("UID EXPUNGE" is the longest standard one). */
export const MAX_COMMAND_BYTES = 32;
/** Only APPEND may send a literal larger than this (a SEARCH string or a password never needs more). */
export const MAX_NON_APPEND_LITERAL = 64 * 1024;
/** Literals in one command (MULTIAPPEND sends one per message). */
export const MAX_LITERALS_PER_COMMAND = 1000;

export interface ImapRequest {
  tag: string;
  /** Upper case; "UID FETCH" for UID commands. */
  command: string;
  args: Token[];
}

export type ReceiverEvent =
  | { kind: 'request'; request: ImapRequest }
  /** The client waits for "+" before sending a synchronising literal of `size` bytes. */
  | { kind: 'continue'; size: number }
  /** Answer `tag` (or "*" when no tag could be read) with status [code] text. */
  | { kind: 'error'; tag: string | null; status: 'BAD' | 'NO'; code?: string; text: string };

export interface ReceiverOptions {
  /** Largest APPEND literal (APPENDLIMIT). */
  appendLimit: number;
  /** Largest total of literal bytes in one command (bounds MULTIAPPEND). */
  maxRequestBytes?: number;
}

const APPEND_COMMANDS = new Set(['APPEND']);
const TAG_RE = /^[\x21\x23\x24\x26\x27\x2c-\x5b\x5d-\x7a\x7c\x7e]+$/; // ASTRING-CHAR minus "+" (RFC 9051 §9 tag)
const COMMAND_RE = /^[A-Za-z][A-Za-z0-9.-]*$/;
const LITERAL_MARKER = /(~?)\{(\d{1,12})(\+|-)?\}$/;

type Pending = { tag: string | null; status: 'BAD' | 'NO'; code?: string; text: string };

export class Receiver {
  private buf: Buffer = Buffer.alloc(0);
  private state: 'line' | 'literal' | 'skip-literal' | 'skip-line' = 'line';
  /** Text of the current command, split where literals go. */
  private segments: Buffer[] = [];
  private literals: Array<{ data: Buffer; binary: boolean }> = [];
  private head: { tag: string; command: string } | null = null;
  private lineBytes = 0;
  private literalBytes = 0;
  private need = 0;
  private literalParts: Buffer[] = [];
  private literalBinary = false;
  /** Set while the rest of a refused command is being skipped; answered when it ends. */
  private pendingError: Pending | null = null;
  private readonly maxRequest: number;

  constructor(private readonly opts: ReceiverOptions) {
    this.maxRequest = opts.maxRequestBytes ?? Math.max(opts.appendLimit * 2, 1 << 20);
  }

  /** Bytes received but not yet consumed. */
  get buffered(): number {
    return this.buf.length;
  }

  /** True between commands (nothing of a command read yet). */
  get idle(): boolean {
    return this.state === 'line' && !this.segments.length && !this.pendingError;
  }

  feed(chunk: Buffer): void {
    // While a literal is read, bytes go straight to it: a 50 MB APPEND is never concatenated twice.
    if ((this.state === 'literal' || this.state === 'skip-literal') && !this.buf.length && this.need > 0) {
      const take = Math.min(this.need, chunk.length);
      if (this.state === 'literal') this.literalParts.push(chunk.subarray(0, take));
      this.need -= take;
      chunk = chunk.subarray(take);
      if (!chunk.length) return;
    }
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
  }

  /**
   * Takes the bytes received after the last complete command (after COMPRESS they are the start
   * of the compressed stream, RFC 4978 §3) and leaves the receiver empty.
   */
  takeBuffered(): Buffer {
    const out = this.buf;
    this.buf = Buffer.alloc(0);
    return out;
  }

  /** Drops everything buffered and any partial command (after STARTTLS: RFC 9051 §6.2.1). */
  reset(): void {
    this.buf = Buffer.alloc(0);
    this.resetCommand();
    this.state = 'line';
  }

  private resetCommand(): void {
    this.segments = [];
    this.literals = [];
    this.head = null;
    this.lineBytes = 0;
    this.literalBytes = 0;
    this.need = 0;
    this.literalParts = [];
    this.pendingError = null;
  }

  /** Takes one raw line (AUTHENTICATE responses, IDLE's DONE), or null until one is complete. */
  nextLine(): string | null {
    const lf = this.buf.indexOf(0x0a);
    if (lf === -1) {
      if (this.buf.length > MAX_LINE_BYTES) {
        this.buf = Buffer.alloc(0);
        return ''; // treated as an invalid response by the caller
      }
      return null;
    }
    const end = lf > 0 && this.buf[lf - 1] === 0x0d ? lf - 1 : lf;
    const line = this.buf.subarray(0, end).toString('utf8');
    this.buf = this.buf.subarray(lf + 1);
    return line;
  }

  next(): ReceiverEvent | null {
    for (;;) {
      if (this.state === 'literal' || this.state === 'skip-literal') {
        if (this.need > 0) {
          if (!this.buf.length) return null;
          const take = Math.min(this.need, this.buf.length);
          if (this.state === 'literal') this.literalParts.push(this.buf.subarray(0, take));
          this.buf = this.buf.subarray(take);
          this.need -= take;
          if (this.need > 0) return null;
        }
        if (this.state === 'literal') {
          this.literals.push({ data: Buffer.concat(this.literalParts), binary: this.literalBinary });
          this.literalParts = [];
        }
        this.state = 'line';
        continue;
      }
      const lf = this.buf.indexOf(0x0a);
      if (this.state === 'skip-line') {
        if (lf === -1) {
          this.buf = Buffer.alloc(0);
          return null;
        }
        this.buf = this.buf.subarray(lf + 1);
        this.state = 'line';
        return this.finishError();
      }
      if (lf === -1) {
        if (this.lineBytes + this.buf.length > MAX_LINE_BYTES) {
          this.captureHead(this.buf);
          this.pendingError = { tag: this.head?.tag ?? null, status: 'BAD', text: 'Command line too long' };
          this.buf = Buffer.alloc(0);
          this.state = 'skip-line';
        }
        return null;
      }
      const end = lf > 0 && this.buf[lf - 1] === 0x0d ? lf - 1 : lf;
      let line = this.buf.subarray(0, end);
      this.buf = this.buf.subarray(lf + 1);
      this.lineBytes += line.length;
      if (this.lineBytes > MAX_LINE_BYTES) {
        this.captureHead(line);
        this.pendingError ??= { tag: this.head?.tag ?? null, status: 'BAD', text: 'Command line too long' };
        return this.finishError();
      }
      if (!this.segments.length && !this.pendingError) {
        if (!line.length) continue; // empty lines between commands are ignored, as most servers do
        const err = this.captureHead(line);
        if (err) {
          // Still honour a literal announced on this line, so its bytes are not read as commands.
          this.pendingError = err;
        }
      }
      // A literal marker ends the line: "{n}" (synchronising), "{n+}" (LITERAL+), "~{n}" (literal8).
      const tail = line.subarray(Math.max(0, line.length - 16)).toString('latin1');
      const m = LITERAL_MARKER.exec(tail);
      if (!m) {
        if (this.pendingError) return this.finishError();
        this.segments.push(line);
        return this.finishRequest();
      }
      const size = Number(m[2]);
      const nonSync = m[3] === '+';
      line = line.subarray(0, line.length - m[0].length);
      if (this.pendingError) {
        if (!nonSync) return this.finishError(); // the client waits for "+", which never comes
        this.need = size;
        this.state = 'skip-literal';
        continue;
      }
      this.segments.push(line);
      const isAppend = APPEND_COMMANDS.has(this.head!.command);
      const limit = isAppend ? this.opts.appendLimit : MAX_NON_APPEND_LITERAL;
      let refusal: Pending | null = null;
      if (size > limit || this.literalBytes + size > this.maxRequest) {
        refusal = isAppend
          ? { tag: this.head!.tag, status: 'NO', code: 'TOOBIG', text: `Message too large (limit ${limit} bytes)` }
          : { tag: this.head!.tag, status: 'BAD', code: 'TOOBIG', text: `Literal too large (limit ${limit} bytes)` };
      } else if (this.literals.length >= MAX_LITERALS_PER_COMMAND) {
        refusal = { tag: this.head!.tag, status: 'BAD', text: 'Too many literals' };
      }
      if (refusal) {
        this.pendingError = refusal;
        if (!nonSync) return this.finishError();
        this.need = size;
        this.state = 'skip-literal';
        continue;
      }
      this.literalBytes += size;
      this.need = size;
      this.literalBinary = m[1] === '~';
      this.state = 'literal';
      if (!nonSync) return { kind: 'continue', size };
    }
  }

  /** Reads tag and command name from the first line of a command; returns an error to answer, if any. */
  private captureHead(line: Buffer): Pending | null {
    if (this.head) return null;
    const text = line.subarray(0, MAX_TAG_BYTES + MAX_COMMAND_BYTES * 2 + 3).toString('latin1');
    const sp = text.indexOf(' ');
    const tag = sp === -1 ? text : text.slice(0, sp);
    if (!tag || tag.length > MAX_TAG_BYTES || !TAG_RE.test(tag)) {
      return { tag: null, status: 'BAD', text: tag.length > MAX_TAG_BYTES ? 'Tag too long' : 'Invalid tag' };
    }
    const rest = sp === -1 ? '' : text.slice(sp + 1);
    const words = rest.split(' ');
    let command = (words[0] ?? '').toUpperCase();
    if (!command || command.length > MAX_COMMAND_BYTES || !COMMAND_RE.test(command)) {
      this.head = { tag, command: '' };
      return { tag, status: 'BAD', text: command ? 'Invalid command name' : 'Missing command' };
    }
    if (command === 'UID' && words[1] && COMMAND_RE.test(words[1]) && words[1].length <= MAX_COMMAND_BYTES) {
      command = `UID ${words[1].toUpperCase()}`;
    }
    this.head = { tag, command };
    return null;
  }

  private finishError(): ReceiverEvent {
    const e = this.pendingError ?? { tag: null, status: 'BAD' as const, text: 'Invalid command' };
    this.resetCommand();
    return { kind: 'error', ...e };
  }

  private finishRequest(): ReceiverEvent {
    const head = this.head!;
    const segments = this.segments;
    const literals = this.literals;
    this.resetCommand();
    // Skip "tag SP command-words" in the first segment; the rest are the arguments.
    const words = head.command.split(' ').length;
    let pos = 0;
    const first = segments[0]!;
    for (let w = 0; w <= words; w++) {
      const sp = first.indexOf(0x20, pos);
      pos = sp === -1 ? first.length : sp + 1;
    }
    if (pos === first.length && literals.length && first[first.length - 1] !== 0x20) {
      return { kind: 'error', tag: head.tag, status: 'BAD', text: 'Missing space before literal' };
    }
    segments[0] = first.subarray(pos);
    const t = tokenize(segments, literals);
    if (!t.ok) return { kind: 'error', tag: head.tag, status: 'BAD', text: t.error };
    return { kind: 'request', request: { tag: head.tag, command: head.command, args: t.tokens } };
  }
}
