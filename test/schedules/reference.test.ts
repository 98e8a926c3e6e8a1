/**
 * Float64 reference values from the published formulas: fixtures/schedules.json, made by the NumPy script beside
 * it (a copy, to the last bit or one ulp, of the project's ../shared/reference/schedules.json; its `notes` give the
 * formulas). Their 0-based DDPM index i is our continuous t = (i + 1) / T (src/schedules/grid.ts).
 * Scalar paths run in float64 and must match to 1e-10 relative; tensor paths run in float32 (1e-6 relative to
 * the largest value, i.e. a few float32 ulps).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import REF from './fixtures/schedules.json';
import {
  makeSchedule, makeWeighting, makeTimestepSampler, makeTarget, makeSampler, ddpmPosterior, addNoise, RECTIFIED_FLOW_RATES,
  type Schedule,
} from '../../src/schedules';

const T: number = REF.T;
const STEPS: number[] = REF.timesteps;
const tOf = (i: number) => (i + 1) / T;

function close(actual: number, expected: number, rel: number, what: string): void {
  const scale = Math.max(Math.abs(expected), Number.MIN_VALUE);
  assert.ok(Math.abs(actual - expected) <= rel * scale, `${what}: got ${actual}, expected ${expected}`);
}

function closeArrays(actual: ArrayLike<number>, expected: readonly number[], tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  const scale = Math.max(...expected.map(Math.abs));
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance * scale, `${what}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
  }
}

const cosine = makeSchedule({ kind: 'cosine', s: 0.008, maxBeta: 0.999, T: 1000 });

test('alpha-bar of linear, cosine and zero-terminal-SNR matches the DDPM cumulative products', () => {
  const cases: [string, Schedule][] = [
    ['linear_1e-4_0.02', makeSchedule({ kind: 'linear', betaStart: 1e-4, betaEnd: 0.02, T: 1000 })],
    ['cosine_s0.008_maxbeta0.999', cosine],
    ['linear_zero_terminal_snr', makeSchedule({ kind: 'zero-terminal-snr', base: { kind: 'linear' } })],
  ];
  for (const [key, schedule] of cases) {
    STEPS.forEach((i, j) => close(schedule.alphaBar(tOf(i)), REF.alphas_cumprod[key as keyof typeof REF.alphas_cumprod][j], 1e-12, `${key} at step ${i}`));
  }
  assert.equal(cases[2][1].alphaBar(1), 0, 'zero terminal SNR is exactly zero at t = 1');
});

test('SNR of the cosine schedule', () => {
  STEPS.forEach((i, j) => close(cosine.snr(tOf(i)), REF.snr_cosine[j], 1e-10, `snr at step ${i}`));
  STEPS.forEach((i, j) => close(Math.exp(cosine.logSnr(tOf(i))), REF.snr_cosine[j], 1e-10, `exp(logSnr) at step ${i}`));
});

test('min-SNR-5 weights for epsilon and v targets on the cosine schedule', () => {
  const minSnr = makeWeighting({ kind: 'min-snr', gamma: 5 });
  STEPS.forEach((i, j) => {
    close(minSnr.weight(tOf(i), cosine, 'epsilon'), REF.min_snr5_weight_eps_cosine[j], 1e-10, `eps weight at step ${i}`);
    close(minSnr.weight(tOf(i), cosine, 'v'), REF.min_snr5_weight_v_cosine[j], 1e-10, `v weight at step ${i}`);
  });
});

test('x_t and v targets at cosine step 500', () => {
  const ref = REF.targets_cosine_t500;
  const t = tOf(500);
  const [alpha, sigma] = [cosine.alpha(t), cosine.sigma(t)];
  // Float64 scalars first: the formulas themselves.
  ref.x0.forEach((x0: number, k: number) => {
    close(alpha * x0 + sigma * ref.eps[k], ref.x_t[k], 1e-12, `x_t[${k}] (float64)`);
    close(alpha * ref.eps[k] - sigma * x0, ref.v[k], 1e-12, `v[${k}] (float64)`);
  });
  const before = tf.memory().numTensors;
  const x0 = tf.tensor(ref.x0);
  const eps = tf.tensor(ref.eps);
  const xt = addNoise(x0, eps, alpha, sigma);
  const v = makeTarget('v', x0, eps, alpha, sigma);
  closeArrays(xt.dataSync(), ref.x_t, 1e-6, 'x_t (float32)');
  closeArrays(v.dataSync(), ref.v, 1e-6, 'v (float32)');
  tf.dispose([x0, eps, xt, v]);
  assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
});

test('DDIM (eta = 0) step 500 -> 400 on the cosine schedule with the true epsilon', () => {
  const ref = REF.targets_cosine_t500;
  const sampler = makeSampler({ kind: 'ddim', eta: 0 }, cosine);
  const before = tf.memory().numTensors;
  const xt = tf.tensor(ref.x_t);
  const eps = tf.tensor(ref.eps);
  const { prev, predX0 } = sampler.step({ prediction: eps, kind: 'epsilon', xt, t: tOf(500), tPrev: tOf(400) });
  closeArrays(prev.dataSync(), REF.ddim_eta0_cosine_500_to_400.x_prev, 1e-6, 'x_prev');
  closeArrays(predX0.dataSync(), ref.x0, 1e-6, 'predicted x0');
  tf.dispose([xt, eps, prev, predX0]);
  assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
});

test('DDPM posterior q(x_499 | x_500, x0) on the cosine schedule', () => {
  const ref = REF.targets_cosine_t500;
  const post = ddpmPosterior(cosine, tOf(500), tOf(499));
  close(post.variance, REF.ddpm_posterior_cosine_t500.variance, 1e-9, 'variance');
  ref.x0.forEach((x0: number, k: number) => {
    close(post.coefX0 * x0 + post.coefXt * ref.x_t[k], REF.ddpm_posterior_cosine_t500.mean[k], 1e-10, `mean[${k}]`);
  });
});

test('rectified flow at t = 0.3: x_t and velocity', () => {
  const ref = REF.targets_cosine_t500;
  const flow = makeSchedule({ kind: 'flow' });
  const t = 0.3;
  ref.x0.forEach((x0: number, k: number) => {
    close(flow.alpha(t) * x0 + flow.sigma(t) * ref.eps[k], REF['rectified_flow_t0.3'].x_t[k], 1e-12, `x_t[${k}]`);
    close(flow.dAlpha(t) * x0 + flow.dSigma(t) * ref.eps[k], REF['rectified_flow_t0.3'].velocity[k], 1e-12, `velocity[${k}]`);
  });
  const x0 = tf.tensor(ref.x0);
  const eps = tf.tensor(ref.eps);
  const velocity = makeTarget('flow', x0, eps, flow.alpha(t), flow.sigma(t), RECTIFIED_FLOW_RATES);
  closeArrays(velocity.dataSync(), REF['rectified_flow_t0.3'].velocity, 1e-6, 'velocity (float32)');
  tf.dispose([x0, eps, velocity]);
});

test('logit-normal density (m = 0, s = 1)', () => {
  const sampler = makeTimestepSampler({ kind: 'logit-normal', m: 0, s: 1 });
  const lognorm = makeWeighting({ kind: 'sd3-lognorm', m: 0, s: 1 });
  for (const [t, pdf] of Object.entries(REF.logit_normal_pdf_m0_s1) as [string, number][]) {
    close(sampler.density(Number(t)), pdf, 1e-12, `density at ${t}`);
    close(lognorm.weight(Number(t), makeSchedule({ kind: 'flow' }), 'flow'), pdf, 1e-12, `sd3-lognorm weight at ${t}`);
  }
});
