// COMPRESS=DEFLATE (RFC 4978): a raw client that deflates its commands and inflates the
// responses byte for byte, refusals (before login, twice, unknown mechanism), corrupt
// compressed input, and imapflow (which compresses whenever the server offers it).
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { after, before, test } from 'node:test';
import { ImapFlow } from 'imapflow';
import type { TestInstance } from '../helpers/instance.js';
import { ADMIN, ADMIN_PASSWORD, delay, imapInstance, loggedIn, RawClient, simpleMessage } from './helpers.js';

let inst: TestInstance;
let port: number;
before(async () => {
  inst = await imapInstance();
  port = inst.ports.imap!;
});
after(async () => { await inst.stop(); });

/** The compressed side of a RawClient after COMPRESS: deflated writes (sync-flushed), inflated reads. */
class Deflated {
  private text = '';
  private waiter: (() => void) | null = null;
  private readonly deflate = zlib.createDeflateRaw();
  private readonly inflate = zlib.createInflateRaw();
  ended = false;
  wire = 0;

  constructor(c: RawClient, rest: Buffer) {
    c.socket.removeAllListeners('data');
    c.socket.on('data', (d: Buffer) => {
      this.wire += d.length;
      this.inflate.write(d);
    });
    c.socket.on('end', () => this.inflate.end());
    this.inflate.on('data', (d: Buffer) => {
      this.text += d.toString('latin1');
      this.waiter?.();
    });
    const ended = () => {
      this.ended = true;
      this.waiter?.();
    };
    this.inflate.on('end', ended);
    this.inflate.on('error', ended); // the server cut a stream short: the test sees `ended`
    this.deflate.on('data', (d: Buffer) => c.socket.write(d));
    if (rest.length) this.inflate.write(rest);
  }

  send(s: string): void {
    this.deflate.write(s);
    this.deflate.flush(zlib.constants.Z_SYNC_FLUSH);
  }

