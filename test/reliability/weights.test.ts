/**
 * Weights and what is computed from them are checked: a checkpoint holding a non-finite value is refused at
 * load naming the tensor, generation never returns NaN images or captions drawn from NaN logits without a word,
 * and a training step that throws leaves no tensor behind.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tf } from '../../src/engine/tf';
import { initEngine } from '../../src/engine/engine';
import { Rng } from '../../src/engine/random';
import { Linear } from '../../src/blocks/linear';
import { loadCheckpoint, restore, saveCheckpoint } from '../../src/checkpoint/checkpoint';
import { readSafetensors, writeSafetensors, type HostTensor } from '../../src/checkpoint/safetensors';
import { TrainingRun } from '../../src/checkpoint/session';
import type { ImageDataset } from '../../src/data/image';
import { captionPrompt } from '../../src/data/sequence';
import { caption, textToImage } from '../../src/generate/batch';
import { denoiseImages } from '../../src/generate/denoise';
import { generate, imageSampler } from '../../src/generate/generate';
import { resolveGenerateOptions } from '../../src/generate/options';
import { sampleToken } from '../../src/generate/sample-token';
import { Transfusion } from '../../src/model/transfusion';
import type { Sampler } from '../../src/schedules/sampler';
import { NonFiniteLossError, Trainer, makeTrainConfig, type LossFn } from '../../src/train/trainer';
import { tempFolder } from '../checkpoint/helpers';

before(async () => {
  await initEngine();
});

const dir = tempFolder('reliability-weights');
const TINY = { net: { transformer: { dModel: 16, nLayers: 1, nHeads: 2, ffnHidden: 32 } } } as const;
const WQ = 'transformer.layers.0.attn.wq.weight';
const FAST = { sampler: { kind: 'ddim' as const, steps: 2 } };

function tinyModel(): Transfusion {
  return Transfusion.create('mnist', TINY, new Rng(3));
}

/** `model` with every value of parameter `name` set to `value`. */
function poison(model: Transfusion, name: string, value: number): Transfusion {
  const v = model.namedParameters().find(([n]) => n === name)![1];
  v.assign(tf.fill(v.shape, value));
  return model;
}

/** Eight 16 x 16 grey images with short captions: a dataset that needs no download. */
const noiseDigits: ImageDataset = {
  length: 8, height: 16, width: 16, channels: 1,
  get: (i) => ({ image: Float32Array.from({ length: 256 }, (_, k) => Math.sin(i + k)), height: 16, width: 16, channels: 1, caption: `a ${i}` }),
};

/** Copy `src` to `dst` with one value of tensor `name` set to `value` (the file stays valid safetensors). */
function corrupt(src: string, dst: string, name: string, index: number, value: number): string {
  const { tensors, metadata } = readSafetensors(src);
  const host = tensors[name];
  const values = new Float32Array(new Uint8Array(host.data).buffer);
  values[index] = value;
  const edited: HostTensor = { ...host, data: new Uint8Array(values.buffer) };
  writeSafetensors(dst, { ...tensors, [name]: edited }, metadata);
  return dst;
}

test('a checkpoint with a NaN weight is refused at load, naming the tensor, the count and the first bad index', () => {
  const model = tinyModel();
  const good = join(dir, 'good.safetensors');
  saveCheckpoint(good, { model });
  model.dispose();
  const bad = corrupt(good, join(dir, 'nan-weight.safetensors'), WQ, 5, Number.NaN);
  const before = tf.memory().numTensors;
  const message = /nan-weight\.safetensors: tensor 'transformer\.layers\.0\.attn\.wq\.weight' \[16, 16\] holds 1 non-finite value \(first: NaN at flat index 5\); a checkpoint must hold finite numbers/;
  assert.throws(() => restore(bad), message);
  assert.throws(() => loadCheckpoint(bad), message);
  assert.equal(tf.memory().numTensors, before, 'a refused checkpoint leaves no tensor behind');
  restore(good).model.dispose();
});

