// DATA line-end canonicalisation (src/sessions/smtp/data-reader.ts): every bare CR or LF becomes
// CRLF, so what we store and relay is exactly what we parsed (SMTP smuggling defence).
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { canonicalLineEnds, readData } from '../../src/sessions/smtp/data-reader.js';

const c = (s: string) => canonicalLineEnds(Buffer.from(s, 'latin1'));
const str = (s: string) => c(s).out.toString('latin1');

describe('canonicalLineEnds', () => {
  test('already canonical input is returned as is', () => {
    const buf = Buffer.from('a\r\nb\r\n\r\nc');
    const r = canonicalLineEnds(buf);
    assert.equal(r.changed, false);
    assert.equal(r.out, buf, 'same Buffer, no copy');
    assert.deepEqual(canonicalLineEnds(Buffer.alloc(0)), { out: Buffer.alloc(0), changed: false });
  });

  test('bare LF becomes CRLF', () => {
    assert.deepEqual(c('a\nb\n'), { out: Buffer.from('a\r\nb\r\n'), changed: true });
    assert.equal(str('\n\n'), '\r\n\r\n');
  });

  test('bare CR becomes CRLF', () => {
    assert.equal(str('a\rb\r'), 'a\r\nb\r\n');
    assert.equal(str('\r'), '\r\n');
  });

  test('mixed line ends: CRLF kept, LF CR as two line ends, CR CR LF as two', () => {
    assert.equal(str('a\r\nb\nc\rd\r\n'), 'a\r\nb\r\nc\r\nd\r\n');
    assert.equal(str('a\n\rb'), 'a\r\n\r\nb');
    assert.equal(str('a\r\r\nb'), 'a\r\n\r\nb');
  });

  test('the <LF>.<CR><LF> smuggling sequence becomes CRLF . CRLF inside the body', () => {
    const smuggled = 'Subject: hi\r\n\r\nfirst\n.\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<victim@y>\r\nDATA\r\nfake\r\n';
    const out = str(smuggled);
    assert.equal(out, 'Subject: hi\r\n\r\nfirst\r\n.\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<victim@y>\r\nDATA\r\nfake\r\n');
    // Any later hop now sees an explicit CRLF.CRLF, which it must dot-stuff when relaying; we never
    // emit a line end that another implementation could read differently.
    assert.ok(!/[^\r]\n|\r[^\n]/.test(out));
    assert.equal(str('x\r\n.\n'), 'x\r\n.\r\n');
    assert.equal(str('x\r.\r'), 'x\r\n.\r\n');
  });

  test('8-bit bytes pass through untouched', () => {
    const utf8 = Buffer.from('Привет\nмир', 'utf8');
    assert.equal(canonicalLineEnds(utf8).out.toString('utf8'), 'Привет\r\nмир');
  });

  test('output never contains a bare CR or LF (exhaustive over short strings)', () => {
    const alphabet = ['\r', '\n', 'a', '.'];
    const all = (n: number): string[] => (n === 0 ? [''] : all(n - 1).flatMap((s) => alphabet.map((ch) => s + ch)));
    for (const s of all(6)) {
      const out = str(s);
      assert.ok(!/\r(?!\n)|(?<!\r)\n/.test(out), JSON.stringify(s));
      assert.equal(out.replace(/\r\n/g, ''), s.replace(/\r\n|\r|\n/g, ''), 'other bytes unchanged');
      assert.equal((out.match(/\r\n/g) ?? []).length, (s.match(/\r\n|\r|\n/g) ?? []).length, 'one CRLF per line end');
    }
  });
});

describe('readData', () => {
  test('normalises and reports it', async () => {
    const r = await readData(Readable.from([Buffer.from('Subject: a\n\nb'), Buffer.from('ody\n')]), 1000);
    assert.deepEqual(r, { raw: Buffer.from('Subject: a\r\n\r\nbody\r\n'), normalizedLineEnds: true, problem: null });
  });

  test('refuses NUL, too big, and over-long header lines', async () => {
    assert.deepEqual((await readData(Readable.from([Buffer.from('a\0b')]), 1000)).problem, { kind: 'nul' });
    assert.deepEqual((await readData(Readable.from([Buffer.alloc(600, 0x61), Buffer.alloc(600, 0x61)]), 1000)).problem, { kind: 'too-big' });
    assert.deepEqual((await readData(Readable.from([Buffer.from(`X: ${'y'.repeat(1000)}\r\n\r\nb`)]), 10_000)).problem,
      { kind: 'header-line-too-long' });
    assert.equal((await readData(Readable.from([Buffer.from(`X: ${'y'.repeat(1000)}`.slice(0, 998) + '\r\n\r\nb')]), 10_000)).problem, null);
  });
});
