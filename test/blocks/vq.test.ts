import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { ShapeError } from '../../src/config';
import { stopGradient, straightThrough, VectorQuantizer, VQAutoencoder } from '../../src/blocks/vq';
import { DEFAULT_VQ, VQConfig } from '../../src/blocks/autoencoder';
import { stripes } from '../helpers/images';
import { assertLossFalls } from '../helpers/training';

const tiny: VQConfig = { ...DEFAULT_VQ, imageChannels: 1, downsample: 2, channels: [4, 8], groups: 2, codebookSize: 16, codeDim: 2 };

test('the quantizer picks the nearest code by brute force and returns exactly that code', () => {
  const r = new Rng(1);
  const q = new VectorQuantizer(5, 3, r);
  tf.tidy(() => q.codebook.assign(r.randomNormal([5, 3])));
  const z = r.randomNormal([2, 4, 3]);
  const { quantized, indices } = q.quantize(z);
  assert.deepEqual(indices.shape, [2, 4]);
  assert.equal(indices.dtype, 'int32');
  const codes = q.codebook.arraySync() as number[][];
  const zs = (z.arraySync() as number[][][]).flat();
  const want = zs.map((v) => {
    const d = codes.map((e) => e.reduce((s, ei, i) => s + (v[i] - ei) ** 2, 0));
    return d.indexOf(Math.min(...d));
  });
  assert.deepEqual(Array.from(indices.dataSync()), want);
  assert.deepEqual((quantized.arraySync() as number[][][]).flat(), want.map((k) => Array.from(Float32Array.from(codes[k]))));
  const looked = q.lookup(indices);
  assert.deepEqual(Array.from(looked.dataSync()), Array.from(quantized.dataSync()));
  tf.dispose([z, quantized, indices, looked]);
  q.dispose();
});

test('stopGradient passes values and blocks gradients; straightThrough has z_q\'s value and z_e\'s gradient', () => {
  const r = new Rng(2);
  const [ze, zq, probe] = [r.randomNormal([3, 2]), r.randomNormal([3, 2]), r.randomNormal([3, 2])];
  const sg = stopGradient(ze);
  assert.deepEqual(Array.from(sg.dataSync()), Array.from(ze.dataSync()));
  const g = tf.grad((a: tf.Tensor) => stopGradient(a).mul(probe).sum())(ze);
  assert.ok(g.dataSync().every((v) => v === 0));
  const st = straightThrough(ze, zq);
  st.dataSync().forEach((v, i) => assert.ok(Math.abs(v - zq.dataSync()[i]) < 1e-6));
  const [gze, gzq] = tf.grads((a: tf.Tensor, b: tf.Tensor) => straightThrough(a, b).mul(probe).sum())([ze, zq]);
  assert.deepEqual(Array.from(gze.dataSync()), Array.from(probe.dataSync()));
  assert.ok(gzq.dataSync().every((v) => v === 0));
  tf.dispose([ze, zq, probe, sg, g, st, gze, gzq]);
});

test('VQ loss terms route gradients as in van den Oord et al. 2017: recon -> encoder (straight-through), codebook -> codes only, commitment -> encoder only', () => {
  const vq = new VQAutoencoder(tiny, { rng: new Rng(3) });
  const x = stripes(2, 8);
  const encoderVars = vq.encoder.trainableParameters();
  const codebook = vq.quantizer.codebook;
  const grads = (term: 'recon' | 'codebook' | 'commitment') => {
    const { grads: g, value } = tf.variableGrads(() => tf.tidy(() => vq.loss(x).breakdown[term]), [...encoderVars, codebook]);
    const enc = encoderVars.some((v) => g[v.name].dataSync().some((e) => e !== 0));
    const code = g[codebook.name].dataSync().some((e) => e !== 0);
    tf.dispose([value, ...Object.values(g)]);
    return { enc, code };
  };
  const before = tf.memory().numTensors;
  assert.deepEqual(grads('recon'), { enc: true, code: false });
  assert.deepEqual(grads('codebook'), { enc: false, code: true });
  assert.deepEqual(grads('commitment'), { enc: true, code: false });
  assert.equal(tf.memory().numTensors, before);
  const { total, breakdown } = vq.loss(x);
  const [t, rec, cb, cm] = [total, breakdown.recon, breakdown.codebook, breakdown.commitment].map((s) => s.dataSync()[0]);
  assert.ok(Math.abs(t - (rec + cb + 0.25 * cm)) < 1e-6);
  // Both distance terms measure the same ||z_e - e||^2; only their gradients differ.
  assert.ok(Math.abs(cb - cm) < 1e-6);
  tf.dispose([x, total, ...Object.values(breakdown)]);
  vq.dispose();
});

test('encodeIndices gives int32 [B, h*w] tokens that decodeIndices turns into the same images as decode(encode)', () => {
  const vq = new VQAutoencoder(tiny, { rng: new Rng(4) });
  tf.tidy(() => vq.quantizer.codebook.assign(new Rng(5).randomNormal([16, 2])));
  const x = stripes(2, 8);
  const ids = vq.encodeIndices(x);
  assert.deepEqual(ids.shape, [2, 16]);
  assert.equal(ids.dtype, 'int32');
  const z = vq.encode(x);
  // Token n is latent cell (n div w, n mod w), row-major: its code is the latent vector there.
  const codes = vq.quantizer.lookup(ids).reshape([2, 4, 4, 2]);
  assert.deepEqual(Array.from(codes.dataSync()), Array.from(z.dataSync()));
  const [a, b] = [vq.decodeIndices(ids, 4, 4), vq.decode(z)];
  assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()));
  assert.throws(() => vq.decodeIndices(ids, 4, 3), ShapeError);
  tf.dispose([x, ids, z, codes, a, b]);
  vq.dispose();
});

test('VQ loss falls over 30 Adam steps on a tiny batch, without leaking tensors', () => {
  const vq = new VQAutoencoder(tiny, { rng: new Rng(6) });
  const x = stripes(4, 8);
  const opt = tf.train.adam(1e-2);
  const losses: number[] = [];
  let afterFirst = 0;
  for (let step = 0; step < 30; step++) {
    const cost = opt.minimize(() => tf.tidy(() => vq.loss(x).total), true, vq.trainableParameters());
    losses.push(cost!.dataSync()[0]);
    cost!.dispose();
    if (step === 0) afterFirst = tf.memory().numTensors;
  }
  assert.equal(tf.memory().numTensors, afterFirst, 'a training step leaks');
  assertLossFalls(losses, 0.6);
  opt.dispose();
  x.dispose();
  vq.dispose();
});

test('quantize returns the nearest codes on the wasm backend too (its float32 OneHot writes integer bits)', async () => {
  const before = tf.getBackend();
  require('@tensorflow/tfjs-backend-wasm');
  assert.ok(await tf.setBackend('wasm'), 'the wasm backend, the fallback of a lab without its native addon, must load');
  try {
    const r = new Rng(3);
    const q = new VectorQuantizer(6, 2, r);
    tf.tidy(() => q.codebook.assign(r.randomNormal([6, 2])));
    const z = r.randomNormal([5, 2]);
    const { quantized, indices } = q.quantize(z);
    const expected = q.lookup(indices);
    assert.ok(tf.tidy(() => expected.abs().sum().dataSync()[0]) > 0);
    assert.deepEqual(Array.from(quantized.dataSync()), Array.from(expected.dataSync()));
    tf.dispose([q.codebook, z, quantized, indices, expected]);
  } finally {
    await tf.setBackend(before);
  }
});
