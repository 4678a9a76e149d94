// Mounts groupware over HTTP on the shared express app: discovery and public feeds first, then
// the authenticated DAV tree. The one entry point src/http/http-app.ts calls.
import type { Express } from 'express';
import type { App } from '../instance/app.js';
import { GroupwareService } from '../services/groupware/groupware.service.js';
import { SchedulingService } from '../services/groupware/scheduling.service.js';
import { mountDiscovery } from './discovery.js';
import { createDavServer } from './server.js';

export function mountDav(http: Express, app: App): GroupwareService {
  const gw = new GroupwareService(app.store);
  const sched = new SchedulingService(gw, app.accounts, app.delivery, app.config.hostname, app.log);
  mountDiscovery(http, app, gw);
  http.use(createDavServer(app, gw, sched).router);
  return gw;
}
