/**
 * importTorch: a run exported to PyTorch, trained on by train.py and imported comes back as its own run folder,
 * which loadRun and evaluate open directly: run.json at the new step with the config it ran under and a resumed
 * entry naming torch, metrics with every step, the checkpoint train.py wrote. A checkpoint of another model, or
 * one behind the run, is refused naming why. Skipped, saying why, where /usr/bin/python3 has no torch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { saveCheckpoint } from '../../src/checkpoint/checkpoint';
import { Transfusion } from '../../src/model/transfusion';
import { Trainer } from '../../src/train/trainer';
import { loadRun } from '../../src/experiments/load-run';
import { trainRun } from '../../src/experiments/train-run';
import { DigitClassifier } from '../../src/eval/classifier';
import { evaluate } from '../../src/eval/evaluate';
import { exportTorch } from '../../src/export/torch';
import { exportShards } from '../../src/export/shards';
import { importTorch } from '../../src/export/import';
import { TINY_NET, TINY_SPEC, useTempRoot } from '../helpers/experiments';
import { tenDigits } from '../checkpoint/helpers';
import { python, torchMissing } from './helpers';

const missing = torchMissing();
let root = '';
useTempRoot('tl-import-', (dir) => (root = dir));

test('importTorch makes a PyTorch-trained checkpoint its run\'s: loadRun and evaluate open the folder as it is', { skip: missing ?? false }, async () => {
  const tensorsBefore = tf.memory().numTensors;
  const spec = { ...TINY_SPEC, name: 'run', root, progress: false, dataset: tenDigits() };
  const trained = await trainRun(spec);
  const dir = join(root, 'run');
  const project = join(root, 'torch');
  exportTorch(dir, project);
  const shards = join(root, 'shards');
  exportShards(trained.model, tenDigits(), shards, { batches: 2, shards: 1, batchSize: 4, seed: 1 });
  const labHistory = trained.trainer.history.map((r) => r.loss);
  trained.dispose();
  const out = join(root, 'trained.safetensors');
  python([join(project, 'train.py'), '--shards', shards, '--steps', '3', '--total-steps', '20', '--out', out]);
  const stepZero = join(root, 'step-zero.safetensors');
  python([join(project, 'train.py'), '--shards', shards, '--steps', '0', '--out', stepZero]);

  const imported = await importTorch(out, dir);
  assert.deepEqual({ ...imported, engine: imported.engine.split(' ')[0] }, { dir, from: 3, steps: 6, engine: 'torch' });
  const run = loadRun(dir);
  assert.equal(run.record.status, 'finished');
  assert.equal(run.record.steps, 6);
  assert.equal(run.config.steps, 6);
  assert.equal(run.config.train.lrSchedule.kind === 'warmup-cosine' && run.config.train.lrSchedule.totalSteps, 20);
  assert.deepEqual(run.record.resumed.map((r) => ({ step: r.step, engine: r.engine?.split(' ')[0] })), [{ step: 3, engine: 'torch' }]);
  assert.deepEqual(run.history.map((r) => r.step), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(run.history.slice(0, 3).map((r) => r.loss), labHistory, 'the lab\'s own steps are kept as they were');
  assert.deepEqual(readFileSync(run.checkpoint!), readFileSync(out));

  const restored = run.restore();
  assert.equal(restored.trainer?.step, 6);
  const classifier = new DigitClassifier({ conv: [4, 4], features: 8 }, new Rng(5));
  const row = await evaluate(restored.model, { n: 1, steps: 2, guidance: 2, heldout: 3, seed: 1 }, { classifier, generate: { maxTokens: 4 } });
  assert.ok(Number.isFinite(row.fid) && Number.isFinite(row.perplexity), JSON.stringify(row));
  classifier.dispose();
  restored.trainer?.dispose();
  restored.model.dispose();

  // run.json now says what the folder holds: the old spec is another config, not this model under its name.
  await assert.rejects(trainRun(spec), /another config: changed at steps \(3 -> 6\)|changed at .*steps/);
  // A checkpoint behind the run (train.py's step-0 write-back is at the lab's step 3), or of another model.
  await assert.rejects(importTorch(stepZero, dir), /at step 3, behind the run .* \(6 steps\)/);
  const other = Transfusion.create('mnist', { net: { ...TINY_NET, transformer: { ...TINY_NET.transformer, nHeads: 4 } } }, new Rng(1));
  const trainer = new Trainer(other);
  saveCheckpoint(join(root, 'other.safetensors'), { model: other, trainer });
  trainer.dispose();
  other.dispose();
  await assert.rejects(importTorch(join(root, 'other.safetensors'), dir), /holds another model than the run .*net\.transformer\.nHeads \(2 -> 4\)/);
  assert.equal(loadRun(dir).record.steps, 6, 'a refused import leaves the run as it was');
  assert.equal(tf.memory().numTensors, tensorsBefore);
});
