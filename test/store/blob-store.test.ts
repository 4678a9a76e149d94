// The content-addressed blob store (file system): put is idempotent and names a blob by the
// SHA-256 of its bytes, get returns the same bytes, stream serves ranges, list yields every hash.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FsBlobStore } from '../../src/store/blob-store.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(e.name);
  return out;
}

describe('FsBlobStore', () => {
  let root: string;
  let blobs: FsBlobStore;
  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'pochtamt-blobs-'));
    blobs = new FsBlobStore(path.join(root, 'blobs'));
  });
  after(async () => { await rm(root, { recursive: true, force: true }); });

  test('list of an empty (not yet created) store yields nothing', async () => {
    assert.deepEqual(await collect(blobs.list()), []);
  });

  test('put returns the SHA-256 of the bytes and get returns identical bytes', async () => {
    const every = Buffer.from(Array.from({ length: 256 * 4 }, (_, i) => i % 256)); // all byte values, CR, LF, NUL
    const hash = await blobs.put(every);
    assert.equal(hash, sha256(every));
    assert.match(hash, /^[0-9a-f]{64}$/);
    assert.deepEqual(await blobs.get(hash), every);
    const st = await stat(path.join(root, 'blobs', hash.slice(0, 2), hash.slice(2, 4), hash));
    assert.equal(st.size, every.length);
    assert.equal(st.mode & 0o777, 0o600, 'blobs are private to the server');
  });

  test('put is idempotent: same bytes, same hash, one file', async () => {
    const data = Buffer.from('Subject: same\r\n\r\nsame bytes\r\n');
    const [a, b, c] = await Promise.all([blobs.put(data), blobs.put(Buffer.from(data)), blobs.put(data)]);
    assert.equal(a, b);
    assert.equal(b, c);
    assert.equal((await filesUnder(path.join(root, 'blobs'))).filter((f) => f === a).length, 1);
    assert.deepEqual(await blobs.put(data), a);
    assert.deepEqual((await readdir(path.join(root, 'blobs', 'tmp'))), [], 'no temporary files left behind');
  });

  test('different bytes get different names; an empty blob is fine', async () => {
    const x = await blobs.put(Buffer.from('x'));
    const y = await blobs.put(Buffer.from('y'));
    const empty = await blobs.put(Buffer.alloc(0));
    assert.notEqual(x, y);
    assert.equal(empty, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal((await blobs.get(empty)).length, 0);
  });

  test('stream serves an inclusive byte range', async () => {
    const data = Buffer.from('0123456789abcdef');
    const hash = await blobs.put(data);
    const chunks: Buffer[] = [];
    for await (const c of blobs.stream(hash, { start: 3, end: 7 })) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), '34567');
  });

  test('list yields exactly the stored hashes', async () => {
    const extra = await blobs.put(Buffer.from('listed'));
    const listed = await collect(blobs.list());
    const hashes = listed.map((l) => l.hash).sort();
    assert.equal(new Set(hashes).size, hashes.length);
    assert.ok(hashes.includes(extra));
    assert.ok(listed.every((l) => /^[0-9a-f]{64}$/.test(l.hash) && l.mtimeMs > 0));
    const files = (await filesUnder(path.join(root, 'blobs'))).filter((f) => /^[0-9a-f]{64}$/.test(f)).sort();
    assert.deepEqual(hashes, files);
  });

  test('delete removes a blob and is idempotent; get of a missing blob rejects', async () => {
    const hash = await blobs.put(Buffer.from('to delete'));
    await blobs.delete(hash);
    await blobs.delete(hash);
    await assert.rejects(blobs.get(hash), { code: 'ENOENT' });
    assert.ok(!(await collect(blobs.list())).some((l) => l.hash === hash));
  });

  test('names that are not a SHA-256 are refused (no path traversal)', async () => {
    await assert.rejects(async () => blobs.get('../../etc/passwd'), /invalid blob id/);
    await assert.rejects(async () => blobs.get('ABCDEF'.padEnd(64, '0')), /invalid blob id/);
    assert.throws(() => blobs.stream('nope'), /invalid blob id/);
  });
});
