/**
 * DPM-Solver++(2M) (src/schedules/dpm-solver.ts; Lu et al. 2022, Algorithm 2). On Gaussian data the exact x0
 * prediction and the exact probability-flow ODE solution are known in closed form, so the solver's error is
 * measured, not guessed: per dimension, data ~ N(mu, s^2) gives
 *   E[x0 | x_t] = mu + alpha s^2 (x_t - alpha mu) / (alpha^2 s^2 + sigma^2),
 * and since that drift is affine in x and the marginals stay Gaussian, the ODE keeps the standardised
 * z = (x_t - alpha_t mu) / sqrt(alpha_t^2 s^2 + sigma_t^2) fixed: from x_T it ends at x0 = mu + s z, on any
 * schedule (variance-preserving or flow).
 */
import { before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { initEngine } from '../../src/engine/engine';
import { ConfigError } from '../../src/config';
import { Transfusion } from '../../src/model/transfusion';
import { denoiseImages, disposeResult, generate, textToImage, resolveGenerateOptions, type ContextRow } from '../../src/generate';
import { captionPrompt } from '../../src/data/sequence';
import {
  makeSchedule, makeSampler, runSampler, addNoise, convertPrediction, DpmSolverSampler, DEFAULT_DPM_SOLVER_SAMPLER, SAMPLER_DEFAULTS,
  type Schedule, type Sampler, type SamplerSpec, type PredictionKind,
} from '../../src/schedules';
import { assertConfigError } from './suites';

before(async () => {
  await initEngine();
});

const cosine = makeSchedule({ kind: 'cosine' });
const flow = makeSchedule({ kind: 'flow' });
const ztsnr = makeSchedule({ kind: 'zero-terminal-snr' });

/** Six dimensions of different means and scales, so no single error term dominates or cancels. */
const MU = [0.5, -1, 2, 0, 0.3, -0.7];
const S = [0.5, 1, 0.8, 1.5, 0.3, 0.7];
const ROWS = 64;

/** The exact x0 prediction (posterior mean) of the Gaussian data, as a network predicting x0. */
function gaussianDenoiser(schedule: Schedule, mu: tf.Tensor, s: tf.Tensor) {
  return (x: tf.Tensor, t: number) =>
    tf.tidy(() => {
      const [a, sg] = [schedule.alpha(t), schedule.sigma(t)];
      const v = s.square();
      return mu.add(v.mul(a).mul(x.sub(mu.mul(a))).div(v.mul(a * a).add(sg * sg)));
    });
}

/**
 * RMS distance, over ROWS x 6 values, between the sampler's x at time `tStop` (a time of its grid; 0 is the end)
 * and the exact ODE solution from the same x_T.
 */
function odeError(schedule: Schedule, spec: SamplerSpec, tStop = 0): number {
  return tf.tidy(() => {
    const mu = tf.tensor1d(MU);
    const s = tf.tensor1d(S);
    const sampler = makeSampler(spec, schedule);
    const at = (t: number) => ({ a: schedule.alpha(t), std: s.square().mul(schedule.alpha(t) ** 2).add(schedule.sigma(t) ** 2).sqrt() });
    const z = new Rng(0).randomNormal([ROWS, MU.length]);
    const start = at(sampler.timesteps()[0]);
    const xT = mu.mul(start.a).add(start.std.mul(z));
    const stop = at(tStop);
    const exact = mu.mul(stop.a).add(stop.std.mul(z));
    let error = NaN;
    const measure = (x: tf.Tensor) => tf.tidy(() => x.sub(exact).square().mean().sqrt().dataSync()[0]);
    const out = runSampler(sampler, xT, gaussianDenoiser(schedule, mu, s), {
      kind: 'x0',
      onStep: ({ tPrev, x }) => {
        if (tPrev === tStop) error = measure(x);
      },
    });
    assert.ok(Number.isFinite(error), `time ${tStop} is on the grid of ${JSON.stringify(spec)}`);
    out.dispose();
    return error;
  });
}

const fmt = (v: number) => v.toExponential(2);

test('Gaussian data, cosine schedule: DPM++(2M) lands far closer to the exact ODE endpoint than DDIM, and converges at second order', (t: TestContext) => {
  const steps = [10, 20, 40];
  const ddim = steps.map((n) => odeError(cosine, { kind: 'ddim', steps: n }));
  const dpm = steps.map((n) => odeError(cosine, { kind: 'dpmpp-2m', steps: n }));
  const ddim50 = odeError(cosine, { kind: 'ddim', steps: 50 });
  const [dpm15, dpm20] = [odeError(cosine, { kind: 'dpmpp-2m', steps: 15 }), dpm[1]];
  t.diagnostic(`RMS error at t = 0, steps ${steps.join('/')}: ddim ${ddim.map(fmt).join(' ')}; dpm++2m ${dpm.map(fmt).join(' ')}; ddim@50 ${fmt(ddim50)}, dpm++2m@15 ${fmt(dpm15)}`);
  // Measured: ddim 1.15e-1 5.92e-2 3.01e-2, dpm++2m 3.56e-2 8.84e-3 2.57e-3; ddim@50 2.42e-2, dpm++2m@15 1.57e-2.
  assert.ok(ddim[0] / dpm[0] >= 3, `10 steps: DDIM's error ${fmt(ddim[0])} is only ${(ddim[0] / dpm[0]).toFixed(2)}x DPM++(2M)'s ${fmt(dpm[0])}`);
  for (let k = 1; k < steps.length; k++) {
    // DDIM (DPM-Solver++ first order) halves its error per doubling; the second-order solver divides it by ~4.
    const [first, second] = [ddim[k - 1] / ddim[k], dpm[k - 1] / dpm[k]];
    assert.ok(first > 1.8 && first < 2.2, `DDIM ${steps[k - 1]} -> ${steps[k]} steps: error ratio ${first.toFixed(2)}, first order expected`);
    assert.ok(second > 3, `DPM++(2M) ${steps[k - 1]} -> ${steps[k]} steps: error ratio ${second.toFixed(2)} <= 3 (${fmt(dpm[k - 1])} -> ${fmt(dpm[k])})`);
  }
  // The point of the sampler: evaluation's 50 DDIM steps are beaten by 15, and by 20 with half the error.
  assert.ok(dpm15 < ddim50 && dpm20 < ddim50 / 2, `dpm++2m@15 ${fmt(dpm15)}, @20 ${fmt(dpm20)} vs ddim@50 ${fmt(ddim50)}`);
});

test('Gaussian data, schedules with alpha(1) = 0 (rectified flow, zero terminal SNR): second order inside, far ahead of DDIM at the end', (t: TestContext) => {
  // At t = 0 the trailing grid's last steps do not shrink in log-SNR (lambda(1/N) grows like log N), which costs the
  // endpoint a log factor on these schedules ((log N) / N^2); at t = 0.5 the steps shrink like 1/N everywhere.
  for (const [name, schedule] of [['flow', flow], ['zero-terminal-snr', ztsnr]] as const) {
    const steps = [10, 20, 40];
    const inside = steps.map((n) => odeError(schedule, { kind: 'dpmpp-2m', steps: n }, 0.5));
    const ddimEnd = [10, 20].map((n) => odeError(schedule, { kind: 'ddim', steps: n }));
    const dpmEnd = [10, 20].map((n) => odeError(schedule, { kind: 'dpmpp-2m', steps: n }));
    t.diagnostic(`${name}: RMS error at t = 0.5, steps ${steps.join('/')}: dpm++2m ${inside.map(fmt).join(' ')}; ` +
      `at t = 0, steps 10/20: ddim ${ddimEnd.map(fmt).join(' ')}, dpm++2m ${dpmEnd.map(fmt).join(' ')}`);
    // Measured: flow 1.93e-2 5.29e-3 1.47e-3 inside; at t = 0 ddim 1.15e-1 5.95e-2, dpm++2m 1.38e-2 5.18e-3.
    // Zero terminal SNR (linear base) 6.21e-3 1.71e-3 4.46e-4 inside; at t = 0 ddim 1.66e-1 8.7e-2, dpm++2m 7.94e-2 2.0e-2.
    for (let k = 1; k < steps.length; k++) {
      const ratio = inside[k - 1] / inside[k];
      assert.ok(ratio > 3, `${name}, t = 0.5, ${steps[k - 1]} -> ${steps[k]} steps: error ratio ${ratio.toFixed(2)} <= 3`);
    }
    assert.ok(dpmEnd[0] < ddimEnd[0] / 1.8, `${name}, 10 steps at t = 0: DDIM ${fmt(ddimEnd[0])} vs DPM++(2M) ${fmt(dpmEnd[0])}`);
    assert.ok(dpmEnd[1] < ddimEnd[1] / 3, `${name}, 20 steps at t = 0: DDIM ${fmt(ddimEnd[1])} vs DPM++(2M) ${fmt(dpmEnd[1])}`);
  }
});

/**
 * diffusers' DPMSolverMultistepScheduler.step (algorithm_type 'dpmsolver++', solver_order 2, solver_type 'midpoint',
 * lower_order_final, final_sigmas_type 'zero'), transcribed on plain float64 numbers with its own names: a list of
 * model outputs, lower_order_nums, and exp(-h) from lambda = log(alpha) - log(sigma).
 */
function diffusersReference(schedule: Schedule, times: number[], x: number, denoise: (x: number, t: number) => number): number {
  const lambda = (t: number) => Math.log(schedule.alpha(t)) - Math.log(schedule.sigma(t));
  const modelOutputs: number[] = [];
  let lowerOrderNums = 0;
  const N = times.length - 1;
  for (let i = 0; i < N; i++) {
    const [s0, t] = [times[i], times[i + 1]];
    modelOutputs.push(denoise(x, s0));
    const lowerOrderFinal = i === N - 1; // final_sigmas_type 'zero': the last step is always first order
    const [alphaT, sigmaT, sigmaS0] = [schedule.alpha(t), schedule.sigma(t), schedule.sigma(s0)];
    const h = lambda(t) - lambda(s0);
    const m0 = modelOutputs[modelOutputs.length - 1];
    if (lowerOrderNums < 1 || lowerOrderFinal) {
      x = (sigmaT / sigmaS0) * x - alphaT * (Math.exp(-h) - 1) * m0;
    } else {
      const s1 = times[i - 1];
      const m1 = modelOutputs[modelOutputs.length - 2];
      const h0 = lambda(s0) - lambda(s1);
      const r0 = h0 / h;
      const [D0, D1] = [m0, (1 / r0) * (m0 - m1)];
      x = (sigmaT / sigmaS0) * x - alphaT * (Math.exp(-h) - 1) * D0 - 0.5 * (alphaT * (Math.exp(-h) - 1)) * D1;
    }
    if (lowerOrderNums < 2) lowerOrderNums += 1;
  }
  return x;
}

test("matches a float64 transcription of diffusers' DPMSolverMultistepScheduler step loop (cosine, linear, flow, zero terminal SNR)", () => {
  const [mu, s] = [0.3, 0.6];
  const scalarDenoiser = (schedule: Schedule) => (x: number, t: number) => {
    const [a, sg] = [schedule.alpha(t), schedule.sigma(t)];
    return mu + (a * s * s * (x - a * mu)) / (a * a * s * s + sg * sg);
  };
  const starts = [-2, -0.5, 0.1, 1.7];
  const cases: [string, Schedule, SamplerSpec][] = [
    ['cosine, 10 trailing', cosine, { kind: 'dpmpp-2m', steps: 10 }],
    ['cosine, 7 leading', cosine, { kind: 'dpmpp-2m', steps: 7, spacing: 'leading' }],
    ['linear, 20 linspace', makeSchedule({ kind: 'linear' }), { kind: 'dpmpp-2m', steps: 20, spacing: 'linspace' }],
    ['flow, 12', flow, { kind: 'dpmpp-2m', steps: 12 }],
    ['zero terminal SNR, 9', ztsnr, { kind: 'dpmpp-2m', steps: 9 }],
    ['cosine, 1 step', cosine, { kind: 'dpmpp-2m', steps: 1 }],
    ['cosine, 2 steps', cosine, { kind: 'dpmpp-2m', steps: 2, spacing: 'leading' }],
  ];
  for (const [name, schedule, spec] of cases) {
    const sampler = makeSampler(spec, schedule);
    const expected = starts.map((x) => diffusersReference(schedule, sampler.timesteps(), x, scalarDenoiser(schedule)));
    const got = tf.tidy(() => {
      const denoise = gaussianDenoiser(schedule, tf.scalar(mu), tf.scalar(s));
      return Array.from(runSampler(sampler, tf.tensor1d(starts), denoise, { kind: 'x0' }).dataSync());
    });
    got.forEach((g, i) => assert.ok(Math.abs(g - expected[i]) <= 1e-5 * Math.max(1, Math.abs(expected[i])), `${name}, start ${starts[i]}: ${g} vs diffusers ${expected[i]}`));
  }
});

/** A perfect network: the prediction of `kind` that implies the true x0 (as the shared sampler suite's). */
function perfectPredictor(schedule: Schedule, x0: tf.Tensor, kind: PredictionKind) {
  return (x: tf.Tensor, t: number): tf.Tensor =>
    convertPrediction('x0', kind, x0, x, schedule.alpha(t), schedule.sigma(t), { dAlpha: schedule.dAlpha(t), dSigma: schedule.dSigma(t) });
}

test('a perfect predictor is taken to the true x0 on every schedule kind, from every prediction it reads, without leaks', () => {
  const x0 = tf.tensor([[0.5, -1, 2, 0], [1.5, 0.25, -0.75, -2]]);
  const noise = new Rng(1).randomNormal([2, 4]);
  const truth = x0.dataSync();
  const cases: [string, Schedule, readonly PredictionKind[]][] = [
    ['cosine', cosine, ['epsilon', 'x0', 'v', 'flow']],
    ['flow', flow, ['x0', 'v', 'flow']],
    ['zero-terminal-snr', ztsnr, ['x0', 'v', 'flow']],
  ];
  for (const [name, schedule, kinds] of cases) {
    const sampler = makeSampler({ kind: 'dpmpp-2m', steps: 8 }, schedule);
    for (const kind of kinds) {
      const before = tf.memory().numTensors;
      const t0 = sampler.timesteps()[0];
      const xStart = addNoise(x0, noise, schedule.alpha(t0), schedule.sigma(t0));
      const out = runSampler(sampler, xStart, perfectPredictor(schedule, x0, kind), { kind });
      const error = Math.max(...Array.from(out.dataSync(), (g, i) => Math.abs(g - truth[i])));
      assert.ok(error <= 1e-4, `${name}, ${kind}: max error ${error}`);
      tf.dispose([xStart, out]);
      assert.equal(tf.memory().numTensors, before, `${name}, ${kind}: no tensor leaks`);
    }
  }
  tf.dispose([x0, noise]);
});

test('timesteps: the trailing grid from 1 to 0 (steps + 1 values), as DDIM with the same fields', () => {
  const sampler = makeSampler({ kind: 'dpmpp-2m', steps: 4 }, cosine);
  assert.deepEqual(sampler.timesteps(), makeSampler({ kind: 'ddim', steps: 4 }, cosine).timesteps());
  assert.deepEqual(makeSampler({ kind: 'dpmpp-2m', steps: 5 }, flow).timesteps().map((v) => Math.round(v * 1e12) / 1e12), [1, 0.8, 0.6, 0.4, 0.2, 0]);
  assert.equal(makeSampler({ kind: 'dpmpp-2m' }, cosine).timesteps().length, 21);
});

/** One trajectory of a sampler on an imperfect (but fixed) network, from `xStart`. */
function trajectory(sampler: Sampler, xStart: tf.Tensor): Float32Array {
  return tf.tidy(() => {
    const target = tf.tensor([[0.5, -1, 2, 0]]);
    const network = (x: tf.Tensor, t: number) =>
      tf.tidy(() => convertPrediction('x0', 'v', target.mul(0.5).add(x.mul(0.4)), x, sampler.schedule.alpha(t), sampler.schedule.sigma(t)));
    return runSampler(sampler, xStart, network, { kind: 'v' }).dataSync() as Float32Array;
  });
}

test('no state crosses trajectories: one instance reused = fresh instances (other batches, another size, an abandoned run)', () => {
  const spec = { kind: 'dpmpp-2m', steps: 6, spacing: 'leading' } as const;
  const shared = makeSampler(spec, cosine);
  const starts = [new Rng(3).randomNormal([1, 4]), new Rng(4).randomNormal([3, 4]), new Rng(5).randomNormal([1, 4])];
  const before = tf.memory().numTensors;
  const reused = starts.map((x) => trajectory(shared, x));
  const fresh = starts.map((x) => trajectory(makeSampler(spec, cosine), x));
  reused.forEach((r, i) => assert.deepEqual(Array.from(r), Array.from(fresh[i]), `trajectory ${i}`));
  assert.notDeepEqual(Array.from(reused[0]), Array.from(reused[2]), 'different starts, different samples');

  // A trajectory stopped halfway (an interrupted generation), then a new one on the same instance.
  const times = shared.timesteps();
  let x = starts[1].clone();
  for (let k = 0; k < 3; k++) {
    const prediction = tf.tidy(() => x.mul(0.3));
    const { prev, predX0 } = shared.step({ prediction, kind: 'epsilon', xt: x, t: times[k], tPrev: times[k + 1] });
    tf.dispose([prediction, predX0, x]);
    x = prev;
  }
  x.dispose();
  assert.equal(tf.memory().numTensors, before + 1, 'an unfinished trajectory keeps its last x0, one tensor');
  assert.deepEqual(Array.from(trajectory(shared, starts[0])), Array.from(fresh[0]), 'a new trajectory after an abandoned one');
  assert.equal(tf.memory().numTensors, before, 'a finished trajectory keeps nothing');
  tf.dispose(starts);
});

test('two trajectories stepped in turn on one instance: each step restarts at first order (= DDIM), never mixing them', () => {
  const spec = { kind: 'dpmpp-2m', steps: 5, spacing: 'leading' } as const;
  const ddimSpec = { ...spec, kind: 'ddim' } as const;
  const shared = makeSampler(spec, cosine);
  const times = shared.timesteps();
  const predict = (x: tf.Tensor) => tf.tidy(() => x.mul(0.3).add(0.1));
  const run = (sampler: Sampler, x: tf.Tensor) => runSampler(sampler, x, predict, { kind: 'epsilon' });
  const starts = [new Rng(6).randomNormal([2, 3]), new Rng(7).randomNormal([2, 3])];
  const before = tf.memory().numTensors;
  const xs = starts.map((x) => x.clone());
  for (let k = 0; k + 1 < times.length; k++) {
    xs.forEach((x, i) => {
      const prediction = predict(x);
      const { prev, predX0 } = shared.step({ prediction, kind: 'epsilon', xt: x, t: times[k], tPrev: times[k + 1] });
      tf.dispose([prediction, predX0, x]);
      xs[i] = prev;
    });
  }
  // Stepped in turn, no step continues its predecessor (the other trajectory's), so none uses another's x0.
  const ddim = starts.map((x) => run(makeSampler(ddimSpec, cosine), x));
  const alone = starts.map((x) => run(makeSampler(spec, cosine), x));
  xs.forEach((x, i) => {
    assert.ok(maxDiff(x, ddim[i]) < 1e-5, `trajectory ${i} stepped in turn = DDIM: ${maxDiff(x, ddim[i])}`);
    assert.ok(maxDiff(alone[i], ddim[i]) > 1e-3, `trajectory ${i} run alone takes second-order steps`);
  });
  tf.dispose([...xs, ...ddim, ...alone]);
  assert.equal(tf.memory().numTensors, before, 'nothing kept');
  tf.dispose(starts);
});

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => a.sub(b).abs().max().dataSync()[0]);
}

