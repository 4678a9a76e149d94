// The HTTP listener (express): health check, client autoconfiguration, and groupware
// (CalDAV/CardDAV, discovery) mounted from src/dav.
// Security baseline (src/policy/guard.ts): every request except /healthz passes the access list
// of its listener ('http' or 'https', by the socket) and the shared IP ban before any route runs,
// so a banned or unlisted client never reaches a password check (403). Failed Basic logins feed
// the shared AuthThrottle in src/dav/auth.ts, which bans through the guard like POP3/IMAP/SMTP.
// Behind a reverse proxy listed in policy.trustedProxies the client is the address the proxy
// forwarded (src/http/forwarded.ts); from anyone else Forwarded/X-Forwarded-For are ignored.
import express, { type Express } from 'express';
import type { App } from '../instance/app.js';
import { mountDav } from '../dav/index.js';
import { clientOf } from './forwarded.js';

export function createHttpApp(app: App): Express {
  const http = express();
  http.disable('x-powered-by');
  http.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  http.use(guardRequests(app));
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

/** Access list and IP ban per request (keep-alive connections are checked again on each request). */
export function guardRequests(app: App): express.RequestHandler {
  return (req, res, next) => {
    const { ip, proxy } = clientOf(req, app.guard.trustedProxies);
    // The listener is ours (the socket), whatever scheme the client used towards a proxy.
    const listener = (req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http';
    let why: string | null = null;
    if (!app.guard.allowedBy(listener, ip)) why = 'Access from your network is not allowed';
    else if (!app.guard.isTrusted(ip) && app.guard.isBanned(ip)) why = 'Too many failed logins from your address, try again later';
    if (!why) return next();
    app.log.info({ event: 'http.refused', ip, ...(proxy ? { proxy } : {}), listener, reason: why }, 'HTTP request refused by policy');
    res.status(403).set('Connection', 'close').type('text/plain').send(`${why}\n`);
  };
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