test('an Inf in the optimizer moments or the EMA weights is refused too, naming that tensor', async () => {
  const run = TrainingRun.create(noiseDigits, { preset: 'mnist', model: TINY, train: { emaDecay: 0.9 }, loader: { batchSize: 4 }, seed: 1 });
  await run.train(1);
  const good = join(dir, 'run.safetensors');
  run.checkpoint(good);
  run.dispose();
  const moment = corrupt(good, join(dir, 'inf-moment.safetensors'), `optimizer.v.${WQ}`, 0, Number.POSITIVE_INFINITY);
  assert.throws(() => TrainingRun.resume(moment, noiseDigits), /tensor 'optimizer\.v\.transformer\.layers\.0\.attn\.wq\.weight' \[16, 16\] holds 1 non-finite value \(first: Infinity at flat index 0\)/);
  const ema = corrupt(good, join(dir, 'inf-ema.safetensors'), `ema.${WQ}`, 255, Number.NEGATIVE_INFINITY);
  assert.throws(() => restore(ema), /tensor 'ema\.transformer\.layers\.0\.attn\.wq\.weight' \[16, 16\] holds 1 non-finite value \(first: -Infinity at flat index 255\)/);
});

test('textToImage from a model with NaN weights throws naming the step, rather than returning NaN images', () => {
  const model = poison(tinyModel(), WQ, Number.NaN);
  const before = tf.memory().numTensors;
  assert.throws(() => textToImage(model, ['a 7'], FAST, { rng: new Rng(1) }),
    /textToImage: the network's prediction is non-finite at denoising step 1 of 2 \(t = 1\.0000 -> 0\.5000\), on finite inputs; its weights are likely non-finite/);
  assert.equal(tf.memory().numTensors, before, 'the failed call leaves no tensor behind');
  model.dispose();
});

test('a sampler that goes non-finite on a finite prediction is named as the culprit, with the step', () => {
  const model = tinyModel();
  const real = imageSampler(model, resolveGenerateOptions(FAST));
  const exploding: Sampler = {
    config: real.config, schedule: real.schedule, timesteps: () => real.timesteps(),
    step: (input) => {
      const out = real.step(input);
      const prev = out.prev.mul(Number.POSITIVE_INFINITY);
      out.prev.dispose();
      return { prev, predX0: out.predX0 };
    },
  };
  const noise = new Rng(2).randomNormal([1, 16, 16, 1]);
  const rows = [{ tokens: captionPrompt('a 7'), images: [] }];
  const options = { sampler: exploding, prediction: 'epsilon' as const, guidance: 3, cache: true, trajectory: true, rng: new Rng(3) };
  const before = tf.memory().numTensors;
  assert.throws(() => denoiseImages(model.net, rows, noise, options),
    /denoiseImages: the sampler \(ddim\) produced non-finite values at denoising step 1 of 2 \(t = 1\.0000 -> 0\.5000\) from a finite network prediction; lower the guidance scale \(now 3\)/);
  assert.equal(tf.memory().numTensors, before, 'the failed call leaves no tensor behind');
  const nanNoise = tf.fill([1, 16, 16, 1], Number.NaN);
  assert.throws(() => textToImage(model, ['a 7'], FAST, { noise: nanNoise }), /textToImage: noise: got "a tensor holding NaN or Inf"; allowed: finite starting noise/);
  tf.dispose([noise, nanNoise]);
  model.dispose();
});

test('caption and generate from a model with NaN weights throw naming the row and token, rather than returning empty captions', () => {
  const model = poison(tinyModel(), WQ, Number.NaN);
  const latents = new Rng(4).randomNormal([2, 16, 16, 1]);
  assert.throws(() => caption(model, latents, { greedy: true, maxTokens: 4 }),
    /caption \(row 0, token 1\): the network's next-token logits hold 262 NaN or \+Infinity values of 262 \(first NaN at id 0\)/);
  assert.throws(() => generate(model, 'a 7', { maxTokens: 4 }, { rng: new Rng(5) }),
    /generate \(token 1\): the network's next-token logits hold 262 NaN or \+Infinity values of 262 \(first NaN at id 0\)/);
  assert.throws(() => generate(model, 'a 7', { ...FAST, forceImage: true }, { rng: new Rng(5) }),
    /generate \(image 1\): the network's prediction is non-finite at denoising step 1 of 2/);
  latents.dispose();
  model.dispose();
});

test('caption refuses inputs that can only give empty or meaningless captions: maxTokens 0, non-finite latents', () => {
  const model = tinyModel();
  const latents = new Rng(6).randomNormal([1, 16, 16, 1]);
  assert.throws(() => caption(model, latents, { maxTokens: 0 }), /generate\.maxTokens: got 0; allowed: at least 1 for caption \(0 would return empty captions without running the model\)/);
  const nan = tf.fill([1, 16, 16, 1], Number.NaN);
  assert.throws(() => caption(model, nan, { maxTokens: 2 }), /caption: latents: got "a tensor holding NaN or Inf"; allowed: finite latents/);
  // A caption that ends at once is a real output of the model, and comes back as it is.
  assert.equal(caption(model, latents, { greedy: true, maxTokens: 2 }).length, 1);
  tf.dispose([latents, nan]);
  model.dispose();
});

test('sampleToken: NaN or +Inf logits throw naming the caller; -Inf is a probability of zero', () => {
  const options = { temperature: 1, greedy: false, topK: 0, topP: 1 };
  assert.throws(() => sampleToken([0, Number.NaN, 1], options, new Rng(1), [], 'my loop (token 3)'),
    /my loop \(token 3\): the network's next-token logits hold 1 NaN or \+Infinity value of 3 \(first NaN at id 1\)/);
  assert.equal(sampleToken([Number.NEGATIVE_INFINITY, 0, Number.NEGATIVE_INFINITY], options, new Rng(1)), 1);
  assert.throws(() => sampleToken([Number.NEGATIVE_INFINITY, 0], options, new Rng(1), [1]), /sampleToken: every allowed id has logit -Infinity, so no token can be drawn/);
});

/** y = x W + b on fixed data, and its MSE: a loss whose tensors are easy to count. */
function regression(seed: number) {
  const r = new Rng(seed);
  const x = r.randomNormal([16, 4]);
  const y = r.randomNormal([16, 2]);
  const model = new Linear(4, 2, { rng: r });
  const loss: LossFn = () => {
    const total = tf.tidy(() => model.forward(x).sub(y).square().mean()) as tf.Scalar;
    return { total, breakdown: { mse: total.clone() } };
  };
  return { model, loss, dispose: () => tf.dispose([x, y]) };
}

test('a training step that throws leaves no tensor behind: a loss that throws mid-step, a non-scalar loss, a non-finite loss', () => {
  const { model, loss, dispose } = regression(7);
  const trainer = new Trainer(model, makeTrainConfig({ lrSchedule: { kind: 'constant' }, gradAccumulation: 2 }));
  trainer.trainStep(loss);
  const before = tf.memory().numTensors;

  const throwsOnSecond: LossFn = (step, micro) => {
    if (micro === 1) {
      model.forward(tf.ones([1, 4]));
      throw new Error('data loader failed');
    }
    return loss(step, micro);
  };
  assert.throws(() => trainer.trainStep(throwsOnSecond), /data loader failed/);
  assert.equal(tf.memory().numTensors, before, 'micro-batch 0\'s gradients leaked when micro-batch 1 threw');

  const vector: LossFn = (step, micro) => {
    const out = loss(step, micro);
    return { total: tf.stack([out.total, out.total]) as unknown as tf.Scalar, breakdown: out.breakdown };
  };
  assert.throws(() => trainer.trainStep(vector), /lossFn total: expected shape \[\] \(a scalar\), received \[2\]/);
  assert.equal(tf.memory().numTensors, before, 'a non-scalar loss leaked its breakdown or forward');

  const nan: LossFn = (step, micro) => {
    const out = loss(step, micro);
    return { total: tf.tidy(() => out.total.mul(Number.NaN)) as tf.Scalar, breakdown: { mse: out.total } };
  };
  assert.throws(() => trainer.trainStep(nan), (e: unknown) => e instanceof NonFiniteLossError && /non-finite loss at step 1: loss=NaN/.test(e.message));
  assert.equal(tf.memory().numTensors, before, 'a non-finite loss leaked');

  assert.equal(trainer.step, 1, 'no failed step counted');
  trainer.dispose();
  model.dispose();
  dispose();
});
