// Typed change events for mail. Emitted after the change has committed, in this process;
// other processes (other nodes on one PostgreSQL, or the CLI) learn of changes by tailing the
// mail_change table with MailChangeFeed.
import { EventEmitter } from 'node:events';

export interface MailChange {
  accountId: number;
  mailboxId: number;
  kind: 'append' | 'flags' | 'expunge' | 'mailbox';
  uid: number | null;
  modseq: number;
}

export interface MailEventMap {
  'mail.changed': [MailChange];
}

export class MailEvents {
  private readonly ee = new EventEmitter();
  constructor() {
    this.ee.setMaxListeners(0); // one listener per IDLE session is normal
  }
  on<K extends keyof MailEventMap>(event: K, fn: (...args: MailEventMap[K]) => void): () => void {
    this.ee.on(event, fn as (...a: unknown[]) => void);
    return () => this.ee.off(event, fn as (...a: unknown[]) => void);
  }
  emit<K extends keyof MailEventMap>(event: K, ...args: MailEventMap[K]): void {
    this.ee.emit(event, ...args);
  }
}
