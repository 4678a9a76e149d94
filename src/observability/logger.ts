// Structured logging (pino). Event names follow area.noun.verb; credentials, literals and
// message bodies are never logged.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level = process.env.LOG_LEVEL ?? 'info', destination?: string): Logger {
  return pino(
    { level, base: { svc: 'pochtamt' }, timestamp: pino.stdTimeFunctions.isoTime, redact: ['password', 'pass', '*.password'] },
    pino.destination({ dest: destination ?? 1, sync: false, mkdir: Boolean(destination) }),
  );
}

export const silentLogger: Logger = pino({ level: 'silent' });
