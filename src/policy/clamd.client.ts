// A ClamAV clamd client: INSTREAM (length-prefixed chunks, zero-length terminator) over TCP
// or clamd's local socket; answers clean, infected (with the signature name) or throws.
// Must not retry and must not treat an unknown answer as clean (a throw is a tempfail or
// accept-and-tag, as configured). BUGS: one connection per message (no IDSESSION).
import net from 'node:net';

const CHUNK_BYTES = 64 * 1024;
const MAX_RESPONSE_BYTES = 4096;
const INSTREAM = Buffer.from('zINSTREAM\0', 'latin1');

export type ClamdResult = { infected: false } | { infected: true; signature: string };
export class ClamdError extends Error {}

export interface ClamdTarget { socket: string | null; host: string | null; port: number; timeoutMs: number }

export function clamdScan(o: ClamdTarget, data: Buffer): Promise<ClamdResult> {
  return new Promise((resolve, reject) => {
    const where = o.host ? `${o.host}:${o.port}` : o.socket ?? '';
    const socket = o.host ? net.connect({ host: o.host, port: o.port }) : net.connect({ path: o.socket ?? '' });
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: Error | null, r?: ClamdResult) => {
      if (done) return;
      done = true;
      socket.destroy();
      if (err) reject(err);
      else resolve(r!);
    };
    socket.setTimeout(o.timeoutMs, () => finish(new ClamdError(`clamd timed out after ${o.timeoutMs} ms`)));
    socket.on('error', (e) => finish(new ClamdError(`clamd ${where}: ${e.message}`)));
    socket.on('connect', () => {
      socket.write(instreamFrame(data));
    });
    socket.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_RESPONSE_BYTES) return finish(new ClamdError('clamd answer too long'));
      chunks.push(d);
      const text = Buffer.concat(chunks).toString('latin1');
      if (text.includes('\0') || text.includes('\n')) {
        try {
          finish(null, parseClamdResponse(text));
        } catch (e) {
          finish(e as Error);
        }
      }
    });
    socket.on('end', () => {
      try {
        finish(null, parseClamdResponse(Buffer.concat(chunks).toString('latin1')));
      } catch (e) {
        finish(e as Error);
      }
    });
  });
}

/**
 * The whole INSTREAM request in one buffer: the command, each chunk behind its 4-byte
 * big-endian length, then the zero-length terminator. One write (one syscall) instead of
 * two per chunk plus two more.
 */
export function instreamFrame(data: Buffer): Buffer {
  const chunks = Math.ceil(data.length / CHUNK_BYTES);
  const out = Buffer.allocUnsafe(INSTREAM.length + data.length + 4 * chunks + 4);
  let o = INSTREAM.copy(out, 0);
  for (let i = 0; i < data.length; i += CHUNK_BYTES) {
    const end = Math.min(i + CHUNK_BYTES, data.length);
    o = out.writeUInt32BE(end - i, o);
    o += data.copy(out, o, i, end);
  }
  out.writeUInt32BE(0, o); // end of stream
  return out;
}

export function parseClamdResponse(text: string): ClamdResult {
  const line = text.replace(/[\0\r\n]+$/, '').split(/[\0\n]/)[0]!.trim();
  if (/^stream: OK$/.test(line)) return { infected: false };
  const found = /^stream: (.+) FOUND$/.exec(line);
  if (found) return { infected: true, signature: found[1]! };
  throw new ClamdError(`clamd: ${line.slice(0, 200) || 'empty answer'}`);
}
