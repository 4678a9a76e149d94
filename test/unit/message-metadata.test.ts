// parseMessageMetadata over a small corpus built here, asserting exact byte offsets: for every
// part, buf.subarray(bodyStart, bodyEnd) must be exactly the body bytes between its header block
// and the CRLF that belongs to the next delimiter (RFC 2046 §5.1.1).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeWords, parseMessageMetadata, type MimePart } from '../../src/mime/message-metadata.js';

/** Builds a message from pieces and remembers where marked pieces landed. */
class Builder {
  private readonly chunks: Buffer[] = [];
  private length = 0;
  readonly ranges: Record<string, [number, number]> = {};

  add(piece: string | Buffer, mark?: string): this {
    const b = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece;
    if (mark) this.ranges[mark] = [this.length, this.length + b.length];
    this.chunks.push(b);
    this.length += b.length;
    return this;
  }

  /** Marks everything added by `fn` as one range. */
  span(mark: string, fn: () => void): this {
    const start = this.length;
    fn();
    this.ranges[mark] = [start, this.length];
    return this;
  }

  get offset(): number {
    return this.length;
  }

  build(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function body(buf: Buffer, p: MimePart): Buffer {
  return buf.subarray(p.bodyStart, p.bodyEnd);
}

function assertRange(buf: Buffer, p: MimePart, range: [number, number] | undefined, what: string): void {
  assert.ok(range, `no range for ${what}`);
  assert.deepEqual([p.bodyStart, p.bodyEnd], range, `${what} offsets`);
  assert.equal(body(buf, p).toString('utf8'), buf.subarray(range[0], range[1]).toString('utf8'), `${what} bytes`);
}

/** Every part: header block then body, in order, inside its parent. */
function assertWellFormed(p: MimePart, len: number, parent?: MimePart): void {
  assert.ok(p.headerStart <= p.bodyStart && p.bodyStart <= p.bodyEnd && p.bodyEnd <= len,
    `bad offsets ${p.type}/${p.subtype}: ${p.headerStart} ${p.bodyStart} ${p.bodyEnd} (len ${len})`);
  if (parent) assert.ok(p.headerStart >= parent.bodyStart && p.bodyEnd <= parent.bodyEnd, 'child inside its parent body');
  for (const c of p.children) assertWellFormed(c, len, p);
  if (p.message) assertWellFormed(p.message.root, len, p);
}

const KOI8_MIR = Buffer.from([0xcd, 0xc9, 0xd2]); // "мир" in KOI8-R

describe('a realistic nested message (CRLF)', () => {
  const subjectRaw = `Re: =?UTF-8?B?${Buffer.from('Привет').toString('base64')}?=, =?ISO-8859-1?Q?caf=E9_cr=E8me?=\r\n`
    + ` & =?KOI8-R?B?${KOI8_MIR.toString('base64')}?=`;
  const b = new Builder();
  b.add('Return-Path: <sender@remote.test>\r\n'
    + 'Received: from mx.remote.test (mx.remote.test [192.0.2.1])\r\n\tby mail.example.test (Pochtamt) with ESMTP id ABC;\r\n\tMon, 1 Dec 2025 10:00:00 +0000\r\n'
    + 'From: "Doe, Jane" <Jane.Doe@Remote.Test>\r\n'
    + 'Sender: secretary@remote.test\r\n'
    + 'To: Team: alice@example.test, Bob <bob@example.test>;, carol@example.test\r\n'
    + `Cc: =?UTF-8?B?${Buffer.from('Иван').toString('base64')}?= <ivan@example.test>\r\n`
    + `Subject: ${subjectRaw}\r\n`
    + 'Date: Mon, 01 Dec 2025 10:00:00 +0100\r\n'
    + 'Message-ID: <outer.1@remote.test>\r\n'
    + 'In-Reply-To: <earlier@example.test>\r\n'
    + 'MIME-Version: 1.0\r\n'
    + 'Content-Type: multipart/mixed;\r\n\tboundary="outer b=1"\r\n'
    + '\r\n', 'rootHeader');
  b.span('rootBody', () => {
    b.add('This is a preamble; --outer b=1 inside a line is not a delimiter.\r\n');
    b.add('--outer b=1\r\n');
    b.add('Content-Type: multipart/alternative; boundary=alt\r\n\r\n');
    b.span('altBody', () => {
      b.add('--alt\r\n');
      b.add('Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8BIT\r\n\r\n');
      b.add('Здравствуйте!\r\nЭто тест — 8-bit UTF-8.\r\n', 'plain');
      b.add('\r\n--alt  \t\r\n'); // transport padding after the delimiter
      b.add('Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n');
      b.add('<p>Hello =E2=80=94 world</p>', 'html');
      b.add('\r\n--alt--');
    });
    b.add('\r\n--outer b=1\r\n');
    b.add('Content-Type: application/pdf; name="report.pdf"\r\n'
      + "Content-Disposition: attachment;\r\n filename*0*=UTF-8''%D0%BE%D1%82%D1%87%D1%91%D1%82;\r\n filename*1*=%20%E2%84%962.pdf\r\n"
      + 'Content-Transfer-Encoding: base64\r\n'
      + 'Content-ID: <att1@remote.test>\r\n'
      + 'Content-Description: The report\r\n'
      + 'Content-Language: ru, en\r\n'
      + 'Content-Location: http://remote.test/report.pdf\r\n'
      + 'Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n'
      + '\r\n');
    b.add('JVBERi0xLjQKJcTl8uXrp/Og0MTGCg==\r\nJVBERi0xLjQK', 'pdf');
    b.add('\r\n--outer b=1\r\n');
    b.add('Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n');
    b.span('rfc822Body', () => {
      b.add('From: Inner Person <inner@other.test>\r\nTo: x@y.test\r\nSubject: =?ISO-8859-1?Q?Gr=FC=DFe?=\r\n'
        + 'Message-ID: <inner@other.test>\r\nDate: Sun, 30 Nov 2025 09:00:00 +0000\r\n\r\n');
      b.add('Inner body line 1\r\nline 2\r\n', 'innerBody');
    });
    b.add('\r\n--outer b=1--\r\n');
    b.add('This epilogue is ignored.\r\n');
  });
  const buf = b.build();
  const r = b.ranges;
  const meta = parseMessageMetadata(buf);
  const root = meta.root;

  test('the tree has the expected shape and every offset is in bounds', () => {
    assertWellFormed(root, buf.length);
    const shape = (p: MimePart): unknown => [`${p.type}/${p.subtype}`, p.children.map(shape), p.message ? shape(p.message.root) : null];
    assert.deepEqual(shape(root), ['multipart/mixed', [
      ['multipart/alternative', [['text/plain', [], null], ['text/html', [], null]], null],
      ['application/pdf', [], null],
      ['message/rfc822', [], ['text/plain', [], null]],
    ], null]);
  });

  test('root: header block and body offsets', () => {
    assert.equal(root.headerStart, 0);
    assertRange(buf, root, r.rootBody, 'root');
    assert.equal(root.bodyStart, r.rootHeader![1]);
    assert.equal(root.bodyEnd, buf.length);
    assert.deepEqual(root.params, { boundary: 'outer b=1' });
    assert.equal(root.lines, buf.subarray(root.bodyStart).toString('latin1').split('\r\n').length - 1);
  });

  test('multipart/alternative: its body runs from the first delimiter to the end of its close delimiter', () => {
    const alt = root.children[0]!;
    assertRange(buf, alt, r.altBody, 'alternative');
    assert.deepEqual(alt.params, { boundary: 'alt' });
    assert.ok(body(buf, alt).toString().endsWith('--alt--'));
  });

  test('8-bit UTF-8 text/plain: exact bytes, charset, encoding, lines', () => {
    const plain = root.children[0]!.children[0]!;
    assertRange(buf, plain, r.plain, 'text/plain');
    assert.equal(body(buf, plain).toString('utf8'), 'Здравствуйте!\r\nЭто тест — 8-bit UTF-8.\r\n');
    assert.deepEqual(plain.params, { charset: 'utf-8' });
    assert.equal(plain.encoding, '8bit');
    assert.equal(plain.lines, 2);
    assert.equal(plain.bodyEnd - plain.bodyStart, Buffer.byteLength('Здравствуйте!\r\nЭто тест — 8-bit UTF-8.\r\n'));
  });

  test('text/html after a delimiter with transport padding', () => {
    const html = root.children[0]!.children[1]!;
    assertRange(buf, html, r.html, 'text/html');
    assert.deepEqual(html.params, { charset: 'utf-8' });
    assert.equal(html.encoding, 'quoted-printable');
    assert.equal(html.lines, 1);
    assert.equal(html.disposition, null);
  });

  test('attachment: RFC 2231 continued, charset-encoded filename and the other content headers', () => {
    const pdf = root.children[1]!;
    assertRange(buf, pdf, r.pdf, 'application/pdf');
    assert.equal(pdf.lines, 2);
    assert.deepEqual(pdf.params, { name: 'report.pdf' });
    assert.equal(pdf.encoding, 'base64');
    assert.equal(pdf.disposition?.type, 'attachment');
    assert.equal(decodeWords(pdf.disposition!.params.filename!), 'отчёт №2.pdf');
    assert.equal(pdf.id, '<att1@remote.test>');
    assert.equal(pdf.description, 'The report');
    assert.deepEqual(pdf.language, ['ru', 'en']);
    assert.equal(pdf.location, 'http://remote.test/report.pdf');
    assert.equal(pdf.md5, 'Q2hlY2sgSW50ZWdyaXR5IQ==');
    assert.equal(pdf.headerStart, buf.indexOf('Content-Type: application/pdf'));
  });

  test('message/rfc822: body is the whole enclosed message; it has its own envelope and tree', () => {
    const msg = root.children[2]!;
    assertRange(buf, msg, r.rfc822Body, 'message/rfc822');
    assert.equal(msg.disposition?.type, 'inline');
    assert.equal(msg.lines, 8);
    assert.ok(msg.message);
    const inner = msg.message.root;
    assertRange(buf, inner, r.innerBody, 'enclosed text/plain');
    assert.equal(inner.headerStart, msg.bodyStart);
    assert.equal(inner.lines, 2);
    assert.deepEqual(inner.params, { charset: 'us-ascii' }, 'no Content-Type: text/plain; charset=us-ascii');
    const env = msg.message.envelope;
    assert.equal(env.subject, '=?ISO-8859-1?Q?Gr=FC=DFe?=');
    assert.equal(decodeWords(env.subject!), 'Grüße');
    assert.deepEqual(env.from, [{ name: 'Inner Person', mailbox: 'inner', host: 'other.test' }]);
    assert.deepEqual(env.sender, env.from);
    assert.deepEqual(env.to, [{ name: null, mailbox: 'x', host: 'y.test' }]);
    assert.equal(env.messageId, '<inner@other.test>');
  });

  test('envelope: raw (unfolded) subject, decoded subject in three charsets', () => {
    assert.equal(meta.envelope.subject, subjectRaw.replace('\r\n', ''));
    assert.equal(meta.subject, 'Re: Привет, café crème & мир');
    assert.equal(new TextDecoder('koi8-r').decode(KOI8_MIR), 'мир', 'test data sanity');
  });

  test('envelope: addresses split into name/mailbox/host, groups marked', () => {
    const env = meta.envelope;
    assert.deepEqual(env.from, [{ name: 'Doe, Jane', mailbox: 'Jane.Doe', host: 'Remote.Test' }]);
    assert.deepEqual(env.sender, [{ name: null, mailbox: 'secretary', host: 'remote.test' }]);
    assert.deepEqual(env.replyTo, env.from, 'Reply-To defaults to From');
    assert.deepEqual(env.to, [
      { name: null, mailbox: 'Team', host: null, group: 'start' },
      { name: null, mailbox: 'alice', host: 'example.test' },
      { name: 'Bob', mailbox: 'bob', host: 'example.test' },
      { name: null, mailbox: null, host: null, group: 'end' },
      { name: null, mailbox: 'carol', host: 'example.test' },
    ]);
    assert.deepEqual(env.cc, [{ name: `=?UTF-8?B?${Buffer.from('Иван').toString('base64')}?=`, mailbox: 'ivan', host: 'example.test' }]);
    assert.equal(env.bcc, null);
    assert.equal(env.date, 'Mon, 01 Dec 2025 10:00:00 +0100');
    assert.equal(env.messageId, '<outer.1@remote.test>');
    assert.equal(meta.messageId, '<outer.1@remote.test>');
    assert.equal(env.inReplyTo, '<earlier@example.test>');
  });

  test('headers: every top-level field in order, folded ones unfolded', () => {
    assert.deepEqual(meta.headers.map((h) => h.key), ['return-path', 'received', 'from', 'sender', 'to', 'cc', 'subject', 'date',
      'message-id', 'in-reply-to', 'mime-version', 'content-type']);
    assert.equal(meta.headers.find((h) => h.key === 'content-type')!.value, 'multipart/mixed;\tboundary="outer b=1"');
  });

  test('the metadata survives JSON (it is stored as JSON)', () => {
    assert.deepEqual(JSON.parse(JSON.stringify(meta.root)), meta.root);
  });
});

describe('LF-only line endings', () => {
  const b = new Builder();
  b.add('From: a@b.test\nSubject: Привет, 8-bit header\nContent-Type: multipart/mixed; boundary=X\n\n', 'head');
  b.span('rootBody', () => {
    b.add('--X\n');
    b.add('Content-Type: text/plain\n\n');
    b.add('first\nsecond\n', 'p1');
    b.add('\n--X\n');
    b.add('\n'); // a part with no header fields at all
    b.add('no headers here', 'p2');
    b.add('\n--X--\n');
  });
  const buf = b.build();
  const meta = parseMessageMetadata(buf);

  test('offsets are exact with LF delimiters', () => {
    assertWellFormed(meta.root, buf.length);
    assertRange(buf, meta.root, b.ranges.rootBody, 'root');
    assert.equal(meta.root.children.length, 2);
    assertRange(buf, meta.root.children[0]!, b.ranges.p1, 'part 1');
    assert.equal(meta.root.children[0]!.lines, 2);
    const p2 = meta.root.children[1]!;
    assertRange(buf, p2, b.ranges.p2, 'part 2');
    assert.equal(p2.bodyStart, p2.headerStart + 1);
    assert.equal(`${p2.type}/${p2.subtype}`, 'text/plain');
    assert.deepEqual(p2.params, { charset: 'us-ascii' });
    assert.equal(p2.lines, 1);
  });

  test('8-bit UTF-8 in a header (RFC 6532) is read as UTF-8', () => {
    assert.equal(meta.subject, 'Привет, 8-bit header');
    assert.deepEqual(meta.envelope.from, [{ name: null, mailbox: 'a', host: 'b.test' }]);
  });
});

describe('malformed MIME degrades without throwing', () => {
  test('missing closing delimiter: the last part runs to the end of the message', () => {
    const b = new Builder();
    b.add('Content-Type: multipart/mixed; boundary=B\r\n\r\n');
    b.add('--B\r\nContent-Type: text/plain\r\n\r\n');
    b.add('one', 'p1');
    b.add('\r\n--B\r\nContent-Type: text/plain\r\n\r\n');
    b.add('two\r\nand the message just ends\r\n', 'p2');
    const buf = b.build();
    const { root } = parseMessageMetadata(buf);
    assertWellFormed(root, buf.length);
    assert.equal(root.children.length, 2);
    assertRange(buf, root.children[0]!, b.ranges.p1, 'part 1');
    assertRange(buf, root.children[1]!, b.ranges.p2, 'unterminated part');
    assert.equal(root.children[1]!.lines, 2);
  });

  test('missing closing delimiter of a nested multipart stops at the outer delimiter', () => {
    const b = new Builder();
    b.add('Content-Type: multipart/mixed; boundary=O\r\n\r\n--O\r\nContent-Type: multipart/alternative; boundary=I\r\n\r\n');
    b.add('--I\r\n\r\n');
    b.add('inner, never closed', 'inner');
    b.add('\r\n--O\r\n\r\n');
    b.add('second outer part', 'second');
    b.add('\r\n--O--\r\n');
    const buf = b.build();
    const { root } = parseMessageMetadata(buf);
    assertWellFormed(root, buf.length);
    assert.equal(root.children.length, 2);
    assertRange(buf, root.children[0]!.children[0]!, b.ranges.inner, 'inner');
    assertRange(buf, root.children[1]!, b.ranges.second, 'second');
  });

  test('multipart without a boundary parameter: one empty text/plain part', () => {
    const buf = Buffer.from('Content-Type: multipart/mixed\r\n\r\n--X\r\n\r\nbody\r\n--X--\r\n');
    const { root } = parseMessageMetadata(buf);
    assertWellFormed(root, buf.length);
    assert.equal(`${root.type}/${root.subtype}`, 'multipart/mixed');
    assert.equal(root.children.length, 1);
    const c = root.children[0]!;
    assert.equal(`${c.type}/${c.subtype}`, 'text/plain');
    assert.equal(c.bodyEnd - c.bodyStart, 0);
    assert.equal(c.lines, 0);
  });

  test('multipart whose declared boundary never occurs: one empty text/plain part', () => {
    const buf = Buffer.from('Content-Type: multipart/mixed; boundary=declared\r\n\r\n--used\r\n\r\nbody\r\n--used--\r\n');
    const { root } = parseMessageMetadata(buf);
    assertWellFormed(root, buf.length);
    assert.equal(root.children.length, 1);
    assert.equal(root.children[0]!.bodyEnd - root.children[0]!.bodyStart, 0);
    assert.equal(body(buf, root).toString(), '--used\r\n\r\nbody\r\n--used--\r\n');
  });

  test('a delimiter-like line with trailing text is not a delimiter', () => {
    const b = new Builder();
    b.add('Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\r\n');
    b.add('--Bogus is not a delimiter\r\n--B-- neither\r\nend', 'p');
    b.add('\r\n--B--\r\n');
    const buf = b.build();
    const { root } = parseMessageMetadata(buf);
    assert.equal(root.children.length, 1);
    assertRange(buf, root.children[0]!, b.ranges.p, 'part');
  });

  test('garbage Content-Type becomes text/plain; charset=us-ascii', () => {
    for (const ct of ['garbage', '!!!/???', 'text/', '/plain', ';;;', 'a b/c d', '']) {
      const buf = Buffer.from(`Content-Type: ${ct}\r\n\r\nbody\r\n`);
      const { root } = parseMessageMetadata(buf);
      assert.equal(`${root.type}/${root.subtype}`, 'text/plain', ct);
      assert.deepEqual(root.params, { charset: 'us-ascii' }, ct);
      assert.equal(body(buf, root).toString(), 'body\r\n');
    }
  });

  test('type and subtype are lower-cased; parameters keep their values', () => {
    const { root } = parseMessageMetadata(Buffer.from('Content-Type: TEXT/Calendar; METHOD=REQUEST; Charset="UTF-8"\r\n\r\nx'));
    assert.equal(root.type, 'text');
    assert.equal(root.subtype, 'calendar');
    assert.deepEqual(root.params, { method: 'REQUEST', charset: 'UTF-8' });
  });

  test('a part with headers but an empty body has bodyStart == bodyEnd inside the part', () => {
    const b = new Builder();
    b.add('Content-Type: multipart/mixed; boundary=E\r\n\r\n--E\r\nContent-Type: text/plain\r\n');
    const emptyAt = b.offset;
    b.add('\r\n--E\r\nContent-Type: text/html\r\n\r\n');
    b.add('<b>x</b>', 'html');
    b.add('\r\n--E\r\n');
    const emptyNoHeaders = b.offset;
    b.add('\r\n--E--\r\n');
    const buf = b.build();
    const { root } = parseMessageMetadata(buf);
    assertWellFormed(root, buf.length);
    assert.equal(root.children.length, 3);
    const [empty, html, bare] = root.children as [MimePart, MimePart, MimePart];
    assert.deepEqual([empty.bodyStart, empty.bodyEnd], [emptyAt, emptyAt], 'empty body right after the header block');
    assert.equal(empty.lines, 0);
    assert.equal(`${empty.type}/${empty.subtype}`, 'text/plain');
    assertRange(buf, html, b.ranges.html, 'html');
    assert.deepEqual([bare.headerStart, bare.bodyStart, bare.bodyEnd], [emptyNoHeaders, emptyNoHeaders, emptyNoHeaders]);
  });

  test('a message that is all header (no blank line) has an empty body at its end', () => {
    const buf = Buffer.from('Subject: only headers\r\nFrom: a@b.test\r\n');
    const meta = parseMessageMetadata(buf);
    assert.equal(meta.root.bodyStart, buf.length);
    assert.equal(meta.root.bodyEnd, buf.length);
    assert.equal(meta.root.lines, 0);
    assert.equal(meta.subject, 'only headers');
  });

  test('an empty message and header lines without a colon do not throw', () => {
    const empty = parseMessageMetadata(Buffer.alloc(0));
    assert.equal(empty.root.bodyEnd, 0);
    assert.equal(empty.envelope.from, null);
    assert.equal(empty.subject, '');
    const odd = parseMessageMetadata(Buffer.from('this is not a header\r\nSubject: ok\r\n\r\nbody'));
    assert.equal(odd.subject, 'ok');
    assert.equal(odd.root.lines, 1);
  });

  test('message/rfc822 with a base64 transfer encoding is not parsed inside', () => {
    const buf = Buffer.from('Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQp5\r\n');
    const { root } = parseMessageMetadata(buf);
    assert.equal(root.message, undefined);
    assert.equal(root.encoding, 'base64');
  });

  test('parts of multipart/digest default to message/rfc822', () => {
    const buf = Buffer.from('Content-Type: multipart/digest; boundary=D\r\n\r\n--D\r\n\r\nSubject: digested\r\n\r\nbody\r\n--D--\r\n');
    const { root } = parseMessageMetadata(buf);
    const c = root.children[0]!;
    assert.equal(`${c.type}/${c.subtype}`, 'message/rfc822');
    assert.equal(c.message?.envelope.subject, 'digested');
  });

  test('deep nesting is bounded and does not throw', () => {
    const depth = 60;
    let s = '';
    for (let i = 0; i < depth; i++) s += `Content-Type: multipart/mixed; boundary=b${i}\r\n\r\n--b${i}\r\n`;
    s += 'Content-Type: text/plain\r\n\r\nleaf\r\n';
    for (let i = depth - 1; i >= 0; i--) s += `--b${i}--\r\n`;
    const buf = Buffer.from(s);
    const { root } = parseMessageMetadata(buf);
    assertWellFormed(root, buf.length);
    let d = 0;
    for (let p = root; p.children.length; p = p.children[0]!) d++;
    assert.ok(d <= 33, `depth ${d}`);
  });
});
