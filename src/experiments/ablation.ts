/**
 * What an ablation's runs say, arm by arm and against a reference arm: the research notebooks' results tables,
 * verdicts and conclusion sentences, computed in one place (issue #12, "Research results").
 *
 *   const result = ablationSummary(sweep.dir, { metrics: ['heldout_lm', 't2i_accuracy', 'fid'], reference: 'lambda=5' });
 *   result;              // a cell's value: the per-arm table and the paired table against the reference
 *   result.table;        // the same numbers as an arquero table, one row per (arm, metric)
 *   result.sentences;    // one sentence per (arm, metric) against the reference, verdict included
 *
 * Per arm and metric: mean, standard deviation and the 95% interval over seeds (`summarize`, stats.ts). Against the
 * reference: the paired difference over the seeds both arms trained (`pairedComparison`: pairing removes what the
 * seed does to both arms, data order, initialisation and noise) and its verdict, "better", "worse" or "not
 * distinguishable at n seeds" (`verdictOf`: the interval of the difference lies wholly on one side of zero or not).
 */
import { readFileSync } from 'node:fs';
import * as aq from 'arquero';
import { ConfigError } from '../config';
import { ablationBars, type AblationRow } from '../viz/ablation-plots';
import type { Figure } from '../viz/figure';
import { escapeHtml } from '../viz/html';
import type { HasMimeBundle, MimeBundle } from '../viz/mime';
import { table as tableView } from '../viz/table';
import { compareRuns, EVAL_PREFIX, type RunsInput } from './compare';
import { loadRun } from './load-run';
import { pairedComparison, summarize, type PairedComparison, type Summary } from './stats';

export type Better = 'higher' | 'lower';

/** A metric of the runs' table (an evaluation field or a run column) and which way is better. */
export interface AblationMetric {
  readonly key: string;
  readonly better: Better;
}

/**
 * Which way is better for the numbers the lab records: src/eval's evaluation row, `heldoutLosses` (heldout.ts) and
 * the final training losses of compareRuns. A metric not listed here is given as `{ key, better }`.
 */
export const METRIC_DIRECTIONS: Readonly<Record<string, Better>> = {
  t2i_accuracy: 'higher',
  caption_accuracy: 'higher',
  fid: 'lower',
  perplexity: 'lower',
  diffusion_mse: 'lower',
  heldout_lm: 'lower',
  heldout_diffusion: 'lower',
  loss: 'lower',
  lm: 'lower',
  diffusion: 'lower',
  text: 'lower',
  image: 'lower',
};

export interface AblationSummaryOptions {
  /** The metrics, by name (METRIC_DIRECTIONS says which way is better) or as `{ key, better }`. */
  readonly metrics: readonly (string | AblationMetric)[];
  /**
   * Which arms, in which order, under which names: a list of arm labels, or labels to the names shown
   * (`{ 'lambda=5': 'constant', 'weighting=min-snr': 'min-snr' }`). Default: every arm, in the runs' order.
   */
  readonly arms?: readonly string[] | Readonly<Record<string, string>>;
  /** The arm every other is compared with, by its shown name (default: the first arm). */
  readonly reference?: string;
}

/** One arm's values of one metric, by seed, and their summary over seeds. */
export interface ArmCell {
  readonly arm: string;
  readonly metric: string;
  /** Finite values by seed; a run without the value (or a non-finite one) is counted in `summary.missing`. */
  readonly values: Readonly<Record<number, number>>;
  readonly summary: Summary;
}

/** One arm against another on one metric, paired by seed. */
export interface ArmComparison {
  readonly arm: string;
  readonly against: string;
  readonly metric: string;
  readonly better: Better;
  /** Differences arm - against per shared seed, their summary and the verdict ("better": `arm` is better). */
  readonly comparison: PairedComparison;
  /** Seeds on which `arm` did better than `against`. */
  readonly ahead: number;
}

