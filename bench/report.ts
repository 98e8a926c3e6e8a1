/**
 * What `npm run bench` (bench/train.ts) reports, from the per-setting results its child processes print: per side
 * (PyTorch, `nativecpu`) and thread count, the median and the min-max of tokens/s and ms/step over the repeats,
 * the machine's sgemm rate measured in that same process, the model FLOP utilisation (model FLOPs per step, from
 * src/baseline/flops.ts, over the step time, over that sgemm rate), sampling images/s and ms per image, and peak
 * resident memory; then the ratios of issue #17: each side's best setting against the other's, and 1 thread
 * against 1 thread. Pure functions, so the table and the JSON line can be checked without timing anything.
 */

/** Which implementation a setting ran. */
export type Side = 'pytorch' | 'nativecpu';

/** Sampling timings of one setting: `batch_ms[r]` is repeat r's wall time for the whole batch of `images`. */
export interface SamplingResult {
  readonly images: number;
  readonly steps: number;
  readonly guidance: number;
  readonly batch_ms: readonly number[];
}

/** The JSON line one child prints (bench/torch_reference.py for PyTorch, bench/train.ts's child for the lab). */
export interface ChildResult {
  readonly side: Side;
  /** 'pytorch-<version>', or the lab's engine line ('nativecpu on CPU (...)'). */
  readonly impl: string;
  readonly threads: number;
  readonly params: number;
  readonly seq: number;
  readonly batch: number;
  /** Timed training steps per repeat. */
  readonly steps: number;
  /** Mean ms per training step of each repeat. */
  readonly step_ms: readonly number[];
  /** The best rate of an n x n x n float32 matmul in this process, GFLOP/s. */
  readonly sgemm: { readonly n: number; readonly gflops: number };
  /** Peak resident set after training, and at the end (sampling and sgemm included), MB. */
  readonly peak_rss_train_mb: number;
  readonly peak_rss_mb: number;
  readonly sampling: SamplingResult | null;
  /** Lab only: tensors alive after the timed steps minus before (0 unless a step leaks). */
  readonly tensor_drift?: number;
}

/** One setting's outcome: its result, or why it has none. */
export type Outcome =
  | { readonly side: Side; readonly threads: number; readonly result: ChildResult }
  | { readonly side: Side; readonly threads: number; readonly skipped: string };

/** A median with the smallest and largest value. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

/** One row of the table. */
export interface SettingSummary {
  readonly side: Side;
  readonly threads: number;
  readonly skipped?: string;
  readonly impl?: string;
  /** The model's parameter count on this side (the two models are the same configuration). */
  readonly params?: number;
  readonly repeats?: number;
  readonly tokens_per_s?: Spread;
  readonly step_ms?: Spread;
  readonly sgemm_gflops?: number;
  /** Model FLOPs per second at the median step time, GFLOP/s. */
  readonly model_gflops?: number;
  /** model_gflops / sgemm_gflops. */
  readonly mfu?: number;
  readonly sample_images_per_s?: Spread;
  readonly sample_ms_per_image?: Spread;
  readonly peak_rss_train_mb?: number;
  readonly peak_rss_mb?: number;
  readonly tensor_drift?: number;
}

/** The ratios of issue #17 (nativecpu over PyTorch; > 1 means the lab is faster), null where a side is missing. */
export interface Ratios {
  readonly train_best: number | null;
  readonly train_1thread: number | null;
  readonly sample_best: number | null;
  readonly sample_1thread: number | null;
}

/** Each side's best setting by median: threads and rate. */
export interface Best {
  readonly train: { readonly threads: number; readonly tokens_per_s: number } | null;
  readonly sample: { readonly threads: number; readonly images_per_s: number } | null;
}

export interface BenchReport {
  readonly settings: readonly SettingSummary[];
  readonly best: Record<Side, Best>;
  readonly ratio: Ratios;
}

/** Median (mean of the middle two for an even count), min and max; throws on no values. */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new Error('spread: no values');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1] };
}

const round = (x: number, digits: number): number => +x.toFixed(digits);
const roundSpread = (s: Spread, digits: number): Spread => ({ median: round(s.median, digits), min: round(s.min, digits), max: round(s.max, digits) });

/** One setting's row: rates per repeat, then their spread; MFU at the median step time. */
export function summarise(outcome: Outcome, flopsPerStep: number): SettingSummary {
  if ('skipped' in outcome) return { side: outcome.side, threads: outcome.threads, skipped: outcome.skipped };
  const r = outcome.result;
  const tokens = r.batch * r.seq;
  const stepMs = spread(r.step_ms);
  const modelGflops = flopsPerStep / (stepMs.median / 1000) / 1e9;
  const s = r.sampling;
  return {
    side: r.side,
    threads: r.threads,
    impl: r.impl,
    params: r.params,
    repeats: r.step_ms.length,
    tokens_per_s: roundSpread(spread(r.step_ms.map((ms) => (tokens * 1000) / ms)), 1),
    step_ms: roundSpread(stepMs, 1),
    sgemm_gflops: round(r.sgemm.gflops, 1),
    model_gflops: round(modelGflops, 2),
    mfu: round(modelGflops / r.sgemm.gflops, 4),
    ...(s && s.batch_ms.length
      ? {
        sample_images_per_s: roundSpread(spread(s.batch_ms.map((ms) => (s.images * 1000) / ms)), 3),
        sample_ms_per_image: roundSpread(spread(s.batch_ms.map((ms) => ms / s.images)), 1),
      }
      : {}),
    peak_rss_train_mb: r.peak_rss_train_mb,
    peak_rss_mb: r.peak_rss_mb,
    ...(r.tensor_drift === undefined ? {} : { tensor_drift: r.tensor_drift }),
  };
}

