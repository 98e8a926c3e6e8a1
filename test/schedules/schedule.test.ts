import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  makeSchedule, discretize, ScheduleBase, DEFAULT_SCHEDULE, SCHEDULE_DEFAULTS, rescaleZeroTerminalSnr, scheduleSeries,
  type ScheduleConfig, type ScheduleSpec,
} from '../../src/schedules';
import { scheduleSuite, assertConfigError } from './suites';

const SPECS: [string, ScheduleSpec][] = [
  ['linear', { kind: 'linear' }],
  ['scaled-linear', { kind: 'scaled-linear' }],
  ['cosine', { kind: 'cosine' }],
  ['cosine T=50', { kind: 'cosine', T: 50 }],
  ['sigmoid', { kind: 'sigmoid', tau: 0.7 }],
  ['flow', { kind: 'flow' }],
  ['shifted flow (SD3, shift 3)', { kind: 'shifted' }],
  ['shifted cosine (shift 2)', { kind: 'shifted', base: { kind: 'cosine' }, shift: 2 }],
  ['shifted linear (shift 0.5)', { kind: 'shifted', base: { kind: 'linear' }, shift: 0.5 }],
  ['zero-terminal-SNR linear', { kind: 'zero-terminal-snr' }],
  ['zero-terminal-SNR scaled-linear', { kind: 'zero-terminal-snr', base: { kind: 'scaled-linear' } }],
  ['zero-terminal-SNR sigmoid', { kind: 'zero-terminal-snr', base: { kind: 'sigmoid' } }],
  ['zero-terminal-SNR of shifted flow', { kind: 'zero-terminal-snr', base: { kind: 'shifted', shift: 2 } }],
];

for (const [name, spec] of SPECS) scheduleSuite(name, makeSchedule(spec));

/** A researcher's own schedule (alphaBar = 1 - t), which the same suite accepts. */
class LinearAlphaBar extends ScheduleBase {
  readonly config = { kind: 'linear-alpha-bar' } as unknown as ScheduleConfig;
  readonly family = 'variance-preserving' as const;
  readonly T = null;
  protected alphaBarAt(t: number): number {
    return 1 - t;
  }
  protected oneMinusAlphaBarAt(t: number): number {
    return t;
  }
}
scheduleSuite("a researcher's own schedule", new LinearAlphaBar(), { roundTrip: false });

test('a partial spec is completed from its kind defaults; a built schedule passes through makeSchedule', () => {
  assert.deepEqual(makeSchedule().config, DEFAULT_SCHEDULE);
  assert.deepEqual(makeSchedule({ kind: 'cosine', T: 250 }).config, { kind: 'cosine', s: 0.008, maxBeta: 0.999, T: 250 });
  const custom = new LinearAlphaBar();
  assert.equal(makeSchedule(custom), custom);
  const wrapped = makeSchedule({ kind: 'shifted', base: custom, shift: 2 });
  assert.equal(wrapped.config.kind, 'shifted');
  assert.ok(Math.abs(wrapped.logSnr(0.3) - (custom.logSnr(0.3) - 2 * Math.log(2))) < 1e-12, 'a built base is used as given');
  for (const kind of Object.keys(SCHEDULE_DEFAULTS) as ScheduleConfig['kind'][]) {
    assert.deepEqual(makeSchedule({ kind }).config, SCHEDULE_DEFAULTS[kind]);
  }
});

test('grid schedules: exact on the grid, log-linear between, 1 at t = 0', () => {
  const s = makeSchedule({ kind: 'linear', T: 4 });
  const betas = [1e-4, 1e-4 + (0.02 - 1e-4) / 3, 1e-4 + (2 * (0.02 - 1e-4)) / 3, 0.02];
  let product = 1;
  betas.forEach((b, i) => {
    product *= 1 - b;
    assert.equal(s.alphaBar((i + 1) / 4), product, `grid point ${i}`);
  });
  assert.equal(s.alphaBar(0), 1);
  assert.equal(s.sigma(0), 0);
  assert.equal(s.logSnr(0), Infinity);
  // Between t = 1/4 and 2/4 at weight 0.3: log alphaBar is interpolated.
  const expected = Math.exp(0.7 * Math.log(1 - betas[0]) + 0.3 * Math.log((1 - betas[0]) * (1 - betas[1])));
  assert.ok(Math.abs(s.alphaBar(0.25 + 0.3 * 0.25) - expected) < 1e-15);
  // Between t = 0 and the first step the left end is alphaBar = 1.
  assert.ok(Math.abs(s.alphaBar(0.125) - Math.sqrt(1 - betas[0])) < 1e-15);
});

test('zero terminal SNR: Lin et al. Alg. 1 keeps the first step, zeroes the last, and continuous bases end at 0', () => {
  const rescaled = rescaleZeroTerminalSnr([0.9, 0.5, 0.1]);
  const [a0, a2] = [Math.sqrt(0.9), Math.sqrt(0.1)];
  assert.ok(Math.abs(rescaled[0] - 0.9) < 1e-15);
  assert.ok(Math.abs(rescaled[1] - (((Math.sqrt(0.5) - a2) * a0) / (a0 - a2)) ** 2) < 1e-15);
  assert.equal(rescaled[2], 0);
  const sigmoid = makeSchedule({ kind: 'zero-terminal-snr', base: { kind: 'sigmoid' } });
  assert.equal(sigmoid.alphaBar(1), 0);
  assert.equal(sigmoid.logSnr(1), -Infinity);
  assert.equal(sigmoid.alphaBar(0), 1);
  const flow = makeSchedule({ kind: 'flow' });
  const ztsnrFlow = makeSchedule({ kind: 'zero-terminal-snr', base: { kind: 'flow' } });
  for (const t of [0.1, 0.5, 0.9]) assert.ok(Math.abs(ztsnrFlow.alpha(t) - flow.alpha(t)) < 1e-12, 'flow already ends at SNR 0');
});

