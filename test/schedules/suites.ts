/**
 * One shared suite per interface of src/schedules (docs/ARCHITECTURE.md, 'Interface suites'): every built-in kind
 * runs these unmodified, and a researcher's own schedule, sampler, timestep sampler or weighting can be passed to
 * the same functions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { ConfigError } from '../../src/config';
import {
  makeSchedule, discretize, coefficients, addNoise, convertPrediction, makeTimestepSampler, makeWeighting, runSampler,
  PREDICTION_KINDS, type Schedule, type Sampler, type TimestepSampler, type Weighting, type PredictionKind,
} from '../../src/schedules';

/** t = k / 2000: every grid point of T in {50, 1000} and points between them. */
const FINE = Array.from({ length: 2001 }, (_, k) => k / 2000);
/** Midpoints of T = 1000 grid cells, where a grid schedule is smooth, for derivative checks. */
const SMOOTH = [0.0505, 0.1005, 0.3005, 0.5005, 0.7005, 0.9005];

export function assertConfigError(f: () => unknown, field: string): void {
  assert.throws(f, (e: unknown) => e instanceof ConfigError && e.field === field, `expected ConfigError on ${field}`);
}

export interface ScheduleSuiteOptions {
  /** Whether `makeSchedule(JSON round trip of config)` must rebuild it (false for a researcher's unregistered kind). */
  readonly roundTrip: boolean;
}