function bestOf(rows: readonly SettingSummary[], side: Side): Best {
  const mine = rows.filter((r) => r.side === side && !r.skipped);
  const train = mine.filter((r) => r.tokens_per_s).reduce<SettingSummary | null>((b, r) => (!b || r.tokens_per_s!.median > b.tokens_per_s!.median ? r : b), null);
  const sample = mine.filter((r) => r.sample_images_per_s).reduce<SettingSummary | null>((b, r) => (!b || r.sample_images_per_s!.median > b.sample_images_per_s!.median ? r : b), null);
  return {
    train: train ? { threads: train.threads, tokens_per_s: train.tokens_per_s!.median } : null,
    sample: sample ? { threads: sample.threads, images_per_s: sample.sample_images_per_s!.median } : null,
  };
}

function ratio(lab: number | undefined, torch: number | undefined): number | null {
  return lab === undefined || torch === undefined ? null : round(lab / torch, 3);
}

/** The rows, each side's best setting, and the ratios best vs best and 1 thread vs 1 thread. */
export function buildReport(outcomes: readonly Outcome[], flopsPerStep: number): BenchReport {
  const settings = outcomes.map((o) => summarise(o, flopsPerStep));
  const best = { pytorch: bestOf(settings, 'pytorch'), nativecpu: bestOf(settings, 'nativecpu') };
  const one = (side: Side) => settings.find((r) => r.side === side && r.threads === 1 && !r.skipped);
  return {
    settings,
    best,
    ratio: {
      train_best: ratio(best.nativecpu.train?.tokens_per_s, best.pytorch.train?.tokens_per_s),
      train_1thread: ratio(one('nativecpu')?.tokens_per_s?.median, one('pytorch')?.tokens_per_s?.median),
      sample_best: ratio(best.nativecpu.sample?.images_per_s, best.pytorch.sample?.images_per_s),
      sample_1thread: ratio(one('nativecpu')?.sample_images_per_s?.median, one('pytorch')?.sample_images_per_s?.median),
    },
  };
}

/** The table's columns, in order (the test checks the header against this). */
export const TABLE_COLUMNS = [
  'side', 'threads', 'tokens/s median (min-max)', 'ms/step median (min-max)', 'sgemm GFLOP/s', 'model GFLOP/s', 'MFU',
  'images/s median (min-max)', 'ms/image median', 'peak RSS train / all (MB)',
] as const;

const fmt = (x: number): string => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2));
const fmtSpread = (s: Spread | undefined): string => (s ? `${fmt(s.median)} (${fmt(s.min)}-${fmt(s.max)})` : '-');

/** A Markdown table, one row per setting (a skipped one says why), then the best settings and the ratios. */
export function formatReport(report: BenchReport): string {
  const lines = [`| ${TABLE_COLUMNS.join(' | ')} |`, `|${TABLE_COLUMNS.map(() => ' --- ').join('|')}|`];
  for (const r of report.settings) {
    const cells = r.skipped
      ? [r.side, String(r.threads), `skipped: ${r.skipped}`, ...TABLE_COLUMNS.slice(3).map(() => '-')]
      : [r.side, String(r.threads), fmtSpread(r.tokens_per_s), fmtSpread(r.step_ms), fmt(r.sgemm_gflops!), fmt(r.model_gflops!),
        `${(r.mfu! * 100).toFixed(1)}%`, fmtSpread(r.sample_images_per_s), r.sample_ms_per_image ? fmt(r.sample_ms_per_image.median) : '-',
        `${r.peak_rss_train_mb} / ${r.peak_rss_mb}`];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  const bestLine = (side: Side): string => {
    const b = report.best[side];
    const train = b.train ? `training ${fmt(b.train.tokens_per_s)} tokens/s at ${b.train.threads} thread(s)` : 'training: none';
    const sample = b.sample ? `sampling ${fmt(b.sample.images_per_s)} images/s at ${b.sample.threads} thread(s)` : 'sampling: none';
    return `best ${side}: ${train}; ${sample}`;
  };
  const r = report.ratio;
  const x = (v: number | null): string => (v === null ? 'n/a' : `${v.toFixed(3)}x`);
  lines.push('', bestLine('pytorch'), bestLine('nativecpu'),
    `ratio nativecpu / pytorch, training: best vs best ${x(r.train_best)}; 1 thread vs 1 thread ${x(r.train_1thread)}`,
    `ratio nativecpu / pytorch, sampling: best vs best ${x(r.sample_best)}; 1 thread vs 1 thread ${x(r.sample_1thread)}`);
  return lines.join('\n');
}
