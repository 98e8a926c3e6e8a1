import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng, setSeed } from '../../src/engine/random';
import { initEngine } from '../../src/engine/engine';
import { ConfigError, ShapeError } from '../../src/config';
import { MnistDataset } from '../../src/data/mnist';
import type { ImageDataset } from '../../src/data/image';
import { packDocuments } from '../../src/data/sequence';
import { LatentCache } from '../../src/data/latent-cache';
import { BOI, BOS, EOI, EOS, PAD, encode } from '../../src/data/tokenizer';
import { Transformer } from '../../src/blocks/transformer';
import { VQAutoencoder } from '../../src/blocks/autoencoder';
import { Transfusion } from '../../src/model/transfusion';
import { PRESETS, resolveConfig } from '../../src/model/config';
import { Trainer, makeTrainConfig } from '../../src/train/trainer';
import { encodeDataset, trainAutoencoder } from '../../src/latents';
import {
  baselineConfigFrom,
  baselineFlops,
  ChameleonBaseline,
  codeLoader,
  codeSequence,
  computeMatchedSteps,
  encodeCodes,
  flopsPerStep,
  patchParameters,
  resolveBaselineConfig,
  transformerParameters,
  transfusionFlops,
} from '../../src/baseline';

before(async () => {
  await initEngine();
});

/** A small baseline over 4 x 4 codes of a 32-code VQ: fast enough to train 100 steps in a test. */
const TINY = {
  net: { codebookSize: 32, grid: { height: 4, width: 4 }, transformer: { dModel: 32, nLayers: 2, nHeads: 2, ffnHidden: 64 } },
  sequence: { length: 48 },
} as const;

const mnist = new MnistDataset({ size: 16 });
const items: ImageDataset = { length: 256, height: 16, width: 16, channels: 1, get: (i, r) => mnist.get(i, r) };

let vqPromise: Promise<VQAutoencoder> | null = null;
/** One VQ (16 px -> 4 x 4 codes of 32), trained briefly and shared by the tests that need real codes. */
function sharedVq(): Promise<VQAutoencoder> {
  vqPromise ??= trainAutoencoder(
    { kind: 'vq', imageChannels: 1, downsample: 4, channels: [8, 8, 16], groups: 4, codebookSize: 32, codeDim: 4 },
    items,
    { steps: 20, batchSize: 16, lr: 3e-3, seed: 1 },
  ).then((r) => r.autoencoder as VQAutoencoder);
  return vqPromise;
}

