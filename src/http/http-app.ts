// The HTTP listener (express): health check and client autoconfiguration for now; the
// CalDAV/CardDAV handlers mount here later.
import express, { type Express } from 'express';
import type { App } from '../instance/app.js';

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
    <incomingServer type="pop3">
      <hostname>${esc(host)}</hostname><port>${l.pop3s.port}</port><socketType>SSL</socketType>
      <authentication>password-cleartext</authentication><username>%EMAILADDRESS%</username>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>${esc(host)}</hostname><port>${l.submissions.port}</port><socketType>SSL</socketType>
      <authentication>password-cleartext</authentication><username>%EMAILADDRESS%</username>
    </outgoingServer>
  </emailProvider>
</clientConfig>
`);
  };
  http.get(['/mail/config-v1.1.xml', '/.well-known/autoconfig/mail/config-v1.1.xml'], autoconfig);
  return http;
}
