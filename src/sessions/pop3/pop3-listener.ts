// STUB — replaced by the POP3 implementation.
import net from 'node:net';
import type { App } from '../../instance/app.js';
export interface Pop3ListenerOptions { implicitTls: boolean; tls: { key: Buffer; cert: Buffer } }
export function createPop3Server(_app: App, _opts: Pop3ListenerOptions): net.Server {
  return net.createServer((s) => s.end('-ERR not implemented\r\n'));
}
