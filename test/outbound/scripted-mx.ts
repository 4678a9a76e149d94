// A remote MX whose answers the test scripts (smtp-server, STARTTLS with its built-in
// self-signed certificate), listening on one loopback address (127.0.0.x) and port. Records
// every message it accepts. Must never listen anywhere but 127.0.0.0/8.
import { createServer } from 'node:net';
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';

export interface Received { from: string; to: string[]; raw: Buffer; secure: boolean }

export interface MxScript {
  /** Return an error to refuse the recipient ({ code: 451, text: '4.7.1 later' }), or null to accept. */
  rcpt?(address: string, n: number): { code: number; text: string } | null;
  /** Milliseconds to wait before answering the end of DATA. */
  dataDelayMs?: number;
}

export interface ScriptedMx {
  host: string;
  port: number;
  received: Received[];
  /** RCPT commands seen so far (including refused ones). */
  rcptCount: number;
  stop(): Promise<void>;
}

export async function startScriptedMx(host: string, port: number, script: MxScript = {}): Promise<ScriptedMx> {
  if (!host.startsWith('127.')) throw new Error('scripted MX must listen on loopback');
  const state: ScriptedMx = {
    host, port, received: [], rcptCount: 0,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server = new SMTPServer({
    name: `mx.${host}`,
    authOptional: true,
    disabledCommands: ['AUTH'],
    logger: false,
    hideENHANCEDSTATUSCODES: false,
    onRcptTo(addr: SMTPServerAddress, _session: SMTPServerSession, cb: (err?: Error | null) => void) {
      const n = state.rcptCount++;
      const verdict = script.rcpt?.(addr.address, n) ?? null;
      if (!verdict) return cb();
      cb(Object.assign(new Error(verdict.text), { responseCode: verdict.code }));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        state.received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks), secure: session.secure,
        });
        setTimeout(() => cb(null, 'Ok: queued'), script.dataDelayMs ?? 0);
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  state.port = (server.server.address() as { port: number }).port;
  return state;
}

/** A port that is free on `host` right now (bound and released), for a remote that starts later. */
export async function freePort(host: string): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, host, () => resolve());
  });
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}
