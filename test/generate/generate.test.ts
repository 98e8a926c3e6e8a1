import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { initEngine } from '../../src/engine/engine';
import { ConfigError } from '../../src/config';
import { Transfusion } from '../../src/model/transfusion';
import { BOI, BOS, EOI, EOS, PAD, encode } from '../../src/data/tokenizer';
import { captionPrompt } from '../../src/data/sequence';
import { makeSampler } from '../../src/schedules/make-sampler';
import {
  caption, denoiseImages, disposeResult, generate, textToImage,
  type ContextRow, type DenoiseOptions, type GenerateResult,
} from '../../src/generate';

before(async () => {
  await initEngine();
});

/**
 * A small model with weights pushed far from their init: a freshly initialised network is so close to constant
 * that a wrong mask or a stale cache entry would hardly move its outputs; these weights make every position matter.
 */
function roughModel(seed: number, overrides: object = {}): Transfusion {
  const model = Transfusion.create('mnist', {
    net: { latent: { channels: 1, height: 8, width: 8 }, transformer: { dModel: 32, nLayers: 2, nHeads: 2, ffnHidden: 64 } },
    sequence: { length: 40 },
    ...overrides,
  }, new Rng(seed));
  const rng = new Rng(seed + 100);
  for (const [, v] of model.namedParameters()) v.assign(tf.tidy(() => v.add(rng.randomNormal(v.shape, 0, 0.3))));
  return model;
}

const N = 16;
const H = 8;

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => a.sub(b).abs().max().dataSync()[0]);
}

/**
 * Samplers for comparisons start at t < 1 ('leading' spacing): at t = 1 the cosine schedule's alpha is 5e-5, and
 * x0 = (x - sigma eps) / alpha turns float32 rounding of an untrained eps into differences of 0.1.
 */
const ddim = (steps: number) => ({ kind: 'ddim' as const, steps, spacing: 'leading' as const });

function imageParts(r: GenerateResult): tf.Tensor[] {
  return r.parts.flatMap((p) => (p.kind === 'image' ? [p.latent] : []));
}

test('cached and uncached generation agree: text, image (CFG, stochastic DDPM), trajectory; nothing leaks', () => {
  const model = roughModel(1);
  const options = { sampler: { kind: 'ddpm' as const, steps: 4, spacing: 'leading' as const }, guidanceScale: 3, forceImage: true, maxTokens: 5, returnTrajectory: true };
  const start = tf.memory().numTensors;
  const a = generate(model, 'ab', { ...options, cache: true }, { rng: new Rng(5) });
  const b = generate(model, 'ab', { ...options, cache: false }, { rng: new Rng(5) });
  assert.deepEqual(a.tokens, b.tokens);
  assert.equal(a.stop, 'maxTokens');
  const [ia, ib] = [a.parts[0], b.parts[0]];
  assert.ok(ia.kind === 'image' && ib.kind === 'image' && ia.trajectory && ib.trajectory);
  assert.deepEqual(ia.latent.shape, [H, H, 1]);
  assert.ok(maxAbsDiff(ia.latent, ib.latent) < 1e-4, `latent differs by ${maxAbsDiff(ia.latent, ib.latent)}`);
  assert.equal(ia.trajectory.xt.length, 5);
  assert.equal(ia.trajectory.predX0.length, 4);
  assert.deepEqual(ia.trajectory.t, [0.751, 0.501, 0.251, 0.001, 0]);
  ia.trajectory.xt.forEach((x, k) => assert.ok(maxAbsDiff(x, ib.trajectory!.xt[k]) < 1e-4, `x_t ${k}`));
  ia.trajectory.predX0.forEach((x, k) => assert.ok(maxAbsDiff(x, ib.trajectory!.predX0[k]) < 1e-4, `predX0 ${k}`));
  assert.ok(maxAbsDiff(ia.latent, ia.trajectory.xt[4]) === 0, 'the last state is the result');
  assert.equal(a.parts[1].kind, 'text');
  disposeResult(a);
  disposeResult(b);
  assert.equal(tf.memory().numTensors, start);
  model.dispose();
});