test('shift: logSnr moves by -2 log(shift); on rectified flow it is SD3 eq. 23', () => {
  const flow = makeSchedule({ kind: 'flow' });
  const shifted = makeSchedule({ kind: 'shifted', base: { kind: 'flow' }, shift: 3 });
  for (const t of [0.01, 0.2, 0.5, 0.8, 0.99]) {
    assert.ok(Math.abs(shifted.logSnr(t) - (flow.logSnr(t) - 2 * Math.log(3))) < 1e-12);
    const sd3 = (3 * t) / (1 + 2 * t);
    assert.ok(Math.abs(shifted.sigma(t) - sd3) < 1e-12, `sigma at ${t}`);
    assert.ok(Math.abs(shifted.alpha(t) - (1 - sd3)) < 1e-12, `alpha at ${t}`);
  }
  assert.equal(shifted.family, 'flow');
  assert.equal(makeSchedule({ kind: 'shifted', base: { kind: 'cosine' } }).T, 1000);
});

test('sigmoid schedule follows Chen 2023 Alg. 1', () => {
  const s = makeSchedule({ kind: 'sigmoid', start: -3, end: 3, tau: 1 });
  const sig = (x: number) => 1 / (1 + Math.exp(-x));
  for (const t of [0.1, 0.5, 0.9]) {
    const expected = (sig(3) - sig(6 * t - 3)) / (sig(3) - sig(-3));
    assert.ok(Math.abs(s.alphaBar(t) - expected) < 1e-14);
  }
  assert.equal(s.alphaBar(1), 1e-9, 'clipped to clipMin at t = 1');
});

test('scheduleSeries: plain arrays at midpoints, every logSnr finite', () => {
  const series = scheduleSeries(makeSchedule({ kind: 'flow' }), 4);
  assert.equal(series.name, 'flow');
  assert.deepEqual(series.t, [0.125, 0.375, 0.625, 0.875]);
  assert.ok(series.logSnr.every(Number.isFinite));
  assert.ok(Math.abs(series.logSnr[0] - 2 * Math.log(0.875 / 0.125)) < 1e-12);
  assert.deepEqual(series.alpha, [0.875, 0.625, 0.375, 0.125]);
  assert.equal(JSON.parse(JSON.stringify(series)).alphaBar.length, 4);
  assert.equal(scheduleSeries(makeSchedule(), 2).name, 'cosine(s=0.008, maxBeta=0.999, T=1000)');
});

test('bad schedule configs are ConfigErrors naming the field', () => {
  assertConfigError(() => makeSchedule({ kind: 'quadratic' } as unknown as ScheduleSpec), 'schedule.kind');
  assertConfigError(() => makeSchedule(null as unknown as ScheduleSpec), 'schedule.kind');
  assertConfigError(() => discretize(makeSchedule(), 0), 'discretize.T');
  assertConfigError(() => makeSchedule({ kind: 'linear', betaStart: -1e-4 }), 'schedule.betaStart');
  assertConfigError(() => makeSchedule({ kind: 'linear', betaEnd: 1e-5 }), 'schedule.betaEnd');
  assertConfigError(() => makeSchedule({ kind: 'linear', T: 0 }), 'schedule.T');
  assertConfigError(() => makeSchedule({ kind: 'cosine', T: 2.5 }), 'schedule.T');
  assertConfigError(() => makeSchedule({ kind: 'cosine', s: -0.008 }), 'schedule.s');
  assertConfigError(() => makeSchedule({ kind: 'cosine', maxBeta: 1.5 }), 'schedule.maxBeta');
  assertConfigError(() => makeSchedule({ kind: 'sigmoid', tau: 0 }), 'schedule.tau');
  assertConfigError(() => makeSchedule({ kind: 'sigmoid', start: 3, end: 3 }), 'schedule.end');
  assertConfigError(() => makeSchedule({ kind: 'shifted', shift: -2 }), 'schedule.shift');
  assertConfigError(() => makeSchedule({ kind: 'shifted', base: { kind: 'cosine', s: -1 } }), 'schedule.base.s');
  assertConfigError(() => makeSchedule({ kind: 'zero-terminal-snr', base: { kind: 'nope' } } as unknown as ScheduleSpec), 'schedule.base.kind');
  assertConfigError(() => makeSchedule({ kind: 'zero-terminal-snr', base: { kind: 'linear', T: 1 } }), 'schedule.base');
  assertConfigError(() => makeSchedule({ kind: 'cosine', beta: 2 } as unknown as ScheduleSpec), 'schedule.beta');
  assertConfigError(() => makeSchedule({ kind: 'flow', shift: 3 } as unknown as ScheduleSpec), 'schedule.shift');
});
