import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { ConfigError, ShapeError } from '../../src/config';
import { GroupNorm } from '../../src/blocks/groupnorm';
import { checkGradients } from '../helpers/gradcheck';

/** Naive GroupNorm over a flat NHWC array, float64 loops: the oracle. */
function naiveGroupNorm(x: Float32Array, [b, h, w, c]: number[], groups: number, eps: number, weight: number[], bias: number[]): number[] {
  const out = new Array<number>(x.length);
  const per = c / groups;
  for (let n = 0; n < b; n++) {
    for (let g = 0; g < groups; g++) {
      const idx: number[] = [];
      for (let p = 0; p < h * w; p++) for (let j = 0; j < per; j++) idx.push((n * h * w + p) * c + g * per + j);
      const mean = idx.reduce((s, i) => s + x[i], 0) / idx.length;
      const variance = idx.reduce((s, i) => s + (x[i] - mean) ** 2, 0) / idx.length;
      for (const i of idx) out[i] = ((x[i] - mean) / Math.sqrt(variance + eps)) * weight[i % c] + bias[i % c];
    }
  }
  return out;
}

test('GroupNorm matches a naive float64 implementation (per example, per group of channels)', () => {
  const r = new Rng(1);
  const norm = new GroupNorm(2, 6);
  const weight = [1, 2, -1, 0.5, 3, 1];
  const bias = [0, 1, 0, -2, 0.5, 0];
  norm.weight.assign(tf.tensor1d(weight));
  norm.bias.assign(tf.tensor1d(bias));
  const x = tf.tidy(() => r.randomNormal([2, 3, 2, 6]).mul(tf.range(1, 7))); // groups on different scales
  const before = tf.memory().numTensors;
  const y = norm.forward(x);
  assert.equal(tf.memory().numTensors, before + 1);
  const want = naiveGroupNorm(x.dataSync() as Float32Array, x.shape, 2, 1e-5, weight, bias);
  Array.from(y.dataSync()).forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-4, `index ${i}: ${v} vs ${want[i]}`));
  assert.deepEqual(norm.namedParameters().map(([n, v]) => [n, v.shape]), [['weight', [6]], ['bias', [6]]]);
  tf.dispose([x, y]);
  norm.dispose();
});

test('GroupNorm gradients match central finite differences (input, weight, bias)', () => {
  const r = new Rng(2);
  const norm = new GroupNorm(2, 4);
  norm.weight.assign(tf.tidy(() => r.randomNormal([4]).add(1)));
  norm.bias.assign(r.randomNormal([4]));
  const x = tf.variable(r.randomNormal([2, 2, 3, 4]));
  const probe = r.randomNormal([2, 2, 3, 4]);
  // Squared so the bias gradient is not a constant and the loss is not linear in the input.
  const loss = () => tf.tidy(() => norm.forward(x).mul(probe).sum().square() as tf.Scalar);
  const before = tf.memory().numTensors;
  checkGradients(loss, [x, norm.weight, norm.bias]);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, probe]);
  norm.dispose();
});

test('GroupNorm rejects groups that do not divide the channels and inputs of the wrong width', () => {
  assert.throws(() => new GroupNorm(3, 8), (e: unknown) => e instanceof ConfigError && e.field === 'GroupNorm.groups' && e.value === 3);
  const norm = new GroupNorm(2, 4);
  assert.throws(() => norm.forward(tf.zeros([1, 2, 2, 6])), ShapeError);
  norm.dispose();
});
