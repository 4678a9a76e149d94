// src/policy/mailauth.ts replaces two methods of mailauth's MessageParser (header split and
// bare-LF conversion) with faster ones: they must produce exactly what mailauth's own produce,
// chunk by chunk, for any bytes and any chunking, and DKIM must still verify.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { authenticate, headerEnd, originalParser } from '../../src/policy/mailauth.js';

const require = createRequire(import.meta.url);
const { MessageParser } = require('mailauth/lib/dkim/message-parser.js') as {
  MessageParser: new () => NodeJS.WritableStream & Record<string, unknown>;
};
const { dkimSign } = require('mailauth/lib/dkim/sign.js') as {
  dkimSign: (m: Buffer, o: unknown) => Promise<{ signatures: string; errors: unknown[] }>;
};

/** What a parser hands on: the header block it parsed and every body chunk, in order. */
async function run(chunks: Buffer[], original: boolean): Promise<{ header: string | null; body: string[]; bytes: number }> {
  const p = new MessageParser();
  if (original) Object.assign(p, originalParser);
  const out = { header: null as string | null, body: [] as string[], bytes: 0 };
  p.messageHeaders = async (h: { original: Buffer }) => { out.header = h.original.toString('latin1'); };
  p.nextChunk = async (c: Buffer) => { out.body.push(c.toString('latin1')); };
  for (const c of chunks) await (p.writeAsync as (c: Buffer) => Promise<void>)(c);
  await (p.finish as () => Promise<void>)();
  out.bytes = p.byteLength as number;
  return out;
}

// A small PRNG so a failure can be replayed from its seed.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomMessage(r: () => number): Buffer {
  // Mostly line-break bytes and a few letters, so every CR/LF combination turns up.
  const alphabet = [0x0d, 0x0a, 0x0a, 0x0d, 0x41, 0x3a, 0x20, 0x09];
  const n = Math.floor(r() * 300);
  return Buffer.from(Array.from({ length: n }, () => alphabet[Math.floor(r() * alphabet.length)]!));
}

function split(buf: Buffer, r: () => number): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const len = 1 + Math.floor(r() * (r() < 0.3 ? 4 : 80));
    out.push(buf.subarray(pos, pos + len));
    pos += len;
  }
  return out;
}

test('the faster header split and LF conversion hand on exactly what mailauth\'s own do', async () => {
  const fixed = ['A: b\r\n\r\nbody\r\n', 'A: b\n\nbody\n', 'A: b\r\n\nx', 'A: b\n\r\nx\n\n\n', '\r\n\r\n', '\n', 'no header end\r\n', 'A: b\r\n\r\n\n\nx\r\n\n'];
  for (const [i, text] of fixed.entries()) {
    const buf = Buffer.from(text, 'latin1');
    for (const chunks of [[buf], [...buf].map((b) => Buffer.from([b]))]) {
      assert.deepEqual(await run(chunks, false), await run(chunks, true), `fixed case ${i}, ${chunks.length} chunks`);
    }
  }
  for (let seed = 1; seed <= 3000; seed++) {
    const r = rng(seed);
    const chunks = split(randomMessage(r), r);
    assert.deepEqual(await run(chunks, false), await run(chunks, true), `seed ${seed}`);
  }
});

test('headerEnd finds LF LF and LF CR LF, also across chunk borders', () => {
  assert.equal(headerEnd([], Buffer.from('A: b\r\n\r\nx')), 7);
  assert.equal(headerEnd([], Buffer.from('A: b\n\nx')), 5);
  assert.equal(headerEnd([0x0a, 0x0d], Buffer.from('\nx')), 0);
  assert.equal(headerEnd([0x0a], Buffer.from('\r\nx')), 1);
  assert.equal(headerEnd([0x41, 0x0d], Buffer.from('\nx')), -1);
  assert.equal(headerEnd([], Buffer.from('A: b\r\nC: d\r\n')), -1);
});

test('DKIM signatures still verify, with CRLF and with bare LF line ends', async () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const p = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  const resolver = async (name: string, type: string) => {
    if (type === 'TXT' && name === 'sel._domainkey.example.test') return [[`v=DKIM1; k=rsa; p=${p}`]];
    throw Object.assign(new Error(`no ${type} ${name}`), { code: 'ENOTFOUND' });
  };
  const body = Array.from({ length: 80 }, (_, i) => `line ${i} ${'x'.repeat(i % 70)}  \t`).join('\r\n');
  const msg = Buffer.from(`From: a@example.test\r\nTo: b@example.org\r\nSubject: test\r\n\r\n${body}\r\n`);
  const signed = await dkimSign(msg, { signatureData: [{ signingDomain: 'example.test', selector: 'sel', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) }] });
  assert.deepEqual(signed.errors, []);
  const crlf = Buffer.concat([Buffer.from(signed.signatures), msg]);
  const lf = Buffer.from(crlf.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
  for (const [name, m] of [['CRLF', crlf], ['LF', lf]] as const) {
    const res = await authenticate(m, { ip: '192.0.2.1', helo: 'h.example.test', sender: 'a@example.test', mta: 'mx.test', resolver, disableBimi: true });
    assert.equal(res.dkim.results[0]?.status.result, 'pass', `${name}: ${JSON.stringify(res.dkim.results[0]?.status)}`);
  }
  // A changed body byte must still fail.
  const tampered = Buffer.from(crlf.toString('latin1').replace('line 40', 'line 41'), 'latin1');
  const bad = await authenticate(tampered, { ip: '192.0.2.1', helo: 'h.example.test', sender: 'a@example.test', mta: 'mx.test', resolver, disableBimi: true });
  assert.equal(bad.dkim.results[0]?.status.result, 'neutral');
});
