import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tf } from '../../src/engine/tf';
import { initEngine } from '../../src/engine/engine';
import { Rng, rng, setSeed } from '../../src/engine/random';
import { ConfigError } from '../../src/config';
import { CheckpointError, saveCheckpoint } from '../../src/checkpoint/checkpoint';
import { TrainingRun, makeRunConfig } from '../../src/checkpoint/session';
import type { StepReport } from '../../src/train/trainer';
import { TINY_RUN, tempFolder, tenDigits, values } from './helpers';

before(async () => {
  await initEngine();
});

const dir = tempFolder('session');
const dataset = tenDigits();
const STEPS = 7;
const SAVE_AT = 3;

/** Everything of a step report that does not depend on wall time. */
const curve = (history: readonly StepReport[]) => history.map(({ step, loss, breakdown, lr, gradNorm }) => ({ step, loss, breakdown, lr, gradNorm }));
const weights = (run: TrainingRun) => run.model.namedParameters().map(([n, v]) => [n, values(v)]);

let reference: { curve: ReturnType<typeof curve>; weights: ReturnType<typeof weights>; ema: number[] } | null = null;

/** The uninterrupted run, computed once. */
async function uninterrupted() {
  if (!reference) {
    const run = TrainingRun.create(dataset, TINY_RUN);
    await run.train(STEPS);
    reference = { curve: curve(run.trainer.history), weights: weights(run), ema: values(run.trainer.ema!.stateDict()['head.weight']) };
    run.dispose();
  }
  return reference;
}

/** Train to SAVE_AT, checkpoint, throw the run away, resume from the file in a fresh object. */
async function interrupted(name: string): Promise<{ resumed: TrainingRun; path: string; globalAtSave: ReturnType<Rng['state']> }> {
  const first = TrainingRun.create(dataset, TINY_RUN);
  await first.train(SAVE_AT);
  // 10 items, 4 rows a batch, dropLast: 2 batches an epoch, so step 3 stops inside epoch 1.
  assert.deepEqual(first.dataPosition, { epoch: 1, batch: 1 });
  const path = join(dir, name);
  first.checkpoint(path);
  const globalAtSave = rng().state();
  first.dispose();
  setSeed(12345); // whatever happens in between must not matter
  return { resumed: TrainingRun.resume(path, dataset), path, globalAtSave };
}

test('exact resume: save at step 3, resume in a fresh object, the loss curve and weights equal the uninterrupted run', async () => {
  const ref = await uninterrupted();
  assert.equal(ref.curve.length, STEPS);
  const { resumed, globalAtSave } = await interrupted('resume.safetensors');
  assert.deepEqual(rng().state(), globalAtSave, 'global stream restored');
  assert.equal(resumed.step, SAVE_AT);
  assert.deepEqual(resumed.dataPosition, { epoch: 1, batch: 1 });
  const counts: number[] = [];
  await resumed.train(STEPS - SAVE_AT, { onStep: () => counts.push(tf.memory().numTensors) });
  assert.deepEqual(curve(resumed.trainer.history), ref.curve);
  assert.deepEqual(weights(resumed), ref.weights);
  assert.deepEqual(values(resumed.trainer.ema!.stateDict()['head.weight']), ref.ema);
  assert.equal(counts[counts.length - 1], counts[0], `tensor count per step after resume: ${counts}`);
  resumed.dispose();
});

test('the test can fail: a resume whose noise stream or data position is off gives a different curve', async () => {
  const ref = await uninterrupted();
  const { resumed: wrongNoise } = await interrupted('noise.safetensors');
  wrongNoise.noise.setState(new Rng('another').state());
  await wrongNoise.train(1);
  assert.notDeepEqual(curve(wrongNoise.trainer.history)[SAVE_AT], ref.curve[SAVE_AT]);
  wrongNoise.dispose();

  const { resumed: wrongData } = await interrupted('data.safetensors');
  wrongData.nextBatch(); // skip one batch
  await wrongData.train(1);
  assert.notDeepEqual(curve(wrongData.trainer.history)[SAVE_AT], ref.curve[SAVE_AT]);
  wrongData.dispose();
});

test('checkpointing from onStep saves at a step boundary and resumes from there', async () => {
  const ref = await uninterrupted();
  const run = TrainingRun.create(dataset, TINY_RUN);
  const path = join(dir, 'on-step.safetensors');
  await run.train(2, { onStep: (r) => r.step === 0 && run.checkpoint(path) });
  run.dispose();
  const resumed = TrainingRun.resume(path, dataset);
  assert.equal(resumed.step, 1);
  await resumed.train(2);
  assert.deepEqual(curve(resumed.trainer.history), ref.curve.slice(0, 3));
  resumed.dispose();
});

test('resume refuses what would not continue the same run, naming the file', async () => {
  const { resumed, path } = await interrupted('refuse.safetensors');
  resumed.dispose();
  const fewer = { ...dataset, length: 9 };
  assert.throws(() => TrainingRun.resume(path, fewer), (e: unknown) =>
    e instanceof CheckpointError && e.message.startsWith(`${path}: `) && /dataset of 10 items; the dataset given has 9/.test(e.message));
  const plain = TrainingRun.create(dataset, TINY_RUN);
  const modelOnly = join(dir, 'model-only.safetensors');
  saveCheckpoint(modelOnly, { model: plain.model });
  plain.dispose();
  const before = tf.memory().numTensors;
  assert.throws(() => TrainingRun.resume(modelOnly, dataset), /model-only\.safetensors: not a TrainingRun checkpoint/);
  assert.equal(tf.memory().numTensors, before, 'the model built while resuming is disposed on failure');
});

test('run config: seeds must be integers, and an epoch too small for one batch is a ConfigError', async () => {
  assert.throws(() => makeRunConfig({ seed: 0.5 }), (e: unknown) => e instanceof ConfigError && /run\.seed: got 0\.5/.test((e as Error).message));
  assert.throws(() => makeRunConfig({ loader: { batchSize: 0 } }), /run\.loader\.batchSize: got 0/);
  const run = TrainingRun.create({ ...dataset, length: 3 }, TINY_RUN);
  assert.throws(() => run.nextBatch(), /run\.loader\.batchSize: got 4; allowed: at most the rows one epoch fills \(3 items\)/);
  run.dispose();
});
