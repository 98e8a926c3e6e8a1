import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { ConfigError, ShapeError } from '../../src/config';
import { patchify, unpatchify, PATCH_SIZES } from '../../src/blocks/patchify';

test('patchify then unpatchify is the identity, bit for bit, for every patch size', () => {
  const r = new Rng(1);
  for (const k of PATCH_SIZES) {
    const before = tf.memory().numTensors;
    const x = r.randomNormal([2, 8, 16, 3]);
    const tokens = patchify(x, k);
    assert.deepEqual(tokens.shape, [2, (8 / k) * (16 / k), k * k * 3]);
    const back = unpatchify(tokens, k, 8, 16, 3);
    assert.deepEqual(Array.from(back.dataSync()), Array.from(x.dataSync()), `k = ${k}`);
    tf.dispose([x, tokens, back]);
    assert.equal(tf.memory().numTensors, before, `k = ${k} leaks`);
  }
});

test('patches are ordered left-to-right, top-to-bottom; a patch vector is (row, column, channel)', () => {
  // 4x4 grid, 2 channels, value = 100*row + 10*col + channel, cut into 2x2 patches.
  const values: number[] = [];
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) for (let c = 0; c < 2; c++) values.push(100 * y + 10 * x + c);
  const latent = tf.tensor4d(values, [1, 4, 4, 2]);
  const tokens = patchify(latent, 2);
  assert.deepEqual(tokens.arraySync(), [[
    [0, 1, 10, 11, 100, 101, 110, 111], // patch 0: rows 0-1, cols 0-1
    [20, 21, 30, 31, 120, 121, 130, 131], // patch 1: rows 0-1, cols 2-3 (left-to-right first)
    [200, 201, 210, 211, 300, 301, 310, 311], // patch 2: rows 2-3, cols 0-1
    [220, 221, 230, 231, 320, 321, 330, 331],
  ]]);
  tf.dispose([latent, tokens]);
});

test('the gradient of patchify is unpatchify of the upstream gradient (a pure permutation)', () => {
  const r = new Rng(2);
  const x = r.randomNormal([1, 4, 8, 2]);
  const probe = r.randomNormal([1, 8, 8]);
  const g = tf.grad((a: tf.Tensor) => patchify(a, 2).mul(probe).sum())(x);
  const want = unpatchify(probe, 2, 4, 8, 2);
  assert.deepEqual(Array.from(g.dataSync()), Array.from(want.dataSync()));
  tf.dispose([x, probe, g, want]);
});

test('a patch size outside {1, 2, 4, 8} or not dividing H or W fails naming the field and value', () => {
  const x = tf.zeros([1, 6, 8, 1]);
  assert.throws(() => patchify(x, 3), (e: unknown) => e instanceof ConfigError && e.field === 'patchSize' && e.value === 3);
  assert.throws(() => patchify(x, 4), (e: unknown) => e instanceof ConfigError && e.value === 4 && /height H = 6/.test(e.message));
  assert.throws(() => patchify(x, 4, 'model.patch.patchSize'), /model\.patch\.patchSize: got 4/);
  assert.throws(() => unpatchify(tf.zeros([1, 5, 4]), 2, 4, 4, 1), ShapeError);
  x.dispose();
});
