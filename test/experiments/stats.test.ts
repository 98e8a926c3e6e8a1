import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSummary, pairedComparison, summarize, tQuantile975, verdictOf } from '../../src/experiments/stats';

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('summarize: mean, sample standard deviation and the Student-t 95% interval', () => {
  // By hand: mean 2, sample variance ((1 + 0 + 1) / 2) = 1, half-width t_{.975,2} * 1 / sqrt(3) = 4.303 / 1.7320508.
  const s = summarize([1, 2, 3]);
  assert.equal(s.n, 3);
  close(s.mean!, 2);
  close(s.std!, 1);
  close(s.ci95![0], 2 - 4.303 / Math.sqrt(3));
  close(s.ci95![1], 2 + 4.303 / Math.sqrt(3));
  assert.equal(s.min, 1);
  assert.equal(s.max, 3);
});

test('summarize: nulls and non-finite values are counted as missing, one value has no spread', () => {
  const s = summarize([0.5, null, Number.NaN]);
  assert.equal(s.n, 1);
  assert.equal(s.missing, 2);
  assert.equal(s.mean, 0.5);
  assert.equal(s.std, null);
  assert.equal(s.ci95, null);
  assert.equal(formatSummary(s), '0.500 (n=1, 2 missing)');
  assert.equal(formatSummary(summarize([])), 'n/a (n=0)');
  assert.equal(formatSummary(summarize([0.9, 0.92, 0.94])), '0.920 ± 0.020 (n=3)');
});

test('tQuantile975 matches the table and tends to the normal quantile', () => {
  assert.equal(tQuantile975(1), 12.706);
  assert.equal(tQuantile975(4), 2.776);
  assert.equal(tQuantile975(30), 2.042);
  assert.equal(tQuantile975(200), 1.96);
  assert.throws(() => tQuantile975(0), /df must be a positive integer, got 0/);
});

test('pairedComparison pairs by seed and gives a verdict from the interval of the differences', () => {
  const a = { 0: 0.8, 1: 0.7, 2: 0.9 };
  const b = { 0: 0.85, 1: 0.76, 2: 0.94, 3: 0.1 };
  const cmp = pairedComparison(a, b, true);
  assert.equal(cmp.differences.length, 3, 'seed 3 has no partner in a');
  close(cmp.summary.mean!, 0.05);
  assert.equal(cmp.verdict, 'better');
  assert.equal(pairedComparison(a, b, false).verdict, 'worse', 'a lower-is-better metric that went up');
  // The same means, but the differences change sign from seed to seed: no verdict at 3 seeds.
  const noisy = pairedComparison({ 0: 0.8, 1: 0.7, 2: 0.9 }, { 0: 0.95, 1: 0.65, 2: 0.95 }, true);
  assert.equal(noisy.verdict, 'not distinguishable at 3 seeds');
  assert.equal(verdictOf(summarize([0.1]), true), 'not distinguishable at 1 seeds');
});
