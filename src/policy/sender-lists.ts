// Per-user, per-domain and global sender allow/deny lists (table sender_list). An entry's
// owner is a recipient address, a local domain or '*'; its pattern a sender address or
// '@domain' (that domain and its subdomains). For one recipient the most specific owner with
// a matching entry decides (user over domain over '*'); deny wins over allow at equal rank.
// Must stay one indexed query per message. BUGS: no wildcards beyond '@domain'.
import { SenderListEntity } from '../../schemas/entities/index.js';
import { normalizeAddress } from '../mail/address.js';
import { ServiceError } from '../services/errors.js';
import type { Store } from '../store/store.js';

export type ListDecision = 'allow' | 'deny' | null;

/** Owners (recipients, their domains, '*') bound per query; patterns are a few per sender address. */
const OWNERS_PER_QUERY = 2000;

export class SenderLists {
  constructor(private readonly store: Store) {}

  async add(owner: string, pattern: string, kind: 'allow' | 'deny'): Promise<SenderListEntity> {
    const o = normOwner(owner);
    const p = normPattern(pattern);
    return this.store.write(async ({ em }) => {
      await em.delete(SenderListEntity, { owner: o, pattern: p });
      const row = Object.assign(new SenderListEntity(), { owner: o, pattern: p, kind, createdAt: Date.now() });
      await em.insert(SenderListEntity, row);
      return row;
    });
  }

  async remove(owner: string, pattern: string): Promise<boolean> {
    const r = await this.store.write(({ em }) => em.delete(SenderListEntity, { owner: normOwner(owner), pattern: normPattern(pattern) }));
    return Boolean(r.affected);
  }

  list(owner?: string): Promise<SenderListEntity[]> {
    return this.store.em.find(SenderListEntity, { where: owner ? { owner: normOwner(owner) } : {}, order: { owner: 'ASC', pattern: 'ASC' } });
  }

  /** One decision per recipient, for any of the message's sender addresses (envelope and From). */
  async decide(senders: string[], recipients: string[]): Promise<ListDecision[]> {
    const patterns = new Set<string>();
    for (const s of senders.map((x) => x.toLowerCase()).filter((x) => x.includes('@'))) {
      patterns.add(s);
      const labels = s.slice(s.lastIndexOf('@') + 1).split('.');
      for (let i = 0; i < labels.length - 1; i++) patterns.add(`@${labels.slice(i).join('.')}`);
    }
    if (!patterns.size) return recipients.map(() => null);
    const owners = new Set<string>(['*']);
    for (const r of recipients.map((x) => x.toLowerCase())) {
      owners.add(r);
      owners.add(r.slice(r.lastIndexOf('@') + 1));
    }
    // Plain SQL on the (owner, pattern) index: this runs for every inbound message, and a
    // find() with two In() lists spent most of its time building the query. Owners go in
    // chunks, so a configured maxRecipients in the thousands stays within the drivers' limits
    // on bound parameters (one query for any usual message).
    const p = [...patterns];
    const all = [...owners];
    const rows: Array<{ owner: string; kind: string }> = [];
    for (let i = 0; i < all.length; i += OWNERS_PER_QUERY) {
      const o = all.slice(i, i + OWNERS_PER_QUERY);
      rows.push(...await this.store.em.query(
        `SELECT "owner", "kind" FROM "sender_list" WHERE "owner" IN (${this.store.params(1, o.length)}) AND "pattern" IN (${this.store.params(o.length + 1, p.length)})`,
        [...o, ...p]) as Array<{ owner: string; kind: string }>);
    }
    if (!rows.length) return recipients.map(() => null);
    return recipients.map((r) => {
      const rl = r.toLowerCase();
      for (const owner of [rl, rl.slice(rl.lastIndexOf('@') + 1), '*']) {
        const hits = rows.filter((x) => x.owner === owner);
        if (hits.some((x) => x.kind === 'deny')) return 'deny';
        if (hits.length) return 'allow';
      }
      return null;
    });
  }
}

function normOwner(owner: string): string {
  const o = owner.trim().toLowerCase();
  if (o === '*') return o;
  if (o.includes('@')) return normalizeAddress(o);
  if (!/^[a-z0-9.-]+$/.test(o)) throw new ServiceError('INVALID', `invalid list owner '${owner}' (an address, a domain or *)`);
  return o;
}

function normPattern(pattern: string): string {
  const p = pattern.trim().toLowerCase();
  if (p.startsWith('@') && /^@[a-z0-9.-]+\.[a-z0-9-]+$/.test(p)) return p;
  if (p.includes('@') && !p.startsWith('@')) return normalizeAddress(p);
  throw new ServiceError('INVALID', `invalid sender pattern '${pattern}' (an address or @domain)`);
}
