/** Scalar float64 helpers shared by the schedules: logistic functions and a time check. */
import { ConfigError } from '../config';

/** 1 / (1 + e^-x), exact at +-Infinity and without overflow for large |x|. */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** log(p / (1 - p)); +-Infinity at the ends. */
export function logit(p: number): number {
  return Math.log(p) - Math.log1p(-p);
}

/** Throws unless t is a time in [0, 1] (t = 0 clean, t = 1 pure noise; docs/ARCHITECTURE.md, 'Time'). */
export function checkTime(field: string, t: number): number {
  if (typeof t !== 'number' || !(t >= 0 && t <= 1)) throw new ConfigError(field, t, 'a time in [0, 1] (0 = clean, 1 = noise)');
  return t;
}

/**
 * Step for numerical derivatives: small enough that the O(h^2) error of a central difference is far below
 * float32 (what the tensors use), large enough that float64 rounding (~1e-16 / h) stays below 1e-10.
 */
const H = 1e-6;

/** df/dt by a central difference, one-sided at the ends of [0, 1] so f is never asked outside it. */
export function derivative(f: (t: number) => number, t: number): number {
  const lo = Math.max(0, t - H);
  const hi = Math.min(1, t + H);
  return (f(hi) - f(lo)) / (hi - lo);
}