  async readTagged(tag: string): Promise<string> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const at = this.text.startsWith(`${tag} `) ? 0 : this.text.indexOf(`\r\n${tag} `);
      const eol = at === -1 ? -1 : this.text.indexOf('\r\n', at === 0 ? 0 : at + 2);
      if (eol !== -1) {
        const out = this.text.slice(0, eol + 2);
        this.text = this.text.slice(eol + 2);
        return out;
      }
      if (this.ended || Date.now() > deadline) throw new Error(`no ${tag}; got ${JSON.stringify(this.text.slice(0, 500))}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        this.waiter = () => { clearTimeout(t); this.waiter = null; r(); };
      });
    }
  }

  cmd(tag: string, text: string): Promise<string> {
    this.send(`${tag} ${text}\r\n`);
    return this.readTagged(tag);
  }
}

/** Sends COMPRESS DEFLATE and reads the (uncompressed) tagged OK; returns the compressed side. */
async function compress(c: RawClient): Promise<Deflated> {
  // The reply is read off the socket by hand: everything after the OK line is compressed.
  const raw = await new Promise<Buffer>((resolve) => {
    let acc = Buffer.alloc(0);
    c.socket.removeAllListeners('data');
    c.socket.on('data', (d: Buffer) => {
      acc = Buffer.concat([acc, d]);
      if (acc.includes('\r\n')) resolve(acc);
    });
    c.send('z1 COMPRESS DEFLATE\r\n');
  });
  const eol = raw.indexOf('\r\n') + 2;
  assert.equal(raw.subarray(0, eol).toString(), 'z1 OK DEFLATE active\r\n');
  return new Deflated(c, raw.subarray(eol));
}

test('refused before login, for an unknown mechanism, and when already active', async () => {
  const c = await RawClient.connect(port);
  assert.doesNotMatch(await c.cmd('a0', 'CAPABILITY'), /COMPRESS/);
  assert.equal(await c.cmd('a1', 'COMPRESS DEFLATE'), 'a1 BAD COMPRESS not allowed before login\r\n');
  assert.match(await c.cmd('a2', `LOGIN "${ADMIN}" "${ADMIN_PASSWORD}"`), /^a2 OK \[CAPABILITY [^\]]* COMPRESS=DEFLATE /m);
  assert.equal(await c.cmd('a3', 'COMPRESS LZW'), 'a3 BAD Unknown compression mechanism LZW\r\n');
  assert.equal(await c.cmd('a4', 'COMPRESS'), 'a4 BAD Missing compression mechanism\r\n');
  assert.equal(await c.cmd('a5', 'COMPRESS DEFLATE extra'), 'a5 BAD Too many arguments\r\n');
  const z = await compress(c);
  assert.equal(await z.cmd('b1', 'COMPRESS DEFLATE'), 'b1 NO [COMPRESSIONACTIVE] DEFLATE active\r\n');
  assert.equal(await z.cmd('b2', 'NOOP'), 'b2 OK NOOP completed\r\n');
  c.close();
});

test('a compressed session: commands, a large FETCH, IDLE push, LOGOUT', async () => {
  const setup = await loggedIn(port);
  await setup.cmd('c', 'CREATE Zipped');
  const body = 'All work and no play makes Jack a dull boy. '.repeat(2000);
  const m = simpleMessage('compressible', body);
  await setup.cmd('ap', `APPEND Zipped {${m.length}+}\r\n${m.toString('latin1')}`);
  const c = await loggedIn(port);
  const z = await compress(c);
  assert.match(await z.cmd('s', 'SELECT Zipped'), /\* 1 EXISTS\r\n[\s\S]*s OK \[READ-WRITE\] SELECT completed\r\n$/);
  const before = z.wire;
  const f = await z.cmd('f', 'FETCH 1 BODY.PEEK[TEXT]');
  assert.ok(f.includes(body), 'body arrives intact');
  assert.ok(z.wire - before < body.length / 10, `compressed on the wire (${z.wire - before} bytes for ${body.length})`);
  // Pipelined commands in one deflate block.
  z.send('p1 NOOP\r\np2 CHECK\r\np3 UID SEARCH ALL\r\n');
  assert.equal(await z.readTagged('p1'), 'p1 OK NOOP completed\r\n');
  assert.equal(await z.readTagged('p2'), 'p2 OK CHECK completed\r\n');
  assert.match(await z.readTagged('p3'), /^\* SEARCH \d+\r\np3 OK UID SEARCH completed\r\n$/);
  // IDLE: the push arrives flushed, not stuck in the compressor.
  z.send('i IDLE\r\n');
  await delay(100);
  await setup.cmd('ap2', `APPEND Zipped {${m.length}+}\r\n${m.toString('latin1')}`);
  await delay(300);
  z.send('DONE\r\n');
  assert.match(await z.readTagged('i'), /^\+ idling\r\n\* 2 EXISTS\r\ni OK IDLE terminated\r\n$/);
  const bye = await z.cmd('l', 'LOGOUT');
  assert.equal(bye, '* BYE Logging out\r\nl OK LOGOUT completed\r\n');
  for (let i = 0; i < 50 && !z.ended; i++) await delay(20);
  assert.ok(z.ended, 'the compressed stream is finished and the connection closed');
  setup.close();
});

test('corrupt compressed input closes the connection; the server keeps serving', async () => {
  const c = await loggedIn(port);
  await compress(c);
  c.socket.removeAllListeners('data');
  c.send(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x13, 0x37]));
  for (let i = 0; i < 100 && !c.closed; i++) await delay(20);
  assert.ok(c.closed);
  const d = await loggedIn(port);
  assert.equal(await d.cmd('n', 'NOOP'), 'n OK NOOP completed\r\n');
  d.close();
});

test('imapflow negotiates COMPRESS and works through it', async () => {
  const client = new ImapFlow({ host: '127.0.0.1', port, secure: false, auth: { user: ADMIN, pass: ADMIN_PASSWORD }, logger: false,
    tls: { rejectUnauthorized: false } });
  await client.connect();
  try {
    assert.ok((client as unknown as { _deflate?: unknown })._deflate, 'imapflow compressed the session');
    await client.mailboxCreate('FlowZip');
    const big = simpleMessage('flow', 'x'.repeat(200_000));
    await client.append('FlowZip', big);
    const lock = await client.getMailboxLock('FlowZip');
    try {
      const msg = await client.fetchOne('1', { source: true });
      assert.ok(msg && Buffer.compare(msg.source!, big) === 0, 'byte-exact source through compression');
    } finally {
      lock.release();
    }
  } finally {
    await client.logout();
  }
});
