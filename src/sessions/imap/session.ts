// One IMAP connection: feeds socket bytes to the receiver, runs one command at a time through
// the command table (state check, typed errors -> BAD/NO, the tagged reply), sends mailbox
// updates after commands and during IDLE, upgrades with STARTTLS, and enforces idle timeouts.
// Must not contain command logic (commands/*.ts) or SQL (services). Never logs literals or
// credentials. RFC 9051 §3 (states), §5.5 (pipelining: commands run in order), §6.2.1 (STARTTLS
// discards anything buffered before the handshake), §5.4 (autologout timer, 30 min after login).
import type net from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';
import type { App } from '../../instance/app.js';
import type { Logger } from '../../observability/logger.js';
import { ArgError, ArgReader } from '../../protocols/imap/args.js';
import { encodeMutf7 } from '../../protocols/imap/mutf7.js';
import { Receiver, type ImapRequest, type ReceiverEvent } from '../../protocols/imap/receiver.js';
import { atom, formatResponse, formatStatus, type FormatOptions, type Value } from '../../protocols/imap/response.js';
import { CharsetError } from '../../protocols/imap/search-args.js';
import { ServiceError } from '../../services/errors.js';
import type { MailboxChanges, MailOpsService } from '../../services/mail-ops.service.js';
import type { MailboxAccessService } from '../../services/mailbox-access.service.js';
import { viewFlags } from '../../services/seen-view.js';
import type { ConnectionLimiter } from '../connection-limiter.js';
import type { ChangeFeed } from './change-feed.js';
import { COMMANDS } from './command-table.js';
import { ACL_CAPABILITIES } from './commands/acl.js';
import { QUOTA_CAPABILITIES } from './commands/quota.js';
import type { MailboxUpdate, SelectedMailbox } from './selected-mailbox.js';
import type { CommandResult, ImapState } from './types.js';

/** Unanswerable input before login that ends the connection (a scanner, not a client). */
export const MAX_ERRORS_BEFORE_AUTH = 10;
/** Pause reading when this much input waits unparsed. */
const HIGH_WATER = 1 << 20;
/** How long after a change notice an IDLE session reads for itself when the change feed could not push to it. */
const IDLE_BATCH_MS = 50;

export interface ImapDeps {
  app: App;
  ops: MailOpsService;
  feed: ChangeFeed;
  /** Mailbox names across namespaces and the ACL rights check of every command. */
  access: MailboxAccessService;
  /** Logged-in sessions per account id (limits.imapConnectionsPerAccount). */
  accountSessions: ConnectionLimiter;
  log: Logger;
  secureContext: tls.SecureContext;
  appendLimit: number;
  /** LOGIN/AUTHENTICATE allowed without TLS (config auth.allowPlaintextWithoutTls, or loopback). */
  plaintextAuthAllowed: (remoteAddress: string) => boolean;
  timeouts: { preAuthMs: number; authMs: number };
  /** STARTTLS offered (false on the implicit-TLS listener). */
  starttls: boolean;
}

export class ImapSession {
  state: ImapState = 'not-authenticated';
  account: { id: number; address: string } | null = null;
  selected: SelectedMailbox | null = null;
  /** ENABLEd extensions (RFC 5161): CONDSTORE, QRESYNC, UTF8=ACCEPT, IMAP4rev2. */
  readonly enabled = new Set<string>();
  /** CONDSTORE is active once enabled or used (RFC 7162 §3.1). */
  condstore = false;
  /** Result of the last SEARCH ... RETURN (SAVE), as UIDs (RFC 5182). */
  savedSearch: number[] = [];
  authFailures = 0;
  secure: boolean;
  readonly remoteAddress: string;
  idling = false;
  private socket: net.Socket;
  private readonly receiver: Receiver;
  private running = false;
  private closed = false;
  private errors = 0;
  private lineWaiter: ((line: string | null) => void) | null = null;
  private unsubscribe: (() => void) | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  /** COMPRESS=DEFLATE (RFC 4978): output goes through `deflater`, input through `inflater`. */
  private deflater: zlib.DeflateRaw | null = null;
  private inflater: zlib.InflateRaw | null = null;
  private flushQueued = false;
  private holdsAccountSlot = false;
  private readonly onData = (b: Buffer) => this.data(b);
  private readonly onClose = () => this.teardown();
  private readonly onError = () => this.teardown();
  private readonly onTimeout = () => this.timeout();

  constructor(socket: net.Socket, readonly deps: ImapDeps, secure: boolean) {
    this.socket = socket;
    this.secure = secure;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.receiver = new Receiver({ appendLimit: deps.appendLimit });
    this.attach(socket);
  }

