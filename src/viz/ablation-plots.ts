/**
 * Ablation plots: arms of an ablation side by side, one panel per metric (metrics differ in scale: a
 * perplexity next to an FID), each arm in the same colour in every panel.
 */
import { ConfigError, check, mergeConfig, type DeepPartial } from '../config';
import { Figure } from './figure';
import { DEFAULT_MAX_POINTS, checkMaxPoints, seriesKeys, seriesOf, smoothedTraces, type HistoryRow } from './loss-curves';
import { colorAt, panelGrid } from './subplots';

/** One measured number: arm 'causal', metric 'val loss', value 2.31 (std: spread over seeds, if known). */
export interface AblationRow {
  readonly arm: string;
  readonly metric: string;
  readonly value: number;
  readonly std?: number;
}

/** Per (metric, arm): the mean, its spread, and how many rows (seeds) went into it. */
export interface AblationCell {
  readonly arm: string;
  readonly metric: string;
  readonly mean: number;
  /** The row's `std` for one row; the sample standard deviation over rows for several (seeds). */
  readonly std: number | undefined;
  readonly n: number;
}

function firstSeen(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** Group rows by (metric, arm); repeated rows are seeds, summarised by mean and sample std. */
export function summariseAblation(rows: readonly AblationRow[]): AblationCell[] {
  const groups = new Map<string, AblationRow[]>();
  rows.forEach((row, i) => {
    if (typeof row.value !== 'number') throw new ConfigError(`rows[${i}].value`, row.value, 'a number');
    const key = JSON.stringify([row.metric, row.arm]);
    groups.set(key, [...(groups.get(key) ?? []), row]);
  });
  return [...groups.values()].map((group) => {
    const { arm, metric } = group[0];
    const n = group.length;
    const mean = group.reduce((sum, r) => sum + r.value, 0) / n;
    const std = n === 1
      ? group[0].std
      : Math.sqrt(group.reduce((sum, r) => sum + (r.value - mean) ** 2, 0) / (n - 1));
    return { arm, metric, mean, std, n };
  });
}

export interface AblationBarsOptions {
  /** Figure title. Default 'Ablation'. */
  readonly title: string;
  /** Panels per row. Default 3. */
  readonly columns: number;
}

export const DEFAULT_ABLATION_BARS: AblationBarsOptions = { title: 'Ablation', columns: 3 };

/** Bars per arm, one panel per metric, error bars where a std is known (given, or from repeated seeds). */
export function ablationBars(rows: readonly AblationRow[], options?: DeepPartial<AblationBarsOptions>): Figure {
  const opts = mergeConfig(DEFAULT_ABLATION_BARS, options, 'ablationBars');
  check.positiveInt('ablationBars.columns', opts.columns);
  if (rows.length === 0) throw new ConfigError('ablationBars.rows', rows, 'at least one row');
  const cells = summariseAblation(rows);
  const arms = firstSeen(rows.map((r) => r.arm));
  const metrics = firstSeen(rows.map((r) => r.metric));
  const { axes, layout } = panelGrid(metrics.map((m) => ({ y: m })), opts.columns);
  const data = metrics.map((metric, p) => {
    const mine = arms.flatMap((arm) => cells.filter((c) => c.metric === metric && c.arm === arm));
    const hasStd = mine.some((c) => c.std !== undefined);
    return {
      type: 'bar',
      name: metric,
      x: mine.map((c) => c.arm),
      y: mine.map((c) => c.mean),
      marker: { color: mine.map((c) => colorAt(arms.indexOf(c.arm))) },
      // null: no error bar for an arm without a known spread (0 would draw a misleading flat cap).
      error_y: { type: 'data', array: mine.map((c) => c.std ?? null), visible: hasStd },
      text: mine.map((c) => `${c.arm}: ${c.mean.toPrecision(4)}${c.std === undefined ? '' : ` ± ${c.std.toPrecision(3)}`} (n=${c.n})`),
      hoverinfo: 'text',
      textposition: 'none',
      showlegend: false,
      ...axes[p],
    };
  });
  return new Figure(data, { ...layout, title: { text: opts.title }, bargap: 0.3, margin: { t: 50, r: 20, b: 60, l: 60 } });
}

/** One arm's training history; several runs may share an arm (seeds), drawn in the same colour. */
export interface AblationRun {
  readonly arm: string;
  readonly history: readonly HistoryRow[];
}

export interface AblationCurvesOptions {
  /** Which logged keys get a panel; empty = every key the runs logged. Default []. */
  readonly metrics: readonly string[];
  /** EMA smoothing as in lossCurves. Default 0.6. */
  readonly smoothing: number;
  /** Log-scale y axes. Default false. */
  readonly logY: boolean;
  /** Figure title. Default 'Ablation: training curves'. */
  readonly title: string;
  /** Panels per row. Default 2. */
  readonly columns: number;
  /** Most points drawn per trace (src/viz/loss-curves.ts, `decimate`). Default DEFAULT_MAX_POINTS. */
  readonly maxPoints: number;
}

export const DEFAULT_ABLATION_CURVES: AblationCurvesOptions = {
  metrics: [], smoothing: 0.6, logY: false, title: 'Ablation: training curves', columns: 2, maxPoints: DEFAULT_MAX_POINTS,
};

/** Curves against step per arm, one panel per metric; the legend lists each arm once. */
export function ablationCurves(runs: readonly AblationRun[], options?: DeepPartial<AblationCurvesOptions>): Figure {
  const opts = mergeConfig(DEFAULT_ABLATION_CURVES, options, 'ablationCurves');
  check.inRange('ablationCurves.smoothing', opts.smoothing, 0, 0.999999);
  check.positiveInt('ablationCurves.columns', opts.columns);
  checkMaxPoints('ablationCurves.maxPoints', opts.maxPoints);
  if (runs.length === 0) throw new ConfigError('ablationCurves.runs', runs, 'at least one run');
  const logged = firstSeen(runs.flatMap((r) => seriesKeys(r.history)));
  const metrics = opts.metrics.length > 0 ? [...opts.metrics] : logged;
  for (const m of metrics) {
    if (!logged.includes(m)) throw new ConfigError('ablationCurves.metrics', m, `a logged key: ${logged.join(', ') || '(no run logged anything)'}`);
  }
  const arms = firstSeen(runs.map((r) => r.arm));
  const yType = opts.logY ? 'log' : 'linear';
  const { axes, layout } = panelGrid(metrics.map((m) => ({ x: 'step', y: m, yAxis: { type: yType } })), opts.columns);
  const legendShown = new Set<string>();
  const data = metrics.flatMap((metric, p) =>
    runs.flatMap((run) => {
      const { steps, values } = seriesOf(run.history, metric);
      if (steps.length === 0) return [];
      const showLegend = !legendShown.has(run.arm);
      legendShown.add(run.arm);
      return smoothedTraces(run.arm, steps, values, opts.smoothing, colorAt(arms.indexOf(run.arm)), axes[p], showLegend, opts.maxPoints);
    }),
  );
  return new Figure(data, { ...layout, title: { text: opts.title }, margin: { t: 50, r: 20, b: 50, l: 60 } });
}
