// calendarserver-sharing invitations as XML: the invite notification a sharee finds in their
// notification collection, and the CS:invite-reply (or CS:share-reply) body a sharee's client
// POSTs to accept or decline. Must not: do I/O or decide who may share.
// Reference: calendarserver.org "Shared Calendars" (caldav-sharing) draft, §5 and §6.
import { BadRequest } from './requests.js';
import { child, d, is, NS, serializeXml, x, type XmlElement } from './xml.js';

export interface InviteNotification {
  uid: string;
  /** mailto: of the sharee. */
  sharee: string;
  access: 'read' | 'read-write' | 'freebusy';
  /** The shared collection's URL (path) as the owner sees it. */
  hostUrl: string;
  organizerHref: string;
  organizerName: string;
  summary: string;
  sharedType: 'calendar' | 'addressbook';
  /** Calendar components, for the client's display. */
  components: string[];
  now: number;
}

function icalStamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** The invite-notification resource body (stored in the sharee's notification collection). */
export function inviteNotificationXml(n: InviteNotification): string {
  return serializeXml(x(NS.CS, 'notification',
    x(NS.CS, 'dtstamp', icalStamp(n.now)),
    {
      ...x(NS.CS, 'invite-notification',
        x(NS.CS, 'uid', n.uid),
        d('href', n.sharee),
        x(NS.CS, 'invite-noresponse'),
        x(NS.CS, 'access', x(NS.CS, n.access === 'read-write' ? 'read-write' : 'read')),
        x(NS.CS, 'hosturl', d('href', n.hostUrl)),
        x(NS.CS, 'organizer', d('href', n.organizerHref), x(NS.CS, 'common-name', n.organizerName)),
        x(NS.CS, 'summary', n.summary),
        n.sharedType === 'calendar' && n.components.length
          ? x(NS.CALDAV, 'supported-calendar-component-set', ...n.components.map((name) => ({ ns: NS.CALDAV, local: 'comp', attrs: { name } })))
          : undefined),
      attrs: { 'shared-type': n.sharedType },
    }));
}

export interface InviteReply {
  accept: boolean;
  /** CS:in-reply-to: the invitation UID. */
  inReplyTo: string | null;
  /** CS:hosturl's href: the shared collection. */
  hostUrl: string | null;
}

/** Parses CS:invite-reply (calendarserver) or CS:share-reply; throws BadRequest on anything else. */
export function parseInviteReply(root: XmlElement): InviteReply {
  if (!is(root, NS.CS, 'invite-reply') && !is(root, NS.CS, 'share-reply')) throw new BadRequest('expected CS:invite-reply');
  const accepted = !!child(root, NS.CS, 'invite-accepted');
  const declined = !!child(root, NS.CS, 'invite-declined');
  if (accepted === declined) throw new BadRequest('CS:invite-reply needs exactly one of invite-accepted, invite-declined');
  const host = child(root, NS.CS, 'hosturl');
  const hostUrl = host ? child(host, NS.DAV, 'href')?.text.trim() || null : null;
  const inReplyTo = child(root, NS.CS, 'in-reply-to')?.text.trim() || null;
  if (!hostUrl && !inReplyTo) throw new BadRequest('CS:invite-reply needs CS:in-reply-to or CS:hosturl');
  return { accept: accepted, inReplyTo, hostUrl };
}