  get log(): Logger {
    return this.deps.log;
  }

  get fmt(): FormatOptions {
    return { utf8: this.enabled.has('UTF8=ACCEPT') };
  }

  get utf8(): boolean {
    return this.enabled.has('UTF8=ACCEPT');
  }

  get qresync(): boolean {
    return this.enabled.has('QRESYNC');
  }

  get plaintextAllowed(): boolean {
    return this.secure || this.deps.plaintextAuthAllowed(this.remoteAddress);
  }

  start(): void {
    this.send(formatStatus('*', 'OK', `CAPABILITY ${this.capabilities().join(' ')}`, 'Pochtamt IMAP4rev2 server ready'));
  }

  capabilities(): string[] {
    const c = ['IMAP4rev1', 'IMAP4rev2'];
    if (this.state === 'not-authenticated') {
      if (!this.secure && this.deps.starttls) c.push('STARTTLS');
      if (this.plaintextAllowed) c.push('AUTH=PLAIN', 'SASL-IR');
      else c.push('LOGINDISABLED');
    }
    c.push('ID', 'ENABLE', 'IDLE', 'LITERAL+', 'NAMESPACE', 'UNSELECT', 'UIDPLUS', 'MOVE', 'SPECIAL-USE', 'CREATE-SPECIAL-USE',
      'LIST-EXTENDED', 'LIST-STATUS', 'CHILDREN', 'CONDSTORE', 'QRESYNC', 'ESEARCH', 'SEARCHRES', 'STATUS=SIZE',
      `APPENDLIMIT=${this.deps.appendLimit}`, 'MULTIAPPEND', 'BINARY', 'UTF8=ACCEPT', ...QUOTA_CAPABILITIES, ...ACL_CAPABILITIES);
    // COMPRESS only after login (commands/compress.ts).
    if (this.state !== 'not-authenticated') c.push('COMPRESS=DEFLATE');
    c.push('SORT', 'SORT=DISPLAY', 'ESORT', 'THREAD=ORDEREDSUBJECT', 'THREAD=REFERENCES');
    return c;
  }

  // ---- output ------------------------------------------------------------------------------------

  send(buf: Buffer | string): void {
    if (this.closed) return;
    if (this.deflater) {
      this.deflater.write(buf);
      // One sync flush per batch of responses (everything sent in this turn of the event loop):
      // a flush per line would cost ~5 bytes and a deflate block each (RFC 4978 §4).
      if (!this.flushQueued) {
        this.flushQueued = true;
        setImmediate(() => {
          this.flushQueued = false;
          if (this.deflater && !this.closed) this.deflater.flush(zlib.constants.Z_SYNC_FLUSH);
        });
      }
      return;
    }
    this.socket.write(buf);
  }

  get compressed(): boolean {
    return this.deflater !== null;
  }

  /** "* values..." */
  untagged(...values: Value[]): void {
    this.send(formatResponse('* ', values, this.fmt));
  }

