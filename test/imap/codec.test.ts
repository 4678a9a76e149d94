// The pure IMAP codec fed with wire bytes: receiver (pipelining, split literals, LITERAL+,
// [TOOBIG], bounds), tokenizer, modified UTF-7, sequence sets, FETCH arguments, the message
// views (BODYSTRUCTURE, ENVELOPE, sections, partial, BINARY) on the corpus, and a bounded fuzz.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseMessageMetadata } from '../../src/mime/message-metadata.js';
import { ArgError, ArgReader, parseDateTime } from '../../src/protocols/imap/args.js';
import { applyPartial, extractBinary, extractSection } from '../../src/protocols/imap/body-section.js';
import { bodyStructureValue, envelopeValue } from '../../src/protocols/imap/body-structure.js';
import { parseFetchArgs, parseSection } from '../../src/protocols/imap/fetch-args.js';
import { decodeMutf7, encodeMutf7 } from '../../src/protocols/imap/mutf7.js';
import { MAX_LINE_BYTES, Receiver, type ReceiverEvent } from '../../src/protocols/imap/receiver.js';
import { formatResponse, lit, str } from '../../src/protocols/imap/response.js';
import { CharsetError, parseSearchArgs } from '../../src/protocols/imap/search-args.js';
import { parseSortArgs, parseThreadArgs } from '../../src/protocols/imap/sort-args.js';
import { formatSequenceSet, parseSequenceSet, selectFrom } from '../../src/protocols/imap/sequence-set.js';
import { corpus } from './corpus.js';

function drain(r: Receiver): ReceiverEvent[] {
  const out: ReceiverEvent[] = [];
  for (let e = r.next(); e; e = r.next()) out.push(e);
  return out;
}
const reqs = (evs: ReceiverEvent[]) => evs.map((e) => (e.kind === 'request' ? `${e.request.tag} ${e.request.command}` : e.kind === 'error' ? `${e.tag} ${e.status}${e.code ? ` [${e.code}]` : ''}` : `+${e.size}`));

