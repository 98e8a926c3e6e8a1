import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import { tf } from '../../src/engine/tf';
import { heldOutDiffusionLoss } from '../../src/eval/diffusion-loss';
import { compareRuns } from '../../src/experiments/compare';
import { loadRun } from '../../src/experiments/load-run';
import { rescoreRun } from '../../src/experiments/rescore';
import { Run } from '../../src/experiments/run-record';
import { sweep } from '../../src/experiments/sweep';
import { trainRun, type EvaluateFn } from '../../src/experiments/train-run';
import { TINY_SPEC, useTempRoot } from '../helpers/experiments';

let root = '';
useTempRoot('tf-rescore-', (dir) => (root = dir));
const BASE = TINY_SPEC;

/** A cheap, deterministic scorer that depends on the weights. */
const diffusionOnly: EvaluateFn = (model) => ({ diffusion_mse: heldOutDiffusionLoss(model, { n: 8, logSnr: [-2, 2] }).mse });

test('rescoring a finished run from its checkpoint reproduces its row, adds the new row, and compareRuns reads it', async () => {
  const trained = await trainRun({ ...BASE, name: 'one', root, progress: false, evaluate: () => ({ loss_probe: 1 }) });
  const direct = diffusionOnly(trained.model, undefined as never) as { diffusion_mse: number };
  trained.dispose();
  const dir = join(root, 'one');
  assert.deepEqual(compareRuns(dir).columnNames().filter((c) => c.startsWith('eval.')), ['eval.trainStep', 'eval.loss_probe']);

  const tensors = tf.memory().numTensors;
  const row = await rescoreRun(dir, { evaluate: diffusionOnly });
  assert.equal(tf.memory().numTensors, tensors, 'the restored model and trainer are disposed');
  // The checkpoint holds the weights the run ended with: the same number as scoring the live model.
  assert.equal(row.diffusion_mse, direct.diffusion_mse);
  assert.equal(row.trainStep, 3);
  assert.match(String(row.rescoredAt), /^\d{4}-\d\d-\d\dT/);

  const evals = loadRun(dir).evals;
  assert.deepEqual(evals.map((e) => Object.keys(e).filter((k) => k !== 'rescoredAt').sort()), [['loss_probe', 'trainStep'], ['diffusion_mse', 'trainStep']]);
  const table = compareRuns(dir);
  assert.equal(table.get('eval.diffusion_mse', 0), direct.diffusion_mse, 'the newest row is the one compared');
  assert.equal(fs.readFileSync(join(dir, 'eval.csv'), 'utf8').split('\n')[0].includes('diffusion_mse'), true);
  assert.equal(Run.open(dir).status, 'finished', 'the run stays finished');
});

test('only a finished run with a checkpoint is rescored, and the error says why', async () => {
  await assert.rejects(
    trainRun({ ...BASE, name: 'broken', root, progress: false, onStep: () => { throw new Error('simulated crash'); } }),
    /simulated crash/,
  );
  await assert.rejects(rescoreRun(join(root, 'broken'), { evaluate: diffusionOnly }), /only a finished run is rescored \(status failed\)/);
  await assert.rejects(rescoreRun(join(root, 'nowhere'), { evaluate: diffusionOnly }), /does not exist/);
});

test('sweep with rescore: true scores the finished arms again instead of skipping them silently', async () => {
  const grid = { 'objective.lambda': [1, 5] };
  const first = await sweep(BASE, grid, { name: 'sw', root, progress: false, evaluate: () => ({ old: 1 }) });
  assert.deepEqual(first.rescored, []);
  let trainedSteps = 0;
  const again = await sweep(BASE, grid, { name: 'sw', root, progress: false, rescore: true, evaluate: diffusionOnly, onStep: () => void trainedSteps++ });
  assert.equal(trainedSteps, 0, 'nothing trains again');
  assert.deepEqual(again.skipped, ['lambda=1', 'lambda=5']);
  assert.deepEqual(again.rescored, ['lambda=1', 'lambda=5']);
  const table = compareRuns(again.dir);
  const values = table.array('eval.diffusion_mse') as number[];
  assert.equal(values.length, 2);
  assert.ok(values.every((v) => Number.isFinite(v) && v > 0), String(values));
  assert.notEqual(values[0], values[1], 'each arm is scored from its own checkpoint');
});