  /** Waits until the socket has room again (large FETCH responses). */
  async drain(): Promise<void> {
    // With COMPRESS the deflate stream is piped to the socket: it fills up when the socket does.
    const out: NodeJS.WritableStream & { writableNeedDrain: boolean } = this.deflater ?? this.socket;
    if (this.closed || !out.writableNeedDrain) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        out.removeListener('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      out.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /** A mailbox name as the client reads it (modified UTF-7 unless UTF8=ACCEPT). */
  wireName(name: string): string {
    return this.utf8 ? name : encodeMutf7(name);
  }

  // ---- input -------------------------------------------------------------------------------------

  private attach(socket: net.Socket): void {
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
    socket.on('timeout', this.onTimeout);
    socket.setTimeout(this.account ? this.deps.timeouts.authMs : this.deps.timeouts.preAuthMs);
  }

  private detach(socket: net.Socket): void {
    socket.off('data', this.onData);
    socket.off('close', this.onClose);
    socket.off('error', this.onError);
    socket.off('timeout', this.onTimeout);
  }

  private data(chunk: Buffer): void {
    if (this.inflater) {
      this.inflater.write(chunk);
      return;
    }
    this.ingest(chunk);
  }

  /** Plain (or inflated) client bytes. */
  private ingest(chunk: Buffer): void {
    this.receiver.feed(chunk);
    if (this.receiver.buffered > HIGH_WATER) this.pauseInput();
    this.pump();
  }

  private pauseInput(): void {
    this.socket.pause();
    // A few compressed bytes can inflate to megabytes: stop the inflater too, not just the socket.
    this.inflater?.pause();
  }

  private resumeInput(): void {
    this.socket.resume();
    this.inflater?.resume();
  }

  private pump(): void {
    if (this.lineWaiter) {
      const line = this.receiver.nextLine();
      if (line !== null) {
        const w = this.lineWaiter;
        this.lineWaiter = null;
        w(line);
      }
      return;
    }
    if (this.running || this.closed) return;
    this.running = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      while (!this.closed) {
        const ev = this.receiver.next();
        if (!ev) break;
        await this.handleEvent(ev);
      }
    } catch (e) {
      this.log.error({ event: 'imap.session.error', ip: this.remoteAddress, err: (e as Error).stack }, 'session error');
      this.close('Internal error');
    } finally {
      this.running = false;
      if (!this.closed && this.receiver.buffered < HIGH_WATER) this.resumeInput();
    }
  }

  /** Reads one raw line (AUTHENTICATE response, IDLE "DONE"); null when the connection closes. */
  readLine(): Promise<string | null> {
    if (this.closed) return Promise.resolve(null);
    const line = this.receiver.nextLine();
    if (line !== null) return Promise.resolve(line);
    this.resumeInput();
    return new Promise((resolve) => { this.lineWaiter = resolve; });
  }

  private async handleEvent(ev: ReceiverEvent): Promise<void> {
    switch (ev.kind) {
      case 'continue':
        this.send('+ Ready for literal data\r\n');
        return;
      case 'error':
        this.send(formatStatus(ev.tag ?? '*', ev.status, ev.code, ev.text));
        this.countError();
        return;
      case 'request':
        await this.dispatch(ev.request);
    }
  }

  private countError(): void {
    if (this.state === 'not-authenticated' && ++this.errors >= MAX_ERRORS_BEFORE_AUTH) this.close('Too many errors');
  }

  private async dispatch(req: ImapRequest): Promise<void> {
    const spec = COMMANDS.get(req.command);
    const started = Date.now();
    let result: CommandResult;
    if (!spec) {
      result = { status: 'BAD', text: `Unknown command ${req.command.slice(0, 32)}` };
    } else if (!spec.states.includes(this.state)) {
      const why = spec.states.every((st) => st === 'not-authenticated') ? 'after login'
        : this.state === 'not-authenticated' ? 'before login' : 'without a selected mailbox';
      result = { status: 'BAD', text: `${req.command} not allowed ${why}` };
    } else {
      // Rights on another account's selected mailbox are re-read before every command: a
      // revocation applies to the next command (RFC 4314 leaves the timing to the server).
      if (!(await this.checkSelectedAccess())) return;
      try {
        result = await spec.handler(this, req, new ArgReader(req.args, { utf8: this.utf8 }));
      } catch (e) {
        result = this.errorResult(e, req);
      }
      if (this.selected && !this.closed) {
        try {
          await this.flushUpdates(spec.updates === 'all');
        } catch (e) {
          this.log.warn({ event: 'imap.updates.failed', err: (e as Error).message }, 'updates failed');
        }
      }
    }
    this.log.debug({ event: 'imap.command.done', ip: this.remoteAddress, user: this.account?.address, command: req.command,
      status: result.status, ms: Date.now() - started }, 'command');
    // resp-text is 7-bit unless UTF8=ACCEPT (RFC 9051 §9 TEXT-CHAR, RFC 6855 §3): a mailbox name
    // quoted in an error must not put raw UTF-8 before a client that did not ask for it.
    const text = this.utf8 ? result.text : result.text.replace(/[^\x20-\x7e]/g, '?');
    this.send(formatStatus(req.tag, result.status, result.code, text));
    // Counted after the answer: the command that reaches the limit still gets its BAD before the BYE.
    if (result.status !== 'OK') this.countError();
    if (result.after === 'starttls') this.upgrade();
    else if (result.after === 'compress') this.startCompression();
    else if (result.after === 'close') this.close(null);
  }

  private errorResult(e: unknown, req: ImapRequest): CommandResult {
    if (e instanceof ArgError) return { status: 'BAD', text: e.message };
    if (e instanceof CharsetError) return { status: 'NO', code: 'BADCHARSET (US-ASCII UTF-8)', text: e.message };
    if (e instanceof ServiceError) {
      switch (e.code) {
        case 'NOT_FOUND': return { status: 'NO', code: 'NONEXISTENT', text: e.message };
        case 'EXISTS': return { status: 'NO', code: 'ALREADYEXISTS', text: e.message };
        case 'OVER_QUOTA': return { status: 'NO', code: 'OVERQUOTA', text: e.message };
        case 'FORBIDDEN': return { status: 'NO', code: 'CANNOT', text: e.message };
        case 'NO_PERMISSION': return { status: 'NO', code: 'NOPERM', text: e.message };
        case 'INVALID': return { status: 'NO', code: 'CANNOT', text: e.message };
        case 'TEMPORARY': return { status: 'NO', code: 'UNAVAILABLE', text: e.message };
        default: return { status: 'NO', text: e.message };
      }
    }
    this.log.error({ event: 'imap.command.failed', command: req.command, err: (e as Error)?.stack }, 'command failed');
    return { status: 'NO', code: 'SERVERBUG', text: 'Internal error' };
  }

  // ---- selected mailbox --------------------------------------------------------------------------

  /** Makes `box` the selected mailbox (or none) and follows its changes. */
  setSelected(box: SelectedMailbox | null): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.selected = box;
    this.savedSearch = [];
    this.state = box ? 'selected' : (this.account ? 'authenticated' : 'not-authenticated');
    if (box) {
      this.unsubscribe = this.deps.feed.subscribe(box.mailboxId, {
        changed: () => { box.dirty = true; },
        pushModseq: () => this.pushModseq(box),
        push: (modseq, ch) => this.pushed(box, modseq, ch),
        pushFailed: () => this.idleFlushLater(box),
      });
    }
  }