test('the first step is the DDIM step; clipX0 clips the x0 it uses and keeps', () => {
  const xt = tf.tensor([[0.5, -2, 3]]);
  const prediction = tf.tensor([[0.4, -1.9, 3.2]]);
  const step = (spec: SamplerSpec) => makeSampler(spec, cosine).step({ prediction, kind: 'epsilon', xt, t: 1, tPrev: 0.9 });
  const dpm = step({ kind: 'dpmpp-2m', steps: 10 });
  const ddim = step({ kind: 'ddim', steps: 10 });
  assert.ok(maxDiff(dpm.prev, ddim.prev) < 1e-4, `first order: DDIM (differs by ${maxDiff(dpm.prev, ddim.prev)})`);
  const clipped = step({ kind: 'dpmpp-2m', steps: 10, clipX0: 1 });
  assert.ok(Array.from(clipped.predX0.dataSync()).every((v) => Math.abs(v) <= 1));
  const ddimClipped = step({ kind: 'ddim', steps: 10, clipX0: 1 });
  assert.ok(maxDiff(clipped.prev, ddimClipped.prev) < 1e-4, 'the clipped x0 is the one used');
  tf.dispose([xt, prediction, dpm.prev, dpm.predX0, ddim.prev, ddim.predX0, clipped.prev, clipped.predX0, ddimClipped.prev, ddimClipped.predX0]);
});