test('denoising after a context that holds an earlier image: cached == uncached, with padded guidance rows', () => {
  const model = roughModel(2);
  const earlier = new Rng(3).randomNormal([H, H, 1]);
  const row: ContextRow = { tokens: [BOS, 65, BOI, ...new Array<number>(N).fill(PAD), EOI, 66, 67, BOI], images: [{ start: 3, latent: earlier }] };
  const noise = new Rng(4).randomNormal([1, H, H, 1]);
  const base: Omit<DenoiseOptions, 'cache'> = {
    sampler: makeSampler(ddim(3), model.objective.schedule), prediction: 'epsilon', guidance: 2, trajectory: false, rng: new Rng(0),
  };
  const start = tf.memory().numTensors;
  const cached = denoiseImages(model.net, [row], noise, { ...base, cache: true });
  const full = denoiseImages(model.net, [row], noise, { ...base, cache: false });
  assert.ok(maxAbsDiff(cached.latents, full.latents) < 1e-4, `differs by ${maxAbsDiff(cached.latents, full.latents)}`);
  // The earlier image is context: changing it must change the result.
  const other = tf.tidy(() => earlier.neg());
  const moved = denoiseImages(model.net, [{ ...row, images: [{ start: 3, latent: other }] }], noise, { ...base, cache: true });
  assert.ok(maxAbsDiff(cached.latents, moved.latents) > 1e-3);
  tf.dispose([cached.latents, full.latents, moved.latents, other]);
  assert.equal(tf.memory().numTensors, start);
  assert.throws(() => denoiseImages(model.net, [{ tokens: [BOS, 65], images: [] }], noise, { ...base, cache: true }), /rows\[0\]\.tokens.*ending with BOI/);
  assert.throws(() => denoiseImages(model.net, [row], earlier, { ...base, cache: true }), /noise: expected shape \[1, 8, 8, 1\]/);
  tf.dispose([earlier, noise]);
  model.dispose();
});

test('greedy text equals the argmax of one full forward over the final sequence (an image in the context)', () => {
  const model = roughModel(3);
  const r = generate(model, 'hi', { greedy: true, forceImage: true, maxTokens: 6, sampler: { kind: 'ddim', steps: 2 } }, { rng: new Rng(1) });
  const [image] = imageParts(r);
  const L = r.tokens.length;
  const imageStart = 1 + 2 + 1;
  assert.deepEqual(r.tokens.slice(0, imageStart), [BOS, ...encode('hi'), BOI]);
  assert.equal(r.tokens[imageStart + N], EOI);
  assert.equal(L, imageStart + N + 1 + 6);
  const logits = tf.tidy(() => {
    const { hidden } = model.net.forward({
      batchSize: 1, length: L, tokens: Int32Array.from(r.tokens), positions: Int32Array.from({ length: L }, (_, i) => i),
      layouts: [{ length: L, image: Int32Array.from({ length: L }, (_, i) => (i >= imageStart && i < imageStart + N ? 0 : -1)), document: new Int32Array(L) }],
      slots: [{ row: 0, start: imageStart }], latents: image.expandDims(0), t: tf.zeros([1]),
    });
    return model.net.logitsAt(hidden, Int32Array.from({ length: 6 }, (_, k) => imageStart + N + k));
  });
  const values = logits.arraySync() as number[][];
  values.forEach((row, k) => {
    row[BOI] = -Infinity; // the one image allowed exists, so BOI is banned
    assert.equal(r.tokens[imageStart + N + 1 + k], row.indexOf(Math.max(...row)), `token ${k}`);
  });
  const text = r.parts[1];
  assert.ok(text.kind === 'text' && text.ids.length === 6);
  tf.dispose(logits);
  disposeResult(r);
  model.dispose();
});

