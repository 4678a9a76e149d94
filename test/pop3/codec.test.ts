// Unit tests of the pure POP3 codec (src/protocols/pop3): raw bytes in, events/bytes out.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCommand, parseMessageNumber, parseNonNegative } from '../../src/protocols/pop3/command.js';
import { MAX_LINE_BYTES, Pop3LineReader, type LineEvent } from '../../src/protocols/pop3/line-reader.js';
import { errLine, messageTop, okLine, stuffMultiLine, textLines } from '../../src/protocols/pop3/response.js';
import { decodePlainResponse } from '../../src/protocols/pop3/sasl-plain.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const lines = (evs: LineEvent[]) => evs.map((e) => (e.kind === 'line' ? e.line : '<too-long>'));

test('line reader: CRLF and bare LF, several lines per chunk, lines split across chunks', () => {
  const r = new Pop3LineReader();
  assert.deepEqual(lines(r.push(b('USER a\r\nPASS b c\r\nST'))), ['USER a', 'PASS b c']);
  assert.equal(r.pending, 2);
  assert.deepEqual(lines(r.push(b('AT'))), []);
  assert.deepEqual(lines(r.push(b('\r'))), []);
  assert.deepEqual(lines(r.push(b('\nNOOP\n\r\n'))), ['STAT', 'NOOP', '']);
  assert.equal(r.pending, 0);
});

test('line reader: a line of exactly the limit passes, one byte more is refused', () => {
  const r = new Pop3LineReader();
  const max = 'A'.repeat(MAX_LINE_BYTES - 2);
  assert.deepEqual(lines(r.push(b(`${max}\r\n`))), [max]);
  assert.deepEqual(lines(r.push(b(`${max}A\r\nNOOP\r\n`))), ['<too-long>', 'NOOP']);
});

test('line reader: an over-long line is reported once and discarded up to its LF without buffering', () => {
  const r = new Pop3LineReader();
  const evs: LineEvent[] = [];
  for (let i = 0; i < 100; i++) {
    evs.push(...r.push(Buffer.alloc(1000, 0x41)));
    assert.ok(r.pending <= MAX_LINE_BYTES, 'never holds more than one line');
  }
  assert.deepEqual(lines(evs), ['<too-long>']);
  assert.equal(r.pending, 0);
  assert.deepEqual(lines(r.push(b('still long\r\nSTAT\r\n'))), ['STAT'], 'tail of the long line is dropped, next line parsed');
});

test('line reader: reset drops a partial line (STLS)', () => {
  const r = new Pop3LineReader();
  r.push(b('USER evil'));
  r.reset();
  assert.deepEqual(lines(r.push(b('CAPA\r\n'))), ['CAPA']);
});

test('command parser', () => {
  assert.deepEqual(parseCommand('retr 1'), { ok: true, command: { name: 'RETR', args: ['1'], rest: '1' } });
  assert.deepEqual(parseCommand('PASS my secret  pw'), { ok: true, command: { name: 'PASS', args: ['my', 'secret', 'pw'], rest: 'my secret  pw' } });
  assert.deepEqual(parseCommand('STAT'), { ok: true, command: { name: 'STAT', args: [], rest: '' } });
  assert.equal(parseCommand('').ok, false);
  assert.equal(parseCommand(' STAT').ok, false);
  assert.equal(parseCommand('ST\u0000AT').ok, false);
  assert.equal(parseCommand('X'.repeat(40)).ok, false);
  assert.equal(parseMessageNumber('1'), 1);
  assert.equal(parseMessageNumber('42'), 42);
  for (const bad of ['0', '-1', '+1', '01', '1.0', 'a', '', undefined, '12345678901']) assert.equal(parseMessageNumber(bad), null, String(bad));
  assert.equal(parseNonNegative('0'), 0);
  assert.equal(parseNonNegative('-1'), null);
});

test('status lines and response codes; CR/LF cannot be injected', () => {
  assert.equal(okLine(), '+OK\r\n');
  assert.equal(okLine('2 320'), '+OK 2 320\r\n');
  assert.equal(errLine('busy', 'IN-USE'), '-ERR [IN-USE] busy\r\n');
  assert.equal(errLine('no\r\n+OK fake'), '-ERR no +OK fake\r\n');
});

test('byte-stuffing: dots at line starts, terminator, CRLF always before it', () => {
  assert.equal(stuffMultiLine(b('a\r\nb\r\n')).toString('latin1'), 'a\r\nb\r\n.\r\n');
  assert.equal(stuffMultiLine(b('.x\r\n..y\r\n.\r\nz.\r\n.')).toString('latin1'), '..x\r\n...y\r\n..\r\nz.\r\n..\r\n.\r\n');
  assert.equal(stuffMultiLine(b('no final newline')).toString('latin1'), 'no final newline\r\n.\r\n');
  assert.equal(stuffMultiLine(b('')).toString('latin1'), '.\r\n');
  assert.equal(stuffMultiLine(b('bare\n.lf\r\n')).toString('latin1'), 'bare\n..lf\r\n.\r\n');
  assert.equal(stuffMultiLine(textLines(['1 100', '2 200'])).toString('latin1'), '1 100\r\n2 200\r\n.\r\n');
});

test('byte-stuffing round-trips: un-stuffing gives the original bytes', () => {
  const original = b('From: a\r\n\r\n.\r\n..\r\n.start\r\nmiddle . dot\r\n.\r\n');
  const wire = stuffMultiLine(original).toString('latin1');
  assert.ok(wire.endsWith('\r\n.\r\n'));
  const body = wire.slice(0, -3).split('\r\n').slice(0, -1).map((l) => (l.startsWith('.') ? l.slice(1) : l));
  assert.equal(`${body.join('\r\n')}\r\n`, original.toString('latin1'));
});

test('TOP: header, blank line and n body lines', () => {
  const msg = b('Subject: x\r\nFrom: y\r\n\r\nl1\r\nl2\r\nl3\r\n');
  assert.equal(messageTop(msg, 0).toString(), 'Subject: x\r\nFrom: y\r\n\r\n');
  assert.equal(messageTop(msg, 2).toString(), 'Subject: x\r\nFrom: y\r\n\r\nl1\r\nl2\r\n');
  assert.equal(messageTop(msg, 99).toString(), msg.toString());
  assert.equal(messageTop(b('Subject: only header\r\n'), 3).toString(), 'Subject: only header\r\n');
  assert.equal(messageTop(b('\r\nbody\r\n'), 0).toString(), '\r\n');
});

test('SASL PLAIN responses', () => {
  const enc = (s: string) => Buffer.from(s).toString('base64');
  assert.deepEqual(decodePlainResponse(enc('\0user@x\0pw d')), { kind: 'credentials', authzid: '', authcid: 'user@x', password: 'pw d' });
  assert.deepEqual(decodePlainResponse(enc('admin\0user\0pw')), { kind: 'credentials', authzid: 'admin', authcid: 'user', password: 'pw' });
  assert.deepEqual(decodePlainResponse('*'), { kind: 'cancel' });
  assert.equal(decodePlainResponse('=').kind, 'invalid');
  assert.equal(decodePlainResponse('not base64!').kind, 'invalid');
  assert.equal(decodePlainResponse(enc('user\0pw')).kind, 'invalid');
  assert.equal(decodePlainResponse(enc('\0user\0')).kind, 'invalid');
});
