/**
 * Jupyter's kernel conformance suite (jupyter_kernel_test, kernel/conformance) against a fresh build.
 * Needs /usr/bin/python3 with Debian's jupyter-client and python3-jupyter-kernel-test.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ensureBuilt, ROOT, unittest, withJupyter } from './harness';

// One kernel start (up to ~15 s on a loaded machine) and a dozen round trips.
const TIMEOUT_MS = 180_000;

before(() => ensureBuilt());

test('Jupyter kernel conformance suite (jupyter_kernel_test) passes with no failure', { timeout: TIMEOUT_MS }, () => {
  const result = withJupyter((env) => unittest(path.join(ROOT, 'kernel', 'conformance'), 'test_transfusion_kernel', env, TIMEOUT_MS));
  process.stdout.write(`conformance: ran ${result.ran}, skipped ${result.skipped}\n`);
  assert.ok(result.ok, result.report);
  // 12 tests; pager payloads are the only feature the kernel does not offer.
  assert.equal(result.ran, 12, result.report);
  assert.equal(result.skipped, 1, result.report);
});
