import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { RMSNorm } from '../../src/blocks/rmsnorm';
import { ConfigError, ShapeError } from '../../src/config';
import { checkGradients } from '../helpers/gradcheck';

test('RMSNorm matches x / sqrt(mean(x^2) + eps) * weight computed by hand', () => {
  const norm = new RMSNorm(2, { eps: 1e-6 });
  norm.weight.assign(tf.tensor1d([2, -1]));
  const y = norm.forward(tf.tensor2d([[3, 4], [0, 0]]));
  const rms = Math.sqrt((9 + 16) / 2 + 1e-6);
  const got = Array.from(y.dataSync());
  const want = [(3 / rms) * 2, (4 / rms) * -1, 0, 0];
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) < 1e-6, `index ${i}: ${g} vs ${want[i]}`));
  assert.deepEqual(norm.namedParameters().map(([n, v]) => [n, v.shape]), [['weight', [2]]]);
  y.dispose();
  norm.dispose();
});

test('RMSNorm gradients match central finite differences (input and weight)', () => {
  const r = new Rng(11);
  const norm = new RMSNorm(5);
  norm.weight.assign(tf.tidy(() => r.randomNormal([5]).add(1)));
  const x = tf.variable(r.randomNormal([2, 3, 5]));
  const probe = r.randomNormal([2, 3, 5]);
  const loss = () => tf.tidy(() => norm.forward(x).mul(probe).sum() as tf.Scalar);
  checkGradients(loss, [x, norm.weight], { coords: (size) => [0, 3, size - 1] });
  x.dispose();
  probe.dispose();
  norm.dispose();
});

test('RMSNorm rejects a wrong width and a non-positive eps, and leaks no tensors', () => {
  const norm = new RMSNorm(4);
  const x = tf.ones([2, 4]);
  const before = tf.memory().numTensors;
  norm.forward(x).dispose();
  assert.equal(tf.memory().numTensors, before);
  assert.throws(() => norm.forward(tf.ones([2, 3])), (e: unknown) => e instanceof ShapeError && /\[\.\.\., 4\]/.test(e.message) && /\[2, 3\]/.test(e.message));
  assert.throws(() => new RMSNorm(4, { eps: 0 }), (e: unknown) => e instanceof ConfigError && e.field === 'RMSNorm.eps');
  x.dispose();
  norm.dispose();
});
