import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { initEngine } from '../../src/engine/engine';
import { DIGIT_WORDS, canonicalCaption } from '../../src/data/mnist';
import { Transfusion } from '../../src/model/transfusion';
import { mnistHeldoutDigits } from '../../src/eval/classifier-train';
import { frechetDistanceOf } from '../../src/eval/frechet';
import { evaluate, type DigitScorer, type EvalGenerators } from '../../src/eval/evaluate';
import { DigitClassifier } from '../../src/eval/classifier';
import { heldOutDiffusionLoss } from '../../src/eval/diffusion-loss';

before(async () => {
  await initEngine();
});

/**
 * Fakes with known answers. The fake generator paints digit d as a constant image of value (d - 4.5) / 5, except
 * that it paints 8 when asked for 3 (so exactly 9 digits of 10 come out right); the fake scorer reads the digit
 * back from the mean and uses (mean, mean of the top half) as features. The fake captioner knows each held-out
 * image's label and answers right except for 0 ("zero or one": two digits) and 2 ("17": a number).
 */
const paint = (d: number) => (d - 4.5) / 5;

const scorer: DigitScorer = {
  predict: (images) => {
    const digits = tf.tidy(() => images.mean([1, 2, 3]).mul(5).add(4.5).round().clipByValue(0, 9));
    const out = Int32Array.from(digits.dataSync());
    digits.dispose();
    return out;
  },
  features: (images) => {
    const data = images.dataSync();
    const n = images.shape[0];
    return Array.from({ length: n }, (_, i) => {
      const row = data.subarray(i * 256, (i + 1) * 256);
      const mean = (xs: ArrayLike<number>) => Array.from(xs).reduce((s, v) => s + v, 0) / xs.length;
      return Float64Array.of(mean(row), mean(row.subarray(0, 128)));
    });
  },
};

function fakeGenerators(calls: Array<{ kind: string; options: unknown; count: number }>): EvalGenerators {
  const heldout = mnistHeldoutDigits();
  const labelOf = new Map<string, number>();
  for (let i = 0; i < heldout.length; i++) labelOf.set(heldout.pixels.subarray(i * 256, (i + 1) * 256).join(','), heldout.labels[i]);
  return {
    textToImage: (_model, captions, options) => {
      calls.push({ kind: 't2i', options, count: captions.length });
      const values = captions.map((c) => {
        const d = Number(/the digit (\d)/.exec(c)![1]);
        return paint(d === 3 ? 8 : d);
      });
      return tf.tidy(() => tf.tensor1d(values).reshape([-1, 1, 1, 1]).tile([1, 16, 16, 1]));
    },
    caption: async (_model, latents, options) => {
      calls.push({ kind: 'caption', options, count: latents.shape[0] });
      const data = latents.dataSync();
      return Array.from({ length: latents.shape[0] }, (_, i) => {
        const label = labelOf.get(data.subarray(i * 256, (i + 1) * 256).join(','))!;
        return label === 0 ? 'zero or one' : label === 2 ? 'the number 17' : `a handwritten ${DIGIT_WORDS[label]}`;
      });
    },
  };
}

