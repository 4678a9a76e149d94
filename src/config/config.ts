// Loads pochtamt.yaml, applies POCHTAMT_* environment overrides, validates against
// schemas/config.schema.json and fills defaults. Errors name the offending key.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import YAML from 'yaml';
import schema from '../../schemas/config.schema.json' with { type: 'json' };
import type { PolicyConfig } from '../policy/policy-config.js';

export interface ListenerConfig { port: number; host: string; enabled: boolean }
export interface Config {
  hostname: string;
  logLevel: string;
  database: { url: string | null; schema: string | null };
  tls: { cert: string; key: string };
  listeners: Record<'smtp' | 'submission' | 'submissions' | 'pop3' | 'pop3s' | 'imap' | 'imaps' | 'http' | 'https', ListenerConfig>;
  limits: {
    maxMessageSize: number; maxRecipients: number; maxConnections: number; maxConnectionsPerIp: number;
    imapConnectionsPerAccount: number;
    socketTimeoutSeconds: number; authFailuresBeforeDelay: number; authMaxDelaySeconds: number;
  };
  auth: { allowPlaintextWithoutTls: boolean };
  delivery: {
    queueLifetimeHours: number; retryMinutes: number[]; concurrency: number; remotePort: number;
    connectTimeoutSeconds: number; dnsServers: string[];
    smarthost: { host: string; port: number; secure: boolean; user?: string; password?: string } | null;
  };
  adminAddress: string | null;
  directories: DirectoryConfig[];
  /** Security baseline: filters, abuse limits, access lists (src/policy/policy-config.ts). */
  policy: PolicyConfig;
}

/** One Active Directory / LDAP directory (schemas/config.schema.json#/definitions/directory). */
export interface DirectoryConfig {
  id: string;
  type: 'ad' | 'ldap';
  enabled: boolean;
  url: string;
  startTls: boolean;
  caFile: string | null;
  servername: string | null;
  allowInsecure: boolean;
  bindDn: string;
  bindPassword: string | null;
  bindPasswordFile: string | null;
  baseDn: string;
  userBaseDn: string | null;
  groupBaseDn: string | null;
  userFilter: string | null;
  groupFilter: string | null;
  changeAttribute: 'entryCSN' | 'modifyTimestamp';
  domains: string[];
  netbiosDomain: string | null;
  deletedRetentionDays: number;
  pollSeconds: number;
  notify: boolean;
  notifyPollSeconds: number;
  bindPoolSize: number;
  loginCacheSeconds: number;
  fullSyncSeconds: number;
  deleteScanSeconds: number;
  pageSize: number;
  timeoutSeconds: number;
  attributes: Record<string, string>;
}

export class ConfigError extends Error {}

export const CONFIG_FILE = 'pochtamt.yaml';

const ajv = new Ajv({ useDefaults: true, allErrors: true, strict: false });
const validate = ajv.compile(schema);

/**
 * POCHTAMT_LISTENERS__SMTP__PORT=25 sets listeners.smtp.port. Values are parsed as YAML
 * scalars so numbers and booleans keep their type. DATABASE_URL sets database.url.
 */
export function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  const camel = (s: string) => s.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith('POCHTAMT_') || key === 'POCHTAMT_DATA' || value === undefined) continue;
    const parts = key.slice('POCHTAMT_'.length).split('__').map(camel);
    let node = raw;
    for (const p of parts.slice(0, -1)) {
      if (typeof node[p] !== 'object' || node[p] === null) node[p] = {};
      node = node[p] as Record<string, unknown>;
    }
    node[parts[parts.length - 1]!] = YAML.parse(value);
  }
  if (env.DATABASE_URL) {
    raw.database = { ...((raw.database as object) ?? {}), url: env.DATABASE_URL };
  }
}

export function parseConfig(text: string, env: NodeJS.ProcessEnv = {}, source = CONFIG_FILE): Config {
  let raw: unknown;
  try {
    raw = YAML.parse(text) ?? {};
  } catch (e) {
    throw new ConfigError(`${source}: not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(`${source}: must be a mapping`);
  applyEnv(raw as Record<string, unknown>, env);
  if (!validate(raw)) {
    const msgs = (validate.errors ?? []).map((e) => {
      const key = (e.instancePath || '/').slice(1).replaceAll('/', '.') || '(top level)';
      const extra = e.keyword === 'additionalProperties' ? ` '${(e.params as { additionalProperty: string }).additionalProperty}'` : '';
      const allowed = e.keyword === 'enum' ? ` (${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')})` : '';
      return `${key}: ${e.message}${extra}${allowed}`;
    });
    throw new ConfigError(`${source}: ${msgs.join('; ')}`);
  }
  // A listener given without a port (e.g. only `enabled` set from the environment) keeps its default port.
  const listeners = (raw as Config).listeners as Record<string, Partial<ListenerConfig>>;
  for (const [name, l] of Object.entries(listeners)) {
    if (l.port === undefined) l.port = (PORT_PROFILES.dev as Record<string, number>)[name] ?? 0;
  }
  return raw as Config;
}

export function loadConfig(dataDir: string, env: NodeJS.ProcessEnv = process.env): Config {
  const file = path.join(dataDir, CONFIG_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new ConfigError(`no ${CONFIG_FILE} in ${dataDir}: run 'pochtamt init --data ${dataDir}' first`);
  }
  return parseConfig(text, env, file);
}

export const PORT_PROFILES = {
  dev: { smtp: 2525, submission: 2587, submissions: 2465, pop3: 2110, pop3s: 2995, imap: 2143, imaps: 2993, http: 8080, https: 8443 },
  standard: { smtp: 25, submission: 587, submissions: 465, pop3: 110, pop3s: 995, imap: 143, imaps: 993, http: 80, https: 443 },
} as const;