describe('receiver', () => {
  test('pipelined commands in one packet come out one by one, in order', () => {
    const r = new Receiver({ appendLimit: 1000 });
    r.feed(Buffer.from('a1 NOOP\r\na2 CAPABILITY\r\na3 uid fetch 1:* (FLAGS)\r\n'));
    const evs = drain(r);
    assert.deepEqual(reqs(evs), ['a1 NOOP', 'a2 CAPABILITY', 'a3 UID FETCH']);
    const last = evs[2]!;
    assert.ok(last.kind === 'request');
    assert.deepEqual(last.request.args, [{ kind: 'atom', value: '1:*' }, { kind: 'list', items: [{ kind: 'atom', value: 'FLAGS' }] }]);
  });

  test('a synchronising literal asks for "+", and may arrive split across packets', () => {
    const r = new Receiver({ appendLimit: 1000 });
    r.feed(Buffer.from('a1 LOGIN {5}\r\n'));
    assert.deepEqual(reqs(drain(r)), ['+5']);
    r.feed(Buffer.from('al'));
    assert.deepEqual(drain(r), []);
    r.feed(Buffer.from('ice {6}\r'));
    assert.deepEqual(drain(r), []);
    r.feed(Buffer.from('\n'));
    assert.deepEqual(reqs(drain(r)), ['+6']);
    r.feed(Buffer.from('se"c)t\r\na2 NOOP\r\n'));
    const evs = drain(r);
    assert.deepEqual(reqs(evs), ['a1 LOGIN', 'a2 NOOP']);
    const e = evs[0]!;
    assert.ok(e.kind === 'request');
    assert.deepEqual(e.request.args.map((t) => t.kind === 'string' ? t.value.toString() : null), ['alice', 'se"c)t']);
  });

  test('LITERAL+ needs no continuation; literal8 is marked binary', () => {
    const r = new Receiver({ appendLimit: 1000 });
    r.feed(Buffer.from('a1 APPEND INBOX {3+}\r\nabc ~{2+}\r\n\0x\r\n'));
    const evs = drain(r);
    assert.deepEqual(reqs(evs), ['a1 APPEND']);
    const e = evs[0]!;
    assert.ok(e.kind === 'request');
    assert.deepEqual(e.request.args[1], { kind: 'string', value: Buffer.from('abc'), literal: true, binary: false });
    assert.deepEqual(e.request.args[2], { kind: 'string', value: Buffer.from('\0x'), literal: true, binary: true });
  });

  test('APPEND over the limit: NO [TOOBIG] before the client sends a byte', () => {
    const r = new Receiver({ appendLimit: 100 });
    r.feed(Buffer.from('a1 APPEND INBOX {101}\r\na2 NOOP\r\n'));
    assert.deepEqual(reqs(drain(r)), ['a1 NO [TOOBIG]', 'a2 NOOP']);
  });

  test('a non-synchronising literal over the limit is skipped, then refused', () => {
    const r = new Receiver({ appendLimit: 10 });
    r.feed(Buffer.from(`a1 APPEND INBOX {20+}\r\n${'x'.repeat(20)}\r\na2 NOOP\r\n`));
    assert.deepEqual(reqs(drain(r)), ['a1 NO [TOOBIG]', 'a2 NOOP']);
  });

  test('a big literal outside APPEND is BAD [TOOBIG]', () => {
    const r = new Receiver({ appendLimit: 1 << 30 });
    r.feed(Buffer.from('a1 LOGIN {100000}\r\n'));
    assert.deepEqual(reqs(drain(r)), ['a1 BAD [TOOBIG]']);
  });

  test('bounds: tag length, invalid tag, line length', () => {
    const r = new Receiver({ appendLimit: 100 });
    r.feed(Buffer.from(`${'t'.repeat(129)} NOOP\r\n+x NOOP\r\n`));
    assert.deepEqual(reqs(drain(r)), ['null BAD', 'null BAD']);
    r.feed(Buffer.from(`a1 NOOP ${'x'.repeat(MAX_LINE_BYTES)}`));
    assert.deepEqual(reqs(drain(r)), []);
    r.feed(Buffer.from('yyy\r\na2 NOOP\r\n'));
    assert.deepEqual(reqs(drain(r)), ['a1 BAD', 'a2 NOOP']);
  });

  test('unbalanced and malformed input is BAD with the tag', () => {
    const r = new Receiver({ appendLimit: 100 });
    r.feed(Buffer.from('a1 FETCH 1 (FLAGS\r\na2 FETCH 1 FLAGS)\r\na3 LOGIN "unterminated\r\na4 X "a"b\r\n'));
    assert.deepEqual(reqs(drain(r)), ['a1 BAD', 'a2 BAD', 'a3 BAD', 'a4 BAD']);
  });

  test('bracketed fetch attributes stay one atom', () => {
    const r = new Receiver({ appendLimit: 100 });
    r.feed(Buffer.from('a FETCH 1 (BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.10> UID)\r\n'));
    const [e] = drain(r);
    assert.ok(e && e.kind === 'request');
    const fa = parseFetchArgs(new ArgReader(e.request.args.slice(1)));
    assert.equal(fa.items.length, 2);
    assert.deepEqual(fa.items[0], { kind: 'BODY[]', peek: true, section: { path: [], text: 'HEADER.FIELDS', fields: ['FROM', 'TO'] },
      partial: { start: 0, length: 10 }, raw: 'HEADER.FIELDS (FROM TO)' });
  });

  test('fuzz: random input never throws and the receiver keeps working (bounded, 2 s)', () => {
    const alphabet = Buffer.from('a1 NOOP FETCH SORT RETURN REVERSE DATE UTF-8 {}+~()[]<>"\\\r\n 0123456789*:,$%&-\x00\xff');
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const end = Date.now() + 2000;
    let rounds = 0;
    while (Date.now() < end) {
      const r = new Receiver({ appendLimit: 64 });
      for (let k = 0; k < 20; k++) {
        const len = Math.floor(rnd() * 64);
        const b = Buffer.alloc(len);
        for (let i = 0; i < len; i++) b[i] = rnd() < 0.9 ? alphabet[Math.floor(rnd() * alphabet.length)]! : Math.floor(rnd() * 256);
        r.feed(b);
        for (let e = r.next(), n = 0; e && n < 1000; e = r.next(), n++) {
          if (e.kind === 'request') {
            // typed parsing of random args must only ever throw ArgError-like errors
            try { parseSearchArgs(new ArgReader(e.request.args)); } catch (x) { assert.ok(x instanceof Error); }
            try { parseFetchArgs(new ArgReader(e.request.args)); } catch (x) { assert.ok(x instanceof Error); }
            // SORT/THREAD programs and mailbox names: only ArgError (BAD) or CharsetError (NO [BADCHARSET]).
            for (const parse of [parseSortArgs, parseThreadArgs, (a: ArgReader) => a.mailbox()]) {
              try { parse(new ArgReader(e.request.args, { utf8: rnd() < 0.5 })); } catch (x) { assert.ok(x instanceof ArgError || x instanceof CharsetError, String(x)); }
            }
          }
        }
      }
      // Whatever state it is in, a reset receiver parses a clean command.
      r.reset();
      r.feed(Buffer.from('z1 NOOP\r\n'));
      assert.deepEqual(reqs(drain(r)), ['z1 NOOP']);
      rounds++;
    }
    assert.ok(rounds > 10);
  });
});

