// A SpamAssassin spamd client speaking SPAMC/1.5 over TCP or spamd's unix socket (the protocol
// of spamc; see spamd/PROTOCOL in the SpamAssassin sources): one SYMBOLS request per message,
// answered with "Spam: True|False ; score / threshold" and the list of rules that hit.
// Must not retry (the pipeline decides what an outage means) and must bound what it reads.
// BUGS: no TLS to spamd, no compression; the whole message is sent in one write.
import net from 'node:net';

/** Longest spamd answer we read (headers plus the symbol list). */
const MAX_RESPONSE_BYTES = 64 * 1024;

export interface SpamdResult { isSpam: boolean; score: number; threshold: number; symbols: string[] }

export class SpamdError extends Error {}

/** Where spamd listens: its unix socket (spamd --socketpath) when `socket` is set, else host:port. */
export interface SpamdTarget { socket?: string | null; host: string; port: number; timeoutMs: number; user?: string }

export function spamdCheck(o: SpamdTarget, message: Buffer): Promise<SpamdResult> {
  const where = o.socket ? o.socket : `${o.host}:${o.port}`;
  return new Promise((resolve, reject) => {
    const socket = o.socket ? net.connect({ path: o.socket }) : net.connect({ host: o.host, port: o.port });
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: Error | null, r?: SpamdResult) => {
      if (done) return;
      done = true;
      socket.destroy();
      if (err) reject(err);
      else resolve(r!);
    };
    socket.setTimeout(o.timeoutMs, () => finish(new SpamdError(`spamd timed out after ${o.timeoutMs} ms`)));
    socket.on('error', (e) => finish(new SpamdError(`spamd ${where}: ${e.message}`)));
    socket.on('connect', () => {
      const head = `SYMBOLS SPAMC/1.5\r\nContent-length: ${message.length}\r\n${o.user ? `User: ${o.user.replace(/[\r\n]/g, '')}\r\n` : ''}\r\n`;
      // One write: the request head and the message together.
      socket.end(Buffer.concat([Buffer.from(head, 'latin1'), message]));
    });
    socket.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_RESPONSE_BYTES) return finish(new SpamdError('spamd answer too long'));
      chunks.push(d);
    });
    socket.on('end', () => {
      try {
        finish(null, parseSpamdResponse(Buffer.concat(chunks).toString('latin1')));
      } catch (e) {
        finish(e as Error);
      }
    });
  });
}

export function parseSpamdResponse(text: string): SpamdResult {
  const sep = text.indexOf('\r\n\r\n');
  const head = sep === -1 ? text : text.slice(0, sep);
  const body = sep === -1 ? '' : text.slice(sep + 4);
  const lines = head.split('\r\n');
  const status = /^SPAMD\/\d+\.\d+\s+(\d+)\s+(.*)$/.exec(lines[0] ?? '');
  if (!status) throw new SpamdError(`unexpected spamd answer: ${JSON.stringify((lines[0] ?? '').slice(0, 100))}`);
  if (status[1] !== '0') throw new SpamdError(`spamd error ${status[1]} ${status[2]}`);
  const spam = lines.map((l) => /^Spam:\s*(True|False|Yes|No)\s*;\s*(-?[\d.]+)\s*\/\s*(-?[\d.]+)/i.exec(l)).find(Boolean);
  if (!spam) throw new SpamdError('spamd answer has no Spam header');
  return {
    isSpam: /^(true|yes)$/i.test(spam[1]!), score: Number(spam[2]), threshold: Number(spam[3]),
    symbols: body.trim() ? body.trim().split(/\s*,\s*/) : [],
  };
}
