// The HTTP listener (express): health check, client autoconfiguration, and groupware
// (CalDAV/CardDAV, discovery) mounted from src/dav.
import express, { type Express } from 'express';
import type { App } from '../instance/app.js';
import { mountDav } from '../dav/index.js';

export function createHttpApp(app: App): Express {
  const http = express();
  http.disable('x-powered-by');
  http.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Thunderbird autoconfig (https://wiki.mozilla.org/Thunderbird:Autoconfiguration): served at
  // /mail/config-v1.1.xml and /.well-known/autoconfig/mail/config-v1.1.xml.
  const autoconfig: express.RequestHandler = async (req, res) => {
    const email = String(req.query.emailaddress ?? '');
    const domain = email.includes('@') ? email.split('@').pop()! : String(req.hostname).replace(/^autoconfig\./, '');
    const d = await app.accounts.getDomain(domain).catch(() => null);
    if (!d) {
      res.status(404).end();
      return;
    }
    const l = app.config.listeners;
    const host = app.config.hostname;
    const esc = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
    res.type('application/xml').send(`<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="${esc(d.name)}">
    <domain>${esc(d.name)}</domain>
    <displayName>${esc(d.unicodeName)}</displayName>
    <incomingServer type="imap">
      <hostname>${esc(host)}</hostname><port>${l.imaps.port}</port><socketType>SSL</socketType>
      <authentication>password-cleartext</authentication><username>%EMAILADDRESS%</username>
    </incomingServer>
    <incomingServer type="pop3">
      <hostname>${esc(host)}</hostname><port>${l.pop3s.port}</port><socketType>SSL</socketType>
      <authentication>password-cleartext</authentication><username>%EMAILADDRESS%</username>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>${esc(host)}</hostname><port>${l.submissions.port}</port><socketType>SSL</socketType>
      <authentication>password-cleartext</authentication><username>%EMAILADDRESS%</username>
    </outgoingServer>
  </emailProvider>${davAutoconfig(app, esc)}
</clientConfig>
`);
  };
  http.get(['/mail/config-v1.1.xml', '/.well-known/autoconfig/mail/config-v1.1.xml'], autoconfig);
  // CalDAV/CardDAV (/dav/), /.well-known/caldav|carddav, Outlook Autodiscover, subscription feeds.
  mountDav(http, app);
  return http;
}

/** Thunderbird 102+ reads CalDAV/CardDAV servers from autoconfig (addressBook/calendar elements). */
function davAutoconfig(app: App, esc: (s: string) => string): string {
  const l = app.config.listeners;
  if (!l.https?.enabled) return '';
  const base = `https://${esc(app.config.hostname)}${l.https.port === 443 ? '' : `:${l.https.port}`}`;
  return `
  <addressBook type="carddav">
    <username>%EMAILADDRESS%</username><authentication>http-basic</authentication>
    <serverURL>${base}/.well-known/carddav</serverURL>
  </addressBook>
  <calendar type="caldav">
    <username>%EMAILADDRESS%</username><authentication>http-basic</authentication>
    <serverURL>${base}/.well-known/caldav</serverURL>
  </calendar>`;
}
