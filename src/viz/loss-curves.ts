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
}

export const DEFAULT_LOSS_CURVES: LossCurvesOptions = { smoothing: 0.6, logY: false, keys: [], title: 'Training losses' };

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
 * Raw (faint) and smoothed (solid) traces of one series, grouped so a legend click hides both.
 * `axes` places them in a panel; `showLegend` lets a series drawn in several panels appear once.
 */
export function smoothedTraces(
  name: string,
  steps: readonly number[],
  values: readonly number[],
  smoothing: number,
  color: string,
  extra: Readonly<Record<string, unknown>> = {},
  showLegend = true,
): Record<string, unknown>[] {
  const common = { type: 'scatter', mode: 'lines', x: steps, legendgroup: name, ...extra };
  if (smoothing === 0) return [{ ...common, name, y: values, line: { color, width: 1.5 }, showlegend: showLegend }];
  return [
    { ...common, name: `${name} (raw)`, y: values, line: { color: withAlpha(color, 0.25), width: 1 }, showlegend: false, hoverinfo: 'skip' },
    { ...common, name, y: emaSmooth(values, smoothing), line: { color, width: 2 }, showlegend: showLegend },
  ];
}

/** Loss curves from a training history (e.g. `Progress.history`); one trace pair per loss. */
export function lossCurves(history: readonly HistoryRow[], options?: DeepPartial<LossCurvesOptions>): Figure {
  const opts = mergeConfig(DEFAULT_LOSS_CURVES, options, 'lossCurves');
  check.inRange('lossCurves.smoothing', opts.smoothing, 0, 0.999999);
  const available = seriesKeys(history);
  const keys = opts.keys.length > 0 ? opts.keys : available;
  for (const key of keys) {
    if (!available.includes(key)) throw new ConfigError('lossCurves.keys', key, `a logged key: ${available.join(', ') || '(history is empty)'}`);
  }
  const data = keys.flatMap((key, i) => {
    const { steps, values } = seriesOf(history, key);
    return smoothedTraces(key, steps, values, opts.smoothing, colorAt(i));
  });
  return new Figure(data, {
    title: { text: opts.title },
    xaxis: { title: { text: 'step' } },
    yaxis: { title: { text: 'loss' }, type: opts.logY ? 'log' : 'linear' },
    hovermode: 'x unified',
    margin: { t: 50, r: 20, b: 50, l: 60 },
  });
}
