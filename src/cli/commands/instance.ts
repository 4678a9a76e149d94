// init, serve, start: creating and running an instance.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { CONFIG_FILE } from '../../config/config.js';
import { initInstance } from '../../instance/init.js';
import { startServer } from '../../instance/server.js';
import { dataDirOf, readPassword, UsageError } from '../context.js';
import { tuneServerHeap } from '../heap.js';

export function register(program: Command): void {
  program.command('init')
    .description('create a data folder: config, self-signed TLS certificate, store, first domain and admin account')
    .requiredOption('--domain <domain>', 'first mail domain, e.g. example.org')
    .option('--admin-password <password>', 'admin password (default: generated and printed once)')
    .option('--admin-password-stdin', 'read the admin password from standard input')
    .option('--admin <address>', 'admin account address (default: admin@DOMAIN)')
    .option('--hostname <name>', 'server host name (default: mail.DOMAIN)')
    .option('--ports <profile>', 'dev (2525, 2587, 2465, 2110, 2995, 8080) or standard (25, 587, 465, 110, 995, 80)', 'dev')
    .option('--database-url <url>', 'postgres://… instead of the embedded SQLite store')
    .action(async (opts: Record<string, string | boolean | undefined>, cmd: Command) => {
      if (opts.ports !== 'dev' && opts.ports !== 'standard') throw new UsageError("--ports must be 'dev' or 'standard'");
      await runInit(dataDirOf(cmd), {
        domain: String(opts.domain), ports: opts.ports, hostname: opts.hostname as string | undefined,
        adminAddress: opts.admin as string | undefined, databaseUrl: opts.databaseUrl as string | undefined,
        adminPassword: readPassword({ password: opts.adminPassword as string | undefined, passwordStdin: Boolean(opts.adminPasswordStdin) }),
      });
    });

  program.command('serve')
    .description('run the server in the foreground (stop with Ctrl-C or SIGTERM)')
    .action(async (_opts: unknown, cmd: Command) => {
      await serve(dataDirOf(cmd));
    });

  program.command('start')
    .description('init the data folder if needed (domain from POCHTAMT_DOMAIN, default example.org), then serve')
    .action(async (_opts: unknown, cmd: Command) => {
      const dataDir = dataDirOf(cmd);
      if (!existsSync(path.join(dataDir, CONFIG_FILE))) {
        await runInit(dataDir, { domain: process.env.POCHTAMT_DOMAIN ?? 'example.org', ports: 'dev' });
      }
      await serve(dataDir);
    });
}

async function runInit(dataDir: string, o: Omit<Parameters<typeof initInstance>[0], 'dataDir'>): Promise<void> {
  const r = await initInstance({ dataDir, ...o });
  if (!r.created) {
    process.stdout.write(`${dataDir} is already initialised (admin ${r.adminAddress})\n`);
    return;
  }
  process.stdout.write(`Initialised ${dataDir}\n  admin account: ${r.adminAddress}\n`);
  if (r.generatedPassword) process.stdout.write(`  admin password: ${r.generatedPassword}   (shown once; change it with 'pochtamt account passwd')\n`);
  if (r.dkimRecord) process.stdout.write(`  publish this DKIM record in DNS:\n  ${r.dkimRecord}\n`);
}

async function serve(dataDir: string): Promise<void> {
  tuneServerHeap();
  const server = await startServer({ dataDir });
  const summary = Object.entries(server.ports).map(([k, v]) => `${k}=${v}`).join(' ');
  server.app.log.info({ event: 'server.started', ports: server.ports }, `pochtamt serving ${dataDir}: ${summary}`);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (sig: string) => {
      if (stopping) return;
      stopping = true;
      server.app.log.info({ event: 'server.stopping', signal: sig }, 'stopping');
      server.stop().then(resolve, resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
