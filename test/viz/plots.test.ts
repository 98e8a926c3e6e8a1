import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, ShapeError } from '../../src/config';
import { tf } from '../../src/engine/tf';
import { ablationBars, ablationCurves, summariseAblation } from '../../src/viz/ablation-plots';
import { decimate, emaSmooth, lossCurves } from '../../src/viz/loss-curves';
import { maskHeatmap } from '../../src/viz/mask-heatmap';
import { noiseLevelCurves, scheduleCurves, weightCurves } from '../../src/viz/schedule-curves';
import { PALETTE, panelGrid } from '../../src/viz/subplots';

type Trace = Record<string, unknown>;
const traces = (fig: { toJSON(): { data: unknown } }) => fig.toJSON().data as Trace[];
/** A figure's numbers as written: 7 significant digits (FIGURE_DIGITS, src/viz/figure.ts). */
const digits7 = (v: number) => Number(v.toPrecision(7));
const close = (a: readonly number[], b: readonly number[]) => a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-12, `${i}: ${v} vs ${b[i]}`));

test('EMA smoothing is debiased like TensorBoard and skips non-finite values', () => {
  // s_n = sum_k w^(n-k) x_k / sum_k w^(n-k): with w = 0.5, [1, 2, 3] -> [1, 5/3, 17/7].
  close(emaSmooth([1, 2, 3], 0.5), [1, 5 / 3, 17 / 7]);
  const gap = emaSmooth([1, NaN, 3], 0.5);
  assert.ok(Number.isNaN(gap[1]));
  close([gap[0], gap[2]], [1, 7 / 3]);
  assert.deepEqual(emaSmooth([4, 5], 0), [4, 5]);
  assert.throws(() => emaSmooth([1], 1), ConfigError);
});

test('decimate keeps the ends, every run\'s lowest and highest point, and gaps, in step order', () => {
  const steps = Array.from({ length: 10_000 }, (_, i) => i);
  const values = steps.map((i) => Math.sin(i / 300));
  values[5_000] = 9; // a one-step spike
  values[7_001] = -9; // a one-step dip
  values[3_000] = NaN; // a diverged step
  const thin = decimate(steps, values, 1000);
  // 1000, and one more for the run that holds the gap.
  assert.ok(thin.steps.length <= 1001 && thin.steps.length >= 900, `${thin.steps.length} points`);
  assert.equal(thin.steps[0], 0);
  assert.equal(thin.steps.at(-1), 9_999);
  assert.ok(thin.steps.every((s, i) => i === 0 || s > thin.steps[i - 1]), 'steps ascend');
  thin.steps.forEach((s, i) => assert.ok(Object.is(thin.values[i], values[s]), `point ${s} keeps its value`));
  for (const kept of [5_000, 7_001, 3_000]) assert.ok(thin.steps.includes(kept), `step ${kept} kept`);
  assert.equal(Math.max(...thin.values.filter(Number.isFinite)), 9);
  assert.equal(Math.min(...thin.values.filter(Number.isFinite)), -9);
  assert.deepEqual(decimate([1, 2, 3], [3, 2, 1], 4), { steps: [1, 2, 3], values: [3, 2, 1] });
  assert.throws(() => decimate([1], [1], 3), /maxPoints: got 3; allowed: an integer >= 4/);
  assert.throws(() => decimate([1, 2], [1], 10), /steps\.length: got 2/);
});

test('long curves are drawn thinned, to the maxPoints option', () => {
  const history = Array.from({ length: 2_500 }, (_, i) => ({ step: i, diffusion: 1 / (1 + i) + (i % 7) * 1e-3 }));
  const lengths = (fig: { toJSON(): { data: unknown } }) => traces(fig).map((t) => (t.x as number[]).length);
  for (const n of lengths(lossCurves(history))) assert.ok(n <= 1000 && n > 900, `${n} points`);
  for (const n of lengths(lossCurves(history, { maxPoints: 200 }))) assert.ok(n <= 200, `${n} points`);
  for (const n of lengths(ablationCurves([{ arm: 'a', history }], { maxPoints: 100 }))) assert.ok(n <= 100, `${n} points`);
  assert.throws(() => lossCurves(history, { maxPoints: 2 }), /lossCurves\.maxPoints: got 2/);
  assert.throws(() => ablationCurves([{ arm: 'a', history }], { maxPoints: 1.5 }), /ablationCurves\.maxPoints/);
});

