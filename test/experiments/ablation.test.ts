/**
 * ablationSummary (src/experiments/ablation.ts): per-arm summaries over seeds, paired comparisons against a
 * reference arm with the verdict of stats.ts, the tables and sentences the research notebooks show, and the
 * errors a notebook author sees. Most cases use a hand-made table of compareRuns' shape; the last reads a
 * real sweep folder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as aq from 'arquero';
import { ConfigError } from '../../src/config';
import { ablationSummary, formatNumber, formatSpread, METRIC_DIRECTIONS, sampleGrids } from '../../src/experiments/ablation';
import { pairedComparison, summarize } from '../../src/experiments/stats';
import { sweep } from '../../src/experiments/sweep';
import { TINY_SPEC, useTempRoot } from '../helpers/experiments';

const close = (a: number | null, b: number, tol = 1e-9) => assert.ok(a !== null && Math.abs(a - b) <= tol, `${a} vs ${b}`);

/** Three arms x three seeds: 'big' is ahead of 'base' on every seed by 0.1 in accuracy and 20 in FID. */
function runs() {
  const rows = [];
  const acc: Record<string, number[]> = { base: [0.5, 0.6, 0.7], big: [0.6, 0.71, 0.79], odd: [0.4, 0.9, 0.5] };
  const fid: Record<string, number[]> = { base: [200, 180, 190], big: [180, 160, 170], odd: [210, 150, 230] };
  for (const arm of ['base', 'big', 'odd']) {
    for (const seed of [0, 1, 2]) {
      rows.push({ run: `${arm},seed=${seed}`, arm, seed, lm: 1 + seed, 'eval.t2i_accuracy': acc[arm][seed], 'eval.fid': fid[arm][seed], dir: `/runs/${arm},seed=${seed}` });
    }
  }
  return aq.from(rows);
}

test('ablationSummary: per-arm summaries over seeds and paired comparisons against the reference', () => {
  const s = ablationSummary(runs(), { metrics: ['t2i_accuracy', 'fid'], reference: 'base' });
  assert.deepEqual(s.arms, ['base', 'big', 'odd']);
  assert.equal(s.reference, 'base');
  assert.deepEqual(s.metrics, [{ key: 't2i_accuracy', better: 'higher' }, { key: 'fid', better: 'lower' }]);
  assert.equal(s.cells.length, 6);
  const big = s.cell('big', 't2i_accuracy');
  assert.deepEqual(big.values, { 0: 0.6, 1: 0.71, 2: 0.79 });
  assert.deepEqual(big.summary, summarize([0.6, 0.71, 0.79]));
  // Against the reference: the differences big - base per seed, and stats.ts's verdict on them.
  assert.equal(s.comparisons.length, 4);
  const acc = s.compare('big', 'base', 't2i_accuracy');
  assert.deepEqual(acc.comparison, pairedComparison({ 0: 0.5, 1: 0.6, 2: 0.7 }, { 0: 0.6, 1: 0.71, 2: 0.79 }, true));
  assert.equal(acc.comparison.verdict, 'better', 'differences 0.1, 0.11, 0.09: the interval excludes zero');
  assert.equal(acc.ahead, 3);
  const fid = s.compare('big', 'base', 'fid');
  assert.equal(fid.comparison.verdict, 'better', 'differences all -20: the interval is the point -20, below zero, and lower is better');
  assert.equal(fid.ahead, 3);
  assert.equal(s.compare('odd', 'base', 'fid').comparison.verdict, 'not distinguishable at 3 seeds');
  // Any pair, not only against the reference; lower is better for FID, so base against big is worse.
  assert.equal(s.compare('base', 'big', 't2i_accuracy').comparison.verdict, 'worse');
  assert.equal(s.compare('base', 'big', 't2i_accuracy').ahead, 0);
  assert.deepEqual(s.runsOf('big'), ['/runs/big,seed=0', '/runs/big,seed=1', '/runs/big,seed=2']);
});

test('ablationSummary: arms picked, ordered and renamed; the reference defaults to the first', () => {
  const s = ablationSummary(runs(), { metrics: ['fid'], arms: { odd: 'wide', base: 'paper' } });
  assert.deepEqual(s.arms, ['wide', 'paper']);
  assert.equal(s.reference, 'wide');
  assert.equal(s.comparisons.length, 1);
  assert.equal(s.comparisons[0].arm, 'paper');
  assert.equal(s.comparisons[0].against, 'wide');
  assert.deepEqual(ablationSummary(runs(), { metrics: ['fid'], arms: ['big'] }).arms, ['big']);
});