/**
 * Numbers as a results table reads them: 3 significant digits, whole numbers from 1000 up (an FID of 183), and a
 * difference of equal floats that summing left at 1e-17 as 0.
 */
export function formatNumber(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return 'n/a';
  if (Math.abs(x) < 1e-12) return '0';
  return Math.abs(x) >= 1000 ? x.toFixed(0) : String(Number(x.toPrecision(3)));
}

const signed = (x: number) => `${x > 0 ? '+' : ''}${formatNumber(x)}`;

/** "0.912 ± 0.021": mean ± standard deviation over seeds ("0.912" for one seed). */
export function formatSpread(s: Summary): string {
  if (s.mean === null) return 'n/a';
  return s.std === null ? formatNumber(s.mean) : `${formatNumber(s.mean)} ± ${formatNumber(s.std)}`;
}

export class AblationSummary implements HasMimeBundle {
  /** Every (arm, metric) pair, arms in order, metrics in order within an arm. */
  readonly cells: readonly ArmCell[];
  /** Every arm but the reference against the reference, per metric. */
  readonly comparisons: readonly ArmComparison[];

  constructor(
    /** Arm names as shown, in order. */
    readonly arms: readonly string[],
    readonly metrics: readonly AblationMetric[],
    readonly reference: string,
    /** Metric -> arm -> seed -> value (null where the run has no finite value). */
    private readonly values: ReadonlyMap<string, ReadonlyMap<string, ReadonlyMap<number, number | null>>>,
    /** Arm -> seed -> run folder. */
    private readonly dirs: ReadonlyMap<string, ReadonlyMap<number, string>> = new Map(),
  ) {
    this.cells = arms.flatMap((arm) => metrics.map((m) => this.cell(arm, m.key)));
    this.comparisons = arms.filter((a) => a !== reference).flatMap((arm) => metrics.map((m) => this.compare(arm, reference, m.key)));
  }

  private metric(key: string): AblationMetric {
    const metric = this.metrics.find((m) => m.key === key);
    if (!metric) throw new ConfigError('ablationSummary metric', key, this.metrics.map((m) => `'${m.key}'`).join(', '));
    return metric;
  }

  private seedsOf(arm: string, key: string): ReadonlyMap<number, number | null> {
    this.metric(key);
    const bySeed = this.values.get(key)!.get(arm);
    if (!bySeed) throw new ConfigError('ablationSummary arm', arm, this.arms.map((a) => `'${a}'`).join(', '));
    return bySeed;
  }

  /** The run folders of one arm, by seed (empty when the summary was given a table without `dir`). */
  runsOf(arm: string): string[] {
    if (!this.arms.includes(arm)) throw new ConfigError('ablationSummary arm', arm, this.arms.map((a) => `'${a}'`).join(', '));
    return [...(this.dirs.get(arm) ?? new Map<number, string>())].sort((a, b) => a[0] - b[0]).map(([, dir]) => dir);
  }

  /** One arm's values of one metric and their mean, spread and 95% interval over seeds. */
  cell(arm: string, metric: string): ArmCell {
    const bySeed = this.seedsOf(arm, metric);
    const values = Object.fromEntries([...bySeed].filter((e): e is [number, number] => e[1] !== null));
    return { arm, metric, values, summary: summarize([...bySeed.values()]) };
  }

  /** `arm` against `against` on `metric`, paired by seed (any two arms, not only against the reference). */
  compare(arm: string, against: string, metric: string): ArmComparison {
    const { better } = this.metric(metric);
    const a = this.cell(against, metric).values;
    const b = this.cell(arm, metric).values;
    const comparison = pairedComparison(a, b, better === 'higher');
    const ahead = comparison.differences.filter((d) => (better === 'higher' ? d > 0 : d < 0)).length;
    return { arm, against, metric, better, comparison, ahead };
  }

