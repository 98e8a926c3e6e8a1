/**
 * Training curves: one line per logged loss against the optimiser step, with TensorBoard's debiased EMA
 * smoothing drawn over the faint raw values (per-step losses of a diffusion objective are noisy: t is
 * drawn at random each step, and the loss scale depends strongly on t).
 */
import { ConfigError, check, mergeConfig, type DeepPartial } from '../config';
import { Figure } from './figure';
import { colorAt, withAlpha } from './subplots';

/**
 * One logged step: `{ step: 120, loss: 3.1, lm: 2.4, diffusion: 0.14 }`; every other numeric key is a series.
 * A key may be missing or undefined on some rows (an eval loss logged every 100 steps).
 */
export type HistoryRow = { readonly step: number } & Readonly<Record<string, number | undefined>>;

export interface LossCurvesOptions {
  /** EMA weight in [0, 1) on the previous smoothed value; 0 draws raw values only. Default 0.6 (TensorBoard's). */
  readonly smoothing: number;
  /** Log-scale y axis: losses spanning decades (diffusion early in training) read better. Default false. */
  readonly logY: boolean;
  /** Which keys to draw; empty = every numeric key other than `step`, in first-seen order. Default []. */
  readonly keys: readonly string[];
  /** Figure title. Default 'Training losses'. */
  readonly title: string;
  /** Most points drawn per trace; longer series are thinned by `decimate`. Default DEFAULT_MAX_POINTS. */
  readonly maxPoints: number;
}

/**
 * Points per trace above which a curve is thinned (`decimate`): a plot is well under a thousand pixels wide, so
 * more points draw nothing new, and a 2,500-step run's raw and smoothed losses would otherwise fill a published
 * page with numbers no one sees.
 */
export const DEFAULT_MAX_POINTS = 1000;

export const DEFAULT_LOSS_CURVES: LossCurvesOptions = { smoothing: 0.6, logY: false, keys: [], title: 'Training losses', maxPoints: DEFAULT_MAX_POINTS };

/**
 * Debiased exponential moving average (TensorBoard's scalar smoothing): s_n = w s_{n-1} + (1 - w) x_n,
 * divided by (1 - w^n) so the start is not pulled toward 0. Non-finite values pass through as NaN and
 * leave the average untouched, so one diverged step does not poison the rest of the curve.
 */
export function emaSmooth(values: readonly number[], smoothing: number): number[] {
  check.inRange('smoothing', smoothing, 0, 0.999999);
  let last = 0;
  let weight = 0;
  return values.map((v) => {
    if (!Number.isFinite(v)) return NaN;
    last = last * smoothing + (1 - smoothing) * v;
    weight = weight * smoothing + (1 - smoothing);
    return last / weight;
  });
}

/** A curve option's point budget: an integer of at least 4 (`decimate`). */
export function checkMaxPoints(field: string, maxPoints: number): void {
  check.positiveInt(field, maxPoints);
  if (maxPoints < 4) throw new ConfigError(field, maxPoints, 'an integer >= 4');
}

/** The numeric keys other than `step`, in the order they first appear. */
export function seriesKeys(history: readonly HistoryRow[]): string[] {
  const keys = new Set<string>();
  for (const row of history) {
    for (const [key, value] of Object.entries(row)) if (key !== 'step' && typeof value === 'number') keys.add(key);
  }
  return [...keys];
}

/** The (step, value) pairs a history holds for `key`, skipping rows that did not log it. */
export function seriesOf(history: readonly HistoryRow[], key: string): { steps: number[]; values: number[] } {
  const steps: number[] = [];
  const values: number[] = [];
  history.forEach((row, i) => {
    const value = row[key];
    if (typeof value !== 'number') return;
    if (typeof row.step !== 'number') throw new ConfigError(`history[${i}].step`, row.step, 'a number');
    steps.push(row.step);
    values.push(value);
  });
  return { steps, values };
}

/**
 * A series thinned to `maxPoints` points for drawing (a third more at most, where runs hold gaps), by min-max decimation: the points are cut into
 * maxPoints / 2 runs of consecutive points, and each run keeps its lowest and its highest value (in step order),
 * so every spike and dip stays on the plot, which taking every k-th point would drop. The first and last points
 * are kept, so the axis spans the same steps, and so is the first non-finite value of a run (plotly draws it as a
 * gap). A series of at most `maxPoints` points comes back unchanged. Written here because plotly.js has no
 * decimation of its own and the curves are small enough that a loop over them is the whole job.
 */
