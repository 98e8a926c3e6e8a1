import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';

/** What `checkGradients` probes and how closely it must agree. */
export interface GradCheckOptions {
  /** The flat indices to probe in a variable of `size` elements; a repeated index is checked once. */
  readonly coords: (size: number) => Iterable<number>;
  /** Half-width of the central difference (f(v + eps) - f(v - eps)) / 2 eps. */
  readonly eps: number;
  /** Allowed |numeric - analytic| = rtol * max(|numeric|, |analytic|) + atol (max, not sum: the stricter form). */
  readonly rtol: number;
  readonly atol: number;
  /** Prefixed to every failure message, to tell apart several checks in one test. */
  readonly label?: string;
}

/** First, middle and last element: catches a gradient that is right only at one end of a tensor. */
export const ENDS_AND_MIDDLE = (size: number): number[] => [0, Math.floor(size / 2), size - 1];

export const DEFAULT_GRADCHECK: GradCheckOptions = { coords: ENDS_AND_MIDDLE, eps: 1e-2, rtol: 1e-2, atol: 1e-3 };

/**
 * Compares tf.variableGrads of a scalar `loss` against central finite differences, coordinate by coordinate, for
 * each variable in turn. Every variable is restored to its value afterwards and no tensor is left behind, so a
 * caller can assert on tf.memory() around the call.
 */
export function checkGradients(loss: () => tf.Scalar, vars: readonly tf.Variable[], options: Partial<GradCheckOptions> = {}): void {
  const { coords, eps, rtol, atol, label } = { ...DEFAULT_GRADCHECK, ...options };
  const prefix = label === undefined ? '' : `${label} `;
  for (const v of vars) {
    const { value, grads } = tf.variableGrads(loss, [v]);
    const analytic = grads[v.name].dataSync().slice();
    tf.dispose([value, grads[v.name]]);
    const base = v.dataSync().slice();
    const set = (values: typeof base) => tf.tidy(() => v.assign(tf.tensor(values, v.shape)));
    for (const i of new Set(coords(v.size))) {
      const at = (delta: number) => {
        const shifted = base.slice();
        shifted[i] += delta;
        set(shifted);
        const l = loss();
        const out = l.dataSync()[0];
        l.dispose();
        return out;
      };
      const numeric = (at(eps) - at(-eps)) / (2 * eps);
      set(base);
      const tol = rtol * Math.max(Math.abs(numeric), Math.abs(analytic[i])) + atol;
      assert.ok(Math.abs(numeric - analytic[i]) <= tol, `${prefix}${v.name}[${i}]: finite difference ${numeric}, gradient ${analytic[i]}`);
    }
  }
}