test('lossCurves draws raw and smoothed traces per loss, skipping steps that did not log a key', () => {
  const history = [
    { step: 1, loss: 4, lm: 3 },
    { step: 2, loss: 2 },
    { step: 3, loss: 1, lm: 1 },
  ];
  const data = traces(lossCurves(history, { smoothing: 0.5 }));
  assert.deepEqual(data.map((t) => t.name), ['loss (raw)', 'loss', 'lm (raw)', 'lm']);
  assert.deepEqual(data[0].y, [4, 2, 1]);
  assert.deepEqual(data[1].y, emaSmooth([4, 2, 1], 0.5).map(digits7));
  assert.deepEqual(data[2].x, [1, 3]);
  assert.deepEqual(data[2].y, [3, 1]);
  assert.equal(data[0].legendgroup, data[1].legendgroup);
  assert.equal(data[0].showlegend, false);
  const raw = traces(lossCurves(history, { smoothing: 0, keys: ['lm'], logY: true }));
  assert.deepEqual(raw.map((t) => t.name), ['lm']);
  assert.equal((lossCurves(history, { logY: true }).layout.yaxis as Trace).type, 'log');
  assert.throws(() => lossCurves(history, { keys: ['diffusion'] }), /lossCurves\.keys: got "diffusion"; allowed: a logged key: loss, lm/);
  assert.throws(() => lossCurves(history, { smoothin: 0.3 } as never), /lossCurves\.smoothin/);
});

test('panelGrid places panels left to right, top to bottom, without overlap', () => {
  const { axes, layout } = panelGrid([{ y: 'a' }, { y: 'b' }, { y: 'c' }], 2);
  assert.deepEqual(axes, [{ xaxis: 'x', yaxis: 'y' }, { xaxis: 'x2', yaxis: 'y2' }, { xaxis: 'x3', yaxis: 'y3' }]);
  const dom = (key: string) => (layout[key] as { domain: [number, number] }).domain;
  assert.ok(dom('xaxis')[1] < dom('xaxis2')[0]);
  assert.deepEqual(dom('xaxis3'), dom('xaxis'));
  assert.ok(dom('yaxis3')[1] < dom('yaxis')[0]);
  assert.equal((layout.yaxis2 as { anchor: string }).anchor, 'x2');
  assert.deepEqual((layout.yaxis2 as { title: unknown }).title, { text: 'b' });
});

test('scheduleCurves puts alpha-bar and log-SNR of each schedule in two panels', () => {
  const t = [0, 0.5, 1];
  const cosine = t.map((x) => Math.cos(((x + 0.008) / 1.008) * Math.PI / 2) ** 2);
  const fig = scheduleCurves([
    { name: 'cosine', t, alphaBar: cosine, logSnr: cosine.map((a) => Math.log(a / (1 - a))) },
    { name: 'linear', t, alphaBar: [0.99, 0.5, 0.01], logSnr: [4.6, 0, -4.6] },
  ]);
  const data = traces(fig);
  assert.equal(data.length, 4);
  assert.deepEqual(data.map((d) => [d.name, d.xaxis]), [['cosine', 'x'], ['cosine', 'x2'], ['linear', 'x'], ['linear', 'x2']]);
  assert.deepEqual(data[3].y, [4.6, 0, -4.6]);
  assert.equal(data[1].showlegend, false);
  assert.deepEqual((data[2].line as Trace).color, PALETTE[1]);
  assert.throws(() => scheduleCurves([{ name: 'bad', t, alphaBar: [1], logSnr: [1, 2, 3] }]), /series\[0\]\.alphaBar: got "1 values"; allowed: 3 values/);
  const w = weightCurves([{ name: 'min-SNR-5', x: [-2, 0, 2], weight: [0.1353, 1, 5] }], { xTitle: 'log SNR' });
  assert.deepEqual(traces(w)[0].y, [0.1353, 1, 5]);
  assert.deepEqual((w.layout.xaxis as Trace).title, { text: 'log SNR' });
});

test('noiseLevelCurves: epsilon MSE and the x0 MSE it implies against log-SNR, log scales, a colour per model', () => {
  const fig = noiseLevelCurves([
    { name: 'constant', points: [{ logSnr: -2, mse: 0.01 }, { logSnr: 0, mse: 0.1 }, { logSnr: 2, mse: 0.3 }] },
    { name: 'min-snr', points: [{ logSnr: -2, mse: 0.02 }, { logSnr: 2, mse: 0.2 }] },
  ]);
  const data = traces(fig);
  assert.deepEqual(data.map((d) => [d.name, d.xaxis, d.showlegend ?? true]), [['constant', 'x', true], ['constant', 'x2', false], ['min-snr', 'x', true], ['min-snr', 'x2', false]]);
  assert.deepEqual(data[0].y, [0.01, 0.1, 0.3]);
  // x0 MSE = epsilon MSE / SNR.
  assert.deepEqual(data[1].y, [0.01 * Math.exp(2), 0.1, 0.3 * Math.exp(-2)].map(digits7));
  assert.deepEqual(data[3].x, [-2, 2]);
  assert.equal((fig.layout.yaxis as Trace).type, 'log');
  assert.equal((fig.layout.yaxis2 as Trace).type, 'log');
  assert.deepEqual((data[2].line as Trace).color, PALETTE[1]);
  assert.throws(() => noiseLevelCurves([]), /noiseLevelCurves\.series/);
  assert.throws(() => noiseLevelCurves([{ name: 'empty', points: [] }]), /series\[0\]\.points/);
});

