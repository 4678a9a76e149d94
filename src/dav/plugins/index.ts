// The installed plugins, in dispatch order. The DAV header, OPTIONS Allow, the method and report
// tables and supported-report-set are all derived from this list.
import type { DavPlugin } from '../types.js';
import { aclPlugin } from './acl.js';
import { caldavPlugin } from './caldav.js';
import { carddavPlugin } from './carddav.js';
import { corePlugin } from './core.js';
import { proxyPlugin } from './proxy.js';
import { schedulingPlugin } from './scheduling.js';
import { sharingPlugin } from './sharing.js';
import { syncPlugin } from './sync.js';

export const PLUGINS: DavPlugin[] = [corePlugin, aclPlugin, caldavPlugin, carddavPlugin, syncPlugin, sharingPlugin, schedulingPlugin, proxyPlugin];
