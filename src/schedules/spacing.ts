/**
 * Which of the T training steps a sampler with N steps visits, by diffusers' three definitions
 * (Lin et al. 2024, Table 2): 'linspace' and 'trailing' both start at the last step (t = 1), 'leading' starts
 * (T // N) - 1 steps short of it, which leaves signal at the start of sampling that training never had.
 */
import { check, ConfigError } from '../config';
import { linspace } from './grid';

export type TimestepSpacing = 'linspace' | 'leading' | 'trailing';

export const TIMESTEP_SPACINGS: readonly TimestepSpacing[] = ['linspace', 'leading', 'trailing'];

/** numpy.round: halves go to the even neighbour, so 166.5 -> 166 as in diffusers' linspace spacing. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * N distinct 0-based step indices in descending order (index i is t = (i + 1) / T):
 * - linspace: round(linspace(0, T - 1, N)) reversed;
 * - leading:  arange(0, N) * (T // N) reversed;
 * - trailing: round(arange(T, 0, -T / N)) - 1.
 * Each expression computes its points the way numpy does (start + i * step), so indices match diffusers'.
 */
export function spacedIndices(spacing: TimestepSpacing, T: number, N: number, field = 'sampler'): number[] {
  check.oneOf(`${field}.spacing`, spacing, TIMESTEP_SPACINGS);
  check.positiveInt(`${field}.T`, T);
  check.positiveInt(`${field}.steps`, N);
  if (N > T) throw new ConfigError(`${field}.steps`, N, `an integer in [1, T = ${T}] (a sampler visits at most every training step)`);
  const k = Array.from({ length: N }, (_, i) => i);
  switch (spacing) {
    case 'linspace':
      return Array.from(linspace(0, T - 1, N), roundHalfEven).reverse();
    case 'leading':
      return k.map((i) => i * Math.floor(T / N)).reverse();
    case 'trailing':
      // Exactly N points: numpy's arange can round to one more (an index of -1) for some N, e.g. T = 1000, N = 61.
      return k.map((i) => roundHalfEven(T - i * (T / N)) - 1);
  }
}
