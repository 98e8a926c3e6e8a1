/**
 * The research notebooks' held-out scoring (src/experiments/heldout.ts): heldoutLosses measures every arm on the
 * same documents, times and noise, unweighted, so arms that differ only in how they train the diffusion loss score
 * the same with the same weights; armScorer joins it to src/eval's row; realDigitScores puts real digits through
 * the same scorer. No tensor is left behind.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { initEngine } from '../../src/engine/engine';
import { ConfigError, type DeepPartial } from '../../src/config';
import { resolveConfig, type TransfusionConfig } from '../../src/model/config';
import { Transfusion } from '../../src/model/transfusion';
import { mnistHeldoutDigits } from '../../src/eval/classifier-train';
import type { DigitScorer } from '../../src/eval/evaluate';
import { armScorer, heldoutLosses, realDigitScores } from '../../src/experiments/heldout';
import type { EvaluateContext } from '../../src/experiments/train-run';
import { DataLoader } from '../../src/data/loader';
import { MnistDataset } from '../../src/data/mnist';
import { TINY_NET } from '../helpers/experiments';

before(async () => {
  await initEngine();
});

/** The `mnist` preset on the tiny network; the initialisation depends on the network alone, so every arm starts equal. */
function arm(overrides: DeepPartial<TransfusionConfig> = {}): Transfusion {
  return new Transfusion(resolveConfig('mnist', { ...overrides, net: TINY_NET }), new Rng('heldout-test'));
}

const SMALL = { batches: 2, batchSize: 4 };

test('heldoutLosses: the same weights score the same whatever the arm trains with; other weights or seeds differ', () => {
  const paper = arm();
  // Another weighting, timestep sampler and noise limit, and a training curriculum (plain captions, image-first epochs).
  const other = arm({
    objective: { weighting: { kind: 'min-snr', gamma: 5 }, timesteps: { kind: 'logit-normal', m: 0, s: 1 }, noiseLimit: false },
    sequence: { plainCaptionEpochs: 1, plainCaptionImageFirstProb: 1, imageFirstByEpoch: [1, 1, 0.5] },
  });
  const before = tf.memory().numTensors;
  const a = heldoutLosses(paper, SMALL);
  const b = heldoutLosses(other, SMALL);
  assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
  assert.ok(Number.isFinite(a.heldout_lm) && a.heldout_lm > 0 && Number.isFinite(a.heldout_diffusion) && a.heldout_diffusion > 0);
  assert.deepEqual(b, a, 'same documents, times and noise, unweighted: the training settings do not enter');
  assert.deepEqual(heldoutLosses(paper, SMALL), a, 'repeatable');
  assert.notDeepEqual(heldoutLosses(paper, { ...SMALL, seed: 1 }), a, 'another seed draws other documents, times and noise');
  // The training loss on one batch does differ between the two arms (min-SNR weights the diffusion MSE).
  const batch = new DataLoader(new MnistDataset({ size: 16 }), { batchSize: 4, sequence: paper.config.sequence }, { rng: new Rng('b') }).epoch(1).next().value!;
  const loss = (m: Transfusion) => tf.tidy(() => m.loss(batch, new Rng('noise')).breakdown.diffusion.dataSync()[0]);
  assert.notEqual(loss(other), loss(paper));
  const trained = arm({ objective: { lambda: 2 } });
  trained.net.namedParameters()[0][1].assign(tf.tidy(() => trained.net.namedParameters()[0][1].mul(1.5)));
  assert.notDeepEqual(heldoutLosses(trained, SMALL), a, 'other weights score otherwise');
  [paper, other, trained].forEach((m) => m.dispose());
});

test('heldoutLosses: runs in eval mode and gives the mode back; too many batches is an error naming the limit', () => {
  const model = arm();
  assert.equal(model.net.training, true);
  heldoutLosses(model, { batches: 1, batchSize: 2 });
  assert.equal(model.net.training, true);
  model.eval();
  heldoutLosses(model, { batches: 1, batchSize: 2 });
  assert.equal(model.net.training, false);
  assert.throws(() => heldoutLosses(model, { batches: 100, batchSize: 16 }), (e: unknown) =>
    e instanceof ConfigError && /^heldoutLosses\.batches: got 100; allowed: at most 62 batches of 16 \(the 1000 held-out digits\)$/.test((e as Error).message));
  assert.throws(() => heldoutLosses(model, { batches: 0 }), /heldoutLosses\.batches: got 0/);
  model.dispose();
});

/** A scorer that knows each real held-out digit by its pixels: right on real digits, 'unknown' (-1) on anything else. */
function knowingScorer(): DigitScorer {
  const heldout = mnistHeldoutDigits();
  const labelOf = new Map<string, number>();
  for (let i = 0; i < heldout.length; i++) labelOf.set(heldout.pixels.subarray(i * 256, (i + 1) * 256).join(','), heldout.labels[i]);
  const rows = (images: tf.Tensor) => {
    const data = Float32Array.from(images.dataSync());
    return Array.from({ length: images.shape[0] }, (_, i) => data.subarray(i * 256, (i + 1) * 256));
  };
  return {
    predict: (images) => Int32Array.from(rows(images), (r) => labelOf.get(Array.from(r).join(',')) ?? -1),
    features: (images) => rows(images).map((r) => Float64Array.of(r.reduce((s, v) => s + v, 0) / 256, r[100], r[150])),
  };
}

test('realDigitScores: real digits of the asked class through evaluate, and through a transform', async () => {
  const model = arm();
  const scorer = knowingScorer();
  const evaluation = { n: 2, heldout: 4, steps: 2 };
  const before = tf.memory().numTensors;
  const real = await realDigitScores(model, evaluation, undefined, scorer);
  assert.equal(real.t2i_accuracy, 1, 'every image is a real digit of the class asked for');
  assert.ok(Number.isFinite(real.fid));
  const flipped = await realDigitScores(model, evaluation, (images) => images.neg(), scorer);
  assert.equal(flipped.t2i_accuracy, 0, 'the transform ran: negated digits are no digit the scorer knows');
  assert.ok(flipped.fid > real.fid, 'and they are further from the held-out digits');
  assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
  model.dispose();
});

test('armScorer: src/eval row plus the held-out losses; the evaluation settings may follow the model', async () => {
  const model = arm();
  const seen: Transfusion[] = [];
  const inputs = { classifier: knowingScorer() };
  const score = armScorer({ evaluation: (m) => { seen.push(m); return { n: 1, heldout: 2, steps: 2 }; }, heldout: { batches: 1, batchSize: 2 }, inputs });
  const context = {} as EvaluateContext;
  const before = tf.memory().numTensors;
  const row = await score(model, context) as Record<string, unknown>;
  assert.deepEqual(seen, [model]);
  for (const key of ['t2i_accuracy', 'fid', 'caption_accuracy', 'perplexity', 'diffusion_mse', 'heldout_lm', 'heldout_diffusion']) assert.equal(typeof row[key], 'number', key);
  assert.equal(row.n, 1);
  assert.equal(row.steps, 2);
  assert.deepEqual({ heldout_lm: row.heldout_lm, heldout_diffusion: row.heldout_diffusion }, heldoutLosses(model, { batches: 1, batchSize: 2 }));
  const without = await armScorer({ evaluation: { n: 1, heldout: 2, steps: 2 }, heldout: null, inputs })(model, context) as Record<string, unknown>;
  assert.equal('heldout_lm' in without, false);
  assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
  model.dispose();
});
