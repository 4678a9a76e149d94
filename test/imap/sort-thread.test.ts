// SORT and THREAD (RFC 5256, RFC 5957 DISPLAYFROM/DISPLAYTO, RFC 5267 ESORT): base subject
// extraction on the RFC's cases, the threading algorithms on crafted trees (loops, dummies,
// a chain deep enough to overflow a recursive walk), and exact responses on a crafted corpus
// over a raw socket and from Python's imaplib sort()/thread().
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { baseSubject, type SortKeys } from '../../src/mime/sort-keys.js';
import { formatThreads, threadReferences, type SortItem } from '../../src/sessions/imap/sort-thread.js';
import type { TestInstance } from '../helpers/instance.js';
import { ADMIN, ADMIN_PASSWORD, imapInstance, loggedIn, msg, type RawClient, PYTHON, runProcess } from './helpers.js';

describe('base subject (RFC 5256 §2.1)', () => {
  const cases: Array<[string, string, boolean]> = [
    ['Hello world', 'hello world', false],
    ['Re: Hello', 'hello', true],
    ['RE: re: Re:hello', 'hello', true],
    ['Fwd: [lists] Re: x', 'x', true],
    ['Fw: x', 'x', true],
    ['[lists] Hello', 'hello', false],
    ['[lists]', '[lists]', false],
    ['[a][b] [c] Hello', 'hello', false],
    ['Hello (fwd)', 'hello', true],
    ['Hello (fwd) (FWD)  ', 'hello', true],
    ['[Fwd: Re: Hello]', 'hello', true],
    ['[fwd: [fwd: nested] ]', 'nested', true],
    ['Re [tag]: hello', 'hello', true],
    ['[tag] Re: [x] Fwd [y]: hello', 'hello', true],
    ['  Re:   Hello \t  World  ', 'hello world', true],
    ['Re: (fwd)', '', true],
    ['Reply to all', 'reply to all', false],
    ['RE:ÜBER', 'u\u0308ber', true],
    ['Straße', 'strasse', false],
    ['', '', false],
  ];
  for (const [input, base, reply] of cases) {
    test(JSON.stringify(input), () => {
      assert.deepEqual(baseSubject(input), { subject: base, replyOrForward: reply });
    });
  }
});

const keys = (k: Partial<SortKeys>): SortKeys => ({ s: '', r: false, f: '', t: '', c: '', df: '', dt: '', d: null, m: null, x: [], ...k });
const item = (seq: number, k: Partial<SortKeys>): SortItem => ({ seq, uid: seq * 10, internalDate: seq * 1000, size: 100, keys: keys(k) });

describe('THREAD=REFERENCES on crafted trees', () => {
  test('mutual references do not loop; self references are ignored', () => {
    const items = [item(1, { m: 'x', x: ['y'], d: 1 }), item(2, { m: 'y', x: ['x'], d: 2 }), item(3, { m: 'z', x: ['z'], d: 3 })];
    assert.equal(formatThreads(threadReferences(items), false), '(2 1)(3)');
  });

  test('duplicate and missing Message-IDs are threads of their own', () => {
    const items = [item(1, { m: 'a', d: 1 }), item(2, { m: 'a', d: 2 }), item(3, { d: 3 }), item(4, { m: 'b', x: ['a'], d: 4 })];
    assert.equal(formatThreads(threadReferences(items), true), '(10 40)(20)(30)');
  });

  test('a dummy parent of one root is dropped, of several kept; subject gathering', () => {
    const items = [
      item(1, { m: 'c1', x: ['gone'], s: 'one', r: true, d: 5 }),
      item(2, { m: 'c2', x: ['gone2'], s: 'two', r: true, d: 3 }),
      item(3, { m: 'c3', x: ['gone2'], s: 'two', r: true, d: 2 }),
      item(4, { m: 'c4', s: 'one', d: 9 }),
      item(5, { m: 'c5', s: 'one', d: 1 }),
    ];
    // 1's missing parent "gone" is dropped (one child); 2 and 3 share the missing "gone2" (kept
    // as a dummy root). 1, 4 and 5 have the subject "one": 5 (oldest, not a reply) holds it,
    // 1 (a reply) becomes its child, 4 (not a reply) joins 5 under a new dummy.
    assert.equal(formatThreads(threadReferences(items), false), '((5 1)(4))((3)(2))');
  });

  test('a 100,000-message reply chain does not overflow the stack', () => {
    const items: SortItem[] = [];
    for (let i = 1; i <= 100_000; i++) items.push(item(i, { m: `m${i}`, x: i > 1 ? [`m${i - 1}`] : [], d: i }));
    const out = formatThreads(threadReferences(items), false);
    assert.ok(out.startsWith('(1 2 3 '));
    assert.ok(out.endsWith(' 99999 100000)'));
  });
});