describe('codec pieces', () => {
  test('modified UTF-7 round trip and strictness', () => {
    assert.equal(encodeMutf7('Entwürfe'), 'Entw&APw-rfe');
    assert.equal(encodeMutf7('~peter/mail/台北/日本語'), '~peter/mail/&U,BTFw-/&ZeVnLIqe-');
    assert.equal(encodeMutf7('A&B'), 'A&-B');
    for (const s of ['Entwürfe', '台北', 'Привет мир', 'a&b', '😀 emoji']) assert.equal(decodeMutf7(encodeMutf7(s)), s);
    for (const bad of ['&Jjo', '&AGE-', 'Entw\u00fcrfe', '&2D0-']) assert.throws(() => decodeMutf7(bad), bad);
  });

  test('sequence sets', () => {
    assert.deepEqual(parseSequenceSet('1:3,5,7:*'), [{ from: 1, to: 3 }, { from: 5, to: 5 }, { from: 7, to: Infinity }]);
    assert.equal(parseSequenceSet('0'), null);
    assert.equal(parseSequenceSet('1,,2'), null);
    assert.deepEqual(selectFrom(parseSequenceSet('2:*')!, [1, 2, 5, 9]), [2, 5, 9]);
    assert.deepEqual(selectFrom(parseSequenceSet('20:*')!, [1, 2, 5, 9]), [9]); // RFC 9051 §6.4.8: n:* with n > max
    assert.equal(formatSequenceSet([5, 1, 2, 3, 9, 10]), '1:3,5,9:10');
  });

  test('response strings: quoted, escaped, literal for 8-bit and CR/LF, NIL', () => {
    const f = (v: Parameters<typeof formatResponse>[1]) => formatResponse('* ', v, { utf8: false }).toString('latin1');
    assert.equal(f([str('a "b" \\c'), null, 42]), '* "a \\"b\\" \\\\c" NIL 42\r\n');
    assert.equal(f([str('Grüße')]), `* {7}\r\n${Buffer.from('Grüße').toString('latin1')}\r\n`);
    assert.equal(f([lit(Buffer.from('x\r\ny'))]), '* {4}\r\nx\r\ny\r\n');
    assert.equal(formatResponse('* ', [str('Grüße')], { utf8: true }).toString('utf8'), '* "Grüße"\r\n');
  });

  test('dates', () => {
    assert.equal(parseDateTime('17-Jul-1996 02:44:25 -0700'), Date.UTC(1996, 6, 17, 9, 44, 25));
    assert.throws(() => parseDateTime('31-Feb-1996 02:44:25 -0700'.replace('31-Feb', '99-Xyz')));
  });

  test('sections parse', () => {
    assert.deepEqual(parseSection('1.2.MIME', false), { path: [1, 2], text: 'MIME', fields: [] });
    assert.deepEqual(parseSection('2.HEADER.FIELDS.NOT (Subject)', false), { path: [2], text: 'HEADER.FIELDS.NOT', fields: ['SUBJECT'] });
    assert.throws(() => parseSection('MIME', false));
    assert.throws(() => parseSection('1.TEXT', true));
    assert.throws(() => parseSection('0', false));
  });
});

