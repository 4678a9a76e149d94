// FETCH and UID FETCH (RFC 9051 §6.4.5) with BINARY (RFC 3516), CONDSTORE CHANGEDSINCE and
// QRESYNC VANISHED (RFC 7162 §3.1.4, §3.2.6). Metadata comes from the rows (ENVELOPE and
// BODYSTRUCTURE stored at delivery); bytes are read from the blob store only when a body
// item is asked for. A non-PEEK body fetch sets \Seen first, so FLAGS in the reply are current;
// in another account's mailbox only with the "s" right (RFC 4314 §4), otherwise it is a PEEK.
import { formatDateTime } from '../../../protocols/imap/args.js';
import { applyPartial, extractBinary, extractSection } from '../../../protocols/imap/body-section.js';
import { bodyStructureValue, envelopeValue } from '../../../protocols/imap/body-structure.js';
import { parseFetchArgs, type FetchItem } from '../../../protocols/imap/fetch-args.js';
import { formatSequenceSet, lowerBound, setContains } from '../../../protocols/imap/sequence-set.js';
import { atom, formatResponse, lit, str, type Value } from '../../../protocols/imap/response.js';
import type { MessageRow, MessageWithMeta } from '../../../services/mail-ops.service.js';
import { resolveUids } from '../message-set.js';
import type { ImapSession } from '../session.js';
import { bad, no, ok, type CommandHandler } from '../types.js';

/** Messages loaded per round trip with metadata (its JSON can be large). */
const META_BATCH = 200;
/** Messages loaded per round trip without metadata. */
const BATCH = 1000;
/** UIDs per query when only UID, FLAGS and MODSEQ are asked for. */
const LIGHT_PAGE = 5000;
/** Response bytes gathered before one socket write. */
const WRITE_CHUNK = 64 * 1024;

/**
 * Gathers FETCH lines into writes of about WRITE_CHUNK bytes, and waits for the socket only when
 * its buffer is full (one write per line, and a wait per line, made FETCH 1:* slow).
 */
class OutputBuffer {
  private parts: Buffer[] = [];
  private str = '';
  private size = 0;

  constructor(private readonly s: ImapSession) {}

  text(line: string): Promise<void> | undefined {
    if (this.parts.length) this.moveText();
    this.str += line;
    if (this.str.length >= WRITE_CHUNK) return this.flush();
    return undefined;
  }

  buffer(b: Buffer): Promise<void> | undefined {
    this.moveText();
    this.parts.push(b);
    this.size += b.length;
    if (this.size >= WRITE_CHUNK) return this.flush();
    return undefined;
  }

  private moveText(): void {
    if (!this.str) return;
    const b = Buffer.from(this.str);
    this.str = '';
    this.parts.push(b);
    this.size += b.length;
  }

  async flush(): Promise<void> {
    if (this.str && !this.parts.length) {
      this.s.send(this.str);
      this.str = '';
    } else {
      this.moveText();
      if (this.parts.length) this.s.send(this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size));
      this.parts = [];
      this.size = 0;
    }
    await this.s.drain();
  }
}

/** Stored flags ("a b c") as the FETCH list content, tolerating stray spaces. */
function cleanFlags(flags: string): string {
  return flags.includes('  ') || flags.startsWith(' ') || flags.endsWith(' ') ? flags.split(' ').filter(Boolean).join(' ') : flags;
}

