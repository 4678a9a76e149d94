// Store integrity check: do the database rows and the blob files agree? Run it after a crash,
// a restore or a migration (an admin CLI command will call it). It only reads; it reports
// problems as one line each and repairs nothing. What it checks:
//  - every message row: its mailbox exists and belongs to the same account, its UID is below
//    the mailbox's uidNext and its MODSEQ not above highestModseq, and its blob file exists,
//    is readable, has the row's size and hashes to its name (SHA-256);
//  - every mailbox: messageCount and totalBytes equal the count and byte sum of its rows;
//  - every account: usedMessages and usedBytes equal the count and byte sum of its messages;
//  - every queued (not completed) outbound message: its blob file exists with the right size
//    and hash;
//  - every blob row: refCount equals the references to it (message rows plus queued, not yet
//    completed, outbound messages — the only two things that hold blob references today) and
//    its size matches the file; every referenced hash has a blob row.
// Blob files that no row references are not problems: they are the expected leftovers of a
// delivery cut off between fsync and commit, and collectGarbage() removes them later.
// Works on SQLite and PostgreSQL; reads message rows in pages, and each blob file once.
import { createHash } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { AccountEntity, BlobEntity, MailboxEntity, MessageEntity, QueueMessageEntity } from '../../schemas/entities/index.js';
import type { BlobStore } from './blob-store.js';
import type { Store } from './store.js';

export interface IntegrityOptions {
  /** Stop collecting after this many problems (the count of the rest is reported). Default 1000. */
  maxProblems?: number;
  /** Message rows read per query. Default 1000. */
  pageSize?: number;
}

/** What a blob file turned out to be: its size and hash, or why it could not be read. */
type BlobFile = { size: number; sha256: string } | { error: string };

