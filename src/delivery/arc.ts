// ARC sealing (RFC 8617) of outside mail that one of our aliases or groups forwards to another
// domain: the outbound worker adds one ARC set — ARC-Authentication-Results (what our inbound
// verification found), ARC-Message-Signature, ARC-Seal — signed with the DKIM key (current
// selector) of the forwarding alias/group's domain, so the next hop can trust the SPF/DKIM/
// DMARC results we saw before forwarding broke SPF (and perhaps DKIM).
// The results come from the Authentication-Results field our policy (sender-auth step) put in
// front of the stored message; withPolicyHeaders() strips any that claim our authserv-id from
// outside, so the one carrying it is ours. No such field (sender authentication disabled, or a
// trusted network skipped it) means nothing to vouch for: no seal.
// cv (RFC 8617 §5.1.1/§4.1.3): none without an earlier chain, else pass/fail as our inbound ARC
// verification said; no seal at all on a chain whose latest ARC-Seal already says cv=fail
// (§5.1.2 step 1) or that already has 50 sets (§4.2.1).
// Must not do DNS or decide anything about submissions or DSNs (the worker does).
// BUGS: the forwarding domain is found by reverse lookup (which alias/group forwards to the
// recipient) at send time, as the queue does not record which local address a forward came
// from; when several of our domains forward to the same address, one whose address appears in
// the message's header (To/Cc/Received for) is preferred, otherwise the lowest id wins.
import { sealMessage } from '../policy/mailauth.js';
import { In, type EntityManager } from 'typeorm';
import { AliasEntity, AliasTargetEntity, DomainEntity, GroupEntity, GroupMemberEntity } from '../../schemas/entities/index.js';
import { headerBlockEnd } from './prepare-message.js';

/** RFC 8617 §4.2.1: at most 50 ARC sets. */
const MAX_INSTANCE = 50;
/** How far up nested groups the reverse lookup climbs (AccountService resolves 10 deep). */
const MAX_GROUP_DEPTH = 10;

export type ChainValidation = 'none' | 'pass' | 'fail';

export interface ArcPlan {
  /** Instance of the set we add (i=). */
  instance: number;
  cv: ChainValidation;
  /** Value of ARC-Authentication-Results after "i=N; ": our Authentication-Results value. */
  authResults: string;
}

export type ArcDecision = { seal: true; plan: ArcPlan } | { seal: false; reason: string };

interface HeaderField { name: string; value: string }

/** The fields of the top-level header block, in order, values with their folding kept. */
export function headerFields(raw: Buffer): HeaderField[] {
  const head = raw.subarray(0, headerBlockEnd(raw)).toString('latin1');
  const out: HeaderField[] = [];
  const re = /^([!-9;-~]+):(.*(?:\r?\n[ \t].*)*)/gm;
  for (let m = re.exec(head); m; m = re.exec(head)) out.push({ name: m[1]!.toLowerCase(), value: m[2]! });
  return out;
}

const unfold = (v: string) => v.replace(/\r?\n(?=[ \t])/g, '').trim();

/** Value of `tag=` in a tag list (ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results), or null. */
function tagOf(value: string, tag: string): string | null {
  const m = new RegExp(`(?:^|;)\\s*${tag}\\s*=\\s*([^;\\s]*)`, 'i').exec(unfold(value));
  return m ? m[1]! : null;
}

/** authserv-id of an Authentication-Results value (RFC 8601 §2.2), lower case. */
function authservIdOf(value: string): string {
  return unfold(value).split(';')[0]!.replace(/\([^)]*\)/g, ' ').trim().split(/\s+/)[0]!.toLowerCase();
}

/** The `arc=` result of an Authentication-Results value, or null if it has none. */
function arcResultOf(value: string): string | null {
  for (const part of unfold(value).split(';').slice(1)) {
    const m = /^\s*arc\s*=\s*([a-z]+)/i.exec(part);
    if (m) return m[1]!.toLowerCase();
  }
  return null;
}

/**
 * Whether and how to seal this message (the bytes as stored for forwarding), from the
 * Authentication-Results field our inbound check added under `authservId` (config.hostname).
 */
