// POP3 command framing: turns raw bytes from the client into command lines, with a hard bound
// on how much one line may hold (RFC 2449 §4 allows 255 octets; AUTH responses need more, so
// we allow MAX_LINE_BYTES). An over-long line yields one 'too-long' event and everything up to
// its line end is thrown away as it arrives: memory use never exceeds the bound.
// Must not do I/O, read clocks or know about sessions. Pure and synchronous.
// Line ends: LF ends a line and a CR right before it is dropped. POP3 clients upload no data,
// so accepting a bare LF (telnet/nc users) cannot be used for smuggling as in SMTP.

/** Longest command line accepted, in bytes, including the CRLF (covers AUTH PLAIN with 255-byte fields). */
export const MAX_LINE_BYTES = 1024;

export type LineEvent =
  | { kind: 'line'; line: string }
  /** A line exceeded MAX_LINE_BYTES; its bytes are discarded up to and including its LF. */
  | { kind: 'too-long' };

export class Pop3LineReader {
  private parts: Buffer[] = [];
  private held = 0;
  /** Inside an over-long line: drop bytes until the next LF. */
  private discarding = false;

  constructor(private readonly maxLineBytes = MAX_LINE_BYTES) {}

  /** Feeds bytes; returns every event they complete, in order. */
  push(chunk: Buffer): LineEvent[] {
    const out: LineEvent[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      const lf = chunk.indexOf(0x0a, pos);
      const end = lf === -1 ? chunk.length : lf + 1; // piece includes its LF
      const piece = chunk.subarray(pos, end);
      pos = end;
      if (this.discarding) {
        if (lf !== -1) this.discarding = false;
        continue;
      }
      if (this.held + piece.length > this.maxLineBytes) {
        // Report once, now, so the client hears about it even if it never sends the LF.
        out.push({ kind: 'too-long' });
        this.parts = [];
        this.held = 0;
        this.discarding = lf === -1;
        continue;
      }
      if (lf === -1) {
        this.parts.push(Buffer.from(piece)); // copy: the caller may reuse its buffer
        this.held += piece.length;
        continue;
      }
      const whole = this.parts.length ? Buffer.concat([...this.parts, piece]) : piece;
      this.parts = [];
      this.held = 0;
      let stop = whole.length - 1; // drop LF
      if (stop > 0 && whole[stop - 1] === 0x0d) stop--; // and a CR before it
      out.push({ kind: 'line', line: whole.subarray(0, stop).toString('utf8') });
    }
    return out;
  }

  /** Drops buffered bytes (after STLS: nothing sent in plaintext may be acted on over TLS, RFC 2595 §3.1). */
  reset(): void {
    this.parts = [];
    this.held = 0;
    this.discarding = false;
  }

  /** Bytes of a partial line currently held. */
  get pending(): number {
    return this.held;
  }
}