  /**
   * The comparison in one sentence, e.g. "lambda=20 against lambda=5, heldout_lm (lower is better): 2.41 ± 0.02
   * against 2.35 ± 0.03; paired difference +0.06 (95% interval +0.01 to +0.11), ahead in 0 of 3 seeds: worse."
   */
  sentence(c: ArmComparison): string {
    const { summary, verdict, differences } = c.comparison;
    const n = differences.length;
    const means = `${formatSpread(this.cell(c.arm, c.metric).summary)} against ${formatSpread(this.cell(c.against, c.metric).summary)}`;
    const difference = summary.mean === null
      ? 'no seed in common'
      : `paired difference ${signed(summary.mean)} (${summary.ci95 ? `95% interval ${signed(summary.ci95[0])} to ${signed(summary.ci95[1])}` : 'one seed, no interval'}), ` +
        `${c.arm} ahead in ${c.ahead} of ${n} seed${n === 1 ? '' : 's'}`;
    return `${c.arm} against ${c.against}, ${c.metric} (${c.better} is better): ${means}; ${difference}: ${verdict}.`;
  }

  /** One sentence per comparison with the reference, in `comparisons`' order; `metrics` picks some. */
  sentencesFor(metrics: readonly string[] = this.metrics.map((m) => m.key)): string[] {
    metrics.forEach((m) => this.metric(m));
    return this.comparisons.filter((c) => metrics.includes(c.metric)).map((c) => this.sentence(c));
  }

  get sentences(): string[] {
    return this.sentencesFor();
  }

  /**
   * One row per (arm, metric): `arm`, `metric`, `better`, `seeds`, `mean`, `std`, `ci_low`, `ci_high`, and against
   * the reference (null on its own rows) `difference`, `difference_low`, `difference_high`, `ahead`, `verdict`.
   */
  get table(): aq.ColumnTable {
    const rows = this.cells.map((cell) => {
      const s = cell.summary;
      const c = this.comparisons.find((x) => x.arm === cell.arm && x.metric === cell.metric);
      const d = c?.comparison.summary;
      return {
        arm: cell.arm, metric: cell.metric, better: this.metric(cell.metric).better, seeds: s.n,
        mean: s.mean, std: s.std, ci_low: s.ci95?.[0] ?? null, ci_high: s.ci95?.[1] ?? null,
        difference: d?.mean ?? null, difference_low: d?.ci95?.[0] ?? null, difference_high: d?.ci95?.[1] ?? null,
        ahead: c?.ahead ?? null, verdict: c?.comparison.verdict ?? null,
      };
    });
    return aq.from(rows);
  }

  /** One row per arm: its seeds and, per metric, "mean ± std" over seeds. */
  get spreadTable(): aq.ColumnTable {
    return aq.from(this.arms.map((arm) => ({
      arm,
      seeds: Math.max(...this.metrics.map((m) => this.cell(arm, m.key).summary.n)),
      ...Object.fromEntries(this.metrics.map((m) => [`${m.key} (${m.better})`, formatSpread(this.cell(arm, m.key).summary)])),
    })));
  }

  /** One row per arm but the reference: per metric, the paired difference, its 95% interval and the verdict. */
  get verdictTable(): aq.ColumnTable {
    return aq.from(this.arms.filter((a) => a !== this.reference).map((arm) => ({
      arm: `${arm} - ${this.reference}`,
      ...Object.fromEntries(this.metrics.map((m) => {
        const { summary, verdict } = this.compare(arm, this.reference, m.key).comparison;
        const interval = summary.ci95 ? ` [${signed(summary.ci95[0])}, ${signed(summary.ci95[1])}]` : '';
        return [m.key, summary.mean === null ? 'n/a' : `${signed(summary.mean)}${interval}: ${verdict}`];
      })),
    })));
  }

