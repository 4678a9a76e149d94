// The `policy` section of pochtamt.yaml (schemas/config.schema.json#/properties/policy): types
// only. The schema holds the defaults and the documentation of every key; keep them in step.
import type { DnsCacheConfig } from './dns.js';

export interface AccessListConfig { allow: string[]; deny: string[] }

export interface PolicyConfig {
  enabled: boolean;
  dnsServers: string[];
  dnsTimeoutMs: number;
  dnsCache: DnsCacheConfig;
  trustedNetworks: string[];
  /** HTTP only: reverse proxies whose Forwarded / X-Forwarded-For headers name the real client. */
  trustedProxies: string[];
  /** Listener name (smtp, submission, submissions, pop3, pop3s, imap, imaps, http) → lists. */
  access: Record<string, AccessListConfig>;
  senderAuth: { enabled: boolean; enforceDmarc: boolean; rejectForgedLocal: boolean; timeoutMs: number; onDnsError: 'accept' | 'tempfail' };
  arc: { trustedSealers: string[] };
  dnsbl: { enabled: boolean; zones: string[]; domainZones: string[]; action: 'reject' | 'junk'; timeoutMs: number };
  greylist: { enabled: boolean; delaySeconds: number; retryWindowHours: number; whitelistDays: number; skipDomains: string[] };
  spamassassin: {
    enabled: boolean; socket: string | null; host: string; port: number; timeoutMs: number; maxSize: number; junkScore: number; rejectScore: number;
    onFailure: 'accept' | 'tempfail';
  };
  clamav: {
    enabled: boolean; socket: string | null; host: string | null; port: number; timeoutMs: number; maxSize: number;
    action: 'reject' | 'quarantine'; onFailure: 'tempfail' | 'accept'; maxConnections: number; idleSeconds: number;
  };
  attachments: { enabled: boolean; blockedExtensions: string[]; blockExecutableContent: boolean; scanArchives: boolean; action: 'reject' | 'quarantine' };
  quarantine: { retentionDays: number };
  bruteForce: { enabled: boolean; banAfterFailures: number; windowMinutes: number; banMinutes: number };
  harvest: { enabled: boolean; delayAfter: number; disconnectAfter: number; delayMs: number; maxDelayMs: number; windowMinutes: number };
  rateLimits: {
    enabled: boolean; connectionsPerMinutePerIp: number; messagesPerHourPerIp: number; recipientsPerHourPerIp: number;
    messagesPerHourPerAccount: number; recipientsPerHourPerAccount: number;
  };
}
