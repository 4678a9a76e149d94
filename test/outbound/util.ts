// Shared pieces of the outbound tests: submitting through an instance's submission port,
// reading a mailbox, and waiting for something to happen (bounded).
import nodemailer from 'nodemailer';
import { ADMIN, ADMIN_PASSWORD, type TestInstance } from '../helpers/instance.js';

/** Polls `check` until it returns a value other than null/undefined/false, or fails after `ms`. */
export async function waitFor<T>(what: string, check: () => Promise<T | null | undefined | false>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Sends as the instance's admin through submission (STARTTLS + AUTH); returns the queue id. */
export async function submit(inst: TestInstance, o: { to: string[]; subject: string; text?: string }): Promise<string> {
  const t = nodemailer.createTransport({
    host: '127.0.0.1', port: inst.ports.submission, secure: false, requireTLS: true,
    tls: { rejectUnauthorized: false }, auth: { user: ADMIN, pass: ADMIN_PASSWORD },
  });
  try {
    const info = await t.sendMail({ from: ADMIN, to: o.to, subject: o.subject, text: o.text ?? 'hello from the outbound tests' });
    const m = /queued as ([0-9A-Z]+)/.exec(info.response);
    if (!m) throw new Error(`unexpected reply ${info.response}`);
    return m[1]!;
  } finally {
    t.close();
  }
}

/** Every message in the INBOX of `address`, as text. */
export async function inbox(inst: TestInstance, address: string): Promise<string[]> {
  const acc = await inst.app.accounts.getAccount(address);
  if (!acc) throw new Error(`no account ${address}`);
  const box = await inst.app.mailStore.inbox(acc.id);
  const out: string[] = [];
  for (const m of await inst.app.mailStore.listMessages(box.id)) {
    out.push((await inst.app.mailStore.getMessageBytes(m.blobHash)).toString('utf8'));
  }
  return out;
}

/** The DSN in `address`'s INBOX that reports on the message with this Subject. */
export function findDsn(inst: TestInstance, address: string, originalSubject: string, ms = 10_000): Promise<string> {
  return waitFor(`a DSN for "${originalSubject}"`, async () =>
    (await inbox(inst, address)).find((m) => /^Content-Type: multipart\/report/im.test(m) && m.includes(`Subject: ${originalSubject}`)), ms);
}

/** Trace event names of one message, oldest first. */
export async function traceEvents(inst: TestInstance, queueId: string): Promise<Array<{ event: string; detail: Record<string, unknown> }>> {
  const found = await inst.app.trace.search({ queueId });
  return (found[0]?.events ?? []).map((e) => ({ event: e.event, detail: e.detail ? JSON.parse(e.detail) as Record<string, unknown> : {} }));
}
