// Discovery and public endpoints next to the DAV tree: /.well-known/caldav and carddav
// (RFC 6764 §5: redirect to the context path, where PROPFIND finds current-user-principal),
// Outlook Autodiscover POX (/autodiscover/autodiscover.xml: IMAP/POP/SMTP settings for the
// authenticated user), the secret subscription feed /dav/subscribe/<token>.ics (no auth,
// read-only text/calendar) and its free/busy-only variant /dav/freebusy/<token>.ics. Must not: disclose anything about an address other than the
// authenticated user's, or serve a feed after its token was revoked.
// Apple devices: /mobileconfig (authenticated) downloads an unsigned configuration profile with
// CalDAV, CardDAV and mail payloads for the caller (no password inside; the device asks).
// BUGS: Autodiscover answers only the outlook 2006a schema; the profile is not signed.
import { createHash } from 'node:crypto';
import type { Express, Request, Response } from 'express';
import type { AccountEntity } from '../../schemas/entities/index.js';
import type { App } from '../instance/app.js';
import { mergeCalendars } from '../protocols/dav/icalendar.js';
import { escapeXml, parseXml } from '../protocols/dav/xml.js';
import type { GroupwareService } from '../services/groupware/groupware.service.js';
import { authenticate } from './auth.js';
import { FREEBUSY_PATH, freebusyFeed } from './freebusy-link.js';
import { PRODID } from './methods/get.js';
import { readBody, sendError } from './server.js';
import { HttpError } from './types.js';

const OUTLOOK_SCHEMA = 'http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a';
const RESPONSE_NS = 'http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006';

export function mountDiscovery(http: Express, app: App, gw: GroupwareService): void {
  http.get('/dav/subscribe/:file', async (req: Request, res: Response) => {
    try {
      const m = /^([A-Za-z0-9_-]{16,64})\.ics$/.exec(String(req.params.file));
      const c = m ? await gw.byPublishToken(m[1]!) : null;
      if (!c) throw new HttpError(404, 'not found');
      const objs = await gw.listObjects(c.id);
      const body = mergeCalendars(objs.filter((o) => o.componentType === 'VEVENT' || o.componentType === 'VTODO').map((o) => o.data), PRODID, c.displayName);
      res.setHeader('Cache-Control', 'private, max-age=300');
      res.status(200).type('text/calendar; charset=utf-8').send(body);
    } catch (e) {
      sendError(app, req, res, e);
    }
  });

  http.get(`${FREEBUSY_PATH}:file`, freebusyFeed(app, gw));

  http.get('/mobileconfig', async (req: Request, res: Response) => {
    try {
      const user = await authenticate(app, req);
      res.setHeader('Content-Disposition', 'attachment; filename="pochtamt.mobileconfig"');
      res.status(200).type('application/x-apple-aspen-config').send(mobileconfig(app, user));
    } catch (e) {
      sendError(app, req, res, e);
    }
  });

  http.all(/^\/autodiscover\/autodiscover\.xml$/i, async (req: Request, res: Response) => {
    try {
      if (req.method !== 'POST' && req.method !== 'GET') throw new HttpError(405, 'POST expected');
      const user = await authenticate(app, req);
      const body = await readBody(req);
      let email = user.address;
      let schema = OUTLOOK_SCHEMA;
      if (body.length) {
        let root;
        try {
          root = parseXml(body.toString('utf8'));
        } catch {
          res.status(200).type('application/xml').send(errorResponse(600, 'Invalid Request'));
          return;
        }
        const request = root.children.find((c) => c.local === 'Request');
        const e = request?.children.find((c) => c.local === 'EMailAddress')?.text.trim();
        const s = request?.children.find((c) => c.local === 'AcceptableResponseSchema')?.text.trim();
        if (e) email = e;
        if (s) schema = s;
      }
      if (schema !== OUTLOOK_SCHEMA) {
        res.status(200).type('application/xml').send(errorResponse(600, 'Invalid Request'));
        return;
      }
      // Only the caller's own settings: other addresses get the same "Invalid Request".
      if (email.toLowerCase() !== user.address.toLowerCase()) {
        const canSend = await app.accounts.canSendAs(user.id, email);
        if (!canSend) {
          res.status(200).type('application/xml').send(errorResponse(600, 'Invalid Request'));
          return;
        }
      }
      res.status(200).type('application/xml; charset=utf-8').send(settingsResponse(app, user.displayName || user.address, user.address));
    } catch (e) {
      sendError(app, req, res, e);
    }
  });
}

function errorResponse(code: number, message: string): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="${RESPONSE_NS}">
  <Response xmlns="${RESPONSE_NS}">
    <Error Time="${new Date().toISOString().slice(11, 23)}" Id="1">
      <ErrorCode>${code}</ErrorCode>
      <Message>${escapeXml(message)}</Message>
      <DebugData />
    </Error>
  </Response>