  /** Bars per arm, one panel per metric, error bars from the seeds (ablationBars). */
  bars(title = 'Mean ± std over seeds per arm'): Figure {
    const rows: AblationRow[] = this.cells.flatMap((c) => Object.values(c.values).map((value) => ({ arm: c.arm, metric: c.metric, value })));
    if (rows.length === 0) throw new ConfigError('ablationSummary.bars', 'no values', 'at least one finite metric value');
    return ablationBars(rows, { title });
  }

  /** The per-arm table and the paired table against the reference (the sentences are `sentences`). */
  toMimeBundle(): MimeBundle {
    const spread = tableView(this.spreadTable, { maxRows: 100 });
    const paired = tableView(this.verdictTable, { maxRows: 100 });
    const spreadTitle = 'Per arm: mean ± standard deviation over seeds';
    const pairedTitle = `Paired by seed against ${this.reference}: mean difference [95% interval]: verdict`;
    const both = this.arms.length > 1;
    return {
      data: {
        'text/html': `<p><b>${escapeHtml(spreadTitle)}</b></p>${spread.toHtml()}${both ? `<p><b>${escapeHtml(pairedTitle)}</b></p>${paired.toHtml()}` : ''}`,
        'text/plain': [spreadTitle, spread.toText(), ...(both ? [pairedTitle, paired.toText()] : [])].join('\n\n'),
      },
    };
  }
}

/** [label, shown name] per arm, in order, from an `arms` option (a list of labels, or labels to names); default every `found` label. */
function armNames(arms: readonly string[] | Readonly<Record<string, string>> | undefined, found: readonly string[]): [string, string][] {
  if (arms === undefined) return found.map((a) => [a, a]);
  return Array.isArray(arms) ? (arms as string[]).map((a) => [a, a]) : Object.entries(arms);
}

function metricOf(entry: string | AblationMetric, i: number): AblationMetric {
  if (typeof entry === 'string') {
    const better = Object.hasOwn(METRIC_DIRECTIONS, entry) ? METRIC_DIRECTIONS[entry] : undefined;
    if (!better) throw new ConfigError(`ablationSummary.metrics[${i}]`, entry, `a metric of METRIC_DIRECTIONS (${Object.keys(METRIC_DIRECTIONS).join(', ')}) or { key, better: 'higher' | 'lower' }`);
    return { key: entry, better };
  }
  if (typeof entry !== 'object' || entry === null || typeof entry.key !== 'string') throw new ConfigError(`ablationSummary.metrics[${i}]`, entry, "a metric name or { key, better: 'higher' | 'lower' }");
  if (entry.better !== 'higher' && entry.better !== 'lower') throw new ConfigError(`ablationSummary.metrics[${i}].better`, entry.better, "'higher', 'lower'");
  return { key: entry.key, better: entry.better };
}

/**
 * Summarise an ablation's runs: `input` is what compareRuns takes (a sweep folder, a folder of runs, a list of
 * either) or compareRuns' table (with columns of your own added, e.g. a measured time per step). A metric is read
 * from the column `eval.<key>` (the run's last evaluation row), else from the column `<key>`. Runs are grouped by
 * `arm` and paired by `seed`; two runs of one arm with one seed are an error naming both.
 */
