// `pochtamt init`: creates a data folder with a config, a self-signed certificate, the store
// (migrated), a first domain and an admin account. Idempotent where it can be: an existing
// config or certificate is kept.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import selfsigned from 'selfsigned';
import YAML from 'yaml';
import { CONFIG_FILE, loadConfig, PORT_PROFILES } from '../config/config.js';
import { silentLogger } from '../observability/logger.js';
import { openApp } from './app.js';

export interface InitOptions {
  dataDir: string;
  domain: string;
  hostname?: string;
  adminPassword?: string;
  adminAddress?: string;
  ports?: 'dev' | 'standard';
  databaseUrl?: string;
}

export interface InitResult { created: boolean; adminAddress: string; generatedPassword: string | null; dkimRecord: string | null }

export async function initInstance(o: InitOptions): Promise<InitResult> {
  await mkdir(o.dataDir, { recursive: true, mode: 0o750 });
  const cfgPath = path.join(o.dataDir, CONFIG_FILE);
  const hostname = o.hostname ?? `mail.${o.domain}`;
  if (!existsSync(cfgPath)) {
    const ports = PORT_PROFILES[o.ports ?? 'dev'];
    const doc = {
      hostname,
      database: { url: o.databaseUrl ?? null },
      listeners: Object.fromEntries(Object.entries(ports).map(([k, port]) => [k, { port, host: '0.0.0.0' }])),
    };
    const header = '# Pochtamt configuration. Every key is described in schemas/config.schema.json.\n'
      + '# Environment overrides: POCHTAMT_LISTENERS__SMTP__PORT=25, DATABASE_URL=postgres://...\n';
    await writeFile(cfgPath, header + YAML.stringify(doc), { mode: 0o640 });
  }
  const config = loadConfig(o.dataDir);
  await ensureCertificate(o.dataDir, config.tls, hostname);
  const app = await openApp({ dataDir: o.dataDir, config, log: silentLogger });
  try {
    const adminAddress = (o.adminAddress ?? `admin@${o.domain}`).toLowerCase();
    let dkimRecord: string | null = null;
    if (!(await app.accounts.getDomain(o.domain))) dkimRecord = (await app.accounts.addDomain(o.domain)).dkimRecord;
    if (await app.accounts.getAccount(adminAddress)) return { created: false, adminAddress, generatedPassword: null, dkimRecord };
    const generated = o.adminPassword ? null : randomBytes(12).toString('base64url');
    await app.accounts.addAccount({ address: adminAddress, password: o.adminPassword ?? generated!, displayName: 'Administrator', isAdmin: true });
    return { created: true, adminAddress, generatedPassword: generated, dkimRecord };
  } finally {
    await app.close();
  }
}

export async function ensureCertificate(dataDir: string, tls: { cert: string; key: string }, hostname: string): Promise<void> {
  const certPath = path.resolve(dataDir, tls.cert);
  const keyPath = path.resolve(dataDir, tls.key);
  if (existsSync(certPath) && existsSync(keyPath)) return;
  await mkdir(path.dirname(certPath), { recursive: true });
  await mkdir(path.dirname(keyPath), { recursive: true });
  const notAfter = new Date(Date.now() + 825 * 86400_000);
  const pems = await selfsigned.generate([{ name: 'commonName', value: hostname }], {
    keySize: 2048, algorithm: 'sha256', notAfterDate: notAfter,
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: hostname }, { type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }],
  });
  await writeFile(keyPath, pems.private, { mode: 0o600 });
  await writeFile(certPath, pems.cert, { mode: 0o644 });
}
