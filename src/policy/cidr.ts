// IPv4/IPv6 CIDR lists for access control and trusted networks. Pure. IPv4-mapped IPv6
// addresses (::ffff:1.2.3.4, what a dual-stack socket reports) match IPv4 ranges.
import net from 'node:net';

export interface Cidr { family: 4 | 6; bits: bigint; prefix: number }

function toBigInt(ip: string): { family: 4 | 6; value: bigint } | null {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) ip = mapped[1]!;
  if (net.isIPv4(ip)) {
    return { family: 4, value: ip.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n) };
  }
  if (!net.isIPv6(ip)) return null;
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const parse = (s: string) => (s ? s.split(':') : []).flatMap((g) => {
    if (g.includes('.')) { // embedded IPv4 in the last two groups
      const v = toBigInt(g)!.value;
      return [Number(v >> 16n), Number(v & 0xffffn)];
    }
    return [parseInt(g, 16)];
  });
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  const groups = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  return { family: 6, value: groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n) };
}

export function parseCidr(s: string): Cidr {
  const [addr, len] = s.trim().split('/') as [string, string | undefined];
  const ip = toBigInt(addr);
  if (!ip) throw new Error(`invalid network '${s}'`);
  const max = ip.family === 4 ? 32 : 128;
  const prefix = len === undefined ? max : Number(len);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) throw new Error(`invalid prefix length in '${s}'`);
  const shift = BigInt(max - prefix);
  return { family: ip.family, bits: (ip.value >> shift) << shift, prefix };
}

export function cidrContains(c: Cidr, ip: string): boolean {
  const v = toBigInt(ip);
  if (!v || v.family !== c.family) return false;
  const shift = BigInt((c.family === 4 ? 32 : 128) - c.prefix);
  return ((v.value >> shift) << shift) === c.bits;
}

export class CidrList {
  private readonly cidrs: Cidr[];
  constructor(list: readonly string[]) {
    this.cidrs = list.map(parseCidr);
  }
  get empty(): boolean {
    return this.cidrs.length === 0;
  }
  contains(ip: string): boolean {
    return this.cidrs.some((c) => cidrContains(c, ip));
  }
}