export function ablationSummary(input: RunsInput | aq.ColumnTable, options: AblationSummaryOptions): AblationSummary {
  if (typeof options !== 'object' || options === null || !Array.isArray(options.metrics) || options.metrics.length === 0) {
    throw new ConfigError('ablationSummary.metrics', options?.metrics, 'a non-empty list of metrics');
  }
  const metrics = options.metrics.map(metricOf);
  const runs = typeof input === 'string' || Array.isArray(input) ? compareRuns(input as RunsInput) : input as aq.ColumnTable;
  const rows = runs.objects() as Record<string, unknown>[];
  const columns = runs.columnNames();
  const columnOf = metrics.map((m, i) => {
    const column = [EVAL_PREFIX + m.key, m.key].find((c) => columns.includes(c));
    if (!column) throw new ConfigError(`ablationSummary.metrics[${i}]`, m.key, `a column of the runs' table (${columns.filter((c) => c.startsWith(EVAL_PREFIX)).map((c) => c.slice(EVAL_PREFIX.length)).join(', ') || 'no evaluation columns'}; or ${columns.filter((c) => !c.startsWith(EVAL_PREFIX)).join(', ')})`);
    return column;
  });
  const found = [...new Set(rows.map((r) => String(r.arm)))];
  const names = armNames(options.arms, found);
  if (names.length === 0) throw new ConfigError('ablationSummary.arms', options.arms, 'at least one arm');
  for (const [label] of names) {
    if (!found.includes(label)) throw new ConfigError('ablationSummary.arms', label, `an arm of the runs: ${found.map((a) => `'${a}'`).join(', ')}`);
  }
  const shown = names.map(([, name]) => name);
  const reference = options.reference ?? shown[0];
  if (!shown.includes(reference)) throw new ConfigError('ablationSummary.reference', reference, shown.map((a) => `'${a}'`).join(', '));

  const values = new Map(metrics.map((m) => [m.key, new Map(shown.map((a) => [a, new Map<number, number | null>()]))]));
  const where = new Map<string, string>();
  const dirs = new Map(shown.map((a) => [a, new Map<number, string>()]));
  for (const row of rows) {
    const entry = names.find(([label]) => label === String(row.arm));
    if (!entry) continue;
    const seed = Number(row.seed);
    const key = JSON.stringify([entry[1], seed]);
    const dir = String(row.dir ?? row.run ?? '?');
    if (where.has(key)) throw new ConfigError('ablationSummary runs', `${entry[1]}, seed ${seed}`, `one run per arm and seed (found ${where.get(key)} and ${dir})`);
    where.set(key, dir);
    if (typeof row.dir === 'string') dirs.get(entry[1])!.set(seed, row.dir);
    metrics.forEach((m, i) => {
      const v = row[columnOf[i]];
      values.get(m.key)!.get(entry[1])!.set(seed, typeof v === 'number' && Number.isFinite(v) ? v : null);
    });
  }
  return new AblationSummary(shown, metrics, reference, values, dirs);
}

export interface SampleGridsOptions {
  /** Show the runs of this seed (default: every seed's). */
  readonly seed?: number;
  /** Arms and their shown names, as ablationSummary's `arms` (default: every arm under its label). */
  readonly arms?: readonly string[] | Readonly<Record<string, string>>;
}

/**
 * The sample grid each run saved when it finished (samples/*.png, the last by name), one per run under its arm's
 * name: `sampleGrids(sweep.dir, { seed: 0 })` as a cell's value. Runs without a saved grid are left out.
 */
export function sampleGrids(input: RunsInput, options: SampleGridsOptions = {}): HasMimeBundle {
  const runs = compareRuns(input).objects() as Record<string, unknown>[];
  const names = new Map(armNames(options.arms, runs.map((r) => String(r.arm))));
  const shown = runs
    .filter((r) => names.has(String(r.arm)) && (options.seed === undefined || r.seed === options.seed))
    .sort((a, b) => [...names.keys()].indexOf(String(a.arm)) - [...names.keys()].indexOf(String(b.arm)))
    .flatMap((r) => {
      const samples = loadRun(String(r.dir)).samples;
      return samples.length === 0 ? [] : [{ name: `${names.get(String(r.arm))}, seed ${r.seed}`, file: samples[samples.length - 1] }];
    });
  return {
    toMimeBundle: () => ({
      data: {
        'text/html': shown.map((s) => `<div><b>${escapeHtml(s.name)}</b><br><img src="data:image/png;base64,${readFileSync(s.file).toString('base64')}"></div>`).join('') || '<p>no saved sample grids</p>',
        'text/plain': shown.map((s) => `${s.name}: ${s.file}`).join('\n') || 'no saved sample grids',
      },
    }),
  };
}