</Autodiscover>
`;
}

function settingsResponse(app: App, displayName: string, login: string): string {
  const host = escapeXml(app.config.hostname);
  const l = app.config.listeners as unknown as Record<string, { port: number; enabled: boolean } | undefined>;
  const proto = (type: string, port: number, tls: 'ssl' | 'starttls') => `      <Protocol>
        <Type>${type}</Type>
        <Server>${host}</Server>
        <Port>${port}</Port>
        <LoginName>${escapeXml(login)}</LoginName>
        <DomainRequired>off</DomainRequired>
        <SPA>off</SPA>
        ${tls === 'ssl' ? '<SSL>on</SSL>' : '<SSL>off</SSL>\n        <Encryption>TLS</Encryption>'}
        <AuthRequired>on</AuthRequired>${type === 'SMTP' ? '\n        <UsePOPAuth>off</UsePOPAuth>\n        <SMTPLast>off</SMTPLast>' : ''}
      </Protocol>`;
  const parts: string[] = [];
  if (l.imaps?.enabled) parts.push(proto('IMAP', l.imaps.port, 'ssl'));
  else if (l.imap?.enabled) parts.push(proto('IMAP', l.imap.port, 'starttls'));
  if (l.pop3s?.enabled) parts.push(proto('POP3', l.pop3s.port, 'ssl'));
  else if (l.pop3?.enabled) parts.push(proto('POP3', l.pop3.port, 'starttls'));
  if (l.submissions?.enabled) parts.push(proto('SMTP', l.submissions.port, 'ssl'));
  else if (l.submission?.enabled) parts.push(proto('SMTP', l.submission.port, 'starttls'));
  return `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="${RESPONSE_NS}">
  <Response xmlns="${OUTLOOK_SCHEMA}">
    <User>
      <DisplayName>${escapeXml(displayName)}</DisplayName>
    </User>
    <Account>
      <AccountType>email</AccountType>
      <Action>settings</Action>
${parts.join('\n')}
    </Account>
  </Response>
</Autodiscover>
`;
}

/** A stable UUID per (user, payload) so reinstalling replaces rather than duplicates. */
function uuidFor(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`.toUpperCase();
}

function mobileconfig(app: App, user: AccountEntity): string {
  const host = app.config.hostname;
  const l = app.config.listeners as unknown as Record<string, { port: number; enabled: boolean } | undefined>;
  const httpsPort = l.https?.enabled ? l.https.port : 443;
  const s = (k: string, v: string) => `      <key>${k}</key><string>${escapeXml(v)}</string>`;
  const i = (k: string, v: number) => `      <key>${k}</key><integer>${v}</integer>`;
  const b = (k: string, v: boolean) => `      <key>${k}</key><${v}/>`;
  const id = `org.pochtamt.${host}.${user.address}`;
  const payload = (type: string, name: string, body: string[]) => `    <dict>
${s('PayloadType', type)}
${s('PayloadIdentifier', `${id}.${name}`)}
${s('PayloadUUID', uuidFor(`${id}.${name}`))}
${i('PayloadVersion', 1)}
${s('PayloadDisplayName', name)}
${body.join('\n')}
    </dict>`;
  const payloads = [
    payload('com.apple.caldav.account', 'Calendars', [s('CalDAVAccountDescription', `${user.address} calendars`), s('CalDAVHostName', host), i('CalDAVPort', httpsPort),
      b('CalDAVUseSSL', true), s('CalDAVUsername', user.address), s('CalDAVPrincipalURL', `/dav/principals/users/${user.address}/`)]),
    payload('com.apple.carddav.account', 'Contacts', [s('CardDAVAccountDescription', `${user.address} contacts`), s('CardDAVHostName', host), i('CardDAVPort', httpsPort),
      b('CardDAVUseSSL', true), s('CardDAVUsername', user.address), s('CardDAVPrincipalURL', `/dav/principals/users/${user.address}/`)]),
  ];
  const imap = l.imaps?.enabled ? { type: 'EmailTypeIMAP', port: l.imaps.port } : l.pop3s?.enabled ? { type: 'EmailTypePOP', port: l.pop3s.port } : null;
  if (imap && l.submissions?.enabled) {
    payloads.push(payload('com.apple.mail.managed', 'Mail', [s('EmailAccountDescription', user.address), s('EmailAccountName', user.displayName || user.address),
      s('EmailAccountType', imap.type), s('EmailAddress', user.address), s('IncomingMailServerAuthentication', 'EmailAuthPassword'),
      s('IncomingMailServerHostName', host), i('IncomingMailServerPortNumber', imap.port), b('IncomingMailServerUseSSL', true), s('IncomingMailServerUsername', user.address),
      s('OutgoingMailServerAuthentication', 'EmailAuthPassword'), s('OutgoingMailServerHostName', host), i('OutgoingMailServerPortNumber', l.submissions.port),
      b('OutgoingMailServerUseSSL', true), s('OutgoingMailServerUsername', user.address), b('OutgoingPasswordSameAsIncomingPassword', true)]));
  }
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
  <dict>
    <key>PayloadContent</key>
    <array>
${payloads.join('\n')}
    </array>
    <key>PayloadDisplayName</key><string>${escapeXml(`${host}: ${user.address}`)}</string>
    <key>PayloadIdentifier</key><string>${escapeXml(id)}</string>
    <key>PayloadType</key><string>Configuration</string>
    <key>PayloadUUID</key><string>${uuidFor(id)}</string>
    <key>PayloadVersion</key><integer>1</integer>
  </dict>
</plist>
`;
}
