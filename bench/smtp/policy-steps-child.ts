// Times the filter steps in a process of its own (bench/smtp/policy-peers.ts timeStepsInProcess):
// a fresh heap, so the CPU per message is the pipeline's and not the garbage collection of the
// benchmark's own bookkeeping. Reads its job as JSON from the file named by argv[2] and writes
// the result as JSON to stdout.
import { readFileSync } from 'node:fs';
import { timeStepsInProcess } from './policy-peers.js';

const job = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Omit<Parameters<typeof timeStepsInProcess>[0], 'raw'> & { raw: string };
const result = await timeStepsInProcess({ ...job, raw: Buffer.from(job.raw, 'base64') });
process.stdout.write(JSON.stringify(result));
process.exit(0);
