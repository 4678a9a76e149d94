// The closed set of answers a policy step can give about a message or a session event.
// A step never throws for an expected outcome; a throw (or a timeout) is a bug or an outage
// and becomes a temporary failure, so a broken filter never lets mail through silently.
export type Verdict =
  /** Nothing to say; go on. */
  | { action: 'accept' }
  /** Add headers (e.g. Authentication-Results, X-Spam-Score) and go on. */
  | { action: 'tag'; headers: string[]; reason: string }
  /** Deliver to the recipients' Junk folder (later steps still run; a later reject wins). */
  | { action: 'junk'; headers: string[]; reason: string }
  /** Keep out of mailboxes, held for the admin (`pochtamt quarantine`). */
  | { action: 'quarantine'; reason: string }
  /** Refuse with a 5xx. */
  | { action: 'reject'; code: number; enhanced: string; text: string; reason: string }
  /** Refuse with a 4xx: the sender retries later. */
  | { action: 'tempfail'; code: number; enhanced: string; text: string; reason: string };

export const ACCEPT: Verdict = { action: 'accept' };

export function reject(code: number, enhanced: string, text: string, reason = text): Verdict {
  return { action: 'reject', code, enhanced, text, reason };
}

export function tempfail(code: number, enhanced: string, text: string, reason = text): Verdict {
  return { action: 'tempfail', code, enhanced, text, reason };
}
