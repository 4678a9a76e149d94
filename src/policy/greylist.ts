// Greylisting at RCPT (a 451 for the first attempt of an unknown triplet; real MTAs retry,
// most spamware does not): triplet = client network (IPv4 /24, IPv6 /64, so server farms
// retrying from a sibling address pass), envelope sender, recipient. A retry after
// delaySeconds passes and auto-whitelists the client network for whitelistDays.
// Must not greylist trusted or authenticated clients or opted-out recipient domains (the
// caller decides those). BUGS: entries are pruned only by prune(); no SRS/BATV normalisation
// of the sender (a sender rewriting its address per attempt never passes).
import { LessThan } from 'typeorm';
import { GreylistEntity } from '../../schemas/entities/index.js';
import type { Store } from '../store/store.js';
import type { PolicyConfig } from './policy-config.js';
import { normalizeIp } from './guard.js';

export type GreylistAnswer =
  | { pass: true; reason: 'whitelisted' | 'retried' | 'known' }
  | { pass: false; reason: 'new' | 'too early'; retryInSeconds: number };

export class Greylist {
  constructor(private readonly store: Store, private readonly cfg: PolicyConfig['greylist'], private readonly now: () => number = Date.now) {}

  skipsDomain(recipient: string): boolean {
    const d = recipient.slice(recipient.lastIndexOf('@') + 1).toLowerCase();
    return this.cfg.skipDomains.some((s) => s.toLowerCase() === d);
  }

  async check(ip: string, sender: string, recipient: string): Promise<GreylistAnswer> {
    const now = this.now();
    const net = clientNetwork(ip);
    const em = this.store.em;
    const awl = await em.findOneBy(GreylistEntity, { key: `awl|${net}` });
    if (awl && awl.lastSeen + this.cfg.whitelistDays * 86_400_000 > now) {
      if (now - awl.lastSeen > 3_600_000) await this.touch(awl.key, now); // refresh at most hourly
      return { pass: true, reason: 'whitelisted' };
    }
    const key = `t|${net}|${sender.toLowerCase()}|${recipient.toLowerCase()}`.slice(0, 700);
    const row = await em.findOneBy(GreylistEntity, { key });
    const delay = this.cfg.delaySeconds * 1000;
    if (!row || now - row.lastSeen > this.cfg.retryWindowHours * 3_600_000 && !row.passedAt) {
      await this.store.write(async ({ em: w }) => {
        await w.delete(GreylistEntity, { key });
        await w.insert(GreylistEntity, { key, firstSeen: now, lastSeen: now, passedAt: null });
      });
      return { pass: false, reason: 'new', retryInSeconds: this.cfg.delaySeconds };
    }
    if (row.passedAt) {
      if (now - row.lastSeen > 3_600_000) await this.touch(key, now);
      return { pass: true, reason: 'known' };
    }
    if (now - row.firstSeen < delay) {
      return { pass: false, reason: 'too early', retryInSeconds: Math.ceil((row.firstSeen + delay - now) / 1000) };
    }
    await this.store.write(async ({ em: w }) => {
      await w.update(GreylistEntity, { key }, { passedAt: now, lastSeen: now });
      await w.delete(GreylistEntity, { key: `awl|${net}` });
      await w.insert(GreylistEntity, { key: `awl|${net}`, firstSeen: now, lastSeen: now, passedAt: now });
    });
    return { pass: true, reason: 'retried' };
  }

  private async touch(key: string, now: number): Promise<void> {
    await this.store.write(({ em }) => em.update(GreylistEntity, { key }, { lastSeen: now }));
  }

  /** Removes entries unused for longer than they can matter. */
  async prune(): Promise<number> {
    const horizon = Math.max(this.cfg.retryWindowHours * 3_600_000, this.cfg.whitelistDays * 86_400_000);
    const r = await this.store.write(({ em }) => em.delete(GreylistEntity, { lastSeen: LessThan(this.now() - horizon) }));
    return r.affected ?? 0;
  }
}

/** IPv4 /24 or IPv6 /64 of a client, as text. */
export function clientNetwork(ip: string): string {
  const a = normalizeIp(ip);
  if (/^\d+\.\d+\.\d+\.\d+$/.test(a)) return `${a.split('.').slice(0, 3).join('.')}.0/24`;
  const [head, tail] = a.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...new Array(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return `${groups.slice(0, 4).map((g) => parseInt(g || '0', 16).toString(16)).join(':')}::/64`;
}