export function planArcSeal(raw: Buffer, authservId: string): ArcDecision {
  const fields = headerFields(raw);
  const ours = fields.find((f) => f.name === 'authentication-results' && authservIdOf(f.value) === authservId.toLowerCase());
  if (!ours) return { seal: false, reason: 'no Authentication-Results of ours (sender authentication did not run)' };

  let last = 0;
  let lastSealCv: string | null = null;
  let lastSealI = 0;
  for (const f of fields) {
    if (f.name !== 'arc-seal' && f.name !== 'arc-message-signature' && f.name !== 'arc-authentication-results') continue;
    const i = Number(tagOf(f.value, 'i'));
    if (!Number.isInteger(i) || i < 1) continue;
    last = Math.max(last, i);
    if (f.name === 'arc-seal' && i >= lastSealI) {
      lastSealI = i;
      lastSealCv = (tagOf(f.value, 'cv') ?? '').toLowerCase();
    }
  }
  if (lastSealCv === 'fail') return { seal: false, reason: `the chain already failed (i=${lastSealI} cv=fail)` };
  if (last >= MAX_INSTANCE) return { seal: false, reason: `the chain already has ${last} sets` };

  let cv: ChainValidation = 'none';
  if (last > 0) cv = arcResultOf(ours.value) === 'pass' ? 'pass' : 'fail';
  const authResults = ours.value.replace(/^[ \t]+/, '').replace(/\r?\n$/, '');
  return { seal: true, plan: { instance: last + 1, cv, authResults } };
}

export interface SealKey { signingDomain: string; selector: string; privateKey: string }

/** The three ARC header fields (ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results) to put in front of `raw`. */
export async function arcSealHeaders(raw: Buffer, plan: ArcPlan, key: SealKey, signTime = new Date()): Promise<Buffer> {
  // mailauth 4's typings leave out the sealing inputs (i, cv, authResults) that sealMessage reads.
  const opts = {
    signingDomain: key.signingDomain, selector: key.selector, privateKey: key.privateKey, algorithm: 'rsa-sha256',
    i: plan.instance, cv: plan.cv, authResults: plan.authResults, signTime,
  };
  const headers = await sealMessage(raw, opts as Parameters<typeof sealMessage>[1]);
  const text = headers.toString('latin1');
  if (!/^ARC-Seal:/i.test(text) || !/^ARC-Message-Signature:/im.test(text)) throw new Error('no ARC set produced');
  return headers;
}

/**
 * The domain (with a DKIM key) to seal with: that of an alias or group that forwards to one of
 * `recipients`, preferring one whose address appears in the message's header, then direct
 * forwarders over enclosing groups, then the lowest domain id.
 */
export async function forwardingDomain(em: EntityManager, recipients: string[], raw: Buffer): Promise<DomainEntity | null> {
  const head = raw.subarray(0, headerBlockEnd(raw)).toString('latin1').toLowerCase();
  const candidates: Array<{ address: string; domainId: number; depth: number }> = [];
  for (const rcpt of [...new Set(recipients)]) {
    const targets = await em.find(AliasTargetEntity, { where: { forwardTo: rcpt }, select: { aliasId: true } });
    if (targets.length) {
      for (const a of await em.findBy(AliasEntity, { id: In([...new Set(targets.map((t) => t.aliasId))]) })) {
        candidates.push({ address: a.address, domainId: a.domainId, depth: 0 });
      }
    }
    const members = await em.find(GroupMemberEntity, { where: { externalAddress: rcpt }, select: { groupId: true } });
    let level = [...new Set(members.map((m) => m.groupId))];
    const seen = new Set<number>(level);
    for (let depth = 0; level.length && depth <= MAX_GROUP_DEPTH; depth++) {
      for (const g of await em.findBy(GroupEntity, { id: In(level) })) candidates.push({ address: g.address, domainId: g.domainId, depth });
      const parents = await em.find(GroupMemberEntity, { where: { memberGroupId: In(level) }, select: { groupId: true } });
      level = [...new Set(parents.map((p) => p.groupId))].filter((id) => !seen.has(id));
      for (const id of level) seen.add(id);
    }
  }
  if (!candidates.length) return null;
  const named = (c: { address: string }) => (head.includes(c.address.toLowerCase()) ? 0 : 1);
  candidates.sort((a, b) => named(a) - named(b) || a.depth - b.depth || a.domainId - b.domainId);
  const domains = new Map((await em.findBy(DomainEntity, { id: In([...new Set(candidates.map((c) => c.domainId))]) })).map((d) => [d.id, d]));
  for (const c of candidates) {
    const d = domains.get(c.domainId);
    if (d?.dkimPrivateKey && d.dkimSelector) return d;
  }
  return null;
}
