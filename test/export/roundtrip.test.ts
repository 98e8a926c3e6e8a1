/**
 * Lab -> PyTorch -> lab: a run's weights exported to PyTorch and written back by train.py restore bit for bit in
 * the lab (loadRun opens the run with them), and train.py trains on two ranks (DDP over gloo) from the lab's own
 * batches and writes a checkpoint the lab restores. Skipped, saying why, where /usr/bin/python3 has no torch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { CHECKPOINT_LAYOUT, restore } from '../../src/checkpoint/checkpoint';
import { readSafetensors } from '../../src/checkpoint/safetensors';
import { buildBatch } from '../../src/data/sequence';
import { loadRun } from '../../src/experiments/load-run';
import { trainRun } from '../../src/experiments/train-run';
import { exportTorch } from '../../src/export/torch';
import { exportShards } from '../../src/export/shards';
import { TINY_SPEC, useTempRoot } from '../helpers/experiments';
import { tenDigits } from '../checkpoint/helpers';
import { python, torchMissing } from './helpers';

const missing = torchMissing();
/**
 * torchrun's default stream settings ('0') fail on Debian's torch 1.13 under Python 3.11 (its Std enum lookup
 * misses the zero flag: AttributeError in to_map); logging rank output to files and echoing it avoids them.
 */
const TORCHRUN_STREAMS = ['--redirects', '1', '--tee', '1'];
let root = '';
useTempRoot('tl-roundtrip-', (dir) => (root = dir));

const values = (t: tf.Tensor) => Array.from(t.dataSync());

test('lab -> PyTorch -> lab is bit-exact: loadRun restores the weights train.py wrote back', { skip: missing ?? false }, async () => {
  const trained = await trainRun({ ...TINY_SPEC, name: 'run', root, progress: false });
  const dir = join(root, 'run');
  const project = join(root, 'torch');
  exportTorch(dir, project);
  const back = join(root, 'back.safetensors');
  python([join(project, 'train.py'), '--shards', project, '--steps', '0', '--out', back]);
  assert.equal(readSafetensors(back).metadata.layout, CHECKPOINT_LAYOUT);
  copyFileSync(back, join(dir, 'checkpoint.safetensors'));
  const { model, trainer } = loadRun(dir).restore();
  assert.equal(trainer, null);
  const expected = trained.model.namedParameters();
  assert.deepEqual(model.namedParameters().map(([n]) => n), expected.map(([n]) => n));
  for (const [[name, a], [, b]] of expected.map((p, i) => [p, model.namedParameters()[i]] as const)) assert.deepEqual(values(b), values(a), name);
  model.dispose();
  trained.dispose();
});

test('train.py trains on two ranks (DDP, gloo) from the lab\'s batches and the lab restores what it wrote', { skip: missing ?? false }, async () => {
  const trained = await trainRun({ ...TINY_SPEC, name: 'ddp', root, progress: false });
  const project = join(root, 'torch-ddp');
  exportTorch(trained.model, project);
  const shards = join(root, 'shards');
  assert.equal(exportShards(trained.model, tenDigits(), shards, { batches: 4, shards: 2, batchSize: 4, seed: 1 }).length, 2);
  const out = join(root, 'ddp.safetensors');
  const log = python(['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', ...TORCHRUN_STREAMS, join(project, 'train.py'), '--shards', shards, '--steps', '2', '--lr', '1e-2', '--out', out], 300_000);
  assert.match(log, /step 2 loss \d+\.\d+/);
  const { model } = restore(out);
  const before = new Map(trained.model.namedParameters().map(([n, v]) => [n, values(v)]));
  const moved = model.namedParameters().filter(([n, v]) => values(v).some((x, i) => x !== before.get(n)![i]));
  assert.ok(moved.length > model.namedParameters().length / 2, `only ${moved.length} of ${model.namedParameters().length} tensors changed in training`);
  // Back in the lab's layout: the lab computes a finite loss with them.
  const loss = model.loss(buildBatch([{ image: tenDigits().get(0).image, caption: 'a 5' }], model.config.sequence, new Rng(2)), new Rng(3));
  assert.ok(Number.isFinite(loss.total.dataSync()[0]));
  tf.dispose([loss.total, ...Object.values(loss.breakdown)]);
  model.dispose();
  trained.dispose();
});