test('BOI: forced after a string prompt, implied by a prompt ending with BOI, and sampled BOI starts an image', () => {
  const model = roughModel(4);
  const opts = { sampler: { kind: 'ddim' as const, steps: 2 }, maxTokens: 0 };
  const forced = generate(model, 'the digit 7', { ...opts, forceImage: true });
  assert.deepEqual(forced.tokens.slice(0, 13), captionPrompt('the digit 7'));
  assert.deepEqual(forced.parts.map((p) => p.kind), ['image']);
  assert.equal(forced.stop, 'maxTokens');
  const implied = generate(model, captionPrompt('x'), opts);
  assert.deepEqual(implied.parts.map((p) => p.kind), ['image']);
  const none = generate(model, 'x', { ...opts, maxTokens: 3, maxImages: 0 });
  assert.ok(none.parts.every((p) => p.kind === 'text') && !none.tokens.slice(2).includes(BOI));

  // Make BOI overwhelmingly likely: the model samples it at once, then (maxImages 1) cannot again.
  const logitsAt = model.net.logitsAt.bind(model.net);
  model.net.logitsAt = (hidden, rows) => tf.tidy(() => logitsAt(hidden, rows).add(tf.oneHot([BOI], 262).mul(50)));
  const sampled = generate(model, 'x', { ...opts, maxTokens: 3 }, { rng: new Rng(2) });
  assert.deepEqual(sampled.parts.map((p) => p.kind), ['image', 'text']);
  assert.deepEqual(sampled.tokens.slice(0, 3), [BOS, 120, BOI]);
  const two = generate(model, 'x', { ...opts, maxTokens: 2, maxImages: 2 }, { rng: new Rng(2) });
  assert.deepEqual(two.parts.map((p) => p.kind), ['image', 'image']);
  for (const r of [forced, implied, none, sampled, two]) disposeResult(r);
  model.dispose();
});

test('guidance: scale 1 reproduces no guidance, scale 0 is the dropped-caption generation, and the step is linear in the scale', () => {
  const model = roughModel(5);
  const noise = new Rng(6).randomNormal([1, H, H, 1]);
  const row: ContextRow = { tokens: captionPrompt('seven'), images: [] };
  const base: DenoiseOptions = {
    sampler: makeSampler(ddim(3), model.objective.schedule), prediction: 'epsilon', guidance: null, cache: true, trajectory: false, rng: new Rng(0),
  };
  const none = denoiseImages(model.net, [row], noise, base).latents;
  const one = denoiseImages(model.net, [row], noise, { ...base, guidance: 1 }).latents;
  assert.ok(maxAbsDiff(none, one) < 1e-5, `scale 1 differs by ${maxAbsDiff(none, one)}`);
  const zero = denoiseImages(model.net, [row], noise, { ...base, guidance: 0 }).latents;
  const uncond = denoiseImages(model.net, [{ tokens: [BOS, BOI], images: [] }], noise, base).latents;
  assert.ok(maxAbsDiff(zero, uncond) < 1e-5, `scale 0 differs from [BOS][BOI] by ${maxAbsDiff(zero, uncond)}`);
  assert.ok(maxAbsDiff(zero, none) > 1e-3, 'the caption matters');
  // One DDIM step from a small t: x0 is affine in the prediction, so the result is affine in the scale.
  const oneStep = { ...base, sampler: makeSampler({ kind: 'ddim', steps: 1, spacing: 'leading' }, model.objective.schedule) };
  const [r0, r1, r3] = [0, 1, 3].map((g) => denoiseImages(model.net, [row], noise, { ...oneStep, guidance: g }).latents);
  const expected = tf.tidy(() => r0.add(r1.sub(r0).mul(3)));
  assert.ok(maxAbsDiff(r3, expected) < 1e-4, `scale 3 off the line by ${maxAbsDiff(r3, expected)}`);
  tf.dispose([noise, none, one, zero, uncond, r0, r1, r3, expected]);
  model.dispose();
});

