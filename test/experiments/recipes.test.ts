import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { initEngine } from '../../src/engine/engine';
import { setSeed } from '../../src/engine/random';
import { TrainingRun } from '../../src/checkpoint/session';
import { buildDataset, resolveExperiment } from '../../src/experiments/experiment-config';
import { RECIPES } from '../../src/experiments/recipes';
import { resolveConfig } from '../../src/model/config';
import { assertLossFalls } from '../helpers/training';

before(async () => {
  await initEngine();
});

test('every recipe resolves to a complete experiment, and mnist-fast keeps the paper-style mnist preset beside it', () => {
  for (const [name, spec] of Object.entries(RECIPES)) {
    const config = resolveExperiment(spec);
    assert.ok(config.steps > 0, name);
    assert.equal(config.data.kind, 'mnist', name);
  }
  const fast = resolveExperiment(RECIPES['mnist-fast']);
  const paper = resolveConfig('mnist');
  assert.equal(fast.model.net.patchSize, 4, 'the fast recipe cuts 16 patches per digit');
  assert.equal(paper.net.patchSize, 2, 'the mnist preset is unchanged');
  assert.equal(paper.objective.lambda, 5);
  const reading = resolveExperiment(RECIPES['mnist-reading']);
  assert.equal(reading.model.net.patchSize, 2, 'mnist-reading is the mnist network');
  assert.equal(reading.model.sequence.plainCaptionEpochs, 1);
  assert.equal(reading.model.sequence.plainCaptionImageFirstProb, 1);
  assert.equal(reading.model.sequence.imageFirstProb, 0.2, "after the warm-up, the paper's mix");
  const speedrun = resolveExperiment(RECIPES['mnist-speedrun']);
  assert.equal(speedrun.model.net.patchSize, 2, 'mnist-speedrun is the mnist network');
  assert.equal(speedrun.batchSize, 32);
  assert.equal(speedrun.train.optimizer.lr, 2e-3);
  assert.equal(speedrun.model.sequence.plainCaptionEpochs, 'all');
  assert.deepEqual(speedrun.model.sequence.imageFirstByEpoch, [1]);
  assert.equal(speedrun.model.sequence.imageFirstProb, 0.2, "after the warm-up, the paper's mix");
  assert.deepEqual(speedrun.model.objective.weighting, { kind: 'constant' });
  assert.equal(speedrun.model.objective.lambda, 5);
  const snr = resolveExperiment(RECIPES['mnist-speedrun-snr']);
  assert.deepEqual(snr.model.objective.weighting, { kind: 'min-snr', gamma: 5 });
  assert.equal(snr.model.objective.lambda, 10);
  // Otherwise mnist-speedrun: the same network, data, schedule, steps and batch.
  const same = (c: typeof snr) => ({ ...c, model: { ...c.model, objective: { ...c.model.objective, weighting: null, lambda: null } } });
  assert.deepEqual(same(snr), same(speedrun));
  const flow = resolveExperiment(RECIPES['mnist-speedrun-flow']);
  assert.equal(flow.model.objective.schedule.kind, 'flow');
  assert.equal(flow.model.objective.prediction, 'flow');
  assert.deepEqual(flow.model.objective.timesteps, { ...flow.model.objective.timesteps, kind: 'logit-normal', m: 0, s: 1 });
  assert.equal(flow.steps, 3000);
  assert.deepEqual(flow.train.lrSchedule, { ...snr.train.lrSchedule, totalSteps: 3000 }, 'the learning-rate schedule follows the run length');
  // Otherwise mnist-speedrun-snr: min-SNR weighting, lambda 10, the same network, data and batch.
  const sameFlow = (c: typeof snr) => ({ ...c, steps: null, train: { ...c.train, lrSchedule: null }, model: { ...c.model, objective: { ...c.model.objective, schedule: null, prediction: null, timesteps: null } } });
  assert.deepEqual(sameFlow(flow), sameFlow(snr));
});

for (const name of ['mnist-fast', 'mnist-reading', 'mnist-speedrun', 'mnist-speedrun-snr', 'mnist-speedrun-flow'] as const) test(`the ${name} recipe learns in a short run (loss falls) and leaks no tensors`, async () => {
  const config = resolveExperiment({ ...RECIPES[name], steps: 24, batchSize: 8 });
  setSeed(config.seed);
  const before = tf.memory().numTensors;
  const session = TrainingRun.create(buildDataset(config.data), { preset: config.model, train: config.train, loader: { batchSize: config.batchSize }, seed: config.seed });
  const counts: number[] = [];
  await session.train(config.steps, { onStep: () => counts.push(tf.memory().numTensors) });
  assertLossFalls(session.trainer.history.map((h) => h.loss), 0.8, 4);
  assert.equal(new Set(counts.slice(2)).size, 1, `tensor count drifts during training: ${counts.join(', ')}`);
  session.dispose();
  assert.equal(tf.memory().numTensors, before);
});
