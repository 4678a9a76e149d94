// Shared types and small helpers of the IMAP benchmark.
import { procMemKiB, pssKiB } from '../common/memory.js';
import { sleep } from '../common/process.js';
import { RawImap } from './raw.js';

/** What both servers are loaded with (the same users, passwords and messages). */
export interface BenchData {
  domain: string;
  password: string;
  /** Accounts the load clients log in to (clients are spread over them). */
  loadUsers: string[];
  /** Accounts the IDLE connections log in to. */
  idleUsers: string[];
  /** Account holding the big mailbox ('' if none). */
  bigUser: string;
  allUsers(): string[];
  /** Corpus messages, each delivered once to every load user's INBOX. */
  corpus: Buffer[];
  /** Distinct messages the big mailbox is made of (message i is bigPool[i % length]). */
  bigPool: Buffer[];
  bigCount: number;
  bigFlags(i: number): string[];
}

export interface Server {
  name: 'pochtamt' | 'dovecot';
  label: string;
  imapPort: number;
  logFile: string;
  /** Pids whose memory and CPU count for this server (Dovecot: the whole process tree, read fresh). */
  pids(): number[];
  alive(): boolean;
  /** Pochtamt is one process (RSS); Dovecot many (summed PSS, shared pages counted once). */
  memoryKind: 'RSS' | 'PSS';
  /** Where a new message is delivered for the IDLE wake-up test. */
  deliver: { kind: 'smtp' | 'lmtp'; port: number };
  stop(): Promise<void>;
}

export function memoryKiB(s: Server): number {
  if (s.memoryKind === 'RSS') return procMemKiB(s.pids()[0]!)?.rss ?? 0;
  return pssKiB(s.pids());
}

/** Waits until 127.0.0.1:port greets with "* OK". */
export async function waitForImap(port: number, timeoutMs: number, isDead?: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'timeout';
  while (Date.now() < deadline) {
    if (isDead?.()) throw new Error('process exited before it was listening');
    const c = new RawImap(port);
    try {
      await Promise.race([c.ready(), sleep(3000).then(() => { throw new Error('no greeting'); })]);
      c.destroy();
      return;
    } catch (e) {
      last = (e as Error).message;
      c.destroy();
    }
    await sleep(150);
  }
  throw new Error(`no IMAP greeting on 127.0.0.1:${port} (${last})`);
}

/** Percentile (0..100) of an unsorted array of numbers; null when empty. */
export function percentile(values: number[], p: number): number | null {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Runs fn over items with at most `parallel` in flight. */
export async function pool<T>(items: T[], parallel: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, worker));
}
