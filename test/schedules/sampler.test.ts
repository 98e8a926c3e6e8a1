import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import {
  makeSchedule, makeSampler, spacedIndices, cfgCombine, runSampler, convertPrediction, addNoise,
  type Sampler, type Schedule, type SamplerSpec,
} from '../../src/schedules';
import { samplerSuite, assertConfigError } from './suites';

const cosine = makeSchedule({ kind: 'cosine' });
const flow = makeSchedule({ kind: 'flow' });
const ztsnr = makeSchedule({ kind: 'zero-terminal-snr' });
const shiftedFlow = makeSchedule({ kind: 'shifted', shift: 3 });

const ALL = ['epsilon', 'x0', 'v', 'flow'] as const;
/** Where alpha(1) = 0 (zero terminal SNR, rectified flow) epsilon says nothing about x0 at the first step. */
const NO_EPSILON = ['x0', 'v', 'flow'] as const;

samplerSuite('ddpm on cosine', makeSampler({ kind: 'ddpm', steps: 20 }, cosine), { kinds: ALL, tolerance: 1e-5, stochastic: true });
samplerSuite('ddpm on zero-terminal-SNR', makeSampler({ kind: 'ddpm', steps: 20, spacing: 'linspace' }, ztsnr), { kinds: NO_EPSILON, tolerance: 1e-5, stochastic: true });
samplerSuite('ddim (eta 0) on cosine', makeSampler({ kind: 'ddim', steps: 10 }, cosine), { kinds: ALL, tolerance: 1e-5, stochastic: false });
samplerSuite('ddim (eta 0.5, leading) on linear', makeSampler({ kind: 'ddim', steps: 10, eta: 0.5, spacing: 'leading' }, makeSchedule({ kind: 'linear' })), { kinds: ALL, tolerance: 1e-5, stochastic: true });
samplerSuite('ddim (eta 0) on rectified flow', makeSampler({ kind: 'ddim', steps: 8 }, flow), { kinds: NO_EPSILON, tolerance: 1e-5, stochastic: false });
samplerSuite('euler on rectified flow', makeSampler({ kind: 'euler', steps: 8 }, flow), { kinds: NO_EPSILON, tolerance: 1e-5, stochastic: false });
samplerSuite('euler on shifted flow', makeSampler({ kind: 'euler', steps: 50 }, shiftedFlow), { kinds: NO_EPSILON, tolerance: 1e-2, stochastic: false });
samplerSuite('euler on cosine (inexact near t = 0)', makeSampler({ kind: 'euler', steps: 100 }, cosine), { kinds: ALL, tolerance: 0.05, stochastic: false });

