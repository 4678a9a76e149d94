// A small authoritative DNS server for tests (dns2, UDP on 127.0.0.1 with a port the system
// picks): MX, A, AAAA and TXT records from a mutable zone table, and a log of every queried
// name. Names not in the table get NXDOMAIN; names in it without the asked type get an empty
// NOERROR (NODATA), which is what tells an MTA "no MX here, use the implicit MX" (RFC 5321 §5.1).
// Must never listen anywhere but loopback.
import dns2 from 'dns2';

const { Packet } = dns2;
type Resource = dns2.Packet.Resource;
/** RFC 1035 §4.1.1 RCODE 3 (dns2 3.0's typings do not list Packet.RCODE). */
const NXDOMAIN = 3;

export interface ZoneName {
  mx?: Array<{ exchange: string; priority: number }>;
  a?: string[];
  aaaa?: string[];
  txt?: string[];
}

export interface FakeDns {
  /** "127.0.0.1:PORT", for config.delivery.dnsServers / config.policy.dnsServers. */
  server: string;
  /** Keyed by lower-case name without the trailing dot; changes apply to the next query. */
  zone: Map<string, ZoneName>;
  /** Every queried name (lower case, no trailing dot), in order. */
  queries: string[];
  stop(): Promise<void>;
}

export async function startFakeDns(zone: Record<string, ZoneName> = {}): Promise<FakeDns> {
  const table = new Map(Object.entries(zone).map(([k, v]) => [k.toLowerCase(), v]));
  const queries: string[] = [];
  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      const [q] = request.questions;
      const name = q?.name.toLowerCase().replace(/\.$/, '') ?? '';
      queries.push(name);
      const entry = table.get(name);
      if (!q || !entry) {
        response.header.rcode = NXDOMAIN;
      } else {
        const base = { name: q.name, class: Packet.CLASS.IN, ttl: 1 };
        if (q.type === Packet.TYPE.MX) {
          for (const m of entry.mx ?? []) response.answers.push({ ...base, type: Packet.TYPE.MX, exchange: m.exchange, priority: m.priority } as Resource);
        } else if (q.type === Packet.TYPE.A) {
          for (const address of entry.a ?? []) response.answers.push({ ...base, type: Packet.TYPE.A, address } as Resource);
        } else if (q.type === Packet.TYPE.AAAA) {
          for (const address of entry.aaaa ?? []) response.answers.push({ ...base, type: Packet.TYPE.AAAA, address } as Resource);
        } else if (q.type === Packet.TYPE.TXT) {
          for (const data of entry.txt ?? []) response.answers.push({ ...base, type: Packet.TYPE.TXT, data: chunk(data) } as Resource);
        }
      }
      void send(response);
    },
  });
  // Answers stay far below 512 bytes, so no client ever needs the TCP fallback.
  const addrs = await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  const udpPort = addrs.udp?.port;
  if (!udpPort) throw new Error('fake DNS did not bind');
  return {
    server: `127.0.0.1:${udpPort}`,
    zone: table,
    queries,
    stop: () => server.close(),
  };
}

/** TXT character-strings are at most 255 bytes (RFC 1035 §3.3.14). */
function chunk(s: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < s.length; i += 255) out.push(s.slice(i, i + 255));
  return out;
}
