// mailauth (SPF, DKIM, ARC, DMARC), loaded through this module so that DKIM and ARC public
// keys are parsed once per DNS record instead of once per message. mailauth 4 (the last major
// that runs on Node 20) turns the p= tag into PEM, parses it, exports it as PEM and hands
// crypto.verify() the PEM to parse once more, for every signature: that was over half a
// millisecond of CPU per DKIM-signed message. Its verifiers take getPublicKey from
// lib/tools.js when they are first loaded, so the cached lookup is put there before mailauth
// itself is required; every import of mailauth's verifiers in src/ must come from here.
// The cache is keyed by the TXT record text, and the record is still fetched for every
// message (through the policy resolver and its TTL cache), so a rotated or revoked key takes
// effect as soon as DNS says so. Failures are not cached.
// Must not: hand out a key object for another record's text; change what mailauth decides.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { resolve as dnsResolve } from 'node:dns/promises';
import { createRequire } from 'node:module';

type Resolver = (name: string, type: string) => Promise<unknown>;
interface KeyAnswer { publicKey: string | KeyObject; rr: string; modulusLength?: number }
type GetPublicKey = (type: string, name: string, minBitLength: number | undefined, resolver?: Resolver) => Promise<KeyAnswer>;

const require = createRequire(import.meta.url);
const tools = require('mailauth/lib/tools.js') as { getPublicKey: GetPublicKey };
const verifierPath = require.resolve('mailauth/lib/dkim/dkim-verifier.js');

/** Parsed keys by record; a few hundred signing domains is a big installation. */
const MAX_KEYS = 1000;
const keys = new Map<string, Promise<KeyAnswer>>();
const counters = { lookups: 0, parsed: 0 };

function cachedGetPublicKey(original: GetPublicKey): GetPublicKey {
  return async (type, name, minBitLength, resolver) => {
    counters.lookups++;
    const answer = await (resolver ?? (dnsResolve as Resolver))(name, 'TXT');
    const id = `${type}\0${minBitLength ?? ''}\0${name.toLowerCase()}\0${JSON.stringify(answer)}`;
    const hit = keys.get(id);
    if (hit) {
      keys.delete(id);
      keys.set(id, hit);
      return hit;
    }
    const parsed = original(type, name, minBitLength, async () => answer).then((r) => {
      counters.parsed++;
      const pem = typeof r.publicKey === 'string' ? r.publicKey : r.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const key = createPublicKey(pem);
      // mailauth reports the key as text (publicKey.toString()) in its results.
      Object.defineProperty(key, 'toString', { value: () => pem });
      return { ...r, publicKey: key };
    });
    keys.set(id, parsed);
    parsed.catch(() => keys.delete(id));
    while (keys.size > MAX_KEYS) keys.delete(keys.keys().next().value!);
    return parsed;
  };
}

/** False when mailauth's verifiers were loaded before this module (then keys are parsed per message). */
export const keyCacheActive = !(verifierPath in require.cache);
if (keyCacheActive) tools.getPublicKey = cachedGetPublicKey(tools.getPublicKey);

// mailauth's MessageParser (the DKIM verifier's and signer's base) finds the end of the header
// by pushing every header byte into an array and copying its last four (a new array per byte),
// and converts bare LFs to CRLF with a JavaScript loop over every byte of the message: together
// about a fifth of a DKIM verification of a 4 KiB message. The same two steps with
// Buffer.indexOf, byte for byte the same output, including mailauth's quirks: a bare LF that
// follows CRLF (even across chunks) is left as it is, and the header ends at LF LF or LF CR LF.
// Checked against the original on generated messages (test/policy/mailauth-parser.test.ts).
interface ParserState {
  state: string; stateBytes: number[]; headers: unknown; headerChunks: Buffer[]; lastByte?: number;
  messageHeaders(h: unknown): Promise<void>; nextChunk(c: Buffer): Promise<void>;
}
const { MessageParser } = require('mailauth/lib/dkim/message-parser.js') as { MessageParser: { prototype: Record<string, unknown> } };
const parseHeaders = (require('mailauth/lib/tools.js') as { parseHeaders: (b: Buffer) => unknown }).parseHeaders;
const LF = 0x0a;
const CR = 0x0d;

/** Where the header ends in `chunk` (index of its last LF), given the bytes seen before it; -1 if not in this chunk. */
export function headerEnd(before: number[], chunk: Buffer): number {
  const at = (i: number) => (i >= 0 ? chunk[i] : before[before.length + i]);
  for (let i = chunk.indexOf(LF); i !== -1; i = chunk.indexOf(LF, i + 1)) {
    const b1 = at(i - 1);
    if (b1 === LF || (b1 === CR && at(i - 2) === LF)) return i;
  }
  return -1;
}

async function processChunk(this: ParserState, chunk: Buffer): Promise<void> {
  if (!chunk || !chunk.length) return;
  if (this.state === 'header') {
    const end = headerEnd(this.stateBytes, chunk);
    if (end === -1) {
      this.stateBytes = [...this.stateBytes, ...chunk.subarray(Math.max(0, chunk.length - 4))].slice(-4);
      this.headerChunks.push(chunk);
      return;
    }
    this.state = 'body';
    this.headerChunks.push(end === chunk.length - 1 ? chunk : chunk.subarray(0, end + 1));
    this.headers = parseHeaders(Buffer.concat(this.headerChunks));
    await this.messageHeaders(this.headers);
    if (end === chunk.length - 1) return;
    chunk = chunk.subarray(end + 1);
  }
  await this.nextChunk(chunk);
}

const CRLF = Buffer.from('\r\n');
function* ensureLinebreaks(this: ParserState, input: Buffer): Generator<Buffer> {
  let pos = 0;
  let from = 0;
  for (let i = input.indexOf(LF); i !== -1; i = input.indexOf(LF, i + 1)) {
    // mailauth's lastByte: the last byte seen that is not an LF (bytes from..i-1 hold none).
    if (i > from) this.lastByte = input[i - 1];
    from = i + 1;
    if (this.lastByte === CR) continue;
    yield i === 0 || pos === i ? Buffer.from(CRLF) : Buffer.concat([input.subarray(pos, i), CRLF]);
    pos = i + 1;
  }
  if (input.length > from) this.lastByte = input[input.length - 1];
  if (pos === 0) yield input;
  else if (pos < input.length) yield input.subarray(pos);
}

export const originalParser = { processChunk: MessageParser.prototype.processChunk, ensureLinebreaks: MessageParser.prototype.ensureLinebreaks };
MessageParser.prototype.processChunk = processChunk;
MessageParser.prototype.ensureLinebreaks = ensureLinebreaks;

const mailauth = require('mailauth') as typeof import('mailauth');
export const authenticate = mailauth.authenticate;
export const sealMessage = mailauth.sealMessage;

/** For tests and benchmarks: key lookups served and keys parsed since start. */
export function keyCacheCounters(): { lookups: number; parsed: number } {
  return { ...counters };
}
