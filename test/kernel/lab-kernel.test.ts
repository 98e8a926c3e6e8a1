/**
 * The lab's own demands on its kernel, through jupyter_client (test/kernel/python/test_lab_kernel.py):
 * imports of 'transfusion-lab' from a folder outside the lab, result bundles, display ids, comm_info,
 * aborts after an error, strict cell checking, shorthand properties across cells, and real interrupts (KernelManager.interrupt_kernel sends SIGINT), one of them
 * stopping the lab's own Trainer.run mid-training.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ensureBuilt, ROOT, unittest, withJupyter } from './harness';

const TIMEOUT_MS = 180_000;

before(() => ensureBuilt());

test('lab kernel: any-folder imports, bundles, display ids, comm_info, aborts, real interrupts', { timeout: TIMEOUT_MS }, () => {
  const result = withJupyter((env) => unittest(path.join(ROOT, 'test', 'kernel', 'python'), 'test_lab_kernel', env, TIMEOUT_MS));
  process.stdout.write(`lab kernel: ran ${result.ran}, skipped ${result.skipped}\n`);
  assert.ok(result.ok, result.report);
  assert.equal(result.ran, 14, result.report);
  assert.equal(result.skipped, 0, result.report);
});
