// Reads a DATA stream into one buffer and makes its line ends canonical. Pure apart from the
// stream. SMTP smuggling (2023, the `<LF>.<CR><LF>` class) relies on hops disagreeing about
// what ends a line; we store and relay only CRLF, so a bare LF or bare CR becomes CRLF here
// and the next hop sees exactly what we saw. NUL bytes are refused: without BINARYMIME they
// are not allowed in mail (RFC 5321 §4.5.2, RFC 6152).
import type { Readable } from 'node:stream';

export const MAX_HEADER_LINE = 998; // RFC 5322 §2.1.1, without CRLF
export const MAX_HEADER_BYTES = 1024 * 1024;

export type DataProblem =
  | { kind: 'too-big' }
  | { kind: 'nul' }
  | { kind: 'header-line-too-long' }
  | { kind: 'header-too-big' };

export interface DataResult { raw: Buffer; normalizedLineEnds: boolean; problem: DataProblem | null }

export async function readData(stream: Readable & { sizeExceeded?: boolean }, maxBytes: number): Promise<DataResult> {
  const chunks: Buffer[] = [];
  let total = 0;
  let tooBig = false;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    total += chunk.length;
    // Keep draining (the client is still sending) but stop buffering past the limit.
    if (total > maxBytes) tooBig = true;
    else chunks.push(chunk);
  }
  if (tooBig || stream.sizeExceeded) return { raw: Buffer.alloc(0), normalizedLineEnds: false, problem: { kind: 'too-big' } };
  const body = Buffer.concat(chunks, total);
  if (body.includes(0)) return { raw: Buffer.alloc(0), normalizedLineEnds: false, problem: { kind: 'nul' } };
  const { out, changed } = canonicalLineEnds(body);
  return { raw: out, normalizedLineEnds: changed, problem: checkHeader(out) };
}

/** Every CR and LF not part of a CRLF pair becomes CRLF. Returns the input itself when already canonical. */
export function canonicalLineEnds(buf: Buffer): { out: Buffer; changed: boolean } {
  let bare = 0;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (c === 0x0d) {
      if (buf[i + 1] === 0x0a) i++;
      else bare++;
    } else if (c === 0x0a) bare++;
  }
  if (!bare) return { out: buf, changed: false };
  const out = Buffer.allocUnsafe(buf.length + bare);
  let o = 0;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (c === 0x0d) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
      if (buf[i + 1] === 0x0a) i++;
    } else if (c === 0x0a) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
    } else out[o++] = c;
  }
  return { out: out.subarray(0, o), changed: true };
}

function checkHeader(raw: Buffer): DataProblem | null {
  const end = raw.indexOf('\r\n\r\n');
  const headerLen = end === -1 ? raw.length : end;
  if (headerLen > MAX_HEADER_BYTES) return { kind: 'header-too-big' };
  let lineStart = 0;
  while (lineStart < headerLen) {
    let nl = raw.indexOf('\r\n', lineStart);
    if (nl === -1 || nl > headerLen) nl = headerLen;
    if (nl - lineStart > MAX_HEADER_LINE) return { kind: 'header-line-too-long' };
    lineStart = nl + 2;
  }
  return null;
}
