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

const mailauth = require('mailauth') as typeof import('mailauth');
export const authenticate = mailauth.authenticate;
export const sealMessage = mailauth.sealMessage;

/** For tests and benchmarks: key lookups served and keys parsed since start. */
export function keyCacheCounters(): { lookups: number; parsed: number } {
  return { ...counters };
}
