import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { applyRope, inverseFrequencies, ropeAngles, sequentialPositions } from '../../src/blocks/rope';
import { ShapeError } from '../../src/config';

function close(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= tol, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
}

/** Scores q(m) . k(n) for one head: q, k [Dh] rotated at 1-D or 2-D positions. */
function score(q: number[], k: number[], pq: number[], pk: number[]): number {
  return tf.tidy(() => {
    const shape = pq.length === 1 ? [1, 1] : [1, 1, 2];
    const rq = applyRope(tf.tensor(q, [1, 1, 1, q.length]), tf.tensor(pq, shape, 'int32'), 10000);
    const rk = applyRope(tf.tensor(k, [1, 1, 1, k.length]), tf.tensor(pk, shape, 'int32'), 10000);
    return rq.mul(rk).sum().dataSync()[0];
  });
}

test('inverse frequencies are base^(-2i/d)', () => {
  close(inverseFrequencies(4, 10000), [1, 0.01], 1e-9, 'theta');
  close(inverseFrequencies(8, 100), [1, 100 ** -0.25, 0.1, 100 ** -0.75], 1e-7, 'theta');
  assert.equal(inverseFrequencies(4, 10000), inverseFrequencies(4, 10000), 'cached: the same array');
});

test('1-D RoPE rotates each pair (x[i], x[i + Dh/2]) by position * theta_i (hand-computed)', () => {
  const x = [0.5, -1, 2, 0.25];
  const p = 3;
  const theta = [1, 0.01];
  const want = [0, 0, 0, 0];
  for (let i = 0; i < 2; i++) {
    const a = p * theta[i];
    want[i] = x[i] * Math.cos(a) - x[i + 2] * Math.sin(a);
    want[i + 2] = x[i + 2] * Math.cos(a) + x[i] * Math.sin(a);
  }
  const got = tf.tidy(() => applyRope(tf.tensor(x, [1, 1, 1, 4]), tf.tensor2d([[p]], [1, 1], 'int32'), 10000).dataSync());
  close(got, want, 1e-6, 'rotated');
});

test('1-D RoPE scores depend only on the position difference', () => {
  const r = new Rng(3);
  const q = Array.from({ length: 8 }, () => r.normal());
  const k = Array.from({ length: 8 }, () => r.normal());
  const s = score(q, k, [7], [2]);
  for (const shift of [-2, 1, 13, 100]) assert.ok(Math.abs(score(q, k, [7 + shift], [2 + shift]) - s) < 1e-4, `shift ${shift}`);
  assert.ok(Math.abs(score(q, k, [7], [3]) - s) > 1e-3, 'a different offset changes the score');
});

test('2-D RoPE: rows turn the first half of the pairs, columns the second; scores depend on (dr, dc) only', () => {
  const r = new Rng(4);
  const x = Array.from({ length: 8 }, () => r.normal());
  const rot = (pos: [number, number]) =>
    Array.from(tf.tidy(() => applyRope(tf.tensor(x, [1, 1, 1, 8]), tf.tensor([pos], [1, 1, 2], 'int32'), 10000).dataSync()));
  // Dh = 8: pairs (0,4) (1,5) use the row, pairs (2,6) (3,7) the column, each with theta = [1, 0.01].
  const rowOnly = rot([5, 0]);
  close([rowOnly[2], rowOnly[3], rowOnly[6], rowOnly[7]], [x[2], x[3], x[6], x[7]], 1e-7, 'column pairs untouched by a row');
  const a = 5 * 1;
  close([rowOnly[0], rowOnly[4]], [x[0] * Math.cos(a) - x[4] * Math.sin(a), x[4] * Math.cos(a) + x[0] * Math.sin(a)], 1e-6, 'row pair 0');
  const colOnly = rot([0, 5]);
  close([colOnly[0], colOnly[1], colOnly[4], colOnly[5]], [x[0], x[1], x[4], x[5]], 1e-7, 'row pairs untouched by a column');
  close([colOnly[2], colOnly[6]], [x[2] * Math.cos(a) - x[6] * Math.sin(a), x[6] * Math.cos(a) + x[2] * Math.sin(a)], 1e-6, 'column pair 0');

  const q = Array.from({ length: 8 }, () => r.normal());
  const k = Array.from({ length: 8 }, () => r.normal());
  const s = score(q, k, [3, 1], [1, 2]);
  assert.ok(Math.abs(score(q, k, [7, 4], [5, 5]) - s) < 1e-4, 'same (dr, dc) = (2, -1)');
  assert.ok(Math.abs(score(q, k, [3, 2], [1, 1]) - s) > 1e-3, '(2, 1) differs from (2, -1)');

  const shape = tf.tidy(() => applyRope(tf.zeros([2, 3, 5, 8]), tf.zeros([2, 5, 2], 'int32'), 10000).shape);
  assert.deepEqual(shape, [2, 3, 5, 8]);
});

test('RoPE is differentiable: the gradient of sum(rope(x) * g) is g rotated back', () => {
  const r = new Rng(5);
  const x = r.randomNormal([2, 2, 3, 4]);
  const g = r.randomNormal([2, 2, 3, 4]);
  const pos = tf.tensor2d([[0, 4, 9], [2, 2, 7]], [2, 3], 'int32');
  const grad = tf.grad((t: tf.Tensor) => applyRope(t, pos, 10000).mul(g).sum())(x);
  const back = applyRope(g, pos.neg(), 10000);
  close(grad.dataSync(), back.dataSync(), 1e-5, 'grad');
  tf.dispose([x, g, pos, grad, back]);
});

test('positions broadcast over the batch; sequential positions; clear shape errors; no leaks', () => {
  const before = tf.memory().numTensors;
  const seq = sequentialPositions(2, 3, 5);
  assert.deepEqual(Array.from(seq.dataSync()), [5, 6, 7, 5, 6, 7]);
  assert.equal(seq.dtype, 'int32');
  const x = new Rng(6).randomNormal([2, 1, 3, 4]);
  const one = sequentialPositions(1, 3, 5);
  const a = applyRope(x, one, 10000);
  const b = applyRope(x, seq, 10000);
  close(a.dataSync(), b.dataSync(), 0, 'broadcast');
  tf.dispose([seq, one, x, a, b]);
  assert.equal(tf.memory().numTensors, before);

  tf.tidy(() => {
    assert.throws(() => ropeAngles(tf.zeros([2, 3, 3]), 8, 10000), (e: unknown) => e instanceof ShapeError && /\[B, L\]/.test(e.message) && /\[2, 3, 3\]/.test(e.message));
    assert.throws(() => ropeAngles(tf.zeros([2, 3, 2]), 6, 10000), /divisible by 4/);
    assert.throws(() => applyRope(tf.zeros([1, 1, 3, 4]), tf.zeros([1, 2]), 10000), (e: unknown) => e instanceof ShapeError && /\[1 or 1, 3, 2\]/.test(e.message));
  });
});
