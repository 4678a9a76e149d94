// POP3 response formatting: status lines with optional RFC 2449 response codes, and
// multi-line responses with byte-stuffing (RFC 1939 §3): every line that begins with '.' gets
// one more '.', the content always ends with CRLF, and ".\r\n" terminates it.
// Also TOP's cut of a message (RFC 1939 §7). Must not do I/O; works on Buffers so message
// bytes go out exactly as stored (octet counts in LIST/STAT stay true).

/**
 * Response codes we send: RFC 2449 §8 (IN-USE, LOGIN-DELAY) and RFC 3206 (SYS/TEMP, SYS/PERM,
 * AUTH). Clients act on them: SYS/TEMP means retry later, AUTH means the credentials (or the
 * way they were offered) were refused, IN-USE means another session holds the maildrop.
 */
export type Pop3RespCode = 'IN-USE' | 'LOGIN-DELAY' | 'SYS/TEMP' | 'SYS/PERM' | 'AUTH';

const CRLF = Buffer.from('\r\n');
const TERMINATOR = Buffer.from('.\r\n');

/** Text that goes on a status line: CR/LF removed so a caller can never inject a second line. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}

export function okLine(text = ''): string {
  return text ? `+OK ${oneLine(text)}\r\n` : '+OK\r\n';
}

export function errLine(text: string, code?: Pop3RespCode): string {
  return `-ERR ${code ? `[${code}] ` : ''}${oneLine(text)}\r\n`;
}

/** SASL continuation (RFC 5034 §4): "+ " and the base64 challenge (empty for PLAIN). */
export function continuationLine(challengeBase64 = ''): string {
  return `+ ${challengeBase64}\r\n`;
}

/**
 * Byte-stuffs `content` and appends the terminator. A line starts at offset 0 and after every
 * LF (so a '.' after a stray bare LF is stuffed too: clients that split on LF would otherwise
 * read it as the end). Content that does not end with CRLF gets one, so the terminator always
 * stands on its own line. Empty content yields just ".\r\n".
 */
export function stuffMultiLine(content: Buffer): Buffer {
  const out: Buffer[] = [];
  let start = 0;
  let pos = 0;
  // Find every '.' at a line start; copy the runs between them unchanged.
  if (content.length && content[0] === 0x2e) {
    out.push(Buffer.from('.'));
  }
  for (;;) {
    const lf = content.indexOf(0x0a, pos);
    if (lf === -1 || lf + 1 >= content.length) break;
    pos = lf + 1;
    if (content[pos] === 0x2e) {
      out.push(content.subarray(start, pos), Buffer.from('.'));
      start = pos;
    }
  }
  out.push(content.subarray(start));
  const endsWithCrlf = content.length >= 2 && content[content.length - 2] === 0x0d && content[content.length - 1] === 0x0a;
  if (content.length && !endsWithCrlf) out.push(CRLF);
  out.push(TERMINATOR);
  return Buffer.concat(out);
}

/** A complete multi-line response: the +OK status line, then stuffed `content`. */
export function multiLineResponse(status: string, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from(okLine(status)), stuffMultiLine(content)]);
}

/** Content of a multi-line response made of text lines (CAPA, LIST, UIDL), each ended with CRLF. */
export function textLines(lines: readonly string[]): Buffer {
  return Buffer.from(lines.map((l) => `${oneLine(l)}\r\n`).join(''));
}

/**
 * TOP msg n (RFC 1939 §7): the header, the blank line after it and the first `n` lines of the
 * body, bytes unchanged. A message without a blank line is all header.
 */
export function messageTop(raw: Buffer, bodyLines: number): Buffer {
  let pos = 0;
  let bodyStart = raw.length;
  while (pos < raw.length) {
    const lf = raw.indexOf(0x0a, pos);
    const next = lf === -1 ? raw.length : lf + 1;
    const len = next - pos;
    const empty = (len === 1) || (len === 2 && raw[pos] === 0x0d); // "\n" or "\r\n"
    pos = next;
    if (empty && lf !== -1) {
      bodyStart = pos;
      break;
    }
  }
  let end = bodyStart;
  for (let i = 0; i < bodyLines && end < raw.length; i++) {
    const lf = raw.indexOf(0x0a, end);
    end = lf === -1 ? raw.length : lf + 1;
  }
  return raw.subarray(0, end);
}