test("spacing matches diffusers' linspace / leading / trailing", () => {
  // diffusers (DDIMScheduler.set_timesteps, steps_offset 0) for T = 1000; numpy rounds 166.5 to 166, 499.5 to 500.
  assert.deepEqual(spacedIndices('linspace', 1000, 7), [999, 832, 666, 500, 333, 166, 0]);
  assert.deepEqual(spacedIndices('leading', 1000, 7), [852, 710, 568, 426, 284, 142, 0]);
  assert.deepEqual(spacedIndices('trailing', 1000, 7), [999, 856, 713, 570, 428, 285, 142]);
  assert.deepEqual(spacedIndices('linspace', 1000, 10), [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
  assert.deepEqual(spacedIndices('leading', 1000, 10), [900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
  assert.deepEqual(spacedIndices('trailing', 1000, 10), [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
  assert.equal(spacedIndices('trailing', 1000, 61).length, 61, 'exactly N steps (numpy arange would add a -1 here)');
  assert.ok(spacedIndices('trailing', 1000, 61).every((i) => i >= 0));
  assert.deepEqual(spacedIndices('linspace', 10, 1), [0]);
  assert.deepEqual(spacedIndices('trailing', 10, 10), [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
});

test('timesteps map step i to t = (i + 1) / T and end at clean; continuous schedules use a 1000-step grid', () => {
  const close = (a: number[], b: number[]) => a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) < 1e-12, `${a} vs ${b}`));
  close(makeSampler({ kind: 'ddim', steps: 4, spacing: 'trailing' }, cosine).timesteps(), [1, 0.75, 0.5, 0.25, 0]);
  close(makeSampler({ kind: 'ddim', steps: 4, spacing: 'leading' }, cosine).timesteps(), [0.751, 0.501, 0.251, 0.001, 0]);
  close(makeSampler({ kind: 'euler', steps: 5 }, flow).timesteps(), [1, 0.8, 0.6, 0.4, 0.2, 0]);
  close(makeSampler({ kind: 'euler', steps: 3, T: 3 }, flow).timesteps(), [1, 2 / 3, 1 / 3, 0]);
  close(makeSampler({ kind: 'ddpm', steps: 3 }, makeSchedule({ kind: 'cosine', T: 30 })).timesteps(), [1, 2 / 3, 1 / 3, 0]);
});

/** Run a sampler from fixed noise with a fixed (imperfect) network, so samplers can be compared. */
function sampleWith(sampler: Sampler, schedule: Schedule, seed: number): Float32Array {
  return tf.tidy(() => {
    const x0 = tf.tensor([[0.5, -1, 2, 0]]);
    const network = (x: tf.Tensor, t: number) =>
      tf.tidy(() => {
        const guess = x0.mul(0.5).add(x.mul(0.4));
        return convertPrediction('x0', 'v', guess, x, schedule.alpha(t), schedule.sigma(t));
      });
    const xStart = new Rng(seed).randomNormal([1, 4]);
    return runSampler(sampler, xStart, network, { kind: 'v', rng: new Rng(seed + 1) }).dataSync() as Float32Array;
  });
}

test('DDIM with eta = 1 is DDPM ancestral sampling (same noise, same samples)', () => {
  const ddpm = sampleWith(makeSampler({ kind: 'ddpm', steps: 10 }, cosine), cosine, 7);
  const ddim = sampleWith(makeSampler({ kind: 'ddim', steps: 10, eta: 1 }, cosine), cosine, 7);
  ddpm.forEach((x, i) => assert.ok(Math.abs(x - ddim[i]) < 1e-4, `${x} vs ${ddim[i]}`));
  const deterministic = sampleWith(makeSampler({ kind: 'ddim', steps: 10, eta: 0 }, cosine), cosine, 7);
  assert.ok(deterministic.some((x, i) => Math.abs(x - ddim[i]) > 1e-2), 'eta changes the sample');
});

test('on rectified flow, DDIM (eta = 0) and Euler are the same sampler', () => {
  const euler = sampleWith(makeSampler({ kind: 'euler', steps: 6 }, flow), flow, 3);
  const ddim = sampleWith(makeSampler({ kind: 'ddim', steps: 6 }, flow), flow, 3);
  euler.forEach((x, i) => assert.ok(Math.abs(x - ddim[i]) < 1e-5, `${x} vs ${ddim[i]}`));
});

test('Euler on a variance-preserving schedule converges as steps grow, slowly', () => {
  // Euler in t is exact on rectified flow's straight paths; the cosine schedule's paths curve, and near t = 0
  // sigma(t) is not linear in t, so the last step keeps an error of order sqrt(snr) * s (s = 0.008) until the
  // step is smaller than s. DDIM, the same Euler step in (x / alpha, sigma / alpha), has none (suite above).
  const error = (steps: number) =>
    tf.tidy(() => {
      const x0 = tf.tensor([[0.5, -1, 2, 0]]);
      const sampler = makeSampler({ kind: 'euler', steps }, cosine);
      const t0 = sampler.timesteps()[0];
      const xStart = addNoise(x0, new Rng(0).randomNormal([1, 4]), cosine.alpha(t0), cosine.sigma(t0));
      const out = runSampler(sampler, xStart, () => x0.clone(), { kind: 'x0' });
      return out.sub(x0).abs().max().dataSync()[0];
    });
  const errors = [10, 100, 1000].map(error);
  assert.ok(errors[0] > 1e-2, `10 steps: error ${errors[0]} is visible`);
  assert.ok(errors[1] < errors[0] && errors[2] < errors[1] / 2, `error falls with steps: ${errors.join(' -> ')}`);
});

test('runSampler reports every step and leaves no tensors behind', () => {
  const sampler = makeSampler({ kind: 'ddim', steps: 5 }, cosine);
  const before = tf.memory().numTensors;
  const xStart = tf.randomNormal([1, 3], 0, 1, 'float32', 1);
  const seen: number[] = [];
  const out = runSampler(sampler, xStart, (x) => x.mul(0.5), {
    kind: 'epsilon',
    onStep: ({ index, t, tPrev, x, predX0 }) => {
      seen.push(t);
      assert.equal(index, seen.length - 1);
      assert.ok(tPrev < t);
      assert.deepEqual(x.shape, [1, 3]);
      assert.deepEqual(predX0.shape, [1, 3]);
    },
  });
  assert.deepEqual(seen, sampler.timesteps().slice(0, -1));
  assert.equal(xStart.isDisposed, false, 'the caller keeps its start');
  tf.dispose([xStart, out]);
  assert.equal(tf.memory().numTensors, before);
});

test('cfgCombine = uncond + scale (cond - uncond)', () => {
  const before = tf.memory().numTensors;
  const cond = tf.tensor([1, 2, 3]);
  const uncond = tf.tensor([0.5, 2, 4]);
  const out = cfgCombine(cond, uncond, 4);
  assert.deepEqual(Array.from(out.dataSync()), [2.5, 2, 0]);
  const one = cfgCombine(cond, uncond, 1);
  assert.deepEqual(Array.from(one.dataSync()), [1, 2, 3]);
  assertConfigError(() => cfgCombine(cond, uncond, NaN), 'cfgCombine.scale');
  assert.throws(() => cfgCombine(cond, tf.tensor([1, 2]), 3), /cfgCombine.uncond/);
  tf.dispose([cond, uncond, out, one]);
  assert.ok(tf.memory().numTensors <= before + 1);
});

test('config round trip and bad sampler configs', () => {
  const sampler = makeSampler({ kind: 'ddim', steps: 25, eta: 0.3 }, cosine);
  assert.deepEqual(sampler.config, { kind: 'ddim', steps: 25, eta: 0.3, spacing: 'trailing', T: null, clipX0: null });
  const rebuilt = makeSampler(JSON.parse(JSON.stringify(sampler.config)), cosine);
  assert.deepEqual(rebuilt.timesteps(), sampler.timesteps());
  assert.equal(makeSampler(sampler, cosine), sampler);
  assertConfigError(() => makeSampler({ kind: 'heun' } as unknown as SamplerSpec, cosine), 'sampler.kind');
  assertConfigError(() => makeSampler({ kind: 'ddim', steps: 0 }, cosine), 'sampler.steps');
  assertConfigError(() => makeSampler({ kind: 'ddim', steps: 1001 }, cosine), 'sampler.steps');
  assertConfigError(() => makeSampler({ kind: 'ddim', steps: 2.5 }, cosine), 'sampler.steps');
  assertConfigError(() => makeSampler({ kind: 'ddim', eta: -0.1 }, cosine), 'sampler.eta');
  assertConfigError(() => makeSampler({ kind: 'ddpm', spacing: 'uniform' } as unknown as SamplerSpec, cosine), 'sampler.spacing');
  assertConfigError(() => makeSampler({ kind: 'euler', T: 0 }, flow), 'sampler.T');
  assertConfigError(() => makeSampler({ kind: 'euler', eta: 0 } as unknown as SamplerSpec, flow), 'sampler.eta');
});
