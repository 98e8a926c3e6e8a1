/**
 * The Frechet distance between two sets of feature vectors, each summarised by a Gaussian (Heusel et al. 2017,
 * "GANs trained by a two time-scale update rule", eq. 6; FID when the features are Inception-v3's):
 *
 *   d^2 = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})
 *
 * Computed in float64. (S1 S2)^{1/2} need not be symmetric, but only its trace is needed, and with R = S1^{1/2}
 * the product S1 S2 = R (R S2) has the same eigenvalues as (R S2) R = R S2 R, which is symmetric positive
 * semi-definite; so Tr((S1 S2)^{1/2}) = sum_i sqrt(lambda_i(R S2 R)), and two symmetric eigen-decompositions
 * replace the general matrix square root (scipy.linalg.sqrtm in pytorch-fid) with no complex round-off to discard.
 */
import { matMul, sqrtPsd, symmetricEigen } from './symmetric-eigen';

/** A Gaussian fitted to feature vectors. */
export interface GaussianStats {
  /** Feature width D. */
  readonly dim: number;
  /** Samples it was fitted to. */
  readonly count: number;
  /** [D] mean. */
  readonly mean: Float64Array;
  /** [D, D] row-major covariance, unbiased (divided by count - 1, as numpy.cov and pytorch-fid). */
  readonly cov: Float64Array;
}

/** Mean and unbiased covariance of `rows` (N vectors of width D, N >= 2). */
export function gaussianStats(rows: readonly ArrayLike<number>[]): GaussianStats {
  const N = rows.length;
  if (N < 2) throw new RangeError(`gaussianStats: a covariance needs at least 2 feature vectors, received ${N}`);
  const D = rows[0].length;
  const mean = new Float64Array(D);
  rows.forEach((r, i) => {
    if (r.length !== D) throw new RangeError(`gaussianStats: row ${i} has ${r.length} features, row 0 has ${D}`);
    for (let d = 0; d < D; d++) mean[d] += r[d] / N;
  });
  const cov = new Float64Array(D * D);
  const centred = new Float64Array(D);
  for (const r of rows) {
    for (let d = 0; d < D; d++) centred[d] = r[d] - mean[d];
    for (let i = 0; i < D; i++) {
      const ci = centred[i];
      for (let j = i; j < D; j++) cov[i * D + j] += ci * centred[j];
    }
  }
  for (let i = 0; i < D; i++) {
    for (let j = i; j < D; j++) {
      const v = cov[i * D + j] / (N - 1);
      cov[i * D + j] = v;
      cov[j * D + i] = v;
    }
  }
  return { dim: D, count: N, mean, cov };
}

/** Tr((S1 S2)^{1/2}) for positive semi-definite S1, S2 [n, n] (see the file comment for why this way). */
export function traceSqrtProduct(s1: Float64Array, s2: Float64Array, n: number): number {
  const r = sqrtPsd(s1, n);
  const m = matMul(matMul(r, s2, n), r, n);
  // Rounding leaves R S2 R a hair off symmetric; average it with its transpose so the eigen-solver sees an exact one.
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const v = 0.5 * (m[i * n + j] + m[j * n + i]);
      m[i * n + j] = v;
      m[j * n + i] = v;
    }
  }
  return symmetricEigen(m, n).values.reduce((sum, lambda) => sum + Math.sqrt(Math.max(0, lambda)), 0);
}

/** d^2 = ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^{1/2}) (Heusel et al. 2017, eq. 6). */
export function frechetDistance(a: GaussianStats, b: GaussianStats): number {
  if (a.dim !== b.dim) throw new RangeError(`frechetDistance: feature widths differ (${a.dim} vs ${b.dim})`);
  const n = a.dim;
  let meanTerm = 0;
  let traceTerm = 0;
  for (let d = 0; d < n; d++) {
    meanTerm += (a.mean[d] - b.mean[d]) ** 2;
    traceTerm += a.cov[d * n + d] + b.cov[d * n + d];
  }
  // Exact arithmetic never goes below 0; rounding can, by a few ulps of the trace, for identical sets.
  return Math.max(0, meanTerm + traceTerm - 2 * traceSqrtProduct(a.cov, b.cov, n));
}

/** The Frechet distance between two sets of feature vectors (each N_i x D, N_i >= 2). */
export function frechetDistanceOf(a: readonly ArrayLike<number>[], b: readonly ArrayLike<number>[]): number {
  return frechetDistance(gaussianStats(a), gaussianStats(b));
}
