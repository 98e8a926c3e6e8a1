import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  makeWeighting, makeSchedule, weightSeries, epsilonFactor, DEFAULT_WEIGHTING, type WeightingSpec,
} from '../../src/schedules';
import { weightingSuite, assertConfigError } from './suites';

weightingSuite('constant', makeWeighting({ kind: 'constant' }));
weightingSuite('min-snr 5', makeWeighting({ kind: 'min-snr' }));
weightingSuite('p2 (k 1, gamma 0.5)', makeWeighting({ kind: 'p2', gamma: 0.5 }));
weightingSuite('sd3-lognorm', makeWeighting({ kind: 'sd3-lognorm' }));
weightingSuite('sd3-cosmap', makeWeighting({ kind: 'sd3-cosmap' }));

const cosine = makeSchedule({ kind: 'cosine' });
const flow = makeSchedule({ kind: 'flow' });

test("min-SNR follows Hang et al.'s table for every target, including snr below gamma", () => {
  const w = makeWeighting({ kind: 'min-snr', gamma: 5 });
  for (const t of [0.05, 0.2, 0.5, 0.9]) {
    const snr = cosine.snr(t);
    const m = Math.min(snr, 5);
    const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-12 * b, `${what} at ${t}: ${a} vs ${b}`);
    close(w.weight(t, cosine, 'epsilon'), m / snr, 'epsilon');
    close(w.weight(t, cosine, 'v'), m / (snr + 1), 'v');
    close(w.weight(t, cosine, 'x0'), m, 'x0');
  }
  assert.equal(w.weight(1, makeSchedule({ kind: 'zero-terminal-snr' }), 'epsilon'), 1, 'SNR 0 gives weight 1, not 0 / 0');
});

test('P2 is 1 / (k + snr)^gamma on the epsilon loss (Choi et al. 2022)', () => {
  const w = makeWeighting({ kind: 'p2', k: 1, gamma: 1 });
  for (const t of [0.1, 0.5, 0.9]) {
    const snr = cosine.snr(t);
    assert.ok(Math.abs(w.weight(t, cosine, 'epsilon') - 1 / (1 + snr)) < 1e-15);
    assert.ok(Math.abs(w.weight(t, cosine, 'x0') - snr / (1 + snr)) < 1e-12);
  }
  assert.equal(makeWeighting({ kind: 'p2', gamma: 0 }).weight(0.3, cosine, 'epsilon'), 1, 'gamma 0 is constant');
});

test('SD3 weightings are densities on the rectified-flow velocity loss, eps weight pi(t) / (1 - t)^2', () => {
  const cosmap = makeWeighting({ kind: 'sd3-cosmap' });
  const cells = 100000;
  let integral = 0;
  for (let k = 0; k < cells; k++) integral += cosmap.weight((k + 0.5) / cells, flow, 'flow') / cells;
  assert.ok(Math.abs(integral - 1) < 1e-6, `cosmap integrates to ${integral}`);
  assert.ok(Math.abs(cosmap.weight(0.5, flow, 'flow') - 4 / Math.PI) < 1e-15, 'pi_cosmap(1/2) = 4 / pi');
  const t = 0.3;
  // SD3 eq. 18 with w = t / (1 - t) pi(t) and lambda'(t) = -2 / (t (1 - t)): -w lambda' / 2 = pi(t) / (1 - t)^2.
  assert.ok(Math.abs(cosmap.weight(t, flow, 'epsilon') - cosmap.weight(t, flow, 'flow') / (1 - t) ** 2) < 1e-12);
});

test('epsilonFactor: x0 error = sigma / alpha times the epsilon error, and so on', () => {
  const t = 0.4;
  const [a, s] = [cosine.alpha(t), cosine.sigma(t)];
  assert.equal(epsilonFactor('epsilon', cosine, t), 1);
  assert.ok(Math.abs(epsilonFactor('x0', cosine, t) - (a * a) / (s * s)) < 1e-12);
  assert.ok(Math.abs(epsilonFactor('v', cosine, t) - a * a) < 1e-12, 'variance preserving: alpha^2');
  assert.ok(Math.abs(epsilonFactor('flow', flow, t) - (1 - t) ** 2) < 1e-12, 'rectified flow: (1 - t)^2');
});

test('weightSeries against t or logSnr, as plain arrays', () => {
  const series = weightSeries(makeWeighting({ kind: 'min-snr' }), cosine, 'epsilon', 4, { x: 'logSnr' });
  assert.equal(series.name, 'min-snr(gamma=5) on epsilon');
  assert.deepEqual(series.x, [0.125, 0.375, 0.625, 0.875].map((t) => cosine.logSnr(t)));
  assert.equal(series.weight.length, 4);
  assert.deepEqual(makeWeighting().config, DEFAULT_WEIGHTING);
});

test('bad weighting configs are ConfigErrors naming the field', () => {
  assertConfigError(() => makeWeighting({ kind: 'edm' } as unknown as WeightingSpec), 'weighting.kind');
  assertConfigError(() => makeWeighting({ kind: 'min-snr', gamma: -5 }), 'weighting.gamma');
  assertConfigError(() => makeWeighting({ kind: 'min-snr', gamma: 0 }), 'weighting.gamma');
  assertConfigError(() => makeWeighting({ kind: 'p2', k: -1 }), 'weighting.k');
  assertConfigError(() => makeWeighting({ kind: 'p2', gamma: -0.5 }), 'weighting.gamma');
  assertConfigError(() => makeWeighting({ kind: 'sd3-lognorm', s: 0 }), 'weighting.s');
  assertConfigError(() => makeWeighting({ kind: 'constant', gamma: 1 } as unknown as WeightingSpec), 'weighting.gamma');
});