test('reset() forgets the trajectory and releases its x0; steps check their inputs', () => {
  const sampler = makeSampler({ kind: 'dpmpp-2m', steps: 5 }, cosine) as DpmSolverSampler;
  const before = tf.memory().numTensors;
  const xt = tf.tensor([[0.3, -0.2, 1.1]]);
  const prediction = tf.tensor([[0.1, 0.4, -0.5]]);
  const { prev, predX0 } = sampler.step({ prediction, kind: 'x0', xt, t: 0.6, tPrev: 0.4 });
  assert.equal(tf.memory().numTensors, before + 2 + 2 + 1);
  sampler.reset();
  tf.dispose([prev, predX0, xt, prediction]);
  assert.equal(tf.memory().numTensors, before);
  const x = tf.tensor([[1, 2]]);
  assertConfigError(() => sampler.step({ prediction: x, kind: 'x0', xt: x, t: 0.4, tPrev: 0.6 }), 'step.tPrev');
  assertConfigError(() => sampler.step({ prediction: x, kind: 'x0', xt: x, t: 1.2, tPrev: 0.6 }), 'step.t');
  assertConfigError(() => sampler.step({ prediction: x, kind: 'score' as PredictionKind, xt: x, t: 0.6, tPrev: 0.4 }), 'step.kind');
  x.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('config: defaults, JSON round trip, and bad values naming the field', () => {
  assert.deepEqual(SAMPLER_DEFAULTS['dpmpp-2m'], DEFAULT_DPM_SOLVER_SAMPLER);
  const sampler = makeSampler({ kind: 'dpmpp-2m', steps: 15 }, cosine);
  assert.ok(sampler instanceof DpmSolverSampler);
  assert.deepEqual(sampler.config, { kind: 'dpmpp-2m', steps: 15, spacing: 'trailing', T: null, clipX0: null });
  assert.deepEqual(makeSampler(JSON.parse(JSON.stringify(sampler.config)), cosine).timesteps(), sampler.timesteps());
  assert.deepEqual(resolveGenerateOptions({ sampler: { kind: 'dpmpp-2m', steps: 15 } }).sampler, sampler.config);
  assertConfigError(() => makeSampler({ kind: 'dpmpp-2m', steps: 0 }, cosine), 'sampler.steps');
  assertConfigError(() => makeSampler({ kind: 'dpmpp-2m', steps: 1001 }, cosine), 'sampler.steps');
  assertConfigError(() => makeSampler({ kind: 'dpmpp-2m', steps: 2.5 }, cosine), 'sampler.steps');
  assertConfigError(() => makeSampler({ kind: 'dpmpp-2m', spacing: 'uniform' } as unknown as SamplerSpec, cosine), 'sampler.spacing');
  assertConfigError(() => makeSampler({ kind: 'dpmpp-2m', T: 0 }, flow), 'sampler.T');
  assertConfigError(() => makeSampler({ kind: 'dpmpp-2m', clipX0: -1 }, cosine), 'sampler.clipX0');
  assertConfigError(() => makeSampler({ kind: 'dpmpp-2m', eta: 0 } as unknown as SamplerSpec, cosine), 'sampler.eta');
  assertConfigError(() => makeSampler({ kind: 'dpmpp-2m', order: 3 } as unknown as SamplerSpec, cosine), 'sampler.order');
  assert.throws(() => makeSampler({ kind: 'dpmpp-2m', steps: 0 }, cosine), (e: unknown) => e instanceof ConfigError && /sampler\.steps: got 0/.test((e as Error).message));
  assert.throws(() => makeSampler({ kind: 'dpmpp-2m', stpes: 10 } as unknown as SamplerSpec, cosine), /sampler\.stpes: got 10; allowed: did you mean 'steps'\?/);
  assert.throws(() => resolveGenerateOptions({ sampler: { kind: 'dpmpp-2m', eta: 0 } as never }), /generate\.sampler\.eta/);
});

/** A small model with weights pushed far from their init (as test/generate/generate.test.ts makes one). */
function roughModel(seed: number): Transfusion {
  const model = Transfusion.create('mnist', {
    net: { latent: { channels: 1, height: 8, width: 8 }, transformer: { dModel: 32, nLayers: 2, nHeads: 2, ffnHidden: 64 } },
    sequence: { length: 40 },
  }, new Rng(seed));
  const rng = new Rng(seed + 100);
  for (const [, v] of model.namedParameters()) v.assign(tf.tidy(() => v.add(rng.randomNormal(v.shape, 0, 0.3))));
  return model;
}

test('through the public generate path: finite images of the right shape, with guidance and in a batch; nothing leaks', () => {
  const model = roughModel(11);
  const start = tf.memory().numTensors;
  const r = generate(model, 'the digit 3', { sampler: { kind: 'dpmpp-2m', steps: 5 }, forceImage: true, maxTokens: 0 }, { rng: new Rng(1) });
  const images = r.parts.flatMap((p) => (p.kind === 'image' ? [p.latent] : []));
  assert.equal(images.length, 1);
  assert.deepEqual(images[0].shape, [8, 8, 1]);
  assert.ok(Array.from(images[0].dataSync()).every(Number.isFinite));
  disposeResult(r);
  const batch = textToImage(model, ['a 7', 'b'], { sampler: { kind: 'dpmpp-2m', steps: 5 }, guidanceScale: 3 }, { rng: new Rng(2) });
  assert.deepEqual(batch.shape, [2, 8, 8, 1]);
  assert.ok(Array.from(batch.dataSync()).every(Number.isFinite));
  // The generate loop hands each step the tensor the previous step returned, so the second-order update runs
  // there: from the same noise the result is not DDIM's (which is this sampler's first-order step).
  const ddim = textToImage(model, ['a 7', 'b'], { sampler: { kind: 'ddim', steps: 5 }, guidanceScale: 3 }, { rng: new Rng(2) });
  const gap = tf.tidy(() => batch.sub(ddim).abs().max().dataSync()[0]);
  assert.ok(gap > 1e-3, `dpmpp-2m and ddim differ by ${gap}`);
  tf.dispose([batch, ddim]);
  assert.equal(tf.memory().numTensors, start);
  model.dispose();
});

test('denoiseImages: one sampler instance over two calls (two batches) equals a fresh instance per call', () => {
  const model = roughModel(12);
  const row: ContextRow = { tokens: captionPrompt('seven'), images: [] };
  // 'leading' starts below t = 1, where an untrained epsilon's x0 is not amplified 2e4 times (generate.test.ts).
  const spec = { kind: 'dpmpp-2m', steps: 4, spacing: 'leading' } as const;
  const options = { prediction: model.config.objective.prediction, guidance: 2, cache: true, trajectory: false, rng: new Rng(0) };
  const noises = [new Rng(13).randomNormal([1, 8, 8, 1]), new Rng(14).randomNormal([2, 8, 8, 1])];
  const shared = makeSampler(spec, model.objective.schedule);
  const reused = noises.map((noise) => denoiseImages(model.net, Array(noise.shape[0]).fill(row), noise, { ...options, sampler: shared }).latents);
  const fresh = noises.map((noise) => denoiseImages(model.net, Array(noise.shape[0]).fill(row), noise, { ...options, sampler: makeSampler(spec, model.objective.schedule) }).latents);
  reused.forEach((r, i) => assert.equal(maxDiff(r, fresh[i]), 0, `call ${i}`));
  const ddim = denoiseImages(model.net, [row], noises[0], { ...options, sampler: makeSampler({ ...spec, kind: 'ddim' }, model.objective.schedule) }).latents;
  assert.ok(maxDiff(ddim, reused[0]) > 1e-4, 'the denoising loop continues trajectories (second-order steps are taken)');
  tf.dispose([...noises, ...reused, ...fresh, ddim]);
  model.dispose();
});