export function decimate(steps: readonly number[], values: readonly number[], maxPoints: number): { steps: number[]; values: number[] } {
  checkMaxPoints('maxPoints', maxPoints);
  if (steps.length !== values.length) throw new ConfigError('steps.length', steps.length, `the number of values (${values.length})`);
  const n = values.length;
  if (n <= maxPoints) return { steps: [...steps], values: [...values] };
  // Runs over the points between the first and the last, two kept per run, plus the two ends.
  const runs = Math.floor((maxPoints - 2) / 2);
  const kept: number[] = [0];
  for (let r = 0; r < runs; r++) {
    const start = 1 + Math.floor(((n - 2) * r) / runs);
    const end = 1 + Math.floor(((n - 2) * (r + 1)) / runs);
    let low = -1;
    let high = -1;
    let gap = -1;
    for (let i = start; i < end; i++) {
      const v = values[i];
      if (!Number.isFinite(v)) {
        if (gap < 0) gap = i;
        continue;
      }
      if (low < 0 || v < values[low]) low = i;
      if (high < 0 || v > values[high]) high = i;
    }
    kept.push(...[...new Set([low, high, gap])].filter((i) => i >= 0).sort((a, b) => a - b));
  }
  kept.push(n - 1);
  return { steps: kept.map((i) => steps[i]), values: kept.map((i) => values[i]) };
}

/**
 * Raw (faint) and smoothed (solid) traces of one series, grouped so a legend click hides both.
 * `axes` places them in a panel; `showLegend` lets a series drawn in several panels appear once. The smoothing
 * runs over every point; each trace is then thinned to `maxPoints` (`decimate`).
 */
export function smoothedTraces(
  name: string,
  steps: readonly number[],
  values: readonly number[],
  smoothing: number,
  color: string,
  extra: Readonly<Record<string, unknown>> = {},
  showLegend = true,
  maxPoints = DEFAULT_MAX_POINTS,
): Record<string, unknown>[] {
  const trace = (ys: readonly number[]) => {
    const thin = decimate(steps, ys, maxPoints);
    return { type: 'scatter', mode: 'lines', x: thin.steps, y: thin.values, legendgroup: name, ...extra };
  };
  if (smoothing === 0) return [{ ...trace(values), name, line: { color, width: 1.5 }, showlegend: showLegend }];
  return [
    { ...trace(values), name: `${name} (raw)`, line: { color: withAlpha(color, 0.25), width: 1 }, showlegend: false, hoverinfo: 'skip' },
    { ...trace(emaSmooth(values, smoothing)), name, line: { color, width: 2 }, showlegend: showLegend },
  ];
}

/** Loss curves from a training history (e.g. `Progress.history`); one trace pair per loss. */
export function lossCurves(history: readonly HistoryRow[], options?: DeepPartial<LossCurvesOptions>): Figure {
  const opts = mergeConfig(DEFAULT_LOSS_CURVES, options, 'lossCurves');
  check.inRange('lossCurves.smoothing', opts.smoothing, 0, 0.999999);
  checkMaxPoints('lossCurves.maxPoints', opts.maxPoints);
  const available = seriesKeys(history);
  const keys = opts.keys.length > 0 ? opts.keys : available;
  for (const key of keys) {
    if (!available.includes(key)) throw new ConfigError('lossCurves.keys', key, `a logged key: ${available.join(', ') || '(history is empty)'}`);
  }
  const data = keys.flatMap((key, i) => {
    const { steps, values } = seriesOf(history, key);
    return smoothedTraces(key, steps, values, opts.smoothing, colorAt(i), {}, true, opts.maxPoints);
  });
  return new Figure(data, {
    title: { text: opts.title },
    xaxis: { title: { text: 'step' } },
    yaxis: { title: { text: 'loss' }, type: opts.logY ? 'log' : 'linear' },
    hovermode: 'x unified',
    margin: { t: 50, r: 20, b: 50, l: 60 },
  });
}
