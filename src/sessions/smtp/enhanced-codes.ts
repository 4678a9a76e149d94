// smtp-server derives the RFC 3463 enhanced status code of an application's rejection from
// the basic code alone (554 -> 5.6.0), which is wrong for e.g. "554 5.7.1 relay denied".
// This shim lets a rejection carry its own: an error message that starts with "X.Y.Z " is
// sent with that code. Installed once, before any server is created.
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

const EXPLICIT = /^([245]\.\d{1,3}\.\d{1,3}) (.*)$/s;
let installed = false;

export function installEnhancedCodeShim(): void {
  if (installed) return;
  installed = true;
  const proto = (SMTPConnection as unknown as { prototype: unknown }).prototype as {
    send: (code: number, data: unknown, context?: unknown) => void;
    _getEnhancedStatusCode: (code: number, context?: unknown) => string;
    _useEnhancedStatusCodes: () => boolean;
  };
  const send = proto.send;
  const getCode = proto._getEnhancedStatusCode;
  proto.send = function (code, data, context) {
    if (typeof data === 'string') {
      const m = EXPLICIT.exec(data);
      if (m) return send.call(this, code, m[2], { explicit: m[1] });
    }
    return send.call(this, code, data, context);
  };
  proto._getEnhancedStatusCode = function (code, context) {
    if (context && typeof context === 'object' && 'explicit' in context) {
      return this._useEnhancedStatusCodes() ? String((context as { explicit: string }).explicit) : '';
    }
    return getCode.call(this, code, context);
  };
}

/** An SMTP rejection: `smtpError(550, '5.1.1', 'no such user')`. */
export function smtpError(code: number, enhanced: string, text: string): Error & { responseCode: number } {
  const err = new Error(`${enhanced} ${text}`) as Error & { responseCode: number };
  err.responseCode = code;
  return err;
}
