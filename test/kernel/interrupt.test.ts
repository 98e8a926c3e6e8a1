/**
 * src/engine/interrupt.ts: the flag the kernel raises on SIGINT and a training loop polls between steps.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { clearInterrupt, interruptRequested, requestInterrupt } from '../../src/engine/interrupt';

afterEach(() => clearInterrupt());

test('raise and lower', () => {
  assert.equal(interruptRequested(), false);
  requestInterrupt();
  assert.equal(interruptRequested(), true);
  requestInterrupt();
  assert.equal(interruptRequested(), true, 'raising twice is still one request');
  clearInterrupt();
  assert.equal(interruptRequested(), false);
});

test('every copy of the module shares one flag (a notebook may load the sources beside the built lab)', () => {
  const id = require.resolve('../../src/engine/interrupt');
  const first = require.cache[id];
  delete require.cache[id];
  const copy = require(id) as typeof import('../../src/engine/interrupt');
  if (first) require.cache[id] = first;
  assert.notEqual(copy.interruptRequested, interruptRequested, 'a distinct module instance');
  copy.requestInterrupt();
  assert.equal(interruptRequested(), true);
  clearInterrupt();
  assert.equal(copy.interruptRequested(), false);
});

test('a loop that awaits setImmediate each step sees a request made from the event loop, at a step boundary', async () => {
  let steps = 0;
  let stepsWhenRequested = -1;
  setTimeout(() => {
    stepsWhenRequested = steps;
    requestInterrupt();
  }, 20);
  while (!interruptRequested()) {
    steps++;
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(steps, stepsWhenRequested, 'the loop stops at the next boundary, without another step');
});
