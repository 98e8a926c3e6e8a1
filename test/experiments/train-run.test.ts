import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as aq from 'arquero';
import { tf } from '../../src/engine/tf';
import { initEngine } from '../../src/engine/engine';
import { restore } from '../../src/checkpoint/checkpoint';
import { readRecord } from '../../src/experiments/run-record';
import { runSamples, trainRun, type TrainRunOptions } from '../../src/experiments/train-run';

let root: string;
before(async () => {
  await initEngine();
  root = fs.mkdtempSync(join(tmpdir(), 'tf-trainrun-'));
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** d = 32, one layer, batch 4: a few hundred ms per run on the native CPU backend. */
const TINY: Omit<TrainRunOptions, 'name'> = {
  root: '',
  model: { net: { transformer: { dModel: 32, nLayers: 1, nHeads: 2, ffnHidden: 64 } } },
  batchSize: 4,
  steps: 3,
  seed: 5,
  samples: { captions: ['the digit 1', 'the digit 7'], generate: { sampler: { kind: 'ddim', steps: 2 } } },
  progress: false,
};
const tiny = (name: string, more: Partial<TrainRunOptions> = {}): TrainRunOptions => ({ ...TINY, root, name, ...more });

const losses = (dir: string) => aq.fromCSV(fs.readFileSync(join(dir, 'metrics.csv'), 'utf8')).select('step', 'loss', 'lm', 'diffusion').objects() as Record<string, number>[];

test('trainRun records every step, a sample grid, an evaluation and a checkpoint, and leaks no tensors', async () => {
  const tensors = tf.memory().numTensors;
  const seen: number[] = [];
  const result = await trainRun(tiny('full', {
    evaluate: (model, { rng, config }) => ({ params: model.numParameters(), draw: rng.next(), steps: config.steps }),
    onStep: (r) => seen.push(r.step),
  }));
  const dir = join(root, 'full');
  assert.equal(result.status, 'finished');
  assert.deepEqual(seen, [0, 1, 2]);
  const record = readRecord(dir);
  assert.equal(record.status, 'finished');
  assert.equal(record.steps, 3);
  assert.equal(record.seed, 5);
  assert.deepEqual(record.config, result.config);
  assert.deepEqual(losses(dir).map((r) => r.step), [0, 1, 2]);
  assert.deepEqual(losses(dir).map((r) => r.loss), result.trainer.history.map((h) => h.loss));
  const evals = JSON.parse(fs.readFileSync(join(dir, 'eval.json'), 'utf8'));
  assert.equal(evals.length, 1);
  assert.equal(evals[0].params, result.model.numParameters());
  assert.equal(evals[0].trainStep, 3);

  // The checkpoint holds the trained weights, and regenerates the saved sample grid byte for byte.
  const restored = restore(join(dir, 'checkpoint.safetensors'));
  for (const [name, v] of result.model.namedParameters()) {
    const w = restored.model.namedParameters().find(([n]) => n === name)![1];
    assert.deepEqual(Array.from(w.dataSync()), Array.from(v.dataSync()), name);
  }
  const grid = await runSamples(restored.model, result.config.samples!, result.config.seed);
  assert.deepEqual(grid.png, fs.readFileSync(join(dir, 'samples', 'final.png')));
  restored.trainer?.dispose();
  restored.model.dispose();
  result.dispose();
  assert.equal(tf.memory().numTensors, tensors);
});

test('a run stopped midway is `interrupted`; resumed, it ends exactly where an unbroken run ends', async () => {
  let steps = 0;
  const stopped = await trainRun(tiny('broken', { steps: 4, samples: null, checkpointEvery: 1, shouldStop: () => steps === 2, onStep: () => steps++ }));
  assert.equal(stopped.status, 'interrupted');
  assert.equal(readRecord(join(root, 'broken')).status, 'interrupted');
  assert.equal(stopped.trainer.step, 2);
  stopped.dispose();

  const resumed = await trainRun(tiny('broken', { steps: 4, samples: null, checkpointEvery: 1, resume: true }));
  assert.equal(resumed.status, 'finished');
  assert.equal(resumed.resumedFrom, 2);
  const record = readRecord(join(root, 'broken'));
  assert.equal(record.status, 'finished');
  assert.deepEqual(record.resumed.map((r) => r.step), [2]);
  resumed.dispose();

  const whole = await trainRun(tiny('whole', { steps: 4, samples: null }));
  whole.dispose();
  assert.deepEqual(losses(join(root, 'broken')), losses(join(root, 'whole')));

  // resume: true on a different config neither mixes two runs nor deletes the finished one: it says what changed.
  await assert.rejects(trainRun(tiny('broken', { steps: 4, samples: null, resume: true, seed: 6 })), /cannot resume: .*changed at seed \(5 -> 6\)/);
  assert.deepEqual(readRecord(join(root, 'broken')).resumed.map((r) => r.step), [2]);
});

test('an error after training marks the run failed with its message, rethrows it and frees the model', async () => {
  const tensors = tf.memory().numTensors;
  await assert.rejects(
    trainRun(tiny('fails', { samples: null, evaluate: () => { throw new TypeError('no classifier'); } })),
    /no classifier/,
  );
  const record = readRecord(join(root, 'fails'));
  assert.equal(record.status, 'failed');
  assert.equal(record.error, 'TypeError: no classifier');
  assert.equal(aq.fromCSV(fs.readFileSync(join(root, 'fails', 'metrics.csv'), 'utf8')).numRows(), 3);
  assert.equal(tf.memory().numTensors, tensors);
});

test('pixels that do not fit the model are refused before anything is written', async () => {
  await assert.rejects(trainRun(tiny('misfit', { preset: 'tiny' })), /experiment\.data: got "16x16x1 images"/);
  assert.equal(fs.existsSync(join(root, 'misfit')), false);
});
