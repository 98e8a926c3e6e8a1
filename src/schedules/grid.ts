/**
 * A schedule defined on a grid of T training steps (the DDPM family: linear, scaled-linear, clipped cosine,
 * zero-terminal-SNR), made a function of continuous time.
 *
 * Index convention: DDPM's 0-based step i (alphas_cumprod[i], what the reference values and diffusers index by)
 * is continuous time t = (i + 1) / T, so t = 1 / T is the first, least noisy step, t = 1 the last, and t = 0
 * is the clean data with alphaBar = 1 (DDIM's "alpha_prod_prev = 1" at the final step).
 * On the grid alphaBar(t) is the cumulative product itself, bit for bit; between grid points log alphaBar is
 * interpolated linearly, i.e. each step's beta is spread evenly in log space over its interval.
 */
import { ConfigError } from '../config';
import { ScheduleBase, type ScheduleConfig } from './schedule';

/** How close t * T must be to an integer to count as a grid point (absorbs the rounding of (i + 1) / T). */
const SNAP = 1e-9;

export class GridSchedule extends ScheduleBase {
  readonly family = 'variance-preserving' as const;
  readonly T: number;
  /** alphaBar at t = (i + 1) / T, i = 0..T-1. */
  readonly grid: Float64Array;
  private readonly logGrid: Float64Array;

  /** `grid`: alphaBar at each training step, non-increasing, in [0, 1]; `field` names the config for errors. */
  constructor(readonly config: ScheduleConfig, grid: Float64Array, field = 'schedule') {
    super();
    for (let i = 0; i < grid.length; i++) {
      const previous = i === 0 ? 1 : grid[i - 1];
      if (!(grid[i] >= 0 && grid[i] <= previous)) {
        throw new ConfigError(`${field}.alphaBar[${i}]`, grid[i], `a value in [0, ${previous}] (alpha-bar cannot increase with t)`);
      }
    }
    this.T = grid.length;
    this.grid = grid;
    this.logGrid = grid.map(Math.log);
  }

  /** Fractional step index u = t T - 1, snapped to the grid when t is a grid point. */
  private position(t: number): number {
    const u = t * this.T - 1;
    const nearest = Math.round(u);
    return Math.abs(u - nearest) < SNAP ? nearest : u;
  }

  protected alphaBarAt(t: number): number {
    const u = this.position(t);
    if (Number.isInteger(u)) return u < 0 ? 1 : this.grid[u];
    const { left, right, w } = this.segment(u);
    // A zero at the end of the grid (zero terminal SNR) has log -Infinity: interpolate alphaBar itself there.
    if (right === -Infinity) return (1 - w) * Math.exp(left);
    return Math.exp(left + w * (right - left));
  }

  protected oneMinusAlphaBarAt(t: number): number {
    const u = this.position(t);
    if (Number.isInteger(u)) return u < 0 ? 0 : -Math.expm1(this.logGrid[u]);
    const { left, right, w } = this.segment(u);
    if (right === -Infinity) return 1 - (1 - w) * Math.exp(left);
    return -Math.expm1(left + w * (right - left));
  }

  /** log alphaBar at the grid points either side of u (index -1 is t = 0, log 1 = 0) and the weight of the right one. */
  private segment(u: number): { left: number; right: number; w: number } {
    const i = Math.floor(u);
    return { left: i < 0 ? 0 : this.logGrid[i], right: this.logGrid[i + 1], w: u - i };
  }
}

/** Cumulative product alphaBar_i = prod_{j <= i} (1 - beta_j) (Ho et al. 2020, eq. 4), in float64 like numpy. */
export function alphaBarFromBetas(betas: ArrayLike<number>): Float64Array {
  const out = new Float64Array(betas.length);
  let product = 1;
  for (let i = 0; i < betas.length; i++) {
    product *= 1 - betas[i];
    out[i] = product;
  }
  return out;
}

/** numpy.linspace(start, stop, n): start + i * step with the last point set to stop exactly. */
export function linspace(start: number, stop: number, n: number): Float64Array {
  const out = new Float64Array(n);
  const step = n > 1 ? (stop - start) / (n - 1) : 0;
  for (let i = 0; i < n; i++) out[i] = start + i * step;
  if (n > 1) out[n - 1] = stop;
  return out;
}