test('ablationSummary: a metric from a column of the table, and a run without a value counted as missing', () => {
  const table = runs().derive({ 'eval.fid': (d: { arm: string; seed: number; 'eval.fid': number }) => (d.arm === 'odd' && d.seed === 1 ? null : d['eval.fid']) });
  const s = ablationSummary(table, { metrics: [{ key: 'lm', better: 'lower' }, 'fid'], reference: 'base' });
  assert.deepEqual(s.cell('base', 'lm').values, { 0: 1, 1: 2, 2: 3 }, 'the run column lm, not an eval column');
  const odd = s.cell('odd', 'fid');
  assert.equal(odd.summary.n, 2);
  assert.equal(odd.summary.missing, 1);
  assert.equal(s.compare('odd', 'base', 'fid').comparison.differences.length, 2, 'only the seeds both arms have pair');
});

test('ablationSummary: the long table, the per-arm and paired tables, and one sentence per comparison', () => {
  const s = ablationSummary(runs(), { metrics: ['t2i_accuracy', 'fid'], reference: 'base' });
  const rows = s.table.objects() as Record<string, unknown>[];
  assert.equal(rows.length, 6);
  assert.deepEqual(Object.keys(rows[0]), ['arm', 'metric', 'better', 'seeds', 'mean', 'std', 'ci_low', 'ci_high', 'difference', 'difference_low', 'difference_high', 'ahead', 'verdict']);
  const base = rows.find((r) => r.arm === 'base' && r.metric === 'fid')!;
  assert.equal(base.verdict, null, "the reference's own rows have no comparison");
  close(base.mean as number, 190);
  const big = rows.find((r) => r.arm === 'big' && r.metric === 't2i_accuracy')!;
  assert.equal(big.verdict, 'better');
  close(big.difference as number, 0.1);
  assert.deepEqual(s.spreadTable.objects()[1], { arm: 'big', seeds: 3, 't2i_accuracy (higher)': formatSpread(summarize([0.6, 0.71, 0.79])), 'fid (lower)': '170 ± 10' });
  const paired = s.verdictTable.objects() as Record<string, string>[];
  assert.deepEqual(paired.map((r) => r.arm), ['big - base', 'odd - base']);
  assert.match(paired[0].t2i_accuracy, /^\+0\.1 \[\+0\.0752, \+0\.125\]: better$/);
  assert.equal(s.sentences.length, 4);
  assert.equal(
    s.sentences[0],
    'big against base, t2i_accuracy (higher is better): 0.7 ± 0.0954 against 0.6 ± 0.1; paired difference +0.1 (95% interval +0.0752 to +0.125), big ahead in 3 of 3 seeds: better.',
  );
  assert.deepEqual(s.sentencesFor(['fid']).map((l) => l.split(',')[0]), ['big against base', 'odd against base']);
  const html = s.toMimeBundle().data['text/html'] as string;
  assert.match(html, /Paired by seed against base/);
  assert.equal((html.match(/<table/g) ?? []).length, 2);
  const bars = s.bars('title here').toJSON() as { data: { x: string[] }[]; layout: { title: { text: string } } };
  assert.equal(bars.data.length, 2, 'one panel per metric');
  assert.deepEqual(bars.data[0].x, ['base', 'big', 'odd']);
  assert.equal(bars.layout.title.text, 'title here');
});

test('ablationSummary: one seed gives a sentence without an interval; one arm shows only its spreads', () => {
  const one = aq.from([{ arm: 'a', seed: 0, 'eval.fid': 100 }, { arm: 'b', seed: 0, 'eval.fid': 90 }]);
  const s = ablationSummary(one, { metrics: ['fid'] });
  assert.equal(s.sentences[0], 'b against a, fid (lower is better): 90 against 100; paired difference -10 (one seed, no interval), b ahead in 1 of 1 seed: not distinguishable at 1 seeds.');
  const single = ablationSummary(one, { metrics: ['fid'], arms: ['a'] });
  assert.deepEqual(single.sentences, []);
  assert.doesNotMatch(single.toMimeBundle().data['text/html'] as string, /Paired/);
});

