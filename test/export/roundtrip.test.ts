/**
 * Lab -> PyTorch -> lab: a run's weights, AdamW moments and step, EMA weights, history and train config exported
 * to PyTorch and written back by train.py restore bit for bit in the lab; train.py trains on two ranks (DDP over
 * gloo) on the lab's learning-rate schedule, and the lab's TrainingRun goes on training from what it wrote.
 * Skipped, saying why, where /usr/bin/python3 has no torch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../../src/engine/tf';
import { CHECKPOINT_LAYOUT, restore, type Restored } from '../../src/checkpoint/checkpoint';
import { readSafetensors } from '../../src/checkpoint/safetensors';
import { TrainingRun } from '../../src/checkpoint/session';
import { loadRun } from '../../src/experiments/load-run';
import { trainRun } from '../../src/experiments/train-run';
import { learningRate } from '../../src/train/lr-schedule';
import type { Trainer } from '../../src/train/trainer';
import { exportTorch, TORCH_LAYOUT, TORCH_STATE_FORMAT } from '../../src/export/torch';
import { exportShards } from '../../src/export/shards';
import { TINY_SPEC, useTempRoot } from '../helpers/experiments';
import { tenDigits } from '../checkpoint/helpers';
import { python, torchMissing, TORCHRUN_STREAMS } from './helpers';

const missing = torchMissing();
/** EMA on, so its weights make the trip too. */
const SPEC = { ...TINY_SPEC, train: { emaDecay: 0.9 } };
let root = '';
useTempRoot('tl-roundtrip-', (dir) => (root = dir));

const values = (t: tf.Tensor) => Array.from(t.dataSync());

/** Every tensor of a trainer's state by its checkpoint name: `optimizer.m.<p>`, `optimizer.v.<p>`, `ema.<p>`. */
function trainerTensors(trainer: Trainer): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [k, t] of Object.entries(trainer.optimizer.stateDict().tensors)) out.set(`optimizer.${k}`, values(t));
  for (const [k, t] of Object.entries(trainer.ema?.stateDict() ?? {})) out.set(`ema.${k}`, values(t));
  return out;
}

function dispose(r: Restored): void {
  r.trainer?.dispose();
  r.model.dispose();
}

test('lab -> PyTorch -> lab is bit-exact: weights, AdamW moments and steps, EMA, history and train config', { skip: missing ?? false }, async () => {
  const tensorsBefore = tf.memory().numTensors;
  const trained = await trainRun({ ...SPEC, name: 'run', root, progress: false });
  const dir = join(root, 'run');
  const project = join(root, 'torch');
  assert.ok(exportTorch(dir, project).files.includes('state.safetensors'));
  const state = readSafetensors(join(project, 'state.safetensors'));
  assert.equal(state.metadata.format, TORCH_STATE_FORMAT);
  assert.equal(state.metadata.layout, TORCH_LAYOUT);
  // A Linear's moments move to [out, in] like its weight: w1 is [32, 64] in the lab.
  assert.deepEqual(state.tensors['optimizer.m.transformer.layers.0.ffn.w1.weight'].shape, [64, 32]);
  assert.deepEqual(state.tensors['ema.transformer.layers.0.ffn.w1.weight'].shape, [64, 32]);

  const back = join(root, 'back.safetensors');
  python([join(project, 'train.py'), '--shards', project, '--steps', '0', '--out', back]);
  assert.equal(readSafetensors(back).metadata.layout, CHECKPOINT_LAYOUT);
  copyFileSync(back, join(dir, 'checkpoint.safetensors'));
  const restored = loadRun(dir).restore();
  const { model, trainer } = restored;
  assert.ok(trainer && trained.trainer.ema && trainer.ema);
  const expected = trained.model.namedParameters();
  assert.deepEqual(model.namedParameters().map(([n]) => n), expected.map(([n]) => n));
  for (const [[name, a], [, b]] of expected.map((p, i) => [p, model.namedParameters()[i]] as const)) assert.deepEqual(values(b), values(a), name);
  const [before, after] = [trainerTensors(trained.trainer), trainerTensors(trainer)];
  assert.deepEqual([...after.keys()].sort(), [...before.keys()].sort());
  for (const [name, v] of before) assert.deepEqual(after.get(name), v, name);
  assert.equal(trainer.step, trained.trainer.step);
  assert.equal(trainer.optimizer.step, trained.trainer.optimizer.step);
  assert.deepEqual(trainer.config, trained.trainer.config);
  assert.deepEqual(trainer.history, trained.trainer.history);
  dispose(restored);
  trained.dispose();
  assert.equal(tf.memory().numTensors, tensorsBefore);
});

