// Attachment inspection for the attachment policy: walks the MIME tree (the bounded parser of
// src/mime/message-metadata.ts), takes every part's file name (Content-Disposition filename,
// Content-Type name; RFC 2231 parameters and RFC 2047 words decoded), decodes the body and
// detects the real type (Windows executables by their MZ header, zip archives, macro-enabled
// Office files by their vbaProject.bin), and lists the names inside zip archives (two levels)
// with yauzl. Pure apart from yauzl's in-memory reads; never writes anything.
// BUGS: no RAR/7z/gzip/tar; encrypted zips are judged by entry names only; legacy OLE2
// (.doc/.xls) macros are not detected; messages inside non-identity-encoded message/rfc822
// parts are not descended into.
import yauzl from 'yauzl';
import { decodeWords, parseMessageMetadata, type MimePart } from '../mime/message-metadata.js';

/** Zip archives larger than this (decoded) are not opened. */
const MAX_ZIP_BYTES = 25 * 1024 * 1024;
/** Entries listed per archive; beyond this the archive is judged by what was seen. */
const MAX_ZIP_ENTRIES = 5000;
/** Nested archives smaller than this (uncompressed) are opened once more. */
const MAX_NESTED_ZIP_BYTES = 10 * 1024 * 1024;

export interface AttachmentInfo {
  /** The name as the recipient would see it ('' when the part has none). */
  name: string;
  /** 'exe', 'zip', 'office-macro' or null when nothing special was detected. */
  detected: 'exe' | 'zip' | 'office-macro' | null;
  /** Names of entries inside a zip archive (nested archives as 'outer.zip/inner.exe'). */
  entries: string[];
  /** The archive has encrypted entries (their contents could not be checked). */
  encrypted: boolean;
}

export async function inspectAttachments(raw: Buffer, opts: { scanArchives: boolean }): Promise<AttachmentInfo[]> {
  const meta = parseMessageMetadata(raw);
  const out: AttachmentInfo[] = [];
  const leaves: MimePart[] = [];
  const walk = (p: MimePart) => {
    if (p.children.length) p.children.forEach(walk);
    else if (p.message) walk(p.message.root);
    else leaves.push(p);
  };
  walk(meta.root);
  for (const p of leaves) {
    const name = partName(p);
    const body = decodeBody(raw.subarray(p.bodyStart, p.bodyEnd), p.encoding);
    const info: AttachmentInfo = { name, detected: null, entries: [], encrypted: false };
    if (body.length >= 2 && body[0] === 0x4d && body[1] === 0x5a) info.detected = 'exe';
    else if (isZip(body)) {
      info.detected = 'zip';
      if (opts.scanArchives && body.length <= MAX_ZIP_BYTES) {
        try {
          const z = await listZip(body, 1);
          info.entries = z.names;
          info.encrypted = z.encrypted;
          if (z.names.some((n) => /(^|\/)vbaproject\.bin$/i.test(n))) info.detected = 'office-macro';
        } catch {
          info.entries = []; // a broken archive: judged by its name
        }
      }
    }
    if (name || info.detected) out.push(info);
  }
  return out;
}

function partName(p: MimePart): string {
  const n = p.disposition?.params.filename ?? p.params.name ?? '';
  return decodeWords(n).replace(/[\r\n\0]/g, '').trim();
}

function isZip(b: Buffer): boolean {
  return b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && (b[2] === 0x03 || b[2] === 0x05) && (b[3] === 0x04 || b[3] === 0x06);
}

export function decodeBody(body: Buffer, encoding: string): Buffer {
  if (encoding === 'base64') return Buffer.from(body.toString('latin1').replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  if (encoding === 'quoted-printable') return decodeQp(body);
  return body;
}

function decodeQp(b: Buffer): Buffer {
  const s = b.toString('latin1').replace(/=\r?\n/g, '');
  const out = Buffer.alloc(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x3d && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      out[n++] = parseInt(s.slice(i + 1, i + 3), 16);
      i += 2;
    } else out[n++] = c & 0xff;
  }
  return out.subarray(0, n);
}

function listZip(buf: Buffer, depth: number): Promise<{ names: string[]; encrypted: boolean }> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(buf, { lazyEntries: true, validateEntrySizes: true, strictFileNames: false }, (err, zip) => {
      if (err || !zip) return reject(err ?? new Error('zip'));
      const names: string[] = [];
      let encrypted = false;
      const nested: Array<Promise<void>> = [];
      zip.on('entry', (e: yauzl.Entry) => {
        names.push(e.fileName);
        if (e.isEncrypted()) encrypted = true;
        if (names.length >= MAX_ZIP_ENTRIES) {
          zip.close();
          return finish();
        }
        if (depth < 2 && /\.zip$/i.test(e.fileName) && !e.isEncrypted() && e.uncompressedSize <= MAX_NESTED_ZIP_BYTES) {
          nested.push(readEntry(zip, e).then((inner) => listZip(inner, depth + 1)).then((r) => {
            names.push(...r.names.map((n) => `${e.fileName}/${n}`));
            encrypted ||= r.encrypted;
          }, () => undefined));
          void nested[nested.length - 1]!.then(() => zip.readEntry());
        } else zip.readEntry();
      });
      const finish = () => void Promise.all(nested).then(() => resolve({ names, encrypted }));
      zip.on('end', finish);
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

function readEntry(zip: yauzl.ZipFile, e: yauzl.Entry): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(e, (err, stream) => {
      if (err || !stream) return reject(err ?? new Error('zip entry'));
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => resolve(Buffer.concat(chunks)));
      stream.on('error', reject);
    });
  });
}

/** The blocked extension a name ends with (case-insensitive, trailing dots and spaces ignored), or null. */
export function blockedExtension(name: string, blocked: readonly string[]): string | null {
  const n = name.toLowerCase().replace(/[.\s]+$/, '');
  for (const ext of blocked) {
    const e = ext.toLowerCase().startsWith('.') ? ext.toLowerCase() : `.${ext.toLowerCase()}`;
    if (n.endsWith(e)) return e;
  }
  return null;
}