// The corpus (seq: what it tests). Internal dates run backwards (ARRIVAL is the reverse of the
// mailbox order); sent dates are in the Date headers, G has none (its INTERNALDATE counts).
interface Spec { from?: string; to?: string; cc?: string; subject: string; date?: string; id?: string; refs?: string }
const specs: Spec[] = [
  /* 1 A */ { from: 'Alice <alice@a.test>', to: 'Bob <bob@b.test>', subject: 'Hello world', date: 'Sun, 01 Jan 2023 10:00:00 +0000', id: '<a@t>' },
  /* 2 B */ { from: 'Bob <bob@b.test>', to: 'alice@a.test', subject: 'Re: Hello world', date: 'Sun, 01 Jan 2023 12:00:00 +0100', id: '<b@t>', refs: '<a@t>' },
  /* 3 C */ { from: 'carol@c.test', subject: 'RE: Re: hello   WORLD', date: 'Sun, 01 Jan 2023 12:00:00 +0000', id: '<c@t>', refs: '<a@t> <b@t>' },
  /* 4 D */ { from: 'Dave <dave@d.test>', cc: 'zoe@z.test', subject: '[lists] Other topic', date: 'Mon, 02 Jan 2023 09:00:00 +0000', id: '<d@t>' },
  /* 5 E */ { from: 'Émile <emile@e.test>', subject: 'Re: Other topic', date: 'Mon, 02 Jan 2023 10:00:00 +0000', id: '<e@t>', refs: '<x@t>' },
  /* 6 F */ { from: 'alice@a.test', subject: 'Re: Hello world', date: 'Sun, 01 Jan 2023 11:30:00 +0000', id: '<f@t>', refs: '<a@t>\r\n <c@t>' },
  /* 7 G */ { subject: '' },
  /* 8 H */ { from: '=?utf-8?q?Zo=C3=AB?= <zoe@z.test>', subject: '[Fwd: Third]', date: 'Tue, 03 Jan 2023 08:00:00 +0000', id: '<h@t>', refs: '<y@t>' },
  /* 9 I */ { from: 'Aaron <BOB@B.test>', subject: 'Third (fwd)', date: 'Tue, 03 Jan 2023 07:00:00 +0000 (UTC)', id: '<i@t>', refs: '<y@t>' },
];
const raw = specs.map((s) => msg([
  ...(s.from ? [`From: ${s.from}`] : []), ...(s.to ? [`To: ${s.to}`] : []), ...(s.cc ? [`Cc: ${s.cc}`] : []),
  `Subject: ${s.subject}`, ...(s.date ? [`Date: ${s.date}`] : []), ...(s.id ? [`Message-ID: ${s.id}`] : []),
  ...(s.refs ? [`References: ${s.refs}`] : []), 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '', 'x'.repeat(10 + ((s.subject.length * 7) % 13)), '',
]));

let inst: TestInstance;
let c: RawClient;
before(async () => {
  inst = await imapInstance();
  c = await loggedIn(inst.ports.imap!);
  assert.match(await c.cmd('c', 'CREATE Sorted'), /^c OK/m);
  for (let i = 0; i < raw.length; i++) {
    const hour = String(20 - (i + 1)).padStart(2, '0');
    // Bytes, not a string: the corpus has 8-bit headers.
    c.send(Buffer.concat([Buffer.from(`a${i} APPEND Sorted "05-Jan-2023 ${hour}:00:00 +0000" {${raw[i]!.length}+}\r\n`), raw[i]!, Buffer.from('\r\n')]));
    const r = await c.readTagged(`a${i}`);
    assert.match(r, /OK \[APPENDUID \d+ \d+\]/);
  }
  assert.match(await c.cmd('s', 'SELECT Sorted'), /\* 9 EXISTS/);
});
after(async () => {
  c.close();
  await inst.stop();
});