test('ablationSummary: errors name the option, the value and what is allowed', () => {
  const error = (f: () => unknown, pattern: RegExp) => assert.throws(f, (e: unknown) => e instanceof ConfigError && pattern.test((e as Error).message), String(pattern));
  error(() => ablationSummary(runs(), { metrics: [] }), /ablationSummary\.metrics: got \[\]; allowed: a non-empty list of metrics/);
  error(() => ablationSummary(runs(), { metrics: ['speed'] }), /ablationSummary\.metrics\[0\]: got "speed"; allowed: a metric of METRIC_DIRECTIONS \(t2i_accuracy, .*\) or \{ key, better/);
  error(() => ablationSummary(runs(), { metrics: [{ key: 'lm', better: 'up' as 'higher' }] }), /ablationSummary\.metrics\[0\]\.better: got "up"; allowed: 'higher', 'lower'/);
  error(() => ablationSummary(runs(), { metrics: ['perplexity'] }), /ablationSummary\.metrics\[0\]: got "perplexity"; allowed: a column of the runs' table \(t2i_accuracy, fid; or run, arm, seed, lm, dir\)/);
  error(() => ablationSummary(runs(), { metrics: ['fid'], arms: ['base', 'large'] }), /ablationSummary\.arms: got "large"; allowed: an arm of the runs: 'base', 'big', 'odd'/);
  error(() => ablationSummary(runs(), { metrics: ['fid'], reference: 'large' }), /ablationSummary\.reference: got "large"; allowed: 'base', 'big', 'odd'/);
  const twice = aq.from([{ arm: 'a', seed: 0, 'eval.fid': 1, dir: '/x' }, { arm: 'a', seed: 0, 'eval.fid': 2, dir: '/y' }]);
  error(() => ablationSummary(twice, { metrics: ['fid'] }), /ablationSummary runs: got "a, seed 0"; allowed: one run per arm and seed \(found \/x and \/y\)/);
  const s = ablationSummary(runs(), { metrics: ['fid'] });
  error(() => s.cell('large', 'fid'), /ablationSummary arm: got "large"/);
  error(() => s.compare('big', 'base', 'lm'), /ablationSummary metric: got "lm"; allowed: 'fid'/);
});

test('formatNumber: three significant digits, whole numbers from 1000, rounding noise as zero', () => {
  assert.equal(formatNumber(0.123456), '0.123');
  assert.equal(formatNumber(183.44), '183');
  assert.equal(formatNumber(12345.6), '12346');
  assert.equal(formatNumber(-6.94e-18), '0');
  assert.equal(formatNumber(null), 'n/a');
  assert.equal(formatNumber(Number.NaN), 'n/a');
  assert.equal(formatSpread(summarize([1])), '1');
  assert.equal(METRIC_DIRECTIONS.fid, 'lower');
});

let root = '';
useTempRoot('ablation-', (dir) => (root = dir));

test('ablationSummary and sampleGrids read a sweep folder: arms by label, seeds paired, the saved sample grids', async () => {
  const result = await sweep({ ...TINY_SPEC, samples: { generate: { sampler: { steps: 2 } } } }, { 'objective.lambda': [1, 5] }, {
    name: 'lambda', root, seeds: [0, 1], progress: false, evaluate: () => ({ score: 1 }),
  });
  const s = ablationSummary(result.dir, { metrics: [{ key: 'score', better: 'higher' }, 'lm'], reference: 'lambda=5' });
  assert.deepEqual(s.arms, ['lambda=1', 'lambda=5']);
  assert.deepEqual(s.cell('lambda=1', 'score').values, { 0: 1, 1: 1 });
  assert.equal(s.cell('lambda=5', 'lm').summary.n, 2);
  assert.equal(s.runsOf('lambda=5').length, 2);
  const grids = sampleGrids(result.dir, { seed: 1, arms: { 'lambda=5': 'paper' } }).toMimeBundle().data;
  assert.equal(((grids['text/html'] as string).match(/<img src="data:image\/png;base64,/g) ?? []).length, 1, 'one arm shown, seed 1 only');
  assert.match(grids['text/plain'] as string, /^paper, seed 1: .*lambda=5,seed=1\/samples\/\w+\.png$/);
});
