// Composition root: builds the store, services and delivery for one instance (data folder +
// config). Used by `pochtamt serve` and by every CLI command, so both act on the same model.
// No container: each service gets exactly the collaborators it uses.
import { DeliveryService } from '../delivery/delivery.service.js';
import { localFailureDsnHandler } from '../delivery/dsn.js';
import { MailEvents } from '../events/mail-events.js';
import type { Config } from '../config/config.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { AccountService } from '../services/account.service.js';
import { AuthThrottle } from '../services/auth-throttle.js';
import { SecurityGuard } from '../policy/guard.js';
import { PolicyService } from '../policy/policy.service.js';
import { DirectoryService } from '../services/directory-sync.service.js';
import { GroupwareService } from '../services/groupware/groupware.service.js';
import { ImipInboundService } from '../services/groupware/imip-inbound.service.js';
import { SchedulingService } from '../services/groupware/scheduling.service.js';
import { MailStoreService } from '../services/mail-store.service.js';
import { QueueService } from '../services/queue.service.js';
import { TraceService } from '../services/trace.service.js';
import { Store } from '../store/store.js';

export interface App {
  dataDir: string;
  config: Config;
  log: Logger;
  store: Store;
  events: MailEvents;
  accounts: AccountService;
  mailStore: MailStoreService;
  queue: QueueService;
  trace: TraceService;
  delivery: DeliveryService;
  throttle: AuthThrottle;
  /** Access lists, trusted networks and IP bans: `guard.isBanned(ip)` / `await guard.admit(listener, ip, …)` at connect. */
  guard: SecurityGuard;
  /** Filter pipeline, greylisting, rate limits, sender lists, quarantine (src/policy/). */
  policy: PolicyService;
  /** Directory (AD/LDAP) sync, bind-through logins and the address book; the loop runs only in `serve`. */
  directories: DirectoryService;
  /** Incoming iMIP: delivery queues iTIP messages here; `serve` starts the worker that applies them. */
  imip: ImipInboundService;
  close(): Promise<void>;
}

export interface OpenOptions {
  dataDir: string;
  config: Config;
  log?: Logger;
}

export async function openApp(o: OpenOptions): Promise<App> {
  const log = o.log ?? createLogger(o.config.logLevel);
  const store = await Store.open({ dataDir: o.dataDir, databaseUrl: o.config.database.url ?? undefined, schema: o.config.database.schema ?? undefined });
  const events = new MailEvents();
  const mailStore = new MailStoreService(store, events);
  const accounts = new AccountService(store, mailStore, { adminAddress: o.config.adminAddress });
  const queue = new QueueService(store, mailStore, o.config.delivery.queueLifetimeHours * 3600_000);
  const trace = new TraceService(store, log);
  const delivery = new DeliveryService(store, accounts, mailStore, queue, trace);
  const throttle = new AuthThrottle({
    freeFailures: o.config.limits.authFailuresBeforeDelay, maxDelayMs: o.config.limits.authMaxDelaySeconds * 1000,
    resetAfterMs: (o.config.policy?.bruteForce.windowMinutes ?? 15) * 60_000,
  });
  const guard = new SecurityGuard(store, o.config.policy, log);
  throttle.onFailure = guard.onAuthFailure;
  const policy = new PolicyService({ store, config: o.config, accounts, delivery, trace, log, guard });
  const directories = new DirectoryService(store, accounts, mailStore, o.config.directories ?? [], o.dataDir, log);
  if (directories.ids.length) accounts.setDirectoryLogin(directories.authenticator);
  const scheduling = new SchedulingService(new GroupwareService(store), accounts, delivery, o.config.hostname, log);
  const imip = new ImipInboundService(store, accounts, scheduling, trace, o.config.hostname, log);
  const app: App = {
    dataDir: o.dataDir, config: o.config, log, store, events, accounts, mailStore, queue, trace, delivery, throttle, directories, guard, policy, imip,
    async close() {
      await imip.stop();
      policy.stop();
      await directories.stop();
      await trace.flush();
      await store.close();
    },
  };
  // Recipients that fail at local delivery time (e.g. over quota) get their sender a DSN.
  delivery.onFailures = localFailureDsnHandler(app);
  // iTIP parts of mail stored for local users are applied to their calendars (after commit).
  delivery.onStored = (msg, result, raw, metadata) => imip.afterDelivery(msg, result, raw, metadata);
  return app;
}