test('textToImage: one batch equals per-caption generate on the same noise; one caption equals generate on the same rng', () => {
  const model = roughModel(7);
  const captions = ['a', 'bcd 7'];
  const noise = new Rng(8).randomNormal([2, H, H, 1]);
  const options = { sampler: ddim(3), guidanceScale: 2 };
  const start = tf.memory().numTensors;
  const batch = textToImage(model, captions, options, { noise });
  assert.deepEqual(batch.shape, [2, H, H, 1]);
  captions.forEach((c, i) => {
    const own = tf.tidy(() => noise.slice(i, 1).reshape([H, H, 1]));
    const r = generate(model, c, { ...options, forceImage: true, maxTokens: 0 }, { noise: [own] });
    const row = tf.tidy(() => batch.slice(i, 1).reshape([H, H, 1]));
    assert.ok(maxAbsDiff(row, imageParts(r)[0]) < 1e-4, `caption ${i}: ${maxAbsDiff(row, imageParts(r)[0])}`);
    tf.dispose([own, row]);
    disposeResult(r);
  });
  const ddpm = { sampler: { kind: 'ddpm' as const, steps: 3, spacing: 'leading' as const } };
  const single = textToImage(model, ['a'], ddpm, { rng: new Rng(9) });
  const viaGenerate = generate(model, 'a', { ...ddpm, forceImage: true, maxTokens: 0 }, { rng: new Rng(9) });
  const singleImage = single.reshape([H, H, 1]);
  assert.ok(maxAbsDiff(singleImage, imageParts(viaGenerate)[0]) < 1e-4);
  tf.dispose([batch, single, singleImage]);
  disposeResult(viaGenerate);
  assert.equal(tf.memory().numTensors, start);
  assert.throws(() => textToImage(model, [], options), ConfigError);
  assert.throws(() => textToImage(model, ['a'], options, { noise }), /noise: expected shape \[1, 8, 8, 1\]/);
  noise.dispose();
  model.dispose();
});

test('caption: strings, batched rows equal single rows, cached equals uncached, no leaks; training mode restored', () => {
  const model = roughModel(10);
  const latents = new Rng(11).randomNormal([3, H, H, 1]);
  const start = tf.memory().numTensors;
  const opts = { greedy: true, maxTokens: 5 };
  const batched = caption(model, latents, opts);
  assert.equal(batched.length, 3);
  assert.ok(batched.every((s) => typeof s === 'string'));
  const uncached = caption(model, latents, { ...opts, cache: false });
  assert.deepEqual(uncached, batched);
  const singles = [0, 1, 2].map((i) => {
    const one = latents.slice(i, 1);
    const s = caption(model, one, opts)[0];
    one.dispose();
    return s;
  });
  assert.deepEqual(singles, batched);
  const sampled = caption(model, latents, { maxTokens: 4 }, { rng: new Rng(1) });
  assert.deepEqual(caption(model, latents, { maxTokens: 4 }, { rng: new Rng(1) }), sampled);
  assert.equal(tf.memory().numTensors, start);
  assert.equal(model.net.training, true);
  assert.throws(() => caption(model, latents.reshape([3, 64]), opts), /latents: expected shape \[N, 8, 8, 1\]/);
  latents.dispose();
  model.dispose();
});

test('generation stops at EOS, and at net.maxPositions before an image would not fit', () => {
  const model = roughModel(12, { net: { latent: { channels: 1, height: 8, width: 8 }, transformer: { dModel: 32, nLayers: 2, nHeads: 2, ffnHidden: 64 }, maxPositions: 40 } });
  const logitsAt = model.net.logitsAt.bind(model.net);
  model.net.logitsAt = (hidden, rows) => tf.tidy(() => logitsAt(hidden, rows).add(tf.oneHot([EOS], 262).mul(50)));
  const eos = generate(model, 'x', { sampler: { kind: 'ddim', steps: 1 } });
  assert.equal(eos.stop, 'eos');
  assert.deepEqual(eos.tokens, [BOS, 120, EOS]);
  model.net.logitsAt = logitsAt;
  const long = generate(model, 'x'.repeat(30), { forceImage: true });
  assert.equal(long.stop, 'maxPositions');
  assert.equal(long.parts.length, 0);
  model.dispose();
});
