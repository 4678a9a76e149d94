#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with Node's test runner. Node 20 takes
// file paths, Node 22+ takes globs; listing the files ourselves works on both.
// Usage: node test/run.mjs [substring …]  — only files whose path contains one of the substrings.
import { readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), '..', 'dist', 'test');
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
})(root);
const filters = process.argv.slice(2);
const selected = files.sort().filter((f) => !filters.length || filters.some((s) => f.includes(s)));
if (!selected.length) {
  console.error('no test files found under dist/test (run npm run build first)');
  process.exit(1);
}
const concurrency = process.env.TEST_CONCURRENCY ?? '2';
const r = spawnSync(process.execPath, ['--enable-source-maps', '--test', `--test-concurrency=${concurrency}`,
  '--test-timeout=300000', ...selected], { stdio: 'inherit' });
process.exit(r.status ?? 1);