export function scheduleSuite(name: string, schedule: Schedule, options: ScheduleSuiteOptions = { roundTrip: true }): void {
  test(`${name}: alphaBar(0) = 1, alphaBar in [0, 1] and non-increasing in t`, () => {
    assert.ok(Math.abs(schedule.alphaBar(0) - 1) < 1e-12, `alphaBar(0) = ${schedule.alphaBar(0)}`);
    let previous = Infinity;
    for (const t of FINE) {
      const a = schedule.alphaBar(t);
      assert.ok(a >= 0 && a <= 1, `alphaBar(${t}) = ${a}`);
      assert.ok(a <= previous, `alphaBar rises at t = ${t}: ${previous} -> ${a}`);
      previous = a;
    }
    assert.ok(schedule.alphaBar(1) < 0.01, 'alphaBar(1) is near pure noise');
  });

  test(`${name}: alpha, sigma, logSnr and snr agree with alphaBar and the family`, () => {
    for (const t of FINE) {
      const [a, s] = [schedule.alpha(t), schedule.sigma(t)];
      if (schedule.family === 'variance-preserving') assert.ok(Math.abs(a * a + s * s - 1) < 1e-12, `alpha^2 + sigma^2 at ${t}`);
      else assert.ok(Math.abs(a + s - 1) < 1e-12, `alpha + sigma at ${t}`);
      const alphaBar = schedule.alphaBar(t);
      assert.ok(Math.abs((a * a) / (a * a + s * s) - alphaBar) <= 1e-12 * Math.max(alphaBar, 1e-300) + 1e-300, `alphaBar at ${t}`);
      const logSnr = schedule.logSnr(t);
      if (Number.isFinite(logSnr)) {
        assert.ok(Math.abs(logSnr - Math.log((a * a) / (s * s))) < 1e-9 * Math.max(1, Math.abs(logSnr)), `logSnr at ${t}`);
        assert.ok(Math.abs(schedule.snr(t) / Math.exp(logSnr) - 1) < 1e-9, `snr at ${t}`);
      } else {
        assert.equal(logSnr, t === 0 ? Infinity : -Infinity, `infinite logSnr only at the ends (t = ${t})`);
      }
    }
  });

  test(`${name}: dAlpha and dSigma are the derivatives of alpha and sigma`, () => {
    const h = 1e-4;
    for (const t of SMOOTH) {
      const dA = (schedule.alpha(t + h) - schedule.alpha(t - h)) / (2 * h);
      const dS = (schedule.sigma(t + h) - schedule.sigma(t - h)) / (2 * h);
      assert.ok(Math.abs(schedule.dAlpha(t) - dA) <= 1e-5 * Math.max(1, Math.abs(dA)), `dAlpha at ${t}: ${schedule.dAlpha(t)} vs ${dA}`);
      assert.ok(Math.abs(schedule.dSigma(t) - dS) <= 1e-5 * Math.max(1, Math.abs(dS)), `dSigma at ${t}: ${schedule.dSigma(t)} vs ${dS}`);
    }
  });

  if (options.roundTrip) {
    test(`${name}: its config survives JSON and rebuilds an identical schedule`, () => {
      const json = JSON.parse(JSON.stringify(schedule.config));
      const rebuilt = makeSchedule(json);
      assert.deepEqual(rebuilt.config, schedule.config);
      assert.equal(rebuilt.family, schedule.family);
      assert.equal(rebuilt.T, schedule.T);
      for (const t of FINE) assert.equal(rebuilt.alphaBar(t), schedule.alphaBar(t), `alphaBar at ${t}`);
    });
  }

  test(`${name}: discretize gives the DDPM arrays at t = (i + 1) / T`, () => {
    for (const T of [10, schedule.T ?? 1000]) {
      const d = discretize(schedule, T);
      let product = 1;
      for (let i = 0; i < T; i++) {
        assert.equal(d.t[i], (i + 1) / T);
        assert.equal(d.alphaBar[i], schedule.alphaBar((i + 1) / T));
        assert.ok(d.betas[i] >= 0 && d.betas[i] <= 1, `beta[${i}] = ${d.betas[i]}`);
        assert.ok(Math.abs(d.alphas[i] + d.betas[i] - 1) < 1e-15);
        product *= d.alphas[i];
        assert.ok(Math.abs(product - d.alphaBar[i]) <= 1e-9 * d.alphaBar[i] + 1e-15, `cumprod(alphas)[${i}]`);
      }
    }
  });

  test(`${name}: per-example coefficients and addNoise as tensors, without leaks`, () => {
    const t = [0.05, 0.5, 0.95];
    const before = tf.memory().numTensors;
    const c = coefficients(schedule, t, 4);
    assert.deepEqual(c.alpha.shape, [3, 1, 1, 1]);
    const got = { alpha: c.alpha.dataSync(), sigma: c.sigma.dataSync(), dAlpha: c.dAlpha.dataSync(), dSigma: c.dSigma.dataSync() };
    t.forEach((u, i) => {
      assert.ok(Math.abs(got.alpha[i] - schedule.alpha(u)) < 1e-6);
      assert.ok(Math.abs(got.sigma[i] - schedule.sigma(u)) < 1e-6);
      assert.ok(Math.abs(got.dAlpha[i] - Math.fround(schedule.dAlpha(u))) === 0);
      assert.ok(Math.abs(got.dSigma[i] - Math.fround(schedule.dSigma(u))) === 0);
    });
    const x0 = tf.ones([3, 2, 2, 2]);
    const eps = tf.fill([3, 2, 2, 2], 2);
    const xt = addNoise(x0, eps, c.alpha, c.sigma);
    const values = xt.dataSync();
    t.forEach((u, i) => assert.ok(Math.abs(values[i * 8] - (schedule.alpha(u) + 2 * schedule.sigma(u))) < 1e-5, `x_t of example ${i}`));
    tf.dispose([x0, eps, xt, c.alpha, c.sigma, c.dAlpha, c.dSigma]);
    assert.equal(tf.memory().numTensors, before);
  });

  test(`${name}: a time outside [0, 1] is a ConfigError naming t`, () => {
    for (const bad of [-0.1, 1.5, NaN]) {
      assertConfigError(() => schedule.alphaBar(bad), 't');
      assertConfigError(() => schedule.alpha(bad), 't');
      assertConfigError(() => schedule.logSnr(bad), 't');
    }
  });
}

/** A perfect network: whatever it is asked to predict, it answers from the true x0. */
function perfectPredictor(schedule: Schedule, x0: tf.Tensor, kind: PredictionKind) {
  return (x: tf.Tensor, t: number): tf.Tensor =>
    convertPrediction('x0', kind, x0, x, schedule.alpha(t), schedule.sigma(t), { dAlpha: schedule.dAlpha(t), dSigma: schedule.dSigma(t) });
}

export interface SamplerSuiteOptions {
  /** Prediction kinds to drive it with (epsilon cannot recover x0 where alpha(1) = 0). */
  readonly kinds: readonly PredictionKind[];
  /** Max |error| of the final sample with a perfect predictor. */
  readonly tolerance: number;
  /** Whether the sampler draws noise (then equal seeds must give equal samples). */
  readonly stochastic: boolean;
}

