// Header work done once per received message (pure, no I/O): a trace header for this hop
// (RFC 5321 §4.4), Message-ID and Date when the submitter left them out (RFC 5322 §3.6),
// and Return-Path for the copy that is stored locally (only the final delivery adds it).
import { randomBytes } from 'node:crypto';

export interface ReceivedInfo {
  hostname: string;
  queueId: string;
  protocol: 'SMTP' | 'ESMTP' | 'ESMTPS' | 'ESMTPA' | 'ESMTPSA' | 'LOCAL';
  heloName?: string;
  remoteAddress?: string;
  remoteHost?: string;
  tls?: string | null;
  /** Single recipient to name in the `for` clause (only when there is exactly one). */
  forRecipient?: string | null;
  date?: Date;
}

/** Header names present in the top-level header block (lower case). */
export function headerNames(raw: Buffer): Set<string> {
  const end = headerBlockEnd(raw);
  const names = new Set<string>();
  for (const line of raw.subarray(0, end).toString('latin1').split(/\r?\n/)) {
    const m = /^([!-9;-~]+):/.exec(line);
    if (m) names.add(m[1]!.toLowerCase());
  }
  return names;
}

export function headerBlockEnd(raw: Buffer): number {
  const a = raw.indexOf('\r\n\r\n');
  return a === -1 ? raw.length : a + 2;
}

/** RFC 5322 date-time in UTC. */
export function rfc5322Date(d = new Date()): string {
  return d.toUTCString().replace(/GMT$/, '+0000');
}

export function receivedHeader(r: ReceivedInfo): string {
  const from = r.remoteAddress
    ? `from ${sanitize(r.heloName ?? 'unknown')} (${r.remoteHost && r.remoteHost !== r.remoteAddress ? `${sanitize(r.remoteHost)} ` : ''}[${r.remoteAddress}])\r\n\t`
    : '';
  const tls = r.tls ? `\r\n\t(${r.tls.split(' ').map(sanitize).join(' ')})` : '';
  const forClause = r.forRecipient ? `\r\n\tfor <${r.forRecipient}>` : '';
  return `Received: ${from}by ${r.hostname} (Pochtamt) with ${r.protocol} id ${r.queueId}${tls}${forClause};\r\n\t${rfc5322Date(r.date)}\r\n`;
}

/** Keeps peer-supplied text from breaking the header: printable ASCII only, bounded. */
function sanitize(s: string): string {
  return s.replace(/[^\x21-\x7e]/g, '?').replace(/[()\\]/g, '?').slice(0, 255);
}

/**
 * Returns the message as it leaves this hop: Received first, and Message-ID / Date appended to
 * the header block if missing. `raw` must already use CRLF line ends.
 */
export function prepareMessage(raw: Buffer, r: ReceivedInfo, opts: { addMissing: boolean }): Buffer {
  const head: string[] = [receivedHeader(r)];
  const extra: string[] = [];
  if (opts.addMissing) {
    const names = headerNames(raw);
    if (!names.has('message-id')) extra.push(`Message-ID: <${r.queueId}.${randomBytes(4).toString('hex')}@${r.hostname}>\r\n`);
    if (!names.has('date')) extra.push(`Date: ${rfc5322Date(r.date)}\r\n`);
  }
  if (!extra.length) return Buffer.concat([Buffer.from(head.join(''), 'latin1'), raw]);
  const end = headerBlockEnd(raw);
  // Append after the existing fields (before the blank line that ends the header block).
  const cut = end === raw.length ? raw.length : end;
  const headPart = raw.subarray(0, cut);
  const needsCrlf = headPart.length > 0 && !headPart.subarray(-2).equals(Buffer.from('\r\n'));
  return Buffer.concat([
    Buffer.from(head.join(''), 'latin1'), headPart, Buffer.from((needsCrlf ? '\r\n' : '') + extra.join(''), 'latin1'),
    end === raw.length ? Buffer.from('\r\n') : raw.subarray(cut),
  ]);
}

export function withReturnPath(raw: Buffer, sender: string): Buffer {
  return Buffer.concat([Buffer.from(`Return-Path: <${sender}>\r\n`, 'latin1'), raw]);
}
