import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/engine/random';
import {
  makeTimestepSampler, samplerDensitySeries, normalCdf, normalQuantile, NOISE_LIMIT_T_MAX, DEFAULT_TIMESTEP_SAMPLER,
  type TimestepSamplerSpec,
} from '../../src/schedules';
import { timestepSamplerSuite, assertConfigError } from './suites';

timestepSamplerSuite('uniform', makeTimestepSampler({ kind: 'uniform' }));
timestepSamplerSuite('logit-normal (0, 1)', makeTimestepSampler({ kind: 'logit-normal' }));
timestepSamplerSuite('logit-normal (-0.5, 1.5)', makeTimestepSampler({ kind: 'logit-normal', m: -0.5, s: 1.5 }));
timestepSamplerSuite('discrete-uniform T=1000', makeTimestepSampler({ kind: 'discrete-uniform' }));
timestepSamplerSuite('discrete-uniform T=10', makeTimestepSampler({ kind: 'discrete-uniform', T: 10 }));

test('normal cdf and quantile match scipy.stats.norm', () => {
  // scipy.stats.norm.cdf / .ppf in float64.
  const cdf: [number, number][] = [
    [0, 0.5], [1, 0.8413447460685429], [-1.96, 0.024997895148220435], [2.5, 0.9937903346742238],
    [-3.5, 0.00023262907903552504], [-8, 6.22096057427178e-16], [6, 0.9999999990134123],
  ];
  for (const [x, p] of cdf) assert.ok(Math.abs(normalCdf(x) - p) <= 1e-12 * p, `cdf(${x}) = ${normalCdf(x)}, scipy ${p}`);
  const ppf: [number, number][] = [[0.975, 1.959963984540054], [0.001, -3.090232306167813], [0.5, 0], [1e-10, -6.361340902404056]];
  for (const [p, x] of ppf) assert.ok(Math.abs(normalQuantile(p) - x) <= 1e-10 * Math.max(1, Math.abs(x)), `ppf(${p}) = ${normalQuantile(p)}, scipy ${x}`);
  assert.equal(normalQuantile(0), -Infinity);
  assert.equal(normalQuantile(1), Infinity);
});

test("noise limiting: the paper's default draws steps 1..500 of 1000 uniformly", () => {
  const sampler = makeTimestepSampler(DEFAULT_TIMESTEP_SAMPLER);
  const draws = sampler.sample(20000, new Rng(11), { tMax: NOISE_LIMIT_T_MAX });
  const counts = new Map<number, number>();
  for (const t of draws) {
    const step = Math.round(t * 1000);
    assert.ok(Math.abs(step - t * 1000) < 1e-9, `${t} is a grid point`);
    counts.set(step, (counts.get(step) ?? 0) + 1);
  }
  assert.equal(Math.min(...counts.keys()), 1);
  assert.equal(Math.max(...counts.keys()), 500);
  assert.equal(counts.size, 500, 'every allowed step is drawn');
  const unlimited = sampler.sample(20000, new Rng(11));
  assert.ok(unlimited.some((t) => t > 0.5) && unlimited.some((t) => t === 1), 'without the cap the whole range is used');
});

test('the logit-normal sampler favours the middle: sample mean of logit(t) is m, sample sd is s', () => {
  const sampler = makeTimestepSampler({ kind: 'logit-normal', m: 0.5, s: 0.8 });
  const z = Array.from(sampler.sample(20000, new Rng(2)), (t) => Math.log(t / (1 - t)));
  const mean = z.reduce((a, b) => a + b) / z.length;
  const sd = Math.sqrt(z.reduce((a, b) => a + (b - mean) ** 2, 0) / z.length);
  assert.ok(Math.abs(mean - 0.5) < 0.03, `mean ${mean}`);
  assert.ok(Math.abs(sd - 0.8) < 0.03, `sd ${sd}`);
});

test('samplerDensitySeries gives the truncated density as plain arrays', () => {
  const series = samplerDensitySeries(makeTimestepSampler({ kind: 'uniform' }), 4, { tMax: 0.5 });
  assert.deepEqual(series.x, [0.125, 0.375, 0.625, 0.875]);
  assert.deepEqual(series.weight, [2, 2, 0, 0]);
  assert.equal(series.name, 'uniform, t <= 0.5');
});

test('bad timestep sampler configs are ConfigErrors naming the field', () => {
  assertConfigError(() => makeTimestepSampler({ kind: 'beta' } as unknown as TimestepSamplerSpec), 'timesteps.kind');
  assertConfigError(() => makeTimestepSampler({ kind: 'logit-normal', s: -1 }), 'timesteps.s');
  assertConfigError(() => makeTimestepSampler({ kind: 'logit-normal', m: Infinity }), 'timesteps.m');
  assertConfigError(() => makeTimestepSampler({ kind: 'discrete-uniform', T: 0 }), 'timesteps.T');
  assertConfigError(() => makeTimestepSampler({ kind: 'uniform', tMax: 0.5 } as unknown as TimestepSamplerSpec), 'timesteps.tMax');
  assertConfigError(() => makeTimestepSampler({ kind: 'discrete-uniform', T: 10 }).sample(4, new Rng(0), { tMax: 0.05 }), 'timesteps.tMax');
});
