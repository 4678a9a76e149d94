// Domain errors: services throw these for expected refusals; protocol sessions map `code` to
// their own replies (SMTP 5xx/4xx, IMAP NO [code], POP3 -ERR [code]). Anything else is a bug.
export type ServiceErrorCode =
  | 'NOT_FOUND' | 'EXISTS' | 'INVALID' | 'OVER_QUOTA' | 'DISABLED' | 'AUTH_FAILED' | 'TEMPORARY' | 'FORBIDDEN'
  /** Access control: the mailbox is visible but a right is missing (IMAP [NOPERM]). */
  | 'NO_PERMISSION';

export class ServiceError extends Error {
  constructor(readonly code: ServiceErrorCode, message: string) {
    super(message);
  }
}