test('configs: presets mirror Transfusion, baselineConfigFrom copies the transformer and sequence, errors name fields', () => {
  const mnistBaseline = resolveBaselineConfig('mnist');
  assert.deepEqual(mnistBaseline.net.transformer, resolveConfig('mnist').net.transformer);
  assert.equal(mnistBaseline.sequence.length, PRESETS.mnist.sequence.length);
  assert.equal(mnistBaseline.sequence.patchesPerImage, 64);
  const twin = baselineConfigFrom(resolveConfig('mnist', { net: { patchSize: 4 } }), { net: { codebookSize: 64 } });
  assert.deepEqual(twin.net.grid, { height: 4, width: 4 });
  assert.equal(twin.sequence.patchesPerImage, 16);
  assert.equal(twin.net.codebookSize, 64);
  assert.deepEqual(JSON.parse(JSON.stringify(twin)), twin, 'plain data');
  const cases: Array<[() => unknown, RegExp]> = [
    [() => resolveBaselineConfig('tiny', { net: { codebookSize: 0 } }), /net\.codebookSize: got 0/],
    [() => resolveBaselineConfig('tiny', { net: { grid: { height: 1.5 } } }), /net\.grid\.height: got 1\.5/],
    [() => resolveBaselineConfig('tiny', { sequence: { length: 5000 } }), /sequence\.length: got 5000; allowed: at most net\.maxPositions/],
    [() => resolveBaselineConfig('tiny', { sequence: { length: 60 } }), /sequence\.length: got 60; allowed: at least patchesPerImage \+ 4 = 68/],
    [() => resolveBaselineConfig('tiny', { net: { transformer: { nHeads: 3 } } }), /net\.transformer\.nHeads/],
    [() => resolveBaselineConfig('huge' as never), /preset: got "huge"/],
    [() => ChameleonBaseline.create('tiny', { net: { textVocab: 100 } }), /net\.textVocab: got 100; allowed: at least the tokenizer's vocabulary \(262\)/],
  ];
  for (const [f, re] of cases) assert.throws(f, (e: unknown) => e instanceof ConfigError && re.test((e as Error).message), String(re));
});

test('codeSequence writes codes after the text vocabulary and a next-token target at every position with one', () => {
  const config = resolveBaselineConfig('tiny', { net: { codebookSize: 10, grid: { height: 2, width: 2 } }, sequence: { length: 14 } });
  const docs = [
    [{ kind: 'text', text: 'a 7' }, { kind: 'image', index: 0, caption: 'a 7' }],
    [{ kind: 'image', index: 1, caption: 'b', imageFirst: true }, { kind: 'text', text: 'b' }],
  ] as const;
  const batch = packDocuments(docs, [Float32Array.of(1, 2, 3, 9), Float32Array.of(0, 0, 5, 4)], { length: 14, patchesPerImage: 4, pack: false });
  const seq = codeSequence(batch, config.net);
  const c = (k: number) => 262 + k;
  const [a, sp, seven, b] = [...encode('a 7'), ...encode('b')];
  const row0 = [BOS, a, sp, seven, BOI, c(1), c(2), c(3), c(9), EOI, EOS, PAD, PAD, PAD];
  const row1 = [BOS, BOI, c(0), c(0), c(5), c(4), EOI, b, EOS, PAD, PAD, PAD, PAD, PAD];
  assert.deepEqual(Array.from(seq.tokens), [...row0, ...row1]);
  const next = (row: number[]) => row.map((t, i) => (t === PAD || t === EOS ? -1 : row[i + 1]));
  assert.deepEqual(Array.from(seq.targets), [...next(row0), ...next(row1)]);
  assert.throws(() => codeSequence({ ...batch, images: [Float32Array.of(1, 2, 3, 10), batch.images[1]] }, config.net),
    (e: unknown) => e instanceof ConfigError && /batch\.images\[0\]\[3\]: got 10; allowed: an integer code in \[0, 9\]/.test((e as Error).message));
  assert.throws(() => codeSequence({ ...batch, images: [Float32Array.of(1, 2), batch.images[1]] }, config.net), ShapeError);
});

test('parameter and FLOP counts: exact against built modules and the 6 N T + attention formula', () => {
  const t = resolveConfig('mnist');
  const built = new Transformer(t.net.transformer, { rng: new Rng(0) });
  assert.equal(transformerParameters(t.net.transformer), built.numParameters());
  built.dispose();
  const qk = { ...t.net.transformer, qkNorm: true };
  const withQk = new Transformer(qk, { rng: new Rng(0) });
  assert.equal(transformerParameters(qk), withQk.numParameters());
  withQk.dispose();
  const model = Transfusion.create('mnist', {}, new Rng(0));
  assert.equal(patchParameters(t.net), model.net.encoder.numParameters() + model.net.decoder.numParameters());
  const unet = resolveConfig('mnist', { net: { patch: { kind: 'unet' } } });
  const unetModel = Transfusion.create(unet, {}, new Rng(0));
  assert.equal(patchParameters(unet.net), unetModel.net.encoder.numParameters() + unetModel.net.decoder.numParameters());
  unetModel.dispose();

  const [B, L, D, nL, F, V] = [8, 96, 128, 4, 344, 262];
  const N = nL * (4 * D * D + 3 * D * F + 2 * D) + D;
  const f = flopsPerStep(model, { batchSize: B, length: L });
  assert.equal(f.breakdown.transformer, 6 * N * B * L);
  assert.equal(f.breakdown.attention, 12 * nL * L * D * B * L);
  assert.equal(f.breakdown.lmHead, 6 * V * D * (B * L - B * 65));
  assert.equal(f.breakdown.patch, 6 * (2 * 4 * D + D + 4) * 64 * B);
  assert.equal(f.breakdown.timestep, 6 * (256 * D + D + D * D + D) * B);
  assert.equal(f.total, Object.values(f.breakdown).reduce((a, b) => a + b, 0));
  assert.deepEqual(transfusionFlops(model.config, { batchSize: B, length: L }), f);
  model.dispose();

  const baseline = ChameleonBaseline.create('mnist', {}, { rng: new Rng(0) });
  // The model is embedding + transformer + head (V = 262 + 256 = 518); the embedding, a lookup, is never charged.
  assert.equal(518 * D + transformerParameters(baseline.config.net.transformer) + 518 * D, baseline.numParameters());
  const g = flopsPerStep(baseline, { batchSize: B, length: L, lmPositions: 700 });
  assert.deepEqual(g.breakdown, { transformer: 6 * N * B * L, attention: 12 * nL * L * D * B * L, lmHead: 6 * 518 * D * 700, patch: 0, timestep: 0 });
  assert.deepEqual(baselineFlops(baseline.config, { batchSize: B, length: L, lmPositions: 700 }), g);
  assert.equal(flopsPerStep(baseline.config, { batchSize: B, length: 2 * L }).breakdown.attention, 4 * f.breakdown.attention);
  baseline.dispose();
  assert.equal(computeMatchedSteps({ flopsPerStep: 3e9, steps: 100 }, 2e9), 150);
  assert.throws(() => flopsPerStep(t, { batchSize: 0, length: L }), /flops\.batchSize: got 0/);
});

test('the network: cached decoding equals the full forward, and left padding (its own document) changes nothing', () => {
  const model = ChameleonBaseline.create('tiny', TINY, { rng: new Rng(10) });
  model.eval();
  const net = model.net;
  const r = new Rng(11);
  const L = 12;
  const pad = 3;
  const ids = Array.from({ length: L - pad }, () => r.int(294));
  // Row 0: the sequence alone at positions 0..8 after 3 pads (document 0); row 1: other tokens, one document.
  const row0 = [PAD, PAD, PAD, ...ids];
  const row1 = Array.from({ length: L }, () => r.int(294));
  const layout = (document: number[]) => ({ length: L, image: new Int32Array(L).fill(-1), document: Int32Array.from(document) });
  const input = {
    batchSize: 2, length: L,
    tokens: Int32Array.from([...row0, ...row1]),
    positions: Int32Array.from([0, 1, 2, ...ids.map((_, i) => i), ...row1.map((_, i) => i)]),
    layouts: [layout(row0.map((_, i) => (i < pad ? 0 : 1))), layout(row1.map(() => 0))],
  };
  const before = tf.memory().numTensors;
  const full = net.forward(input);
  const cache = net.transformer.newCache();
  const prefix = 5;
  const slice = (a: Int32Array, n: number) => Int32Array.from([...a.subarray(0, n), ...a.subarray(L, L + n)]);
  const cut = (n: number) => ({ ...input, length: n, tokens: slice(input.tokens, n), positions: slice(input.positions, n), layouts: input.layouts.map((l) => ({ length: n, image: l.image.subarray(0, n), document: l.document.subarray(0, n) })) });
  const parts = [net.forward(cut(prefix), { cache: { store: cache, mode: 'append' } })];
  for (let n = prefix + 1; n <= L; n++) parts.push(net.forward(cut(n), { cache: { store: cache, mode: 'append' }, queryStart: n - 1 }));
  const stepwise = tf.concat(parts, 1);
  const gap = tf.tidy(() => stepwise.sub(full).abs().max().dataSync()[0]);
  assert.ok(gap < 1e-4, `cached vs full hidden states differ by ${gap}`);
  const alone = net.forward({
    batchSize: 1, length: L - pad, tokens: Int32Array.from(ids), positions: Int32Array.from(ids.map((_, i) => i)),
    layouts: [{ length: L - pad, image: new Int32Array(L - pad).fill(-1), document: new Int32Array(L - pad) }],
  });
  const padGap = tf.tidy(() => full.slice([0, pad, 0], [1, L - pad, -1]).sub(alone).abs().max().dataSync()[0]);
  assert.ok(padGap < 1e-4, `padded vs alone hidden states differ by ${padGap}`);
  assert.throws(() => net.forward(cut(L), { cache: { store: cache, mode: 'append' }, queryStart: 3 }), /KV cache holds 12 positions, but queryStart is 3/);
  tf.dispose([full, stepwise, alone, ...parts]);
  cache.dispose();
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
});

test('the LM loss starts near ln V, covers every code position, and leaks no tensor', () => {
  const model = ChameleonBaseline.create('tiny', TINY, { rng: new Rng(2) });
  const images = [Float32Array.from({ length: 16 }, (_, i) => i % 32), Float32Array.from({ length: 16 }, (_, i) => 31 - i)];
  const docs = [[{ kind: 'text', text: 'the digit 3' }, { kind: 'image', index: 0 }], [{ kind: 'image', index: 1 }]] as const;
  const batch = packDocuments(docs, images, { length: 48, patchesPerImage: 16, pack: false });
  const before = tf.memory().numTensors;
  const out = model.loss(batch);
  const [total, text, image] = [out.total, out.breakdown.text, out.breakdown.image].map((s) => s.dataSync()[0]);
  tf.dispose([out.total, ...Object.values(out.breakdown)]);
  assert.equal(tf.memory().numTensors, before);
  assert.ok(Math.abs(total - Math.log(294)) < 0.3, `initial loss ${total} vs ln 294 = ${Math.log(294)}`);
  // Targets: row 0 has 17 positions (BOS .. the last code) predicting text/BOI/codes plus EOI -> EOS; 16 codes per image.
  const seq = codeSequence(batch, model.config.net);
  const codeTargets = Array.from(seq.targets).filter((y) => y >= 262).length;
  assert.equal(codeTargets, 32);
  const textTargets = Array.from(seq.targets).filter((y) => y >= 0 && y < 262).length;
  assert.ok(Math.abs(total - (text * textTargets + image * codeTargets) / (textTargets + codeTargets)) < 1e-5);
  model.dispose();
});

test('trained on MNIST VQ codes for 100 steps, the loss falls on text and on image codes; tensor count stays flat', async () => {
  setSeed(3);
  const vq = await sharedVq();
  const cache = await encodeCodes(vq, items);
  assert.equal(cache.size, 256);
  assert.ok(cache.get(0).every((v) => Number.isInteger(v) && v >= 0 && v < 32));
  const model = ChameleonBaseline.create('tiny', TINY, { rng: new Rng(4), vq });
  const batches = codeLoader(model, vq, items, { cache, loader: { batchSize: 8 }, rng: new Rng(5) }).batches();
  const steps = 100;
  const trainer = new Trainer(model, makeTrainConfig({ optimizer: { lr: 3e-3 }, lrSchedule: { kind: 'warmup-cosine', warmupSteps: 10, totalSteps: steps, minRatio: 0.1 } }));
  const counts: number[] = [];
  await trainer.run(() => model.loss(batches.next().value!), { steps, onStep: () => counts.push(tf.memory().numTensors) });
  assert.equal(counts[steps - 1], counts[1]);
  const mean = (k: 'text' | 'image', from: number, to: number) => trainer.history.slice(from, to).reduce((s, h) => s + h.breakdown[k], 0) / (to - from);
  for (const k of ['text', 'image'] as const) {
    const [first, last] = [mean(k, 0, 5), mean(k, steps - 10, steps)];
    assert.ok(last < 0.75 * first, `${k} loss ${first.toFixed(3)} -> ${last.toFixed(3)}`);
  }
  // Below the uniform code distribution: the model has learned which codes MNIST uses.
  assert.ok(mean('image', steps - 10, steps) < Math.log(32), `image loss ${mean('image', steps - 10, steps)}`);
  trainer.dispose();
  model.dispose();
});

test('codeLoader and encodeCodes check the VQ against the config, naming the field', async () => {
  const vq = await sharedVq();
  const config = (net: object) => resolveBaselineConfig('tiny', { ...TINY, net: { ...TINY.net, ...net } });
  const latentCache = new LatentCache(null, { meta: { shape: [4, 4, 1] } });
  const cases: Array<[() => unknown, RegExp]> = [
    [() => codeLoader(config({ codebookSize: 64 }), vq, items), /net\.codebookSize: got 64; allowed: 32 \(the VQ autoencoder's codebook size\)/],
    [() => codeLoader(config({ grid: { height: 8, width: 4 } }), vq, items), /net\.grid\.height: got 8; allowed: 4 \(the dataset's image height \/ the VQ's downsampling 4\)/],
    [() => codeLoader(config({}), vq, items, { loader: { sequence: { patchesPerImage: 64 } } }), /loader\.sequence\.patchesPerImage: got 64; allowed: 16/],
    [() => codeLoader(config({}), vq, items, { cache: latentCache }), /cache\.meta\.codes: got false; allowed: true/],
  ];
  for (const [f, re] of cases) assert.throws(f, (e: unknown) => e instanceof ConfigError && re.test((e as Error).message), String(re));
  const codes = await encodeCodes(vq, items, { indices: [0, 1] });
  assert.deepEqual(codes.meta.shape, [4, 4, 1]);
  await assert.rejects(encodeDataset(vq, items, { cache: codes }), /cache\.meta\.codes: got true; allowed: false/);
});

test('textToImage: N images and N x n codes in range, seeded, cached equal to uncached, padding-invariant; caption gives strings; no leaks', async () => {
  const vq = await sharedVq();
  const model = ChameleonBaseline.create('tiny', TINY, { rng: new Rng(6), vq });
  const captions = ['the digit 3', 'a 7', 'seven'];
  const before = tf.memory().numTensors;
  const a = model.textToImage(captions, { rng: new Rng(7), temperature: 0.8, topK: 5 });
  assert.deepEqual(a.images.shape, [3, 16, 16, 1]);
  assert.deepEqual(a.codes.shape, [3, 16]);
  assert.equal(a.codes.dtype, 'int32');
  assert.ok(Array.from(a.codes.dataSync()).every((c) => c >= 0 && c < 32));
  const b = model.textToImage(captions, { rng: new Rng(7), temperature: 0.8, topK: 5 });
  assert.deepEqual(Array.from(b.codes.dataSync()), Array.from(a.codes.dataSync()), 'same seed, same codes');
  // The KV-cached decode is the full recompute; a caption decoded alone equals it decoded in a left-padded batch.
  const greedy = { greedy: true };
  const cached = model.textToImage(captions, greedy);
  const full = model.textToImage(captions, { ...greedy, cache: false });
  const alone = model.textToImage(['a 7'], greedy);
  assert.deepEqual(cached.codes.arraySync(), full.codes.arraySync());
  assert.deepEqual((alone.codes.arraySync() as number[][])[0], (cached.codes.arraySync() as number[][])[1]);
  // top-1 sampling over the code range is the greedy choice, whatever the temperature.
  const top1 = model.textToImage(captions, { topK: 1, temperature: 3, rng: new Rng(12) });
  assert.deepEqual(top1.codes.arraySync(), cached.codes.arraySync());
  tf.dispose([top1.images, top1.codes]);
  const decoded = tf.tidy(() => vq.decodeIndices(a.codes, 4, 4).sub(a.images).abs().max().dataSync()[0]);
  assert.equal(decoded, 0, 'images are the VQ decoding of the codes');
  tf.dispose([a.images, a.codes, b.images, b.codes, cached.images, cached.codes, full.images, full.codes, alone.images, alone.codes]);
  const digits = tf.tidy(() => vq.decodeIndices(tf.tensor2d([Array.from({ length: 16 }, (_, i) => i), Array.from({ length: 16 }, (_, i) => 31 - i)], [2, 16], 'int32'), 4, 4));
  const words = model.caption(digits, { maxTokens: 6, greedy: false, rng: new Rng(8) });
  digits.dispose();
  assert.equal(words.length, 2);
  for (const w of words) assert.ok(typeof w === 'string' && w.length <= 6, JSON.stringify(w));
  assert.equal(tf.memory().numTensors, before);
  assert.ok(model.net.training, 'generation restores train mode');
  assert.throws(() => model.textToImage(['a 7'], { temperature: 0 }), /generate\.temperature: got 0/);
  const small = tf.zeros([1, 8, 8, 1]);
  assert.throws(() => model.caption(small), /net\.grid\.height: got 4; allowed: 2/);
  small.dispose();
  const noVq = ChameleonBaseline.create('tiny', TINY, { rng: new Rng(9) });
  assert.throws(() => noVq.textToImage(['a 7']), /baseline\.vq: got null/);
  noVq.dispose();
  model.dispose();
});
