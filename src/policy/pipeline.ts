// An ordered chain of message filters (sender authentication, DNSBL, spam, virus, attachment
// policy, …). Each step sees the message and what earlier steps concluded and returns one
// Verdict. The first reject/tempfail/quarantine ends the chain; tag and junk accumulate.
// Every step has a timeout; a step that throws or times out yields its failure verdict
// (tempfail unless the step is configured to fail open), and every verdict is traced.
import type { Verdict } from './verdict.js';

export interface MessageFacts {
  queueId: string;
  remoteAddress: string;
  heloName: string;
  /** Envelope sender, '' for the null reverse-path. */
  sender: string;
  recipients: string[];
  raw: Buffer;
  /** Authenticated submitting account, if any (filters usually skip their own users). */
  accountId: number | null;
  /** The client is in a trusted network. */
  trusted: boolean;
  tls: boolean;
}

export interface FilterStep {
  /** Short name for traces and config (e.g. 'sender-auth', 'spamassassin'). */
  readonly name: string;
  /** Milliseconds before the step is abandoned. */
  readonly timeoutMs: number;
  /** Verdict when the step throws or times out (default: tempfail 451 4.7.1). */
  readonly onFailure?: Verdict;
  /**
   * Optional: begins the step's I/O when the pipeline starts, before the earlier steps run, so
   * that the daemon works while they do and run() finds the answer waiting instead of idling
   * for it. Only for work that costs little when an earlier step ends the chain (a virus scan,
   * not a spamd check); the result is then dropped. run() receives what this returned.
   */
  start?(facts: MessageFacts): Promise<unknown> | null;
  run(facts: MessageFacts, sofar: PipelineResult, started?: Promise<unknown>): Promise<Verdict>;
  /** Releases what the step holds open (daemon connections); called when the instance stops. */
  close?(): void;
}

export interface StepOutcome { step: string; verdict: Verdict; ms: number; failed?: string }

export interface PipelineResult {
  /** The deciding verdict: the first reject/tempfail/quarantine, else junk if any step said junk, else accept. */
  final: Verdict;
  /** Headers to prepend to the stored message, in step order. */
  headers: string[];
  junk: boolean;
  steps: StepOutcome[];
}

const DEFAULT_FAILURE: Verdict = { action: 'tempfail', code: 451, enhanced: '4.7.1', text: 'Temporary policy failure, try again later', reason: 'filter failure' };

export async function runPipeline(steps: readonly FilterStep[], facts: MessageFacts): Promise<PipelineResult> {
  const result: PipelineResult = { final: { action: 'accept' }, headers: [], junk: false, steps: [] };
  const early = new Map<FilterStep, Promise<unknown>>();
  for (const step of steps) {
    if (!step.start) continue;
    try {
      const p = step.start(facts);
      if (p) {
        p.catch(() => undefined); // awaited by run(), or dropped when the chain ends before it
        early.set(step, p);
      }
    } catch {
      // run() starts it again and reports the failure
    }
  }
  for (const step of steps) {
    const started = Date.now();
    let verdict: Verdict;
    let failed: string | undefined;
    try {
      verdict = await withTimeout(step.run(facts, result, early.get(step)), step.timeoutMs, step.name);
    } catch (e) {
      failed = (e as Error).message;
      verdict = step.onFailure ?? DEFAULT_FAILURE;
    }
    result.steps.push({ step: step.name, verdict, ms: Date.now() - started, ...(failed ? { failed } : {}) });
    switch (verdict.action) {
      case 'accept': break;
      case 'tag': result.headers.push(...verdict.headers); break;
      case 'junk':
        result.headers.push(...verdict.headers);
        result.junk = true;
        if (result.final.action === 'accept') result.final = verdict;
        break;
      default:
        result.final = verdict;
        return result;
    }
  }
  return result;
}

function withTimeout<T>(p: Promise<T>, ms: number, name: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${name} timed out after ${ms} ms`)), ms);
    p.then((v) => { clearTimeout(t); resolve(v); }, (e: unknown) => { clearTimeout(t); reject(e as Error); });
  });
}
