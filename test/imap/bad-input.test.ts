// Hostile and broken input over a real socket, with the exact answer to each: commands in the
// wrong state, giant literals, unbalanced and deeply nested parentheses, NUL bytes, numbers
// out of range, mailbox names that are not valid modified UTF-7 (or, with UTF8=ACCEPT, not
// valid UTF-8) for CREATE/SELECT/RENAME, the pre-login error limit, and a bounded fuzz of
// random bytes after which the server still serves. The connection survives every BAD.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TestInstance } from '../helpers/instance.js';
import { delay, imapInstance, loggedIn, RawClient } from './helpers.js';

let inst: TestInstance;
let port: number;
before(async () => {
  inst = await imapInstance({ config: { limits: { maxMessageSize: 4096 } } });
  port = inst.ports.imap!;
});
after(async () => { await inst.stop(); });

const bytes = (...parts: Array<string | number[]>) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

async function expect(c: RawClient, tag: string, data: string | Buffer, answer: string): Promise<void> {
  c.send(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  assert.equal(await c.readTagged(tag), answer, JSON.stringify(data.toString('latin1').slice(0, 60)));
}

test('wrong state and oversized literals before login', async () => {
  const c = await RawClient.connect(port);
  await expect(c, 'p1', 'p1 IDLE\r\n', 'p1 BAD IDLE not allowed before login\r\n');
  await expect(c, 'p2', 'p2 COMPRESS DEFLATE\r\n', 'p2 BAD COMPRESS not allowed before login\r\n');
  await expect(c, 'p3', 'p3 UID SORT (DATE) UTF-8 ALL\r\n', 'p3 BAD UID SORT not allowed before login\r\n');
  // A synchronising literal over the bound is refused before the client sends it...
  await expect(c, 'p4', 'p4 LOGIN {100000}\r\n', 'p4 BAD [TOOBIG] Literal too large (limit 65536 bytes)\r\n');
  // ...a non-synchronising one is read and dropped, and the line after it is a new command.
  await expect(c, 'p5', `p5 LOGIN {100000+}\r\n${'x'.repeat(100000)} y\r\n`, 'p5 BAD [TOOBIG] Literal too large (limit 65536 bytes)\r\n');
  await expect(c, 'p6', 'p6 NOOP\r\n', 'p6 OK NOOP completed\r\n');
  c.close();
});

test('ten unanswerable commands before login end the connection', async () => {
  const c = await RawClient.connect(port);
  c.send('x1 FROB\r\n'.repeat(10));
  let all = '';
  for (;;) {
    try {
      all += await c.readLine(2000);
    } catch {
      break;
    }
  }
  assert.equal(all, `${'x1 BAD Unknown command FROB\r\n'.repeat(10)}* BYE Too many errors\r\n`);
  assert.ok(c.closed);
});

test('malformed commands after login: exact BAD, the session goes on', async () => {
  const c = await loggedIn(port);
  await expect(c, 'u1', 'u1 FETCH 1 FLAGS\r\n', 'u1 BAD FETCH not allowed without a selected mailbox\r\n');
  await expect(c, 'u2', `u2 LIST "" ${'('.repeat(5000)}\r\n`, 'u2 BAD Lists nested too deeply\r\n');
  await expect(c, 'u3', `u3 STATUS INBOX ${'('.repeat(2000)}${')'.repeat(2000)}\r\n`, 'u3 BAD Lists nested too deeply\r\n');
  await expect(c, 'u4', 'u4 STATUS INBOX (MESSAGES))\r\n', 'u4 BAD Unbalanced parentheses: unexpected ")"\r\n');
  await expect(c, 'u5', 'u5 NOOP\x00\r\n', 'u5 BAD Invalid command name\r\n');
  await expect(c, 'u6', 'u6 UID\r\n', 'u6 BAD Unknown command UID\r\n');
  await expect(c, 'u7', 'u7 UID FROB 1\r\n', 'u7 BAD Unknown command UID FROB\r\n');
  await expect(c, 'u8', 'DONE\r\nu8 NOOP\r\n', 'DONE BAD Missing command\r\nu8 OK NOOP completed\r\n');
  assert.match(await c.cmd('s', 'SELECT INBOX'), /s OK \[READ-WRITE\] SELECT completed\r\n$/);
  await expect(c, 'u9', `u9 SEARCH ${'NOT '.repeat(100)}ALL\r\n`, 'u9 BAD Search program nested too deeply\r\n');
  await expect(c, 'u10', `u10 SEARCH ${'('.repeat(100)}ALL${')'.repeat(100)}\r\n`, 'u10 BAD Lists nested too deeply\r\n');
  await expect(c, 'u11', `u11 THREAD REFERENCES UTF-8 ${'OR '.repeat(60)}${'ALL '.repeat(61)}\r\n`, 'u11 BAD Search program nested too deeply\r\n');
  await expect(c, 'u12', 'u12 FETCH 1:4294967296 FLAGS\r\n', 'u12 BAD Invalid sequence set\r\n');
  await expect(c, 'u13', 'u13 SEARCH LARGER 99999999999999999999999\r\n', 'u13 BAD Invalid size\r\n');
  await expect(c, 'u14', 'u14 STORE 1 FLAGS {70000}\r\n', 'u14 BAD [TOOBIG] Literal too large (limit 65536 bytes)\r\n');
  await expect(c, 'u15', 'u15 APPEND INBOX {5000}\r\n', 'u15 NO [TOOBIG] Message too large (limit 4096 bytes)\r\n');
  await expect(c, 'u16', `u16 SORT (${'DATE '.repeat(40)}) UTF-8 ALL\r\n`, 'u16 BAD Too many sort criteria\r\n');
  await expect(c, 'u17', 'u17 NOOP\r\n', 'u17 OK NOOP completed\r\n');
  c.close();
});

test('mailbox names: invalid modified UTF-7, 8-bit without UTF8=ACCEPT, invalid UTF-8 with it', async () => {
  const c = await loggedIn(port);
  await expect(c, 'b1', 'b1 CREATE &Jjo\r\n', 'b1 BAD Invalid mailbox name: unterminated "&" in mailbox name\r\n');
  await expect(c, 'b2', 'b2 CREATE &AGE-\r\n', 'b2 BAD Invalid mailbox name: needlessly encoded ASCII in mailbox name\r\n');
  await expect(c, 'b3', 'b3 CREATE "Entw\xfcrfe"\r\n', 'b3 BAD Invalid mailbox name: 8-bit or control character in a modified UTF-7 name\r\n');
  await expect(c, 'b4', bytes('b4 CREATE {4+}\r\n', [0x41, 0xff, 0xfe, 0x42], '\r\n'),
    'b4 BAD Invalid mailbox name: 8-bit or control character in a modified UTF-7 name\r\n');
  await expect(c, 'b5', 'b5 SELECT &2D0-\r\n', 'b5 BAD Invalid mailbox name: invalid UTF-16 in mailbox name\r\n');
  await expect(c, 'b6', 'b6 SELECT &AGEAYgBj-\r\n', 'b6 BAD Invalid mailbox name: needlessly encoded ASCII in mailbox name\r\n');
  await expect(c, 'b7', 'b7 RENAME INBOX &Jjo\r\n', 'b7 BAD Invalid mailbox name: unterminated "&" in mailbox name\r\n');
  await expect(c, 'b8', 'b8 RENAME &Jj\r\n', 'b8 BAD Invalid mailbox name: unterminated "&" in mailbox name\r\n');
  await expect(c, 'b9', 'b9 CREATE "a\x01b"\r\n', 'b9 BAD Invalid mailbox name: 8-bit or control character in a modified UTF-7 name\r\n');
  await expect(c, 'b10', bytes('b10 SELECT {1+}\r\n', [0], '\r\n'), 'b10 BAD Invalid mailbox name: 8-bit or control character in a modified UTF-7 name\r\n');
  await expect(c, 'b11', 'b11 CREATE ""\r\n', 'b11 NO [CANNOT] Empty mailbox name\r\n');
  // A valid name that does not exist: the text stays 7-bit for a client without UTF8=ACCEPT.
  await expect(c, 'b12', 'b12 RENAME &Jjo- x\r\n', 'b12 NO [NONEXISTENT] No such mailbox\r\n');
  await expect(c, 'b13', 'b13 SELECT &Jjo-\r\n', 'b13 NO [NONEXISTENT] No such mailbox\r\n');
  await expect(c, 'e', 'e ENABLE UTF8=ACCEPT\r\n', '* ENABLED UTF8=ACCEPT\r\ne OK ENABLE completed\r\n');
  await expect(c, 'b14', bytes('b14 CREATE {4+}\r\n', [0x41, 0xff, 0xfe, 0x42], '\r\n'), 'b14 BAD Invalid UTF-8 in mailbox name\r\n');
  await expect(c, 'b15', bytes('b15 SELECT {3+}\r\n', [0xc3, 0x28, 0x41], '\r\n'), 'b15 BAD Invalid UTF-8 in mailbox name\r\n');
  await expect(c, 'b16', bytes('b16 RENAME INBOX {2+}\r\n', [0xed, 0xa0], '\r\n'), 'b16 BAD Invalid UTF-8 in mailbox name\r\n');
  await expect(c, 'b17', bytes('b17 RENAME {3+}\r\n', [0xf0, 0x9f, 0x98], ' x\r\n'), 'b17 BAD Invalid UTF-8 in mailbox name\r\n');
  await expect(c, 'b21', 'b21 CREATE "a\x01b"\r\n', 'b21 BAD Control character in mailbox name\r\n');
  await expect(c, 'b22', bytes('b22 SELECT {1+}\r\n', [0], '\r\n'), 'b22 BAD Control character in mailbox name\r\n');
  await expect(c, 'b18', 'b18 CREATE "Entw\xc3\xbcrfe"\r\n', 'b18 OK CREATE completed\r\n');
  await expect(c, 'b19', 'b19 RENAME "Entw\xc3\xbcrfe" "\xe2\x98\xba"\r\n', 'b19 OK RENAME completed\r\n');
  await expect(c, 'b20', 'b20 RENAME "Entw\xc3\xbcrfe" x\r\n', 'b20 NO [NONEXISTENT] No such mailbox\r\n');
  c.close();
});

test('fuzz: random bytes on live sessions (bounded, 2 s); the server keeps serving', async () => {
  const alphabet = Buffer.from('a1 NOOP FETCH SELECT SORT THREAD UID LOGIN {}+~()[]<>"\\\r\n 0123456789*:,$%&-\x00\xff');
  let seed = 4242;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const end = Date.now() + 2000;
  let rounds = 0;
  while (Date.now() < end) {
    const c = rounds % 2 ? await loggedIn(port) : await RawClient.connect(port);
    for (let k = 0; k < 20 && !c.closed; k++) {
      const len = Math.floor(rnd() * 200);
      const b = Buffer.alloc(len);
      for (let i = 0; i < len; i++) b[i] = rnd() < 0.9 ? alphabet[Math.floor(rnd() * alphabet.length)]! : Math.floor(rnd() * 256);
      c.send(b);
    }
    await delay(20);
    c.close();
    rounds++;
  }
  assert.ok(rounds > 5);
  const c = await loggedIn(port);
  assert.equal(await c.cmd('n', 'NOOP'), 'n OK NOOP completed\r\n');
  c.close();
});