test('evaluate with fake generators gives the exact expected row; options reach the generators; no leaks', async () => {
  const model = Transfusion.create('mnist', { net: { transformer: { dModel: 32, nLayers: 1, nHeads: 2, ffnHidden: 64 } } }, new Rng(0));
  // A uniform LM: perplexity exactly 262.
  tf.tidy(() => model.net.head.weight.assign(tf.zerosLike(model.net.head.weight)));
  const calls: Array<{ kind: string; options: unknown; count: number }> = [];
  const before = tf.memory().numTensors;
  const row = await evaluate(model, { n: 3, steps: 7, guidance: 2.5, heldout: 40, batchSize: 16, seed: 9 }, { classifier: scorer, generators: fakeGenerators(calls) });
  assert.equal(tf.memory().numTensors, before);

  assert.equal(row.t2i_accuracy, 0.9);
  const heldout = mnistHeldoutDigits();
  const labels = Array.from(heldout.labels.subarray(0, 40));
  assert.equal(row.caption_accuracy, labels.filter((l) => l !== 0 && l !== 2).length / 40);
  const generated = Array.from({ length: 30 }, (_, i) => {
    const d = Math.floor(i / 3);
    const v = Math.fround(paint(d === 3 ? 8 : d));
    return Float64Array.of(v, v);
  });
  const all = tf.tensor4d(heldout.pixels, [1000, 16, 16, 1]);
  const real = scorer.features(all);
  all.dispose();
  assert.ok(Math.abs(row.fid - frechetDistanceOf(generated, real)) < 1e-9, `fid ${row.fid}`);
  assert.ok(Math.abs(row.perplexity - 262) < 262 * 1e-5, `perplexity ${row.perplexity}`);
  // The held-out diffusion error is taken on the same 40 digits, the same documents a direct call builds.
  const direct = heldOutDiffusionLoss(model, { n: 40, seed: 9 });
  assert.ok(Number.isFinite(row.diffusion_mse) && row.diffusion_mse > 0, `diffusion_mse ${row.diffusion_mse}`);
  assert.ok(Math.abs(row.diffusion_mse - direct.mse) < 1e-6 * direct.mse, `${row.diffusion_mse} vs ${direct.mse}`);
  assert.deepEqual({ n: row.n, steps: row.steps, sampler: row.sampler, guidance: row.guidance, seed: row.seed }, { n: 3, steps: 7, sampler: 'ddim', guidance: 2.5, seed: 9 });
  assert.ok(row.seconds > 0 && row.seconds < 60);

  // 30 images in chunks of 16, then 40 held-out digits in chunks of 16.
  assert.deepEqual(calls.map((c) => [c.kind, c.count]), [['t2i', 16], ['t2i', 14], ['caption', 16], ['caption', 16], ['caption', 8]]);
  for (const c of calls) {
    assert.deepEqual(c.options, { greedy: true, maxTokens: 32, sampler: { steps: 7 }, guidanceScale: 2.5 });
  }
  model.dispose();
});

test('generation options pass through, steps and guidance win; canonical captions are asked for in digit order', async () => {
  const model = Transfusion.create('mnist', { net: { transformer: { dModel: 32, nLayers: 1, nHeads: 2, ffnHidden: 64 } } }, new Rng(1));
  const asked: string[] = [];
  const calls: Array<{ kind: string; options: unknown; count: number }> = [];
  const fakes = fakeGenerators(calls);
  const generators: EvalGenerators = {
    textToImage: (m, captions, options, inputs) => {
      asked.push(...captions);
      return fakes.textToImage(m, captions, options, inputs);
    },
    caption: fakes.caption,
  };
  const generate = { sampler: { kind: 'euler' as const, steps: 99 }, guidanceScale: 9, temperature: 0.5 };
  const row = await evaluate(model, { n: 2, steps: 4, guidance: 1, heldout: 3 }, { classifier: scorer, generators, generate });
  assert.deepEqual(asked, Array.from({ length: 20 }, (_, i) => canonicalCaption(Math.floor(i / 2))));
  assert.deepEqual(calls[0].options, { greedy: true, maxTokens: 32, temperature: 0.5, sampler: { kind: 'euler', steps: 4 }, guidanceScale: 1 });
  assert.equal(row.sampler, 'euler', 'the row names the sampler that generated');
  // The config's sampler kind wins over the generate options' (from that kind's defaults), as steps do.
  calls.length = 0;
  const fast = await evaluate(model, { n: 1, steps: 5, sampler: 'dpmpp-2m', guidance: 1, heldout: 2 }, { classifier: scorer, generators: fakes, generate });
  assert.deepEqual(calls[0].options, { greedy: true, maxTokens: 32, temperature: 0.5, sampler: { kind: 'dpmpp-2m', steps: 5 }, guidanceScale: 1 });
  assert.equal(fast.sampler, 'dpmpp-2m');
  model.dispose();
});