const wire = (v: Parameters<typeof formatResponse>[1][number]) => formatResponse('', [v], { utf8: false }).toString('latin1').trimEnd();

describe('message views on the corpus', () => {
  test('nested multipart with attachment and encoded words', () => {
    const m = parseMessageMetadata(corpus.nested);
    assert.equal(wire(bodyStructureValue(m.root, true)),
      '((("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 25 1 NIL NIL NIL NIL) ("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "7BIT" 30 1 NIL NIL NIL NIL) "ALTERNATIVE" ("BOUNDARY" "inner") NIL NIL NIL) ("APPLICATION" "PDF" ("NAME" "report.pdf") NIL NIL "BASE64" 16 NIL ("ATTACHMENT" ("FILENAME" "report.pdf")) NIL NIL) "MIXED" ("BOUNDARY" "outer") NIL NIL NIL)');
    assert.equal(wire(bodyStructureValue(m.root, false)),
      '((("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 25 1) ("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "7BIT" 30 1) "ALTERNATIVE") ("APPLICATION" "PDF" ("NAME" "report.pdf") NIL NIL "BASE64" 16) "MIXED")');
    assert.equal(wire(envelopeValue(m.envelope)),
      '("Tue, 1 Jul 2025 10:00:00 +0200" "=?ISO-8859-1?Q?Caf=E9_au_lait?=" (("=?UTF-8?B?0JDQu9C10LrRgdC10Lk=?=" NIL "alexey" "example.ru")) (("=?UTF-8?B?0JDQu9C10LrRgdC10Lk=?=" NIL "alexey" "example.ru")) (("=?UTF-8?B?0JDQu9C10LrRgdC10Lk=?=" NIL "alexey" "example.ru")) (("Bob" NIL "bob" "example.test") (NIL NIL "carol" "example.test")) ((NIL NIL "undisclosed-recipients" NIL) (NIL NIL NIL NIL)) NIL NIL "<nested-1@example.ru>")');
    const sec = (spec: string) => {
      const r = extractSection(corpus.nested, m.root, parseSection(spec, false));
      return r.ok ? r.data.toString('latin1') : null;
    };
    assert.equal(sec('1.1'), 'Caf=C3=A9 with m=C3=BCsli');
    assert.equal(sec('1.2.MIME'), 'Content-Type: text/html; charset=utf-8\r\n\r\n');
    assert.equal(sec('2'), 'JVBERi0xLjQKJcfs');
    assert.equal(sec('HEADER.FIELDS (SUBJECT message-id)'), 'Subject: =?ISO-8859-1?Q?Caf=E9_au_lait?=\r\nMessage-ID: <nested-1@example.ru>\r\n\r\n');
    assert.ok(sec('HEADER.FIELDS.NOT (Subject From To Cc Date Message-ID)')!.startsWith('MIME-Version: 1.0\r\nContent-Type: multipart/mixed'));
    assert.equal(sec('3'), null);
    assert.equal(sec('1.1.1'), 'Caf=C3=A9 with m=C3=BCsli'); // a leaf's part 1 is itself
    assert.equal(sec('')!.length, corpus.nested.length);
    assert.ok(sec('TEXT')!.startsWith('preamble\r\n--outer'));
    const bin = extractBinary(corpus.nested, m.root, parseSection('1.1', true));
    assert.ok(bin.ok && bin.data.toString('utf8') === 'Café with müsli');
    const pdf = extractBinary(corpus.nested, m.root, parseSection('2', true));
    assert.ok(pdf.ok && pdf.data.subarray(0, 8).toString() === '%PDF-1.4');
    assert.equal(applyPartial(Buffer.from('0123456789'), { start: 3, length: 4 }).toString(), '3456');
    assert.equal(applyPartial(Buffer.from('0123'), { start: 10, length: 4 }).toString(), '');
  });

  test('8-bit body', () => {
    const m = parseMessageMetadata(corpus.eightBit);
    assert.equal(wire(bodyStructureValue(m.root, true)), '("TEXT" "PLAIN" ("CHARSET" "koi8-r") NIL NIL "8BIT" 8 1 NIL NIL NIL NIL)');
    const r = extractSection(corpus.eightBit, m.root, parseSection('1', false));
    assert.ok(r.ok);
    assert.deepEqual([...r.data], [0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4, 0x0d, 0x0a]);
  });

  test('message/rfc822 numbering', () => {
    const m = parseMessageMetadata(corpus.forwarded);
    assert.equal(wire(bodyStructureValue(m.root, true)),
      '(("TEXT" "PLAIN" NIL NIL NIL "7BIT" 10 1 NIL NIL NIL NIL) ("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 235 ("Thu, 3 Jul 2025 11:00:00 +0000" "hello" ((NIL NIL "erin" "example.test")) ((NIL NIL "erin" "example.test")) ((NIL NIL "erin" "example.test")) NIL NIL NIL NIL NIL) (("TEXT" "PLAIN" NIL NIL NIL "7BIT" 10 1 NIL NIL NIL NIL) ("TEXT" "HTML" NIL NIL NIL "7BIT" 17 1 NIL NIL NIL NIL) "ALTERNATIVE" ("BOUNDARY" "b2") NIL NIL NIL) 14 NIL NIL NIL NIL) "MIXED" ("BOUNDARY" "b1") NIL NIL NIL)');
    const sec = (spec: string) => {
      const r = extractSection(corpus.forwarded, m.root, parseSection(spec, false));
      return r.ok ? r.data.toString('latin1') : null;
    };
    assert.equal(sec('2.1'), 'inner text');
    assert.equal(sec('2.2'), '<i>inner html</i>');
    assert.ok(sec('2.HEADER')!.startsWith('From: erin@example.test\r\n') && sec('2.HEADER')!.endsWith('\r\n\r\n'));
    assert.equal(sec('2.HEADER.FIELDS (SUBJECT)'), 'Subject: hello\r\n\r\n');
    assert.ok(sec('2.TEXT')!.startsWith('--b2\r\n'));
    assert.equal(sec('2')!.length, 235);
    assert.equal(sec('1.HEADER'), null); // HEADER needs a message/rfc822 part
  });

  test('malformed MIME degrades without throwing', () => {
    const m = parseMessageMetadata(corpus.malformed);
    assert.equal(wire(bodyStructureValue(m.root, true)),
      '(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 8 1 NIL NIL NIL NIL) ("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "X-UNKNOWN" 10 1 NIL NIL NIL NIL) "MIXED" ("BOUNDARY" "never-closed") NIL NIL NIL)');
    const bin = extractBinary(corpus.malformed, m.root, parseSection('2', true));
    assert.deepEqual(bin, { ok: false, reason: 'unknown-cte', encoding: 'x-unknown' });
  });
});
