/**
 * DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic
 * Models", Algorithm 2): the multistep second-order solver of the probability-flow ODE written for the data
 * prediction x0, the same sampler as diffusers' DPMSolverMultistepScheduler with algorithm_type 'dpmsolver++',
 * solver_order 2, solver_type 'midpoint', lower_order_final and final_sigmas_type 'zero'. Its kind is 'dpmpp-2m'
 * (k-diffusion's dpmpp_2m): a kind name is letters, digits, '.', '_' and '-' (src/registry.ts). Why: DDIM is the
 * first-order member of this family (the same update with the x0 difference term dropped), and its error falls
 * only linearly with the steps; reusing the previous step's x0 costs no extra network call and makes the error
 * fall quadratically, so 15 to 20 steps do what DDIM needs about 50 for (the paper's abstract: good samples in
 * 15 to 20 steps; test/schedules/dpm-solver.test.ts measures it on Gaussian data against the exact ODE solution).
 *
 * In log-SNR lambda = log(alpha / sigma), from time s (with x0 prediction D0) to t, with h = lambda_t - lambda_s:
 *   first order (= DDIM):         x_t = (sigma_t / sigma_s) x_s + alpha_t (1 - e^{-h}) D0
 *   second order (Alg. 2):        x_t = (sigma_t / sigma_s) x_s + alpha_t (1 - e^{-h}) (D0 + D1 / 2),
 *                                 D1 = (D0 - D_prev) h / h_prev, h_prev = lambda_s - lambda_prev,
 * where D_prev is the x0 predicted one step earlier, at time prev. The first step of a trajectory has no D_prev
 * and is first order; so is the last, to t = 0, where sigma = 0 (lambda = +inf, e^{-h} = 0) and the update is
 * x = alpha(0) D0 = D0, the clean sample the last prediction implies (diffusers' lower_order_final). e^{-h} is
 * computed from (alpha, sigma) as the ratio (alpha_s sigma_t) / (sigma_s alpha_t), so the ends of every schedule
 * are exact: alpha = 0 at t = 1 (zero terminal SNR, rectified flow; lambda = -inf) gives e^{-h} = 0, and an
 * infinite h_prev leaves D1 = 0 (the step after such a start is first order, the limit of the formula).
 *
 * State. The sampler keeps the previous step's x0 between `step` calls, and the loops that call it
 * (sample-loop.ts, src/generate/denoise.ts) never say where a trajectory starts. Rather than add such a hook to
 * the Sampler interface and every loop, the state is keyed on the trajectory itself: a step continues the
 * previous one only when its `xt` is the very tensor the previous step returned as `prev` and its `t` is that
 * step's `tPrev`. A fresh trajectory starts from fresh noise, so another generate call, another batch, two
 * trajectories interleaved by hand, or the same step run twice all start again at first order, and state from one
 * trajectory can never reach another. The cost: a loop that replaces x between steps (a clone, an inpainting
 * paste) gets first-order (DDIM) steps there, correct but slower to converge. The kept x0 is released when the
 * trajectory reaches t = 0; `reset()` releases it after a trajectory that stopped early.
 */
import { tf } from '../engine/tf';
import type { Schedule } from './schedule';
import { SamplerBase, samplers, type SamplerStepInput, type SamplerStepOutput, type SpacedStepsConfig, type StepState } from './sampler';
import { BUILT_IN, fieldsOf } from '../registry';
import type { TimestepSpacing } from './spacing';

declare module './sampler' {
  interface SamplerKinds {
    'dpmpp-2m': DpmSolverSamplerConfig;
  }
}

export interface DpmSolverSamplerConfig extends SpacedStepsConfig {
  readonly kind: 'dpmpp-2m';
  /** Number of network evaluations. Default 20: the paper samples well in 15 to 20 steps (Lu et al. 2022, abstract). */
  readonly steps: number;
  /** Default 'trailing', as DDIM's (Lin et al. 2024, Sec. 3.3). */
  readonly spacing: TimestepSpacing;
  /** Default null: the schedule's grid, or CONTINUOUS_GRID. */
  readonly T: number | null;
}