export function samplerSuite(name: string, sampler: Sampler, options: SamplerSuiteOptions): void {
  const { schedule } = sampler;
  test(`${name}: timesteps descend from at most 1 to exactly 0, one more than the steps`, () => {
    const times = sampler.timesteps();
    assert.equal(times.length, sampler.config.steps + 1);
    assert.ok(times[0] <= 1 && times[0] > 0);
    assert.equal(times[times.length - 1], 0);
    for (let k = 1; k < times.length; k++) assert.ok(times[k] < times[k - 1], `times[${k}]`);
  });

  test(`${name}: a perfect predictor is taken to the true x0 (kinds ${options.kinds.join(', ')}), without leaks`, () => {
    const x0 = tf.tensor([[0.5, -1, 2, 0], [1.5, 0.25, -0.75, -2]]);
    const noise = new Rng(1).randomNormal([2, 4]);
    const truth = x0.dataSync();
    for (const kind of options.kinds) {
      const before = tf.memory().numTensors;
      const t0 = sampler.timesteps()[0];
      const xStart = addNoise(x0, noise, schedule.alpha(t0), schedule.sigma(t0));
      const out = runSampler(sampler, xStart, perfectPredictor(schedule, x0, kind), { kind, rng: new Rng(2) });
      const got = out.dataSync();
      const error = Math.max(...Array.from(got, (g, i) => Math.abs(g - truth[i])));
      assert.ok(error <= options.tolerance, `${kind}: max error ${error} > ${options.tolerance}`);
      tf.dispose([xStart, out]);
      assert.equal(tf.memory().numTensors, before, `${kind}: no tensor leaks`);
    }
    tf.dispose([x0, noise]);
  });

  test(`${name}: one step is reproducible from the seed and checks its inputs`, () => {
    const xt = tf.tensor([[0.3, -0.2, 1.1]]);
    const prediction = tf.tensor([[0.1, 0.4, -0.5]]);
    const kind = options.kinds[0];
    const run = (seed: number) => {
      const { prev, predX0 } = sampler.step({ prediction, kind, xt, t: 0.6, tPrev: 0.4, rng: new Rng(seed) });
      const values = Array.from(prev.dataSync());
      tf.dispose([prev, predX0]);
      return values;
    };
    const before = tf.memory().numTensors;
    assert.deepEqual(run(3), run(3));
    if (options.stochastic) assert.notDeepEqual(run(3), run(4));
    else assert.deepEqual(run(3), run(4));
    assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
    assertConfigError(() => sampler.step({ prediction, kind, xt, t: 0.4, tPrev: 0.6 }), 'step.tPrev');
    assertConfigError(() => sampler.step({ prediction, kind, xt, t: 1.2, tPrev: 0.6 }), 'step.t');
    assertConfigError(() => sampler.step({ prediction, kind: 'score' as PredictionKind, xt, t: 0.6, tPrev: 0.4 }), 'step.kind');
    tf.dispose([xt, prediction]);
  });
}

/**
 * Kolmogorov-Smirnov distance between samples and a cdf, taken at the right of each distinct value so that a
 * discrete distribution's ties are compared correctly (for a continuous one it is within 1/n of the usual statistic).
 */
function ksDistance(samples: Float64Array, cdf: (t: number) => number): number {
  const sorted = Float64Array.from(samples).sort();
  let d = 0;
  sorted.forEach((t, i) => {
    if (i + 1 < sorted.length && sorted[i + 1] === t) return;
    d = Math.max(d, Math.abs((i + 1) / sorted.length - cdf(t)));
  });
  return d;
}

