// The message-number argument shared by LIST, UIDL, RETR, TOP and DELE (RFC 1939 §5): a
// number of the login snapshot that is not marked deleted.
import { parseMessageNumber } from '../../../protocols/pop3/command.js';
import type { MaildropEntry } from '../maildrop.js';
import type { Pop3Context, Pop3Result } from '../types.js';

export function messageArg(ctx: Pop3Context, arg: string | undefined): { entry: MaildropEntry } | { error: Pop3Result } {
  const n = parseMessageNumber(arg);
  if (n === null) return { error: { kind: 'err', text: 'Invalid message number', bad: true } };
  const r = ctx.maildrop!.lookup(n);
  if (r.kind === 'none') return { error: { kind: 'err', text: 'No such message' } };
  if (r.kind === 'deleted') return { error: { kind: 'err', text: 'Message already deleted' } };
  return { entry: r.entry };
}

/**
 * The stored bytes of a snapshot entry, or an -ERR when the message was expunged meanwhile by
 * another protocol (IMAP, CLI): the snapshot still lists it, but it is gone (RFC 2449 has no
 * code for this; clients move on to the next message).
 */
export async function readMessage(ctx: Pop3Context, entry: MaildropEntry): Promise<{ bytes: Buffer } | { error: Pop3Result }> {
  const { mailStore, log } = ctx.deps;
  const md = ctx.maildrop!;
  const still = await mailStore.getMessage(md.mailboxId, entry.uid);
  if (!still) return { error: { kind: 'err', text: 'Message was removed by another session' } };
  try {
    const bytes = await mailStore.getMessageBytes(entry.blobHash);
    if (bytes.length !== entry.size) {
      log.warn({ event: 'pop3.message.size_mismatch', uid: entry.uid, stored: entry.size, actual: bytes.length }, 'size mismatch');
    }
    return { bytes };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { error: { kind: 'err', text: 'Message was removed by another session' } };
    throw e;
  }
}