describe('SORT and THREAD over the wire', () => {
  const one = async (cmd: string): Promise<string> => {
    const r = await c.cmd('t', cmd);
    const lines = r.trimEnd().split('\r\n');
    assert.equal(lines.length, 2, r);
    assert.match(lines[1]!, /^t OK /);
    return lines[0]!;
  };

  test('CAPABILITY lists SORT, SORT=DISPLAY, ESORT and both THREAD algorithms', async () => {
    assert.match(await c.cmd('cap', 'CAPABILITY'), / SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES/);
  });

  test('each sort key', async () => {
    assert.equal(await one('SORT (SUBJECT) UTF-8 ALL'), '* SORT 7 1 2 3 6 4 5 8 9');
    assert.equal(await one('SORT (DATE) UTF-8 ALL'), '* SORT 1 2 6 3 4 5 9 8 7');
    assert.equal(await one('SORT (ARRIVAL) US-ASCII ALL'), '* SORT 9 8 7 6 5 4 3 2 1');
    assert.equal(await one('SORT (REVERSE ARRIVAL) utf-8 ALL'), '* SORT 1 2 3 4 5 6 7 8 9');
    assert.equal(await one('SORT (FROM) UTF-8 ALL'), '* SORT 7 1 6 2 9 3 4 5 8');
    assert.equal(await one('SORT (DISPLAYFROM) UTF-8 ALL'), '* SORT 7 9 1 6 2 3 4 5 8');
    assert.equal(await one('SORT (TO) UTF-8 ALL'), '* SORT 3 4 5 6 7 8 9 2 1');
    assert.equal(await one('SORT (DISPLAYTO) UTF-8 ALL'), '* SORT 3 4 5 6 7 8 9 2 1');
    assert.equal(await one('SORT (CC DATE) UTF-8 ALL'), '* SORT 1 2 6 3 5 9 8 7 4');
    const bySize = raw.map((r, i) => ({ seq: i + 1, size: r.length })).sort((a, b) => a.size - b.size || a.seq - b.seq).map((x) => x.seq);
    assert.equal(await one('SORT (SIZE) UTF-8 ALL'), `* SORT ${bySize.join(' ')}`);
    const bySizeDesc = raw.map((r, i) => ({ seq: i + 1, size: r.length })).sort((a, b) => b.size - a.size || a.seq - b.seq).map((x) => x.seq);
    assert.equal(await one('SORT (REVERSE SIZE) UTF-8 ALL'), `* SORT ${bySizeDesc.join(' ')}`);
  });

  test('search criteria, UID SORT and ESORT RETURN', async () => {
    assert.equal(await one('SORT (REVERSE DATE) UTF-8 FROM alice'), '* SORT 6 1');
    assert.equal(await one('SORT (DATE) UTF-8 OR SUBJECT third FROM emile'), '* SORT 5 9 8');
    assert.equal(await one('SORT (SUBJECT) UTF-8 NOT ALL'), '* SORT');
    const uids = await one('UID SORT (DATE) UTF-8 2:3,6');
    assert.match(uids, /^\* SORT \d+ \d+ \d+$/);
    const u = (await one('UID SEARCH 2:3,6')).split(' ').slice(2).map(Number);
    assert.equal(uids, `* SORT ${u[0]} ${u[2]} ${u[1]}`);
    assert.equal(await one('SORT RETURN (MIN MAX COUNT ALL) (REVERSE DATE) UTF-8 ALL'),
      '* ESEARCH (TAG "t") MIN 7 MAX 1 ALL 7:9,5,4,3,6,2,1 COUNT 9');
    assert.equal(await one('SORT RETURN () (SUBJECT) UTF-8 1:3'), '* ESEARCH (TAG "t") ALL 1:3');
    assert.equal(await one('SORT RETURN (COUNT) (SUBJECT) UTF-8 SUBJECT nothing'), '* ESEARCH (TAG "t") COUNT 0');
  });

  test('THREAD=ORDEREDSUBJECT and THREAD=REFERENCES', async () => {
    assert.equal(await one('THREAD ORDEREDSUBJECT UTF-8 ALL'), '* THREAD (1 (2)(6)(3))(4 5)(9 8)(7)');
    assert.equal(await one('THREAD REFERENCES UTF-8 ALL'), '* THREAD (1 2 3 6)(4 5)((9)(8))(7)');
    assert.equal(await one('THREAD REFERENCES UTF-8 NOT 3'), '* THREAD (1 (2)(6))(4 5)((9)(8))(7)');
    assert.equal(await one('THREAD REFERENCES UTF-8 SUBJECT nothing'), '* THREAD');
    const uids = await one('UID THREAD REFERENCES UTF-8 1:2');
    assert.match(uids, /^\* THREAD \(\d+ \d+\)$/);
  });

  test('bad arguments: exact BAD and NO', async () => {
    assert.equal(await c.cmd('b1', 'SORT (FOO) UTF-8 ALL'), 'b1 BAD Unknown sort key FOO\r\n');
    assert.equal(await c.cmd('b2', 'SORT (REVERSE) UTF-8 ALL'), 'b2 BAD REVERSE must be followed by a sort key\r\n');
    assert.equal(await c.cmd('b3', 'SORT () UTF-8 ALL'), 'b3 BAD Empty sort criteria\r\n');
    assert.equal(await c.cmd('b4', 'SORT (DATE) KOI8-R ALL'), 'b4 NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset KOI8-R\r\n');
    assert.equal(await c.cmd('b5', 'SORT (DATE) UTF-8'), 'b5 BAD Missing search key\r\n');
    assert.equal(await c.cmd('b6', 'SORT DATE UTF-8 ALL'), 'b6 BAD Expected sort criteria\r\n');
    assert.equal(await c.cmd('b7', 'THREAD XYZ UTF-8 ALL'), 'b7 BAD Unknown threading algorithm XYZ\r\n');
    assert.equal(await c.cmd('b8', 'THREAD REFERENCES UTF-8 FOO'), 'b8 BAD Unknown search key FOO\r\n');
    assert.equal(await c.cmd('b9', 'SORT RETURN (PARTIAL 1:5) (DATE) UTF-8 ALL'), 'b9 BAD Unknown return option PARTIAL\r\n');
    const d = await loggedIn(inst.ports.imap!);
    assert.equal(await d.cmd('b10', 'SORT (DATE) UTF-8 ALL'), 'b10 BAD SORT not allowed without a selected mailbox\r\n');
    assert.equal(await d.cmd('b11', 'UID THREAD REFERENCES UTF-8 ALL'), 'b11 BAD UID THREAD not allowed without a selected mailbox\r\n');
    d.close();
  });
});

test('Python imaplib sort() and thread()', { skip: !existsSync(PYTHON) }, async () => {
  const script = `
import imaplib
M = imaplib.IMAP4('127.0.0.1', ${inst.ports.imap})
M.login(${JSON.stringify(ADMIN)}, ${JSON.stringify(ADMIN_PASSWORD)})
typ, data = M.select('Sorted', readonly=True)
assert typ == 'OK', data
typ, data = M.sort('(REVERSE SUBJECT)', 'UTF-8', 'ALL')
assert typ == 'OK' and data == [b'8 9 4 5 1 2 3 6 7'], data
typ, data = M.thread('REFERENCES', 'UTF-8', 'ALL')
assert typ == 'OK' and data == [b'(1 2 3 6)(4 5)((9)(8))(7)'], data
typ, data = M.thread('ORDEREDSUBJECT', 'UTF-8', 'SINCE', '1-Jan-2000')
assert typ == 'OK' and data == [b'(1 (2)(6)(3))(4 5)(9 8)(7)'], data
M.logout()
print('python-ok')
`;
  const r = await runProcess(PYTHON, ['-c', script], 20_000);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /python-ok/);
});
