/**
 * Eigen-decomposition of a real symmetric matrix in float64 by the cyclic Jacobi method (Jacobi 1846; the
 * rotation formulas of Rutishauser 1966 as in Numerical Recipes §11.1), and the square root of a positive
 * semi-definite matrix built on it.
 *
 * Written here because the lab cannot add dependencies: `ml-matrix` (EigenvalueDecomposition) would do, but it
 * is not installed. Jacobi is a good fit for the Frechet distance's covariances: it is short, works on symmetric
 * matrices only (which is all it is given), is accurate to the last bits for small eigenvalues, and at the
 * feature widths used here (<= a few hundred) takes milliseconds.
 */

/** Matrices are row-major `Float64Array`s of n * n values. */
export interface SymmetricEigen {
  /** [n] eigenvalues, ascending. */
  readonly values: Float64Array;
  /** [n, n] row-major; column j is the unit eigenvector of `values[j]`. */
  readonly vectors: Float64Array;
}

function checkSquare(a: Float64Array, n: number, what: string): void {
  if (!Number.isInteger(n) || n <= 0 || a.length !== n * n) {
    throw new RangeError(`${what}: expected an n x n matrix with n = ${n} (${n * n} values), received ${a.length} values`);
  }
}

/**
 * A = V diag(values) V^T for symmetric `a` [n, n]. Sweeps rotate every off-diagonal pair to zero until the
 * off-diagonal mass is below `tolerance` times the matrix's norm (relative, so the scale of the features does
 * not matter). Only the upper triangle's symmetry is assumed, not checked beyond a cheap test.
 */
export function symmetricEigen(a: Float64Array, n: number, options: { tolerance?: number; maxSweeps?: number } = {}): SymmetricEigen {
  checkSquare(a, n, 'symmetricEigen');
  const tolerance = options.tolerance ?? 1e-15;
  const maxSweeps = options.maxSweeps ?? 100;
  const A = Float64Array.from(a);
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  let norm = 0;
  for (let i = 0; i < n * n; i++) norm += A[i] * A[i];
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (Math.abs(A[i * n + j] - A[j * n + i]) > 1e-9 * Math.sqrt(norm) + 1e-300) {
        throw new RangeError(`symmetricEigen: the matrix is not symmetric (a[${i}][${j}] = ${A[i * n + j]}, a[${j}][${i}] = ${A[j * n + i]})`);
      }
    }
  }
  const threshold = tolerance * tolerance * norm;
  let sweep = 0;
  for (; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += 2 * A[p * n + q] * A[p * n + q];
    if (off <= threshold) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q];
        if (apq === 0) continue;
        // The rotation angle that zeroes a[p][q] (NR eq. 11.1.8-11.1.11): t = tan(phi), the smaller root for stability.
        const theta = (A[q * n + q] - A[p * n + p]) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // A <- J^T A J with J = I except J[p][p] = J[q][q] = c, J[p][q] = s, J[q][p] = -s.
        for (let k = 0; k < n; k++) {
          const akp = A[k * n + p];
          const akq = A[k * n + q];
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = A[p * n + k];
          const aqk = A[q * n + k];
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = V[k * n + p];
          const vkq = V[k * n + q];
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  if (sweep === maxSweeps) throw new RangeError(`symmetricEigen: no convergence in ${maxSweeps} sweeps (n = ${n}); the matrix may hold NaN or Inf`);
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => A[i * n + i] - A[j * n + j]);
  const values = Float64Array.from(order, (i) => A[i * n + i]);
  const vectors = new Float64Array(n * n);
  order.forEach((from, to) => {
    for (let k = 0; k < n; k++) vectors[k * n + to] = V[k * n + from];
  });
  return { values, vectors };
}

/** C = A B for [n, n] row-major matrices. */
export function matMul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  checkSquare(a, n, 'matMul a');
  checkSquare(b, n, 'matMul b');
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j];
    }
  }
  return c;
}

/**
 * The symmetric square root of a positive semi-definite `a` [n, n]: V diag(sqrt(lambda)) V^T. Eigenvalues that
 * rounding made slightly negative are taken as 0 (a covariance of fewer samples than dimensions is singular).
 */
export function sqrtPsd(a: Float64Array, n: number): Float64Array {
  const { values, vectors: V } = symmetricEigen(a, n);
  const out = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const r = Math.sqrt(Math.max(0, values[j]));
    if (r === 0) continue;
    for (let i = 0; i < n; i++) {
      const vij = V[i * n + j] * r;
      for (let k = 0; k < n; k++) out[i * n + k] += vij * V[k * n + j];
    }
  }
  return out;
}
