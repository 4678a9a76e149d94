// Delivery Status Notifications: the bounce a sender gets when some recipients could not be
// reached. Builds an RFC 3464 report (multipart/report per RFC 6522: a human-readable part, a
// message/delivery-status part, and the original's header block as text/rfc822-headers) and
// hands it to DeliveryService like any other message, with the null reverse-path and
// isBounce set, so a local sender finds it in INBOX and a remote sender gets it via the queue.
// Must never answer a null-sender message or a bounce (RFC 5321 §4.5.5, RFC 3464 §2: no
// bounce loops), and must not reach into the queue tables: callers say what failed.
// BUGS: no RFC 3461 NOTIFY/RET/ORCPT (we never keep them); no "delayed" warnings yet.
import { randomBytes } from 'node:crypto';
import type { App } from '../instance/app.js';
import { newQueueId } from '../services/trace.service.js';
import type { DeliveryFailure, FailureHandler, InboundMessage } from './delivery.service.js';
import { headerBlockEnd, rfc5322Date } from './prepare-message.js';

export interface DsnRecipient {
  recipient: string;
  /** RFC 3464 §2.3.3; only 'failed' is produced today. */
  action: 'failed' | 'delayed';
  /** RFC 3463 status, e.g. 5.1.1. */
  status: string;
  /** Host name of the MTA that gave the verdict, if one did. */
  remoteMta?: string | null;
  /** The remote server's reply ("550 5.1.1 ...") when there was one; goes into Diagnostic-Code: smtp. */
  smtpReply?: string | null;
  /** Our own words when there was no remote reply (DNS failure, connection refused, quota). */
  explanation?: string | null;
  lastAttemptAt?: number | null;
}

export interface DsnReport {
  /** config.hostname: Reporting-MTA and the MAILER-DAEMON address. */
  hostname: string;
  /** Queue id of the DSN itself (used in its Message-ID). */
  queueId: string;
  originalQueueId: string;
  /** Envelope sender of the original: the DSN's only recipient. */
  originalSender: string;
  arrivalDate: number;
  recipients: DsnRecipient[];
  /** The original message (only its header block is returned), or null if its bytes are gone. */
  original: Buffer | null;
  date?: Date;
}

/** Header lines of the report are folded before this many characters (RFC 5322 §2.1.1 says 78). */
const FOLD_AT = 76;
/** The original's header block is returned up to this size; anything beyond is cut at a line end. */
const MAX_RETURNED_HEADER_BYTES = 64 * 1024;

/** Builds the report as CRLF-terminated bytes. Pure: no I/O. */
export function buildDsn(r: DsnReport): Buffer {
  const boundary = `${r.queueId}/${r.hostname}/${randomBytes(6).toString('hex')}`;
  const date = r.date ?? new Date();
  const failed = r.recipients.filter((x) => x.action === 'failed');
  const from = `MAILER-DAEMON@${r.hostname}`;
  const head = [
    `From: Mail Delivery System <${from}>`,
    `To: <${r.originalSender}>`,
    `Subject: ${failed.length ? 'Undelivered Mail Returned to Sender' : 'Delayed Mail (still being retried)'}`,
    `Date: ${rfc5322Date(date)}`,
    `Message-ID: <${r.queueId}.dsn@${r.hostname}>`,
    // RFC 3834 §5: automatic responses say so, so that auto-responders stay quiet.
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="${boundary}"`,
  ];

  const human: string[] = [
    `This is the mail system at host ${r.hostname}.`,
    '',
    failed.length
      ? 'I\'m sorry to have to inform you that your message could not be delivered to one or more recipients.'
      : 'Your message could not be delivered yet; delivery will be retried.',
    `It's attached below (headers only). Queue id: ${r.originalQueueId}.`,
    '',
  ];
  for (const x of r.recipients) {
    const why = x.smtpReply ? `host ${x.remoteMta ?? 'unknown'} said: ${x.smtpReply}` : (x.explanation ?? `status ${x.status}`);
    human.push(`<${x.recipient}>: ${why}`);
  }

  // RFC 3464 §2.2: per-message fields, then one block per recipient, blocks separated by a blank line.
  const status: string[] = [
    field('Reporting-MTA', `dns; ${r.hostname}`),
    field('X-Pochtamt-Queue-ID', r.originalQueueId),
    field('Arrival-Date', rfc5322Date(new Date(r.arrivalDate))),
  ];
  for (const x of r.recipients) {
    status.push('');
    // RFC 6533 §3: a non-ASCII address needs the utf-8 address type.
    status.push(field('Final-Recipient', `${/[^\x00-\x7f]/.test(x.recipient) ? 'utf-8' : 'rfc822'}; ${x.recipient}`));
    status.push(field('Action', x.action));
    status.push(field('Status', x.status));
    if (x.remoteMta) status.push(field('Remote-MTA', `dns; ${x.remoteMta}`));
    if (x.smtpReply) status.push(field('Diagnostic-Code', `smtp; ${x.smtpReply}`));
    else if (x.explanation) status.push(field('Diagnostic-Code', `X-Pochtamt; ${x.explanation}`));
    if (x.lastAttemptAt) status.push(field('Last-Attempt-Date', rfc5322Date(new Date(x.lastAttemptAt))));
  }

  const headers = returnedHeaders(r.original);
  const eightBit = headers.some((b) => b > 0x7f) || r.recipients.some((x) => /[^\x00-\x7f]/.test(x.recipient));
  const parts: Array<string | Buffer> = [
    head.join('\r\n'), '\r\n\r\n',
    'This is a MIME-encapsulated message.\r\n\r\n',
    `--${boundary}\r\n`,
    'Content-Description: Notification\r\nContent-Type: text/plain; charset=utf-8\r\n',
    `Content-Transfer-Encoding: ${eightBit ? '8bit' : '7bit'}\r\n\r\n`,
    human.map((l) => wrap(l)).join('\r\n'), '\r\n\r\n',
    `--${boundary}\r\n`,
    'Content-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n',
    `Content-Transfer-Encoding: ${eightBit ? '8bit' : '7bit'}\r\n\r\n`,
    status.join('\r\n'), '\r\n\r\n',
    `--${boundary}\r\n`,
    'Content-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers\r\n',
    `Content-Transfer-Encoding: ${eightBit ? '8bit' : '7bit'}\r\n\r\n`,
    headers, headers.length && !headers.subarray(-2).equals(Buffer.from('\r\n')) ? '\r\n' : '',
    `\r\n--${boundary}--\r\n`,
  ];
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p)));
}

