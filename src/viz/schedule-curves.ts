/**
 * Plots of the noise process: the schedule (alpha-bar and log-SNR against t) and loss weightings.
 * Inputs are plain arrays, so any schedule (src/schedules or a researcher's own) can be compared by
 * evaluating it on a grid of t and passing the numbers.
 */
import { ConfigError, mergeConfig, type DeepPartial } from '../config';
import { Figure } from './figure';
import { colorAt, panelGrid } from './subplots';

/** One schedule sampled on a grid: t (0 = clean, docs/ARCHITECTURE.md 'Time'), alphaBar(t) and logSnr(t) there. */
export interface ScheduleSeries {
  readonly name: string;
  readonly t: readonly number[];
  readonly alphaBar: readonly number[];
  readonly logSnr: readonly number[];
}

function checkLengths(field: string, expected: number, got: readonly number[]): void {
  if (got.length !== expected) throw new ConfigError(field, `${got.length} values`, `${expected} values, one per t`);
}

/**
 * Two panels: alpha-bar(t) (the signal fraction, paper Sec 2.2: x_t = sqrt(alphaBar) x_0 + sqrt(1 - alphaBar) eps)
 * and log-SNR(t) = log(alphaBar / (1 - alphaBar)), where schedules that look alike in alpha-bar differ
 * visibly at both ends.
 */
export function scheduleCurves(series: readonly ScheduleSeries[], title = 'Noise schedules'): Figure {
  if (series.length === 0) throw new ConfigError('scheduleCurves.series', series, 'at least one schedule');
  const { axes, layout } = panelGrid([
    { x: 't', y: 'alpha-bar(t)', yAxis: { range: [0, 1.02] } },
    { x: 't', y: 'log SNR(t)' },
  ], 2);
  const data = series.flatMap((s, i) => {
    checkLengths(`scheduleCurves.series[${i}].alphaBar`, s.t.length, s.alphaBar);
    checkLengths(`scheduleCurves.series[${i}].logSnr`, s.t.length, s.logSnr);
    const line = { color: colorAt(i), width: 2 };
    const common = { type: 'scatter', mode: 'lines', x: s.t, name: s.name, legendgroup: s.name, line };
    return [
      { ...common, y: s.alphaBar, ...axes[0] },
      { ...common, y: s.logSnr, ...axes[1], showlegend: false },
    ];
  });
  return new Figure(data, { ...layout, title: { text: title }, margin: { t: 50, r: 20, b: 50, l: 60 } });
}

/** One weighting sampled on a grid: `x` is t or log-SNR (say which in `xTitle`), `weight` the loss weight there. */
export interface WeightSeries {
  readonly name: string;
  readonly x: readonly number[];
  readonly weight: readonly number[];
}

export interface WeightCurvesOptions {
  /** x axis title: what the series' x values are. Default 't'. */
  readonly xTitle: string;
  /** y axis title. Default 'loss weight'. */
  readonly yTitle: string;
  /** Log-scale y: min-SNR and SNR weightings span decades. Default true. */
  readonly logY: boolean;
  /** Figure title. Default 'Loss weighting'. */
  readonly title: string;
}

export const DEFAULT_WEIGHT_CURVES: WeightCurvesOptions = { xTitle: 't', yTitle: 'loss weight', logY: true, title: 'Loss weighting' };

/**
 * Loss weightings (or timestep densities) on one axis, e.g. epsilon-prediction's implied SNR weight,
 * min-SNR-5 (Hang et al. 2023) and v-prediction's SNR + 1, to see where each puts the training signal.
 */
export function weightCurves(series: readonly WeightSeries[], options?: DeepPartial<WeightCurvesOptions>): Figure {
  const opts = mergeConfig(DEFAULT_WEIGHT_CURVES, options, 'weightCurves');
  if (series.length === 0) throw new ConfigError('weightCurves.series', series, 'at least one weighting');
  const data = series.map((s, i) => {
    checkLengths(`weightCurves.series[${i}].weight`, s.x.length, s.weight);
    return { type: 'scatter', mode: 'lines', x: s.x, y: s.weight, name: s.name, line: { color: colorAt(i), width: 2 } };
  });
  return new Figure(data, {
    title: { text: opts.title },
    xaxis: { title: { text: opts.xTitle } },
    yaxis: { title: { text: opts.yTitle }, type: opts.logY ? 'log' : 'linear' },
    margin: { t: 50, r: 20, b: 50, l: 60 },
  });
}

/** A model's held-out error at a grid of noise levels (src/eval's `heldOutDiffusionLoss(...).points`). */
export interface NoiseLevelSeries {
  readonly name: string;
  readonly points: readonly { readonly logSnr: number; readonly mse: number }[];
}

/**
 * Where along the noise levels each model's denoising error lies: the held-out epsilon MSE against log-SNR, and
 * beside it the x0 MSE it implies (epsilon MSE * exp(-log-SNR), since x0 - x0_hat = (sigma / alpha)(eps_hat - eps)).
 * Both on log scales. For ablations of loss weighting, target or schedule, which move error between noise levels
 * rather than remove it.
 */
export function noiseLevelCurves(series: readonly NoiseLevelSeries[], title = 'Held-out denoising error by noise level'): Figure {
  if (series.length === 0) throw new ConfigError('noiseLevelCurves.series', series, 'at least one model');
  series.forEach((s, i) => {
    if (s.points.length === 0) throw new ConfigError(`noiseLevelCurves.series[${i}].points`, s.points, 'at least one grid point');
  });
  const { axes, layout } = panelGrid([
    { x: 'log SNR (noisy to clean)', y: 'epsilon MSE', yAxis: { type: 'log' } },
    { x: 'log SNR (noisy to clean)', y: 'x0 MSE', yAxis: { type: 'log' } },
  ], 2);
  const data = series.flatMap((s, i) => {
    const x = s.points.map((p) => p.logSnr);
    const common = { type: 'scatter', mode: 'lines+markers', x, name: s.name, legendgroup: s.name, line: { color: colorAt(i), width: 2 } };
    return [
      { ...common, y: s.points.map((p) => p.mse), ...axes[0] },
      { ...common, y: s.points.map((p) => p.mse * Math.exp(-p.logSnr)), ...axes[1], showlegend: false },
    ];
  });
  return new Figure(data, { ...layout, title: { text: title }, margin: { t: 50, r: 20, b: 50, l: 60 } });
}