test('converters: toImages output is clamped to [-1, 1]; converted tensors are disposed, not leaked', async () => {
  const model = Transfusion.create('mnist', { net: { transformer: { dModel: 32, nLayers: 1, nHeads: 2, ffnHidden: 64 } } }, new Rng(3));
  const before = tf.memory().numTensors;
  const seen: number[] = [];
  const row = await evaluate(model, { n: 2, heldout: 5 }, {
    classifier: scorer,
    generators: fakeGenerators([]),
    // A stand-in decoder that overshoots the pixel range, and an encoder that copies.
    toImages: (latents) => latents.mul(3),
    toLatents: (images) => {
      seen.push(images.shape[0]);
      return images.add(0);
    },
  });
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(seen, [5]);
  const generated = Array.from({ length: 20 }, (_, i) => {
    const d = Math.floor(i / 2);
    const v = Math.min(1, Math.max(-1, 3 * Math.fround(paint(d === 3 ? 8 : d))));
    return Float64Array.of(v, v);
  });
  const all = tf.tensor4d(mnistHeldoutDigits().pixels, [1000, 16, 16, 1]);
  const real = scorer.features(all);
  all.dispose();
  assert.ok(Math.abs(row.fid - frechetDistanceOf(generated, real)) < 1e-6, `fid ${row.fid}`);
  model.dispose();
});

test('the lab generators (src/generate) plug in: a finite row from an untrained model, no leaks', async () => {
  const model = Transfusion.create('mnist', { net: { transformer: { dModel: 32, nLayers: 1, nHeads: 2, ffnHidden: 64 } } }, new Rng(4));
  const classifier = new DigitClassifier({ conv: [4, 4], features: 8 }, new Rng(5));
  const before = tf.memory().numTensors;
  const row = await evaluate(model, { n: 1, steps: 2, guidance: 2, heldout: 3, seed: 1 }, { classifier, generate: { maxTokens: 4 } });
  assert.equal(tf.memory().numTensors, before);
  for (const key of ['t2i_accuracy', 'caption_accuracy'] as const) assert.ok(row[key] >= 0 && row[key] <= 1, `${key} ${row[key]}`);
  assert.ok(Number.isFinite(row.fid) && row.fid >= 0, `fid ${row.fid}`);
  // An untrained LM is close to uniform over the 262 ids.
  assert.ok(row.perplexity > 100 && row.perplexity < 600, `perplexity ${row.perplexity}`);
  const again = await evaluate(model, { n: 1, steps: 2, guidance: 2, heldout: 3, seed: 1 }, { classifier, generate: { maxTokens: 4 } });
  assert.deepEqual({ ...again, seconds: 0 }, { ...row, seconds: 0 }, 'the same seed gives the same row');
  classifier.dispose();
  model.dispose();
});

test('config errors name the field', async () => {
  const model = Transfusion.create('mnist', { net: { transformer: { dModel: 32, nLayers: 1, nHeads: 2, ffnHidden: 64 } } }, new Rng(2));
  await assert.rejects(evaluate(model, { n: 0 }, { classifier: scorer }), /eval\.n: got 0/);
  await assert.rejects(evaluate(model, { guidance: 'high' as never }, { classifier: scorer }), /eval\.guidance: got "high"/);
  await assert.rejects(evaluate(model, { steps: 2.5 }, { classifier: scorer }), /eval\.steps: got 2\.5/);
  await assert.rejects(evaluate(model, { sampler: 'dpm' }, { classifier: scorer }), /eval\.sampler: got "dpm"; allowed: .*'ddim'.*'dpmpp-2m'/);
  await assert.rejects(evaluate(model, { heldout: 1001 }, { classifier: scorer }), /eval\.heldout: got 1001; allowed: at most the 1000 held-out digits/);
  await assert.rejects(evaluate(model, { samples: 3 } as never, { classifier: scorer }), /eval\.samples/);
  model.dispose();
});