export const DEFAULT_DPM_SOLVER_SAMPLER: DpmSolverSamplerConfig = { kind: 'dpmpp-2m', steps: 20, spacing: 'trailing', T: null, clipX0: null };

/** What the previous step of the current trajectory leaves for the next. */
interface PreviousStep {
  /** [B, ...] the (clipped) x0 predicted at `t`, owned by the sampler. */
  readonly x0: tf.Tensor;
  /** lambda = log(alpha / sigma) at `t`. */
  readonly lambda: number;
  /** The time the step went to: the next step of the same trajectory starts there. */
  readonly tNext: number;
  /** The tensor the step returned (compared by identity only, never read: the caller owns and disposes it). */
  readonly prev: tf.Tensor;
}

export class DpmSolverSampler extends SamplerBase {
  private previous: PreviousStep | null = null;
  /** The previous step, when the step being run continues its trajectory (set by `step`, read by `update`). */
  private continuing: PreviousStep | null = null;

  constructor(readonly config: DpmSolverSamplerConfig, schedule: Schedule, field = 'sampler') {
    super(schedule, field);
    this.checkSpacing(config);
  }

  /** log(alpha / sigma) at t: -Infinity where alpha = 0, +Infinity where sigma = 0. */
  private lambda(t: number): number {
    return Math.log(this.schedule.alpha(t)) - Math.log(this.schedule.sigma(t));
  }

  override step(input: SamplerStepInput): SamplerStepOutput {
    const last = this.previous;
    const continues = last !== null && input.xt === last.prev && input.t === last.tNext;
    if (!continues) this.reset();
    this.continuing = continues ? last : null;
    let out: SamplerStepOutput;
    try {
      out = super.step(input);
    } finally {
      this.continuing = null;
    }
    this.reset();
    // The trajectory ends at t = 0: nothing is kept past it. tf.keep: callers step inside their own tf.tidy
    // (src/generate/denoise.ts), which would otherwise dispose the copy when it closes.
    if (input.tPrev > 0) this.previous = { x0: tf.keep(out.predX0.clone()), lambda: this.lambda(input.t), tNext: input.tPrev, prev: out.prev };
    return out;
  }

  /** Forget the current trajectory (releasing its kept x0): the next step is first order. */
  reset(): void {
    this.previous?.x0.dispose();
    this.previous = null;
  }

  protected update({ x0, xt, t, tPrev }: StepState): tf.Tensor {
    const [alphaS, sigmaS, alphaT, sigmaT] = [this.schedule.alpha(t), this.schedule.sigma(t), this.schedule.alpha(tPrev), this.schedule.sigma(tPrev)];
    // e^{-h} = e^{lambda_s - lambda_t}; 0 where alpha_s = 0 (lambda_s = -inf) or sigma_t = 0 (lambda_t = +inf).
    const decay = alphaS === 0 || sigmaT === 0 ? 0 : (alphaS * sigmaT) / (sigmaS * alphaT);
    const signal = alphaT * (1 - decay);
    const first = tf.add(tf.mul(sigmaT / sigmaS, xt), tf.mul(signal, x0));
    const previous = this.continuing;
    // Lower order final (diffusers' lower_order_final with final_sigmas_type 'zero'): the step to t = 0 is first order.
    if (previous === null || tPrev === 0) return first;
    const lambdaS = this.lambda(t);
    const ratio = (this.lambda(tPrev) - lambdaS) / (lambdaS - previous.lambda); // 1 / r0 = h / h_prev
    if (!Number.isFinite(ratio) || ratio === 0) return first;
    // D1 / 2 = (D0 - D_prev) / (2 r0).
    return first.add(tf.mul(0.5 * signal * ratio, tf.sub(x0, previous.x0)));
  }
}

samplers.define('dpmpp-2m', {
  defaults: fieldsOf(DEFAULT_DPM_SOLVER_SAMPLER),
  build: (c, { field }, schedule) => new DpmSolverSampler(c, schedule, field),
  doc: 'DPM-Solver++(2M), multistep second order (Lu et al. 2022)',
}, BUILT_IN);
