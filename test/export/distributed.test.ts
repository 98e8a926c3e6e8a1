/**
 * Two ranks train like one process (issue 16): `torchrun --nproc_per_node=2` (DDP over gloo) and a plain
 * one-process train.py, both from the same exported run and the same shards, report per-step losses that agree
 * within 1e-4 relative for 20 steps, and end on the same weights within the same bound. train.py draws each
 * image's time and noise from (seed, step, the image's index in the whole batch) and reports the all-reduced
 * whole-batch loss, so only float rounding separates the two: the gradient is summed in another order (two
 * per-rank partial sums, then gloo's all-reduce) and matrix products run on 2 rows rather than 4, so the runs are
 * close but not bit-equal. Skipped, saying why, where /usr/bin/python3 has no torch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tf } from '../../src/engine/tf';
import { readSafetensors } from '../../src/checkpoint/safetensors';
import { trainRun } from '../../src/experiments/train-run';
import { exportTorch } from '../../src/export/torch';
import { exportShards } from '../../src/export/shards';
import { TINY_SPEC, useTempRoot } from '../helpers/experiments';
import { tenDigits } from '../checkpoint/helpers';
import { python, relativeDeviation, torchMissing, TORCHRUN_STREAMS } from './helpers';

const TOLERANCE = 1e-4;
const STEPS = 20;
const missing = torchMissing();
let root = '';
useTempRoot('tl-distributed-', (dir) => (root = dir));

/** The losses train.py printed, by step. */
function losses(log: string): Map<number, number> {
  return new Map([...log.matchAll(/step (\d+) loss (\S+)/g)].map((m) => [Number(m[1]), Number(m[2])]));
}

function floats(path: string): Map<string, Float32Array> {
  const { tensors } = readSafetensors(path);
  return new Map(Object.entries(tensors).map(([n, h]) => [n, new Float32Array(Uint8Array.from(h.data).buffer)]));
}

test(`torchrun with 2 ranks trains ${STEPS} steps like 1 process on the same global batch (losses within ${TOLERANCE} relative)`, { skip: missing ?? false }, async () => {
  const tensorsBefore = tf.memory().numTensors;
  const trained = await trainRun({ ...TINY_SPEC, name: 'run', root, progress: false });
  const project = join(root, 'torch');
  exportTorch(join(root, 'run'), project);
  const shards = join(root, 'shards');
  // 4 rows a batch: 2 per rank; 10 batches over 3 files, so the 20 steps go round the shards twice.
  exportShards(trained.model, tenDigits(), shards, { batches: 10, shards: 3, batchSize: 4, seed: 1 });
  trained.dispose();
  assert.equal(tf.memory().numTensors, tensorsBefore, 'training and exporting left tensors behind');

  // A learning rate and schedule that move the weights: the 3-step run's own schedule sits at its floor by now.
  const args = ['--shards', shards, '--steps', String(STEPS), '--lr', '1e-2', '--total-steps', '40', '--seed', '5'];
  const one = join(root, 'one.safetensors');
  const two = join(root, 'two.safetensors');
  const single = losses(python([join(project, 'train.py'), ...args, '--out', one], 120_000));
  const ranks = losses(python(['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', ...TORCHRUN_STREAMS, join(project, 'train.py'), ...args, '--out', two], 300_000));

  // The run trained 3 steps in the lab, so train.py goes on at the lab's step 3.
  const steps = Array.from({ length: STEPS }, (_, i) => 3 + i);
  assert.deepEqual([...single.keys()], steps);
  assert.deepEqual([...ranks.keys()], steps);
  const deviations = steps.map((s) => Math.abs(ranks.get(s)! - single.get(s)!) / Math.abs(single.get(s)!));
  const worst = Math.max(...deviations);
  console.log(`2 ranks vs 1 process, ${STEPS} steps: largest per-step loss deviation ${worst.toExponential(2)} relative`);
  deviations.forEach((d, i) => assert.ok(d <= TOLERANCE, `step ${steps[i]}: loss ${ranks.get(steps[i])} on 2 ranks, ${single.get(steps[i])} on 1 (${d.toExponential(2)} relative)`));
  // Training moved the loss, so agreeing is not agreeing on a constant.
  assert.ok(Math.abs(single.get(steps[0])! - single.get(steps[STEPS - 1])!) > 1e-3, 'the loss did not move in 20 steps');

  const [a, b] = [floats(one), floats(two)];
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
  let weights = 0;
  for (const [name, values] of a) weights = Math.max(weights, relativeDeviation(b.get(name)!, values));
  console.log(`2 ranks vs 1 process: largest relative deviation of a checkpoint tensor after ${STEPS} steps ${weights.toExponential(2)}`);
  assert.ok(weights <= TOLERANCE, `checkpoint tensors differ by ${weights.toExponential(2)} relative`);
});
