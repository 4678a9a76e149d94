// Fallback for the benchmarks when the `pochtamt serve` CLI is not available: runs the server
// of the data folder given as the only argument, and stops cleanly on SIGTERM/SIGINT.
import { startServer } from '../../src/instance/server.js';

const dataDir = process.argv[2];
if (!dataDir) {
  process.stderr.write('usage: node serve.js DATA_DIR\n');
  process.exit(2);
}
const server = await startServer({ dataDir });
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  server.stop().then(() => process.exit(0), (e: unknown) => {
    process.stderr.write(`stop failed: ${(e as Error).message}\n`);
    process.exit(1);
  });
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