test('maskHeatmap reads a tensor or nested booleans, rows as queries, without leaking tensors', () => {
  const before = tf.memory().numTensors;
  const causal = tf.tidy(() => tf.linalg.bandPart(tf.ones([3, 3]), -1, 0).cast('bool'));
  const fig = maskHeatmap(causal, { layoutLabels: ['BOI', 'I0', 'EOI'] });
  causal.dispose();
  assert.equal(tf.memory().numTensors, before);
  const [heat] = traces(fig);
  assert.deepEqual(heat.z, [[1, 0, 0], [1, 1, 0], [1, 1, 1]]);
  assert.equal((heat.text as string[][])[1][0], 'q 1 (I0) -> k 0 (BOI): attends');
  assert.deepEqual((fig.layout.xaxis as Trace).ticktext, ['BOI', 'I0', 'EOI']);
  assert.equal((fig.layout.yaxis as Trace).autorange, 'reversed');
  assert.deepEqual(traces(maskHeatmap([[true, false], [true, true]]))[0].z, [[1, 0], [1, 1]]);
  assert.throws(() => maskHeatmap([[true, false], [true]]), ShapeError);
  assert.throws(() => maskHeatmap([[1]], { layoutLabels: ['a', 'b'] }), /layoutLabels: got "2 labels"; allowed: 1 labels/);
  const nonSquare = tf.zeros([2, 3]);
  assert.throws(() => maskHeatmap(nonSquare), /expected shape \[L, L\], received \[2, 3\]/);
  nonSquare.dispose();
});

test('ablationBars: one panel per metric, seeds summarised by mean and sample std, arm colours shared', () => {
  const rows = [
    { arm: 'causal', metric: 'val loss', value: 1 },
    { arm: 'causal', metric: 'val loss', value: 2 },
    { arm: 'causal', metric: 'val loss', value: 3 },
    { arm: 'bidirectional', metric: 'val loss', value: 1.5, std: 0.25 },
    { arm: 'bidirectional', metric: 'FID', value: 30 },
    { arm: 'causal', metric: 'FID', value: 40 },
  ];
  const cells = summariseAblation(rows);
  assert.deepEqual(cells.find((c) => c.arm === 'causal' && c.metric === 'val loss'), { arm: 'causal', metric: 'val loss', mean: 2, std: 1, n: 3 });
  const data = traces(ablationBars(rows));
  assert.equal(data.length, 2);
  assert.deepEqual(data.map((d) => [d.name, d.xaxis]), [['val loss', 'x'], ['FID', 'x2']]);
  assert.deepEqual(data[0].x, ['causal', 'bidirectional']);
  assert.deepEqual(data[0].y, [2, 1.5]);
  assert.deepEqual(data[0].error_y, { type: 'data', array: [1, 0.25], visible: true });
  assert.deepEqual((data[1].error_y as Trace).array, [null, null]);
  // Arms keep their first-seen order and colour in every panel.
  assert.deepEqual(data[1].x, ['causal', 'bidirectional']);
  assert.deepEqual((data[1].marker as Trace).color, [PALETTE[0], PALETTE[1]]);
  assert.equal((data[1].error_y as Trace).visible, false);
  assert.throws(() => ablationBars([]), ConfigError);
});

test('ablationCurves: a panel per metric, a colour per arm, each arm once in the legend', () => {
  const history = (scale: number) => [1, 2, 3].map((step) => ({ step, loss: scale / step, lm: scale }));
  const fig = ablationCurves(
    [{ arm: 'k=2', history: history(1) }, { arm: 'k=2', history: history(1.1) }, { arm: 'k=4', history: history(2) }],
    { smoothing: 0, metrics: ['loss', 'lm'] },
  );
  const data = traces(fig);
  assert.equal(data.length, 6);
  assert.deepEqual(data.map((d) => d.xaxis), ['x', 'x', 'x', 'x2', 'x2', 'x2']);
  assert.deepEqual(data.filter((d) => d.showlegend).map((d) => d.name), ['k=2', 'k=4']);
  assert.deepEqual(data.map((d) => (d.line as Trace).color), [0, 0, 1, 0, 0, 1].map((i) => PALETTE[i]));
  assert.deepEqual(data[2].y, [2, 1, digits7(2 / 3)]);
  assert.throws(() => ablationCurves([{ arm: 'a', history: history(1) }], { metrics: ['fid'] }), /ablationCurves\.metrics: got "fid"/);
});