export function timestepSamplerSuite(name: string, sampler: TimestepSampler): void {
  for (const tMax of [1, 0.5]) {
    test(`${name}, tMax ${tMax}: draws lie in (0, tMax], follow the (truncated) cdf and repeat with the seed`, () => {
      const n = 4000;
      const draws = sampler.sample(n, new Rng(5), { tMax });
      assert.equal(draws.length, n);
      for (const t of draws) assert.ok(t > 0 && t <= tMax, `draw ${t}`);
      assert.deepEqual(sampler.sample(n, new Rng(5), { tMax }), draws);
      const mass = sampler.cdf(tMax);
      // 1.95 / sqrt(n) is the KS critical value at p = 0.001.
      const d = ksDistance(draws, (t) => sampler.cdf(t) / mass);
      assert.ok(d < 1.95 / Math.sqrt(n), `KS distance ${d}`);
    });

    test(`${name}, tMax ${tMax}: the density integrates to 1 over (0, tMax] and is 0 beyond`, () => {
      const cells = 20000;
      let integral = 0;
      for (let k = 0; k < cells; k++) integral += sampler.density(((k + 0.5) / cells) * tMax, { tMax }) * (tMax / cells);
      assert.ok(Math.abs(integral - 1) < 1e-3, `integral ${integral}`);
      if (tMax < 1) assert.equal(sampler.density(tMax + 0.01, { tMax }), 0);
    });
  }

  test(`${name}: quantile inverts cdf`, () => {
    for (const u of [0.01, 0.2, 0.5, 0.77, 0.999]) {
      const t = sampler.quantile(u);
      assert.ok(sampler.cdf(t) >= u - 1e-12, `cdf(quantile(${u})) = ${sampler.cdf(t)}`);
      assert.ok(sampler.cdf(t - 1e-3) <= u + 1e-9, `quantile(${u}) = ${t} is the smallest such t`);
    }
  });

  test(`${name}: bad n or tMax is a ConfigError`, () => {
    assertConfigError(() => sampler.sample(-1), 'timesteps.n');
    assertConfigError(() => sampler.sample(3, new Rng(0), { tMax: 0 }), 'timesteps.tMax');
    assertConfigError(() => sampler.sample(3, new Rng(0), { tMax: 1.5 }), 'timesteps.tMax');
  });

  test(`${name}: config round trip`, () => {
    const rebuilt = makeTimestepSampler(JSON.parse(JSON.stringify(sampler.config)));
    assert.deepEqual(rebuilt.config, sampler.config);
    assert.deepEqual(rebuilt.sample(50, new Rng(9)), sampler.sample(50, new Rng(9)));
  });
}

export function weightingSuite(name: string, weighting: Weighting): void {
  const schedules = [makeSchedule({ kind: 'cosine' }), makeSchedule({ kind: 'flow' })];

  test(`${name}: weights are finite and >= 0 on (0, 1) for every target`, () => {
    for (const schedule of schedules) {
      for (const target of PREDICTION_KINDS) {
        const w = weighting.weights(FINE.slice(1, -1), schedule, target);
        w.forEach((x, i) => assert.ok(Number.isFinite(x) && x >= 0, `${schedule.config.kind}/${target} at ${FINE[i + 1]}: ${x}`));
      }
    }
  });

  test(`${name}: the weighted loss is the same whatever target is trained`, () => {
    // One error in x0 space, expressed in each target's space: weight * ||target error||^2 must not depend on the
    // target (for 'constant', which weights each target's own loss, it must equal that target's plain loss).
    for (const schedule of schedules) {
      for (const t of [0.1, 0.5, 0.9]) {
        const [alpha, sigma] = [schedule.alpha(t), schedule.sigma(t)];
        const rates = { dAlpha: schedule.dAlpha(t), dSigma: schedule.dSigma(t) };
        const losses = tf.tidy(() => {
          const xt = tf.tensor([0.3, -1.2, 0.8]);
          const x0 = tf.tensor([0.5, -1, 0.1]);
          const x0Wrong = x0.add(tf.tensor([0.1, -0.2, 0.3]));
          return PREDICTION_KINDS.map((target) => {
            const right = convertPrediction('x0', target, x0, xt, alpha, sigma, rates);
            const wrong = convertPrediction('x0', target, x0Wrong, xt, alpha, sigma, rates);
            return { target, mse: wrong.sub(right).square().sum().dataSync()[0] };
          });
        });
        const weighted = losses.map(({ target, mse }) => weighting.weight(t, schedule, target) * mse);
        if (weighting.config.kind === 'constant') {
          PREDICTION_KINDS.forEach((target) => assert.equal(weighting.weight(t, schedule, target), 1));
        } else {
          weighted.forEach((w, i) => assert.ok(Math.abs(w - weighted[0]) <= 1e-4 * weighted[0], `${schedule.config.kind} t=${t} ${losses[i].target}: ${w} vs ${weighted[0]}`));
        }
      }
    }
  });

  test(`${name}: config round trip, and bad target or t is a ConfigError`, () => {
    const rebuilt = makeWeighting(JSON.parse(JSON.stringify(weighting.config)));
    assert.deepEqual(rebuilt.config, weighting.config);
    assert.equal(rebuilt.weight(0.37, schedules[0], 'v'), weighting.weight(0.37, schedules[0], 'v'));
    assertConfigError(() => weighting.weight(0.5, schedules[0], 'score' as PredictionKind), 'weighting.target');
    assertConfigError(() => weighting.weight(0, schedules[0], 'epsilon'), 'weighting.t');
  });
}
