// Content-addressed blob store for message bytes: a blob's name is the SHA-256 of its
// content, so a message delivered to fifty mailboxes is stored once. The interface is what
// an S3-compatible store would implement later.
//
// Durability: put() writes to a temporary file, fsyncs it, renames it into place and fsyncs
// the directory, so once put() resolves the bytes survive a crash. Rows that reference a blob
// are committed after that; a blob whose rows never committed is an orphan that gc() removes.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';

export interface BlobStore {
  /** Stores bytes durably and returns their SHA-256 (hex). Idempotent. */
  put(data: Buffer): Promise<string>;
  get(hash: string): Promise<Buffer>;
  /** Streams a byte range [start, end] inclusive, like fs.createReadStream. */
  stream(hash: string, range?: { start: number; end: number }): Readable;
  delete(hash: string): Promise<void>;
  /** Every stored hash with its modification time (for garbage collection). */
  list(): AsyncIterable<{ hash: string; mtimeMs: number }>;
}

const HASH = /^[0-9a-f]{64}$/;

export class FsBlobStore implements BlobStore {
  private readonly knownDirs = new Set<string>();

  constructor(private readonly root: string) {}

  private pathOf(hash: string): string {
    if (!HASH.test(hash)) throw new Error(`invalid blob id ${hash}`);
    return path.join(this.root, hash.slice(0, 2), hash.slice(2, 4), hash);
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.knownDirs.has(dir)) return;
    await mkdir(dir, { recursive: true });
    this.knownDirs.add(dir);
  }

  async put(data: Buffer): Promise<string> {
    const hash = createHash('sha256').update(data).digest('hex');
    const file = this.pathOf(hash);
    try {
      const st = await stat(file);
      if (st.size === data.length) {
        // Refresh the age so garbage collection treats the file as newly written.
        const now = new Date();
        await utimes(file, now, now);
        return hash;
      }
    } catch {
      // not there yet
    }
    const dir = path.dirname(file);
    const tmpDir = path.join(this.root, 'tmp');
    await Promise.all([this.ensureDir(dir), this.ensureDir(tmpDir)]);
    const tmp = path.join(tmpDir, `${hash}.${randomBytes(6).toString('hex')}`);
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
    return hash;
  }

  get(hash: string): Promise<Buffer> {
    return readFile(this.pathOf(hash));
  }

  stream(hash: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.pathOf(hash), range);
  }

  async delete(hash: string): Promise<void> {
    try {
      await unlink(this.pathOf(hash));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }

  async *list(): AsyncIterable<{ hash: string; mtimeMs: number }> {
    let top: string[];
    try {
      top = await readdir(this.root);
    } catch {
      return;
    }
    for (const a of top.filter((d) => /^[0-9a-f]{2}$/.test(d))) {
      for (const b of await readdir(path.join(this.root, a))) {
        for (const h of await readdir(path.join(this.root, a, b))) {
          if (!HASH.test(h)) continue;
          const st = await stat(path.join(this.root, a, b, h));
          yield { hash: h, mtimeMs: st.mtimeMs };
        }
      }
    }
  }
}
