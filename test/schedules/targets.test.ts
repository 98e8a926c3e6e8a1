import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import {
  makeSchedule, makeTarget, predictionToX0Eps, convertPrediction, coefficients, addNoise, PREDICTION_KINDS,
  RECTIFIED_FLOW_RATES, type PredictionKind,
} from '../../src/schedules';
import { assertConfigError } from './suites';

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => a.sub(b).abs().max().dataSync()[0]);
}

const SCHEDULES = [makeSchedule({ kind: 'cosine' }), makeSchedule({ kind: 'flow' }), makeSchedule({ kind: 'shifted', base: { kind: 'linear' }, shift: 2 })];

test('every target inverts back to (x0, eps), per-example [B, 1, 1, 1] coefficients, no leaks', () => {
  for (const schedule of SCHEDULES) {
    const before = tf.memory().numTensors;
    const rng = new Rng(4);
    const x0 = rng.randomNormal([3, 2, 2, 2]);
    const eps = rng.randomNormal([3, 2, 2, 2]);
    const c = coefficients(schedule, [0.1, 0.5, 0.9], 4);
    const rates = { dAlpha: c.dAlpha, dSigma: c.dSigma };
    const xt = addNoise(x0, eps, c.alpha, c.sigma);
    for (const kind of PREDICTION_KINDS) {
      const target = makeTarget(kind, x0, eps, c.alpha, c.sigma, rates);
      const back = predictionToX0Eps(kind, target, xt, c.alpha, c.sigma, rates);
      assert.ok(maxDiff(back.x0, x0) < 1e-4, `${schedule.config.kind}/${kind}: x0`);
      assert.ok(maxDiff(back.eps, eps) < 1e-4, `${schedule.config.kind}/${kind}: eps`);
      tf.dispose([target, back.x0, back.eps]);
    }
    tf.dispose([x0, eps, xt, c.alpha, c.sigma, c.dAlpha, c.dSigma]);
    assert.equal(tf.memory().numTensors, before, `${schedule.config.kind}: no tensor leaks`);
  }
});

test('targets by their formulas: v = alpha eps - sigma x0, flow = dAlpha x0 + dSigma eps', () => {
  tf.tidy(() => {
    const x0 = tf.tensor([1, -2]);
    const eps = tf.tensor([0.5, 3]);
    const v = makeTarget('v', x0, eps, 0.6, 0.8);
    assert.deepEqual(Array.from(v.dataSync()).map((x) => Math.round(x * 1e6) / 1e6), [-0.5, 3.4]);
    const velocity = makeTarget('flow', x0, eps, 0.7, 0.3, RECTIFIED_FLOW_RATES);
    assert.deepEqual(Array.from(velocity.dataSync()), [-0.5, 5]);
    const general = makeTarget('flow', x0, eps, 0.6, 0.8, { dAlpha: -2, dSigma: 1.5 });
    assert.deepEqual(Array.from(general.dataSync()), [-1.25, 8.5]);
    assert.deepEqual(Array.from(makeTarget('epsilon', x0, eps, 0.6, 0.8).dataSync()), [0.5, 3]);
    assert.deepEqual(Array.from(makeTarget('x0', x0, eps, 0.6, 0.8).dataSync()), [1, -2]);
  });
});

test('convertPrediction composes: epsilon -> v -> x0 -> flow -> epsilon is the identity', () => {
  const schedule = makeSchedule({ kind: 'cosine' });
  const t = 0.35;
  const [alpha, sigma] = [schedule.alpha(t), schedule.sigma(t)];
  const rates = { dAlpha: schedule.dAlpha(t), dSigma: schedule.dSigma(t) };
  tf.tidy(() => {
    const xt = tf.tensor([0.2, -0.7, 1.3]);
    const eps = tf.tensor([0.9, 0.1, -1.1]);
    const chain: PredictionKind[] = ['epsilon', 'v', 'x0', 'flow', 'epsilon'];
    let p = eps;
    for (let k = 0; k + 1 < chain.length; k++) p = convertPrediction(chain[k], chain[k + 1], p, xt, alpha, sigma, rates);
    assert.ok(maxDiff(p, eps) < 1e-5);
  });
});

test("the 'flow' target needs the schedule's rates; unknown kinds are ConfigErrors", () => {
  tf.tidy(() => {
    const x = tf.tensor([1, 2]);
    assertConfigError(() => makeTarget('flow', x, x, 0.5, 0.5), 'target.rates');
    assertConfigError(() => predictionToX0Eps('flow', x, x, 0.5, 0.5), 'prediction.rates');
    assertConfigError(() => makeTarget('score' as PredictionKind, x, x, 0.5, 0.5), 'target.kind');
    assertConfigError(() => predictionToX0Eps('noise' as PredictionKind, x, x, 0.5, 0.5), 'prediction.kind');
    assertConfigError(() => coefficients(makeSchedule(), [0.5], 0), 'coefficients.rank');
    assertConfigError(() => coefficients(makeSchedule(), [1.5], 2), 't');
  });
});