/** The original's top-level header block (without the blank line), bounded. */
function returnedHeaders(original: Buffer | null): Buffer {
  if (!original?.length) return Buffer.alloc(0);
  let block = original.subarray(0, headerBlockEnd(original));
  if (block.length > MAX_RETURNED_HEADER_BYTES) {
    const cut = block.lastIndexOf('\r\n', MAX_RETURNED_HEADER_BYTES);
    block = block.subarray(0, cut === -1 ? MAX_RETURNED_HEADER_BYTES : cut + 2);
  }
  return block;
}

/** One `Name: value` field, folded at whitespace so no line grows past FOLD_AT (values are ours or sanitised replies). */
function field(name: string, value: string): string {
  return wrap(`${name}: ${value.replace(/[\r\n]+/g, ' ')}`, '\r\n\t');
}

function wrap(line: string, joiner = '\r\n'): string {
  if (line.length <= FOLD_AT) return line;
  const out: string[] = [];
  let cur = '';
  for (const word of line.split(' ')) {
    if (cur && cur.length + 1 + word.length > FOLD_AT) {
      out.push(cur);
      cur = word;
    } else cur = cur ? `${cur} ${word}` : word;
  }
  if (cur) out.push(cur);
  return out.join(joiner);
}

/** What a caller knows about one original message whose recipients failed. */
export interface DsnNotice {
  originalQueueId: string;
  /** Envelope sender of the original; '' means no DSN. */
  originalSender: string;
  /** The original is itself a DSN: never bounce it. */
  originalIsBounce: boolean;
  arrivalDate: number;
  original: Buffer | null;
  recipients: DsnRecipient[];
  messageId?: string | null;
}

/**
 * Builds the report and delivers it to the original sender. Returns the DSN's queue id, or
 * null when none is due (null sender, bounce of a bounce, nothing failed). Must not be called
 * inside store.write(): delivery opens its own transaction.
 */
export async function sendDsn(app: App, n: DsnNotice): Promise<string | null> {
  if (!n.originalSender || n.originalIsBounce || !n.recipients.length) return null;
  const queueId = newQueueId();
  const raw = buildDsn({
    hostname: app.config.hostname, queueId, originalQueueId: n.originalQueueId, originalSender: n.originalSender,
    arrivalDate: n.arrivalDate, recipients: n.recipients, original: n.original,
  });
  const result = await app.delivery.deliver({ queueId, sender: '', recipients: [n.originalSender], raw, isBounce: true });
  for (const x of n.recipients) {
    app.trace.record('dsn.sent', {
      queueId: n.originalQueueId, messageId: n.messageId ?? null, sender: n.originalSender, recipient: x.recipient,
      dsnQueueId: queueId, action: x.action, status: x.status, deliveredTo: result.stored.length ? 'local' : result.queued.length ? 'queue' : 'nowhere',
    });
  }
  return queueId;
}

/**
 * Splits what the queue keeps in `lastReply` back into its parts: either a remote reply
 * ("550 5.1.1 text") or our own diagnosis prefixed with its status ("5.1.2 text").
 */
export function parseStoredReply(s: string | null, fallbackStatus: string): { status: string; smtpReply: string | null; explanation: string | null } {
  const text = (s ?? '').trim();
  const smtp = /^([245])\d\d(?:[ -]([245]\.\d{1,3}\.\d{1,3})(?!\d))?/.exec(text);
  if (smtp) {
    const status = smtp[2] && smtp[2][0] === smtp[1] ? smtp[2] : `${smtp[1]}.0.0`;
    return { status, smtpReply: text, explanation: null };
  }
  const own = /^([245]\.\d{1,3}\.\d{1,3}) (.*)$/s.exec(text);
  if (own) return { status: own[1]!, smtpReply: null, explanation: own[2]! };
  return { status: fallbackStatus, smtpReply: null, explanation: text || null };
}

/**
 * DeliveryService.onFailures: recipients that failed while the message was being stored
 * locally (e.g. mailbox over quota) get a DSN, unless nothing was accepted at all — then the
 * SMTP session rejects the whole transaction and the client already knows (no double notice).
 */
export function localFailureDsnHandler(app: App): FailureHandler {
  return async (msg: InboundMessage, failures: DeliveryFailure[], result) => {
    if (!result.stored.length && !result.queued.length) return;
    try {
      await sendDsn(app, {
        originalQueueId: msg.queueId, originalSender: msg.sender, originalIsBounce: msg.isBounce ?? false, arrivalDate: Date.now(),
        original: msg.raw,
        recipients: failures.map((f) => ({
          recipient: f.recipient, action: 'failed' as const, status: f.status, remoteMta: null, smtpReply: null,
          explanation: f.diagnostic, lastAttemptAt: Date.now(),
        })),
      });
    } catch (e) {
      // The original is already stored for the others; a lost notice must not turn into a 4xx.
      app.log.error({ event: 'dsn.send.failed', queueId: msg.queueId, err: (e as Error).message }, 'could not send DSN');
    }
  };
}
