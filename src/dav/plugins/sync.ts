// WebDAV sync plugin (RFC 6578): DAV:sync-token on every stored collection and the
// sync-collection report. Generic: it works on any collection the groupware service keeps a
// change log for (calendars, address books, plain collections), not on the virtual GAL.
import { NS } from '../../protocols/dav/xml.js';
import { syncCollection, syncTokenOf } from '../reports/sync-collection.js';
import type { DavPlugin } from '../types.js';

const SYNC = `{${NS.DAV}}sync-collection`;

export const syncPlugin: DavPlugin = {
  name: 'sync',
  features: [],
  reports: { [SYNC]: syncCollection },
  supportedReports: (r) => (r.node.kind === 'collection' ? [SYNC] : []),
  propFind(_ctx, r, pf) {
    const n = r.node;
    if (n.kind === 'collection' && n.access !== 'freebusy') pf.handle(`{${NS.DAV}}sync-token`, [syncTokenOf(n.collection.id, n.collection.syncToken)]);
  },
};