export const fetch: CommandHandler = async (s, req, args) => {
  const byUid = req.command === 'UID FETCH';
  const seq = args.seqSet();
  const fa = parseFetchArgs(args);
  const sel = s.selected!;
  if (fa.vanished && (!byUid || !s.qresync)) return bad('VANISHED needs UID FETCH and ENABLE QRESYNC');
  const items: FetchItem[] = [...fa.items];
  const has = (k: string) => items.some((i) => i.kind === k);
  if (byUid && !has('UID')) items.unshift({ kind: 'UID' });
  if (fa.changedSince !== null) s.condstore = true;
  if ((fa.changedSince !== null || (s.condstore && has('FLAGS'))) && !has('MODSEQ')) items.push({ kind: 'MODSEQ' });
  const needMeta = items.some((i) => ['ENVELOPE', 'BODYSTRUCTURE', 'BODY', 'BODY[]', 'BINARY[]', 'BINARY.SIZE'].includes(i.kind));
  const needBytes = items.some((i) => ['BODY[]', 'BINARY[]', 'BINARY.SIZE', 'RFC822', 'RFC822.HEADER', 'RFC822.TEXT'].includes(i.kind));
  const setsSeen = !sel.readOnly && sel.access.rights.includes('s') && items.some((i) => ((i.kind === 'BODY[]' || i.kind === 'BINARY[]') && !i.peek)
    || i.kind === 'RFC822' || i.kind === 'RFC822.TEXT');

  const uids = resolveUids(s, seq, byUid);
  if (fa.vanished && !seq.saved) {
    // "*" reaches past the last existing UID here: the expunged ones may have been the highest.
    const gone = (await s.deps.ops.expungedSince(sel.mailboxId, fa.changedSince!)).filter((u) => setContains(seq.set, u, Number.MAX_SAFE_INTEGER));
    if (gone.length) s.send(`* VANISHED (EARLIER) ${formatSequenceSet(gone)}\r\n`);
  }

  const out = new OutputBuffer(s);
  if (items.every((i) => i.kind === 'UID' || i.kind === 'FLAGS' || i.kind === 'MODSEQ')) {
    // The common resynchronisation case (FETCH 1:* (FLAGS), UID FETCH ... (FLAGS) CHANGEDSINCE):
    // three columns per row, pages of LIGHT_PAGE UIDs, lines formatted as strings.
    const kinds = items.map((i) => i.kind);
    for (let i = 0; i < uids.length; i += LIGHT_PAGE) {
      const rows = await s.deps.ops.flagRows(sel.mailboxId, uids.slice(i, i + LIGHT_PAGE), fa.changedSince, sel.access.viewer);
      if (!rows.length) continue;
      const seqs = sel.uids;
      let k = lowerBound(seqs, rows[0]!.uid); // merge cursor into the sequence map (rows ascend by UID)
      for (const row of rows) {
        const uid = row.uid;
        while (k < seqs.length && seqs[k]! < uid) k++;
        if (k >= seqs.length || seqs[k] !== uid) continue; // expunged since the page was chosen
        let line = `* ${k + 1} FETCH (`;
        for (let j = 0; j < kinds.length; j++) {
          if (j) line += ' ';
          const kind = kinds[j];
          if (kind === 'UID') line += `UID ${uid}`;
          else if (kind === 'FLAGS') line += `FLAGS (${cleanFlags(row.flags)})`;
          else line += `MODSEQ (${row.modseq})`;
        }
        const full = out.text(`${line})\r\n`);
        if (full) await full;
      }
    }
    await out.flush();
    return ok(`${req.command} completed`);
  }

  const batchSize = needMeta ? META_BATCH : BATCH;
  for (let i = 0; i < uids.length; i += batchSize) {
    const batch = uids.slice(i, i + batchSize);
    const rows: Array<MessageRow | MessageWithMeta> = needMeta
      ? await s.deps.ops.fetchRows(sel.mailboxId, batch, true, sel.access.viewer)
      : await s.deps.ops.fetchRows(sel.mailboxId, batch, false, sel.access.viewer);
    const seenNow = new Set<number>();
    if (setsSeen) {
      const unseen = rows.filter((r) => !r.flags.includes('\\Seen')).map((r) => r.uid);
      if (unseen.length) {
        const res = await s.deps.ops.storeFlags(sel.access.ownerId, sel.mailboxId, unseen, ['\\Seen'], 'add', null, null, sel.access.viewer);
        const byUidState = new Map(res.states.map((st) => [st.uid, st]));
        for (const r of rows) {
          const st = byUidState.get(r.uid);
          if (!st) continue;
          r.flags = st.flags;
          r.modseq = st.modseq;
          seenNow.add(r.uid);
          sel.markReported(r.uid, st.modseq);
        }
      }
    }
    for (const row of rows) {
      if (fa.changedSince !== null && row.modseq <= fa.changedSince) continue;
      const n = sel.seqOf(row.uid);
      if (!n) continue;
      const bytes = needBytes ? await s.deps.app.mailStore.getMessageBytes(row.blobHash) : null;
      const vals: Value[] = [];
      let failed: string | null = null;
      const list = seenNow.has(row.uid) && !items.some((x) => x.kind === 'FLAGS') ? [...items, { kind: 'FLAGS' } as FetchItem] : items;
      for (const item of list) {
        switch (item.kind) {
          case 'UID': vals.push(atom('UID'), row.uid); break;
          case 'FLAGS': vals.push(atom('FLAGS'), row.flags.map((f) => atom(f))); break;
          case 'MODSEQ': vals.push(atom('MODSEQ'), [row.modseq]); break;
          case 'INTERNALDATE': vals.push(atom('INTERNALDATE'), str(formatDateTime(row.internalDate))); break;
          case 'RFC822.SIZE': vals.push(atom('RFC822.SIZE'), row.size); break;
          case 'ENVELOPE': vals.push(atom('ENVELOPE'), envelopeValue((row as MessageWithMeta).envelope)); break;
          case 'BODYSTRUCTURE': vals.push(atom('BODYSTRUCTURE'), bodyStructureValue((row as MessageWithMeta).root, true)); break;
          case 'BODY': vals.push(atom('BODY'), bodyStructureValue((row as MessageWithMeta).root, false)); break;
          case 'RFC822': vals.push(atom('RFC822'), lit(bytes!)); break;
          case 'RFC822.HEADER': {
            const r = extractSection(bytes!, (row as MessageWithMeta).root ?? rootOf(bytes!), { path: [], text: 'HEADER', fields: [] });
            vals.push(atom('RFC822.HEADER'), r.ok ? lit(r.data) : null);
            break;
          }
          case 'RFC822.TEXT': {
            const r = extractSection(bytes!, (row as MessageWithMeta).root ?? rootOf(bytes!), { path: [], text: 'TEXT', fields: [] });
            vals.push(atom('RFC822.TEXT'), r.ok ? lit(r.data) : null);
            break;
          }
          case 'BODY[]': {
            const r = extractSection(bytes!, (row as MessageWithMeta).root, item.section);
            const name = `BODY[${item.raw}]${item.partial ? `<${item.partial.start}>` : ''}`;
            vals.push(atom(name), r.ok ? lit(applyPartial(r.data, item.partial)) : null);
            break;
          }
          case 'BINARY[]': {
            const r = extractBinary(bytes!, (row as MessageWithMeta).root, item.section);
            if (!r.ok && r.reason === 'unknown-cte') failed = `UNKNOWN-CTE`;
            const data = r.ok ? applyPartial(r.data, item.partial) : null;
            const name = `BINARY[${item.raw}]${item.partial ? `<${item.partial.start}>` : ''}`;
            vals.push(atom(name), data ? lit(data, data.includes(0)) : null);
            break;
          }
          case 'BINARY.SIZE': {
            const r = extractBinary(bytes!, (row as MessageWithMeta).root, item.section);
            if (!r.ok && r.reason === 'unknown-cte') failed = 'UNKNOWN-CTE';
            vals.push(atom(`BINARY.SIZE[${item.raw}]`), r.ok ? r.data.length : 0);
            break;
          }
        }
      }
      if (failed) {
        await out.flush();
        return no('Unknown Content-Transfer-Encoding', failed);
      }
      const full = out.buffer(formatResponse('* ', [n, atom('FETCH'), vals], s.fmt));
      if (full) await full;
    }
  }
  await out.flush();
  return ok(`${req.command} completed`);
};

function rootOf(bytes: Buffer) {
  // Only reached for RFC822.HEADER/TEXT without metadata loaded: a header/body split is enough.
  let i = bytes.indexOf('\r\n\r\n');
  let bodyStart = i === -1 ? -1 : i + 4;
  if (i === -1) {
    i = bytes.indexOf('\n\n');
    bodyStart = i === -1 ? bytes.length : i + 2;
  }
  return { headerStart: 0, bodyStart, bodyEnd: bytes.length } as MessageWithMeta['root'];
}