  /** In IDLE and not reading updates itself: the change feed may push to this session. */
  private pushModseq(box: SelectedMailbox): number | null {
    if (!this.idling || this.selected !== box || this.closed) return null;
    // Another account's folder: the change may be an ACL change, so take the path that re-checks rights.
    if (this.flushing || !box.access.personal) {
      this.idleFlushLater(box); // its own read may have started before the change
      return null;
    }
    return box.knownModseq;
  }

  /** Changes after `modseq` pushed by the change feed during IDLE: queued and sent at once, synchronously. */
  private pushed(box: SelectedMailbox, modseq: number, ch: MailboxChanges): void {
    if (!this.idling || this.selected !== box || this.closed || this.flushing || box.knownModseq !== modseq) {
      this.idleFlushLater(box);
      return;
    }
    box.apply(ch);
    if (box.gone) {
      this.close('Selected mailbox was deleted or renamed');
      return;
    }
    this.sendUpdates(box, box.take(true, this.qresync));
  }

  /** The slow path: this session reads its updates itself shortly. */
  private idleFlushLater(box: SelectedMailbox): void {
    box.dirty = true;
    if (this.idling && !this.idleTimer && !this.closed) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = null;
        if (this.idling && this.selected === box) void this.flushUpdates(true).catch(() => undefined);
      }, IDLE_BATCH_MS);
    }
  }

  private flushing: Promise<void> | null = null;

  /** Reads changes (if any were signalled, or `force`) and sends what may be sent now. */
  async flushUpdates(allowExpunge: boolean, force = false): Promise<void> {
    while (this.flushing) await this.flushing;
    const box = this.selected;
    if (!box) return;
    const run = async () => {
      // An ACL change is signalled like a mailbox change: re-check before telling anything more.
      if ((box.dirty || force) && !(await this.checkSelectedAccess())) return;
      if (box.dirty || force) await box.refresh(this.deps.feed);
      if (box.gone) {
        this.close('Selected mailbox was deleted or renamed');
        return;
      }
      this.sendUpdates(box, box.take(allowExpunge, this.qresync));
    };
    this.flushing = run();
    try {
      await this.flushing;
    } finally {
      this.flushing = null;
    }
  }

  /**
   * Re-reads the session's rights on a selected mailbox of another account. Without "r" (or
   * without the mailbox) the session ends with BYE: nothing of the mailbox may be shown any more,
   * and a client that reconnects finds the folder gone from LIST. Returns false then.
   */
  async checkSelectedAccess(): Promise<boolean> {
    const box = this.selected;
    if (!box || box.access.personal || !this.account) return true;
    box.access.rights = await this.deps.access.rightsFor(this.account.id, { id: box.mailboxId, accountId: box.access.ownerId });
    if (box.access.rights.includes('r')) return true;
    if (!(await this.deps.app.mailStore.getMailboxById(box.mailboxId))) {
      this.close('Selected mailbox was deleted or renamed');
      return false;
    }
    this.log.info({ event: 'imap.acl.revoked', ip: this.remoteAddress, user: this.account.address, mailbox: box.mailboxId }, 'access revoked');
    this.close('Access to the selected mailbox was revoked');
    return false;
  }

  /** EXPUNGE/VANISHED, EXISTS and FETCH FLAGS for taken updates, in one write. */
  private sendUpdates(box: SelectedMailbox, u: MailboxUpdate): void {
    let text = '';
    for (const e of u.expunged) text += `* ${e.seq} EXPUNGE\r\n`;
    if (u.vanished.length) text += `* VANISHED ${formatSet(u.vanished)}\r\n`;
    if (u.exists !== null) text += `* ${u.exists} EXISTS\r\n`;
    if (!u.flags.length) {
      if (text) this.send(text);
      return;
    }
    const out: Buffer[] = [Buffer.from(text)];
    for (const f of u.flags) {
      // Each reader's own \Seen in a shared folder (seen-view.ts).
      const flags = viewFlags(f.state.flags, f.state.seenBy, box.access.viewer);
      const items: Value[] = [atom('UID'), f.state.uid, atom('FLAGS'), flags.map((x) => atom(x))];
      if (this.condstore) items.push(atom('MODSEQ'), [f.state.modseq]);
      out.push(formatResponse('* ', [f.seq, atom('FETCH'), items], this.fmt));
    }
    this.send(Buffer.concat(out));
  }

  // ---- lifecycle ---------------------------------------------------------------------------------

  /**
   * Called after a successful login. False (and still not logged in) when the account already has
   * limits.imapConnectionsPerAccount sessions; the slot is held until the connection ends.
   */
  loggedIn(account: { id: number; address: string }): boolean {
    if (this.closed) return false;
    if (!this.deps.accountSessions.acquire(String(account.id))) return false;
    this.holdsAccountSlot = true;
    this.account = account;
    this.state = 'authenticated';
    this.socket.setTimeout(this.deps.timeouts.authMs);
    return true;
  }

  private upgrade(): void {
    // Anything the client sent after STARTTLS and before the handshake is discarded (RFC 9051 §6.2.1).
    this.receiver.reset();
    const raw = this.socket;
    this.detach(raw);
    const secured = new tls.TLSSocket(raw, { isServer: true, secureContext: this.deps.secureContext });
    this.socket = secured;
    this.secure = true;
    this.attach(secured);
  }

  /**
   * Turns on DEFLATE both ways right after the tagged OK of COMPRESS (RFC 4978 §3): raw deflate
   * (no zlib header), output flushed with Z_SYNC_FLUSH after each batch. Bytes the client sent
   * after COMPRESS are already compressed and go through the inflater first.
   */
  private startCompression(): void {
    if (this.closed || this.deflater) return;
    const deflater = zlib.createDeflateRaw({ level: zlib.constants.Z_DEFAULT_COMPRESSION, windowBits: 15 });
    const inflater = zlib.createInflateRaw({ windowBits: 15 });
    deflater.pipe(this.socket);
    deflater.on('error', () => this.teardown());
    inflater.on('data', (b: Buffer) => this.ingest(b));
    inflater.on('error', () => {
      this.log.info({ event: 'imap.compress.error', ip: this.remoteAddress, user: this.account?.address }, 'invalid compressed input');
      this.close('Invalid compressed data');
    });
    this.deflater = deflater;
    this.inflater = inflater;
    const rest = this.receiver.takeBuffered();
    if (rest.length) inflater.write(rest);
  }

  private timeout(): void {
    this.log.info({ event: 'imap.session.timeout', ip: this.remoteAddress, user: this.account?.address }, 'idle timeout');
    this.close('Autologout; idle for too long');
  }

  /** Sends BYE (unless null) and ends the connection. */
  close(bye: string | null): void {
    if (this.closed) return;
    if (bye) this.send(`* BYE ${bye}\r\n`);
    this.state = 'logout';
    // The deflate stream ends the socket (pipe) once its last block is out.
    if (this.deflater) this.deflater.end();
    else this.socket.end();
    this.teardown();
  }

  private teardown(): void {
    if (!this.closed) {
      this.closed = true;
      this.state = 'logout';
      if (this.holdsAccountSlot && this.account) this.deps.accountSessions.release(String(this.account.id));
      this.holdsAccountSlot = false;
    }
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const w = this.lineWaiter;
    this.lineWaiter = null;
    w?.(null);
    this.inflater?.destroy();
    this.inflater = null;
    setTimeout(() => {
      this.deflater?.destroy();
      this.socket.destroy();
    }, 1000).unref();
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

function formatSet(uids: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < uids.length;) {
    let j = i;
    while (j + 1 < uids.length && uids[j + 1] === uids[j]! + 1) j++;
    parts.push(i === j ? String(uids[i]) : `${uids[i]}:${uids[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