/** Runs every check and returns the problems found, one line each; empty when the store is consistent. */
export async function checkIntegrity(app: { store: Store }, opts: IntegrityOptions = {}): Promise<string[]> {
  const maxProblems = opts.maxProblems ?? 1000;
  const pageSize = opts.pageSize ?? 1000;
  const em = app.store.em;
  const problems: string[] = [];
  let dropped = 0;
  const problem = (s: string) => {
    if (problems.length < maxProblems) problems.push(s);
    else dropped++;
  };

  const files = new Map<string, BlobFile>();
  const file = async (hash: string): Promise<BlobFile> => {
    let f = files.get(hash);
    if (!f) {
      f = await readBlob(app.store.blobs, hash);
      files.set(hash, f);
    }
    return f;
  };
  const checkFile = async (what: string, hash: string, size: number) => {
    const f = await file(hash);
    if ('error' in f) problem(`${what}: blob ${hash} unreadable: ${f.error}`);
    else {
      if (f.size !== size) problem(`${what}: blob ${hash} has ${f.size} bytes, the row says ${size}`);
      if (f.sha256 !== hash) problem(`${what}: blob ${hash} content hashes to ${f.sha256}`);
    }
  };

  const mailboxes = new Map((await em.find(MailboxEntity, {
    select: { id: true, accountId: true, name: true, uidNext: true, highestModseq: true, messageCount: true, totalBytes: true },
  })).map((m) => [m.id, m]));
  const refs = new Map<string, number>(); // blob hash -> references found

  // Message rows, page by page.
  for (let after = 0; ;) {
    const rows = await em.createQueryBuilder(MessageEntity, 'm')
      .select(['m.id', 'm.mailboxId', 'm.accountId', 'm.uid', 'm.modseq', 'm.size', 'm.blobHash'])
      .where('m.id > :after', { after }).orderBy('m.id', 'ASC').take(pageSize).getMany();
    if (!rows.length) break;
    after = rows[rows.length - 1]!.id;
    for (const m of rows) {
      const what = `message ${m.id} (mailbox ${m.mailboxId}, uid ${m.uid})`;
      const box = mailboxes.get(m.mailboxId);
      if (!box) problem(`${what}: mailbox does not exist`);
      else {
        if (box.accountId !== m.accountId) problem(`${what}: row says account ${m.accountId}, mailbox belongs to ${box.accountId}`);
        if (!(Number(box.uidNext) > m.uid)) problem(`${what}: uid not below the mailbox's uidNext ${box.uidNext}`);
        if (Number(m.modseq) > Number(box.highestModseq)) problem(`${what}: modseq ${m.modseq} above highestModseq ${box.highestModseq}`);
      }
      refs.set(m.blobHash, (refs.get(m.blobHash) ?? 0) + 1);
      await checkFile(what, m.blobHash, Number(m.size));
    }
  }

  // Mailbox counters against their rows.
  const perBox = await aggregate(em, 'mailboxId');
  for (const box of mailboxes.values()) {
    const a = perBox.get(box.id) ?? { count: 0, bytes: 0 };
    const what = `mailbox ${box.id} (account ${box.accountId}, ${box.name})`;
    if (Number(box.messageCount) !== a.count) problem(`${what}: messageCount ${box.messageCount}, but ${a.count} message rows`);
    if (Number(box.totalBytes) !== a.bytes) problem(`${what}: totalBytes ${box.totalBytes}, but the rows add up to ${a.bytes}`);
  }

  // Account quota counters against their messages.
  const perAccount = await aggregate(em, 'accountId');
  const accounts = await em.find(AccountEntity, { select: { id: true, address: true, usedBytes: true, usedMessages: true } });
  for (const acc of accounts) {
    const a = perAccount.get(acc.id) ?? { count: 0, bytes: 0 };
    const what = `account ${acc.id} (${acc.address})`;
    if (Number(acc.usedMessages) !== a.count) problem(`${what}: usedMessages ${acc.usedMessages}, but ${a.count} message rows`);
    if (Number(acc.usedBytes) !== a.bytes) problem(`${what}: usedBytes ${acc.usedBytes}, but its messages add up to ${a.bytes}`);
  }
  const known = new Set(accounts.map((a) => a.id));
  for (const id of perAccount.keys()) if (!known.has(id)) problem(`messages of account ${id}, which does not exist`);

  // Outbound messages still waiting hold a reference to their bytes.
  const queued = await em.createQueryBuilder(QueueMessageEntity, 'q')
    .select(['q.id', 'q.queueId', 'q.blobHash', 'q.size']).where('q.completedAt IS NULL').getMany();
  for (const q of queued) {
    refs.set(q.blobHash, (refs.get(q.blobHash) ?? 0) + 1);
    await checkFile(`queued message ${q.queueId}`, q.blobHash, Number(q.size));
  }

  // Reference counts.
  const blobRows = await em.find(BlobEntity, { select: { hash: true, size: true, refCount: true } });
  const rowOf = new Map(blobRows.map((b) => [b.hash, b]));
  for (const b of blobRows) {
    const n = refs.get(b.hash) ?? 0;
    if (Number(b.refCount) !== n) problem(`blob ${b.hash}: refCount ${b.refCount}, but ${n} references`);
    const f = files.get(b.hash);
    if (f && !('error' in f) && f.size !== Number(b.size)) problem(`blob ${b.hash}: row says ${b.size} bytes, the file has ${f.size}`);
  }
  for (const [hash, n] of refs) if (!rowOf.has(hash)) problem(`blob ${hash}: ${n} references but no blob row`);

  if (dropped) problems.push(`… and ${dropped} more problems`);
  return problems;
}

/** Row count and byte sum of messages grouped by one column. */
async function aggregate(em: EntityManager, by: 'mailboxId' | 'accountId'): Promise<Map<number, { count: number; bytes: number }>> {
  const rows = await em.createQueryBuilder(MessageEntity, 'm')
    .select(`m.${by}`, 'key').addSelect('COUNT(*)', 'count').addSelect('COALESCE(SUM(m.size), 0)', 'bytes')
    .groupBy(`m.${by}`).getRawMany<{ key: number | string; count: number | string; bytes: number | string }>();
  return new Map(rows.map((r) => [Number(r.key), { count: Number(r.count), bytes: Number(r.bytes) }]));
}

async function readBlob(blobs: BlobStore, hash: string): Promise<BlobFile> {
  try {
    const h = createHash('sha256');
    let size = 0;
    for await (const chunk of blobs.stream(hash) as AsyncIterable<Buffer>) {
      h.update(chunk);
      size += chunk.length;
    }
    return { size, sha256: h.digest('hex') };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return { error: err.code === 'ENOENT' ? 'file missing' : err.message };
  }
}
