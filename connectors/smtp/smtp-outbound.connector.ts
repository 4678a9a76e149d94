// Outbound SMTP adapter: delivers one message to the recipients of one domain, either through
// the domain's mail exchangers (RFC 5321 §5.1: MX by preference, implicit MX, null MX per
// RFC 7505) or through a configured smarthost (RFC 6409 submission with AUTH, RFC 4954).
// Tries the next address/MX when a host cannot be reached or will not start a session (4xx
// greeting, TLS failure); once a host answers MAIL FROM, its per-recipient verdicts stand.
// Must not touch the queue, retry schedules or the store: it returns typed results only.
// BUGS: no MTA-STS/DANE; no "mail loops back to myself" check (local domains never reach it).
import { MxResolver } from './mx-resolver.js';
import { smtpTransaction, type RecipientReply, type SmtpTransactionResult } from './smtp-client.js';

export interface OutboundRequest {
  /** The recipients' domain (ASCII); every recipient belongs to it. */
  domain: string;
  /** Envelope sender, '' for the null reverse-path. */
  sender: string;
  recipients: string[];
  /** The message exactly as it is to be sent (already DKIM-signed). */
  raw: Buffer;
  /** Aborting closes the connection; recipients then come back as deferred. */
  signal?: AbortSignal;
}

export interface RecipientResult extends RecipientReply {
  /** Host that gave the verdict, as "name[address]"; null when no host was reached. */
  host: string | null;
}

/** The contract the outbound worker relies on; tests may supply their own. */
export interface OutboundTransport {
  /** Never rejects for remote or DNS trouble: every recipient gets a verdict. */
  deliver(req: OutboundRequest): Promise<RecipientResult[]>;
}

export interface SmtpOutboundOptions {
  heloName: string;
  remotePort: number;
  connectTimeoutSeconds: number;
  dnsServers: string[];
  smarthost: { host: string; port: number; secure: boolean; user?: string; password?: string } | null;
}

/** Addresses tried per attempt before giving up until the next retry (Postfix uses 5 too). */
const MAX_ADDRESSES_PER_ATTEMPT = 5;

export class SmtpOutboundConnector implements OutboundTransport {
  private readonly mx: MxResolver;

  constructor(private readonly o: SmtpOutboundOptions) {
    this.mx = new MxResolver({ servers: o.dnsServers, timeoutMs: o.connectTimeoutSeconds * 1000 });
  }

  async deliver(req: OutboundRequest): Promise<RecipientResult[]> {
    if (this.o.smarthost) return this.viaSmarthost(req, this.o.smarthost);
    const res = await this.mx.resolve(req.domain);
    if (res.kind !== 'hosts') {
      const outcome = res.kind === 'permanent' ? 'failed' : 'deferred';
      return req.recipients.map((recipient) => ({ recipient, outcome, reply: res.reason, status: res.status, host: null }));
    }
    let last: { result: Extract<SmtpTransactionResult, { kind: 'unreachable' }>; host: string } | null = null;
    let tried = 0;
    for (const mx of res.hosts) {
      for (const address of mx.addresses) {
        if (tried++ >= MAX_ADDRESSES_PER_ATTEMPT || req.signal?.aborted) break;
        const label = `${mx.name}[${address}]`;
        const base = {
          host: address, servername: mx.name, port: this.o.remotePort, heloName: this.o.heloName, sender: req.sender,
          recipients: req.recipients, raw: req.raw, connectTimeoutMs: this.o.connectTimeoutSeconds * 1000, signal: req.signal,
        };
        let result = await smtpTransaction({ ...base, tls: 'opportunistic' });
        // Opportunistic TLS that breaks in the handshake would otherwise block delivery to that
        // host for good; RFC 7435 §3 prefers falling back to cleartext over not delivering.
        if (result.kind === 'unreachable' && result.tlsFailed) result = await smtpTransaction({ ...base, tls: 'none' });
        if (result.kind === 'session') return result.recipients.map((r) => ({ ...r, host: label }));
        last = { result, host: label };
      }
    }
    const reply = last ? last.result.reply : 'no mail exchanger could be tried';
    const status = last ? deferStatus(last.result.status) : '4.4.1';
    return req.recipients.map((recipient) => ({ recipient, outcome: 'deferred', reply, status, host: last?.host ?? null }));
  }

  private async viaSmarthost(req: OutboundRequest, s: NonNullable<SmtpOutboundOptions['smarthost']>): Promise<RecipientResult[]> {
    const auth = s.user ? { user: s.user, pass: s.password ?? '' } : null;
    const result = await smtpTransaction({
      host: s.host, port: s.port, secure: s.secure, heloName: this.o.heloName, sender: req.sender, recipients: req.recipients,
      raw: req.raw, connectTimeoutMs: this.o.connectTimeoutSeconds * 1000, signal: req.signal, auth,
      // Credentials only travel encrypted to a verified smarthost; without them, TLS is opportunistic.
      tls: s.secure ? 'required' : auth ? 'required' : 'opportunistic',
    });
    const label = `${s.host}:${s.port}`;
    if (result.kind === 'session') return result.recipients.map((r) => ({ ...r, host: label }));
    return req.recipients.map((recipient) => ({
      recipient, outcome: 'deferred', reply: result.reply, status: deferStatus(result.status), host: label,
    }));
  }
}

/** A host that never let us reach MAIL FROM defers the message, even when it said 5xx (another MX or a later try may work). */
function deferStatus(status: string): string {
  return status.startsWith('4.') ? status : `4.${status.slice(2)}`;
}
