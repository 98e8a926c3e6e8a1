import { readFixture } from '../helpers/fixtures';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/random';
import { matMul, sqrtPsd, symmetricEigen } from '../../src/eval/symmetric-eigen';
import { frechetDistance, frechetDistanceOf, gaussianStats, traceSqrtProduct } from '../../src/eval/frechet';

const close = (a: number, b: number, tol: number, what = '') => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b} (tol ${tol})`);

/** A random orthonormal n x n matrix (Gram-Schmidt on Gaussian columns), row-major. */
function orthonormal(n: number, rng: Rng): Float64Array {
  const q = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const v = Float64Array.from({ length: n }, () => rng.normal());
    for (let k = 0; k < j; k++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += v[i] * q[i * n + k];
      for (let i = 0; i < n; i++) v[i] -= dot * q[i * n + k];
    }
    const norm = Math.hypot(...v);
    for (let i = 0; i < n; i++) q[i * n + j] = v[i] / norm;
  }
  return q;
}

/** Q diag(values) Q^T. */
function fromEigen(q: Float64Array, values: number[], n: number): Float64Array {
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) a[i * n + k] += q[i * n + j] * values[j] * q[k * n + j];
  return a;
}

test('symmetricEigen recovers the eigenvalues a matrix was built from, and V diag V^T rebuilds it', () => {
  const n = 7;
  const values = [-2.5, -1e-3, 0, 0.5, 1, 1 + 1e-9, 40];
  const a = fromEigen(orthonormal(n, new Rng(1)), values, n);
  const eig = symmetricEigen(a, n);
  values.forEach((v, i) => close(eig.values[i], v, 1e-12, `eigenvalue ${i}`));
  const rebuilt = fromEigen(eig.vectors, Array.from(eig.values), n);
  a.forEach((x, i) => close(rebuilt[i], x, 1e-12, `entry ${i}`));
  const vtv = matMul(Float64Array.from({ length: n * n }, (_, i) => eig.vectors[(i % n) * n + Math.floor(i / n)]), eig.vectors, n);
  vtv.forEach((x, i) => close(x, i % (n + 1) === 0 ? 1 : 0, 1e-12, `V^T V ${i}`));
});

test('symmetricEigen of a 2x2 matrix by hand: [[2, 1], [1, 2]] has eigenvalues 1 and 3', () => {
  const { values, vectors } = symmetricEigen(Float64Array.of(2, 1, 1, 2), 2);
  close(values[0], 1, 1e-15);
  close(values[1], 3, 1e-15);
  // The eigenvector of 3 is (1, 1) / sqrt(2), up to sign.
  close(Math.abs(vectors[1]), Math.SQRT1_2, 1e-15);
  close(vectors[1] * vectors[3], 0.5, 1e-15);
});

test('sqrtPsd squares back to the matrix; a slightly negative eigenvalue is taken as 0', () => {
  const n = 5;
  const q = orthonormal(n, new Rng(2));
  const a = fromEigen(q, [0, 0.25, 1, 4, 9], n);
  const r = sqrtPsd(a, n);
  matMul(r, r, n).forEach((x, i) => close(x, a[i], 1e-12, `R R ${i}`));
  const expected = fromEigen(q, [0, 0.5, 1, 2, 3], n);
  r.forEach((x, i) => close(x, expected[i], 1e-12, `R ${i}`));
  const rounded = fromEigen(q, [-1e-14, 0.25, 1, 4, 9], n);
  sqrtPsd(rounded, n).forEach((x, i) => assert.ok(Number.isFinite(x), `entry ${i} finite`));
});

test('errors: a non-square input, an asymmetric matrix, mismatched widths, too few samples', () => {
  assert.throws(() => symmetricEigen(new Float64Array(5), 2), /expected an n x n matrix with n = 2 \(4 values\), received 5/);
  assert.throws(() => symmetricEigen(Float64Array.of(1, 2, 0, 1), 2), /not symmetric \(a\[0\]\[1\] = 2, a\[1\]\[0\] = 0\)/);
  assert.throws(() => frechetDistanceOf([[1, 2], [3, 4]], [[1], [2]]), /feature widths differ \(2 vs 1\)/);
  assert.throws(() => gaussianStats([[1, 2]]), /at least 2 feature vectors, received 1/);
  assert.throws(() => gaussianStats([[1, 2], [3]]), /row 1 has 1 features, row 0 has 2/);
});

test('gaussianStats: mean and unbiased covariance of a small set by hand', () => {
  const s = gaussianStats([[1, 2], [3, 6], [5, 4]]);
  assert.deepEqual(Array.from(s.mean), [3, 4]);
  // Centred rows (-2, -2), (0, 2), (2, 0): sums of products 8, 4, 8, divided by N - 1 = 2.
  assert.deepEqual(Array.from(s.cov), [4, 2, 2, 4]);
  assert.equal(s.count, 3);
});

test('identical sets are at distance 0', () => {
  const rng = new Rng(3);
  const rows = Array.from({ length: 40 }, () => Float64Array.from({ length: 8 }, () => rng.normal() * 3 + 1));
  close(frechetDistanceOf(rows, rows), 0, 1e-9);
  // Fewer samples than dimensions: a singular covariance, still 0.
  close(frechetDistanceOf(rows.slice(0, 5), rows.slice(0, 5)), 0, 1e-9);
});

test('1-D Gaussians: d^2 = (mu1 - mu2)^2 + (sigma1 - sigma2)^2', () => {
  const stats = (mean: number, variance: number) => ({ dim: 1, count: 2, mean: Float64Array.of(mean), cov: Float64Array.of(variance) });
  close(frechetDistance(stats(1, 4), stats(-2, 9)), 9 + 1, 1e-14);
  close(frechetDistance(stats(0.5, 0.01), stats(0.5, 2.25)), (0.1 - 1.5) ** 2, 1e-14);
  // From samples: the formula on their own mean and unbiased variance.
  const a = [[1], [2], [4]];
  const b = [[0], [10]];
  const va = ((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2;
  close(frechetDistanceOf(a, b), (7 / 3 - 5) ** 2 + (Math.sqrt(va) - Math.sqrt(50)) ** 2, 1e-12);
});

test('2x2 by hand: commuting and non-commuting covariances', () => {
  const stats = (mean: number[], cov: number[]) => ({ dim: 2, count: 2, mean: Float64Array.from(mean), cov: Float64Array.from(cov) });
  // Diagonal: Tr((S1 S2)^1/2) = sqrt(1 * 4) + sqrt(4 * 9) = 8; d^2 = |(1, 2)|^2 + (1 + 4) + (4 + 9) - 16 = 7.
  close(frechetDistance(stats([0, 0], [1, 0, 0, 4]), stats([1, 2], [4, 0, 0, 9])), 7, 1e-13);
  // S1 = [[2, 1], [1, 2]] (eigenvalues 1, 3), S2 = I: Tr S1^1/2 = 1 + sqrt 3; d^2 = 4 + 2 - 2 (1 + sqrt 3).
  close(frechetDistance(stats([0, 0], [2, 1, 1, 2]), stats([0, 0], [1, 0, 0, 1])), 4 - 2 * Math.sqrt(3), 1e-13);
  // S1 = [[2, 1], [1, 2]], S2 = diag(1, 4) do not commute. For a 2x2 M with eigenvalues >= 0,
  // Tr M^1/2 = sqrt(Tr M + 2 sqrt(det M)); here Tr(S1 S2) = 10 and det = 3 * 4 = 12.
  const expectedTrace = Math.sqrt(10 + 2 * Math.sqrt(12));
  close(traceSqrtProduct(Float64Array.of(2, 1, 1, 2), Float64Array.of(1, 0, 0, 4), 2), expectedTrace, 1e-13);
  close(frechetDistance(stats([0, 0], [2, 1, 1, 2]), stats([0, 0], [1, 0, 0, 4])), 4 + 5 - 2 * expectedTrace, 1e-13);
  // The distance is symmetric even though S1 S2 != S2 S1.
  close(frechetDistance(stats([0, 0], [1, 0, 0, 4]), stats([0, 0], [2, 1, 1, 2])), 4 + 5 - 2 * expectedTrace, 1e-13);
});

test('matches pytorch-fid (scipy sqrtm) on stored feature sets (fixtures/make_frechet_reference.py)', () => {
  const fixture = readFixture<{ cases: Array<{ name: string; a: number[][]; b: number[][]; fid: number }> }>(__dirname, 'frechet.json');
  assert.equal(fixture.cases.length, 2);
  for (const c of fixture.cases) close(frechetDistanceOf(c.a, c.b), c.fid, 1e-9 * Math.max(1, c.fid), c.name);
});

test('128 features (the classifier width) from 100 and 300 samples take under 3 s', () => {
  const rng = new Rng(4);
  const a = Array.from({ length: 100 }, () => Float64Array.from({ length: 128 }, () => Math.max(0, rng.normal())));
  const b = Array.from({ length: 300 }, () => Float64Array.from({ length: 128 }, () => Math.max(0, rng.normal() + 0.1)));
  const started = performance.now();
  const d = frechetDistanceOf(a, b);
  const ms = performance.now() - started;
  assert.ok(Number.isFinite(d) && d > 0, `distance ${d}`);
  assert.ok(ms < 3000, `${ms} ms`);
});
