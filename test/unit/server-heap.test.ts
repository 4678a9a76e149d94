// The server's heap sizing (src/cli/heap.ts): a fixed growing factor unless the node command
// line sets one, in either spelling V8 accepts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SERVER_HEAP_GROWING_PERCENT, tuneServerHeap } from '../../src/cli/heap.js';

test('the server sets a fixed heap growing factor unless node was started with one', () => {
  assert.equal(SERVER_HEAP_GROWING_PERCENT, 100);
  assert.equal(tuneServerHeap(['--enable-source-maps']), 100);
  assert.equal(tuneServerHeap(['--heap-growing-percent=0']), null);
  assert.equal(tuneServerHeap(['--heap_growing_percent=50']), null);
  assert.equal(tuneServerHeap(['--heap-growing-percentage-of-something']), 100, 'only the flag itself counts');
});