test('train.py goes on from the lab\'s step on two ranks (DDP, gloo) with its schedule, and the lab trains on from what it wrote', { skip: missing ?? false }, async () => {
  const tensorsBefore = tf.memory().numTensors;
  const trained = await trainRun({ ...SPEC, name: 'ddp', root, progress: false, dataset: tenDigits() });
  const dir = join(root, 'ddp');
  const project = join(root, 'torch-ddp');
  exportTorch(dir, project);
  const shards = join(root, 'shards');
  assert.equal(exportShards(trained.model, tenDigits(), shards, { batches: 4, shards: 2, batchSize: 4, seed: 1 }).length, 2);
  const out = join(root, 'ddp.safetensors');
  const log = python(['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', ...TORCHRUN_STREAMS, join(project, 'train.py'), '--shards', shards, '--steps', '2', '--lr', '1e-2', '--total-steps', '10', '--out', out], 300_000);
  assert.match(log, /step 4 loss \d+\.\d+/);
  const restored = restore(out);
  const { model, trainer } = restored;
  assert.ok(trainer);
  assert.equal(trainer.step, trained.trainer.step + 2);
  assert.equal(trainer.optimizer.step, trained.trainer.optimizer.step + 2);
  // The overrides are recorded, and every step followed the lab's schedule at the lab's step.
  assert.equal(trainer.config.optimizer.lr, 1e-2);
  assert.deepEqual(trainer.config.lrSchedule, { ...trained.trainer.config.lrSchedule, totalSteps: 10 });
  assert.deepEqual(trainer.history.slice(0, 3), trained.trainer.history);
  for (const report of trainer.history.slice(3)) {
    const lab = learningRate(trainer.config.lrSchedule, 1e-2, report.step);
    assert.ok(Math.abs(report.lr - lab) <= 1e-15 * lab, `step ${report.step}: lr ${report.lr} in train.py, ${lab} in the lab`);
  }
  assert.deepEqual(trainer.history.map((r) => r.step), [0, 1, 2, 3, 4]);
  // Moments and EMA moved in training, and came back in the lab's layout (restore checks every shape).
  const [before, after] = [trainerTensors(trained.trainer), trainerTensors(trainer)];
  const moved = [...after].filter(([n, v]) => v.some((x, i) => x !== before.get(n)![i])).length;
  assert.ok(moved > after.size / 2, `only ${moved} of ${after.size} optimizer and EMA tensors changed in training`);
  const beforeWeights = new Map(trained.model.namedParameters().map(([n, v]) => [n, values(v)]));
  const changed = model.namedParameters().filter(([n, v]) => values(v).some((x, i) => x !== beforeWeights.get(n)![i]));
  assert.ok(changed.length > model.namedParameters().length / 2, `only ${changed.length} of ${model.namedParameters().length} tensors changed in training`);
  dispose(restored);
  trained.dispose();

  // The rng and session entries came through, so the lab's own session reopens it and trains on.
  const session = TrainingRun.resume(out, tenDigits());
  assert.equal(session.step, 5);
  const outcome = await session.train(2);
  assert.equal(outcome.stepsRun, 2);
  assert.equal(session.trainer.step, 7);
  assert.equal(session.trainer.optimizer.step, 7);
  assert.ok(session.trainer.history.slice(5).every((r) => Number.isFinite(r.loss)));
  session.dispose();
  assert.equal(tf.memory().numTensors, tensorsBefore);
});
