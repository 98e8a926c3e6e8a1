/**
 * Comparing runs: one table row per run (what its arm set, which model it trained, its final losses, its
 * evaluation) and the standard figures of an ablation: training curves per arm (ablationCurves) and bars per
 * metric (ablationBars, with error bars over seeds). Runs of both model kinds (Transfusion and the Chameleon
 * baseline, src/experiments/experiment-config.ts) compare side by side: their evaluation rows are the same
 * scorer's, and their training losses, which measure different things, are named so.
 */
import * as aq from 'arquero';
import { ConfigError, check, mergeConfig, type DeepPartial } from '../config';
import { ablationBars, ablationCurves, type AblationRow } from '../viz/ablation-plots';
import type { Figure } from '../viz/figure';
import type { HistoryRow } from '../viz/loss-curves';
import { loadRun, runDirs, type LoadedRun } from './load-run';
import { rowsTable } from './run-record';
import { canonicalJson } from './atomic';
import { readPath } from './dotted-path';

/** The losses a run logs per step, in the order tables and figures show them. */
export const LOSS_KEYS = ['loss', 'lm', 'diffusion'] as const;

/**
 * The Chameleon baseline's loss terms (src/baseline/chameleon.ts: cross-entropy on text and on image-code
 * targets), shown after LOSS_KEYS where a run logged them.
 */
export const BASELINE_LOSS_KEYS = ['text', 'image'] as const;

/** Every loss key some run of `runs` logged, in table order. */
export function loggedLossKeys(runs: readonly Pick<LoadedRun, 'history'>[]): string[] {
  return [...LOSS_KEYS, ...BASELINE_LOSS_KEYS].filter((k) => runs.some((run) => run.history.some((row) => typeof row[k] === 'number')));
}

/**
 * Fields of an evaluation row that describe how it was taken rather than how good the model is
 * (src/eval's EvalRow: sample count, sampler steps, guidance scale, wall time; a rescore's time): shown in the
 * table, not drawn.
 */
export const EVAL_SETTINGS: readonly string[] = ['trainStep', 'rescoredAt', 'n', 'steps', 'sampler', 'guidance', 'seconds', 'seed'];

/** Prefix of evaluation columns in the comparison table (`eval.fid`), apart from the run's own columns. */
export const EVAL_PREFIX = 'eval.';

export interface CompareOptions {
  /** Final losses are the mean over this many last steps (default 10): one diffusion step's loss is noise. */
  readonly window: number;
}

export const DEFAULT_COMPARE: CompareOptions = { window: 10 };

/** Run folders given as one folder (a run, a sweep, a folder of runs) or a list of run folders. */
export type RunsInput = string | readonly string[];

function loadAll(input: RunsInput): LoadedRun[] {
  const dirs = typeof input === 'string' ? runDirs(input) : input.flatMap((d) => runDirs(d));
  return dirs.map(loadRun);
}

function meanOfLast(history: readonly Readonly<Record<string, number | null>>[], key: string, window: number): number | null {
  const values = history.slice(-window).map((r) => r[key]).filter((v): v is number => typeof v === 'number');
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

type LossKey = (typeof LOSS_KEYS)[number];

/**
 * The model config fields that change what a logged training loss measures, by loss. The diffusion loss is
 * weighted by w(t), drawn at the objective's timesteps, in its target's space, on its schedule's noise, in its
 * latent space; the total adds lambda times it. The LM loss means the same in every Transfusion arm.
 */
export const LOSS_MEANING_FIELDS: Readonly<Record<LossKey, readonly string[]>> = {
  loss: ['modelKind', 'objective.lambda', 'objective.weighting', 'objective.prediction', 'objective.schedule', 'objective.timesteps', 'objective.noiseLimit', 'objective.noiseLimitTMax', 'net.latent'],
  lm: [],
  diffusion: ['objective.weighting', 'objective.prediction', 'objective.schedule', 'objective.timesteps', 'objective.noiseLimit', 'objective.noiseLimitTMax', 'net.latent'],
};

/** A model field of the run's config, read by the dotted path a sweep uses; null where the model has no such field. */
function modelField(run: LoadedRun, path: string): unknown {
  // Records from before the field read as what they are, Transfusion runs.
  if (path === 'modelKind') return run.modelKind;
  try {
    return readPath(run.config, path) ?? null;
  } catch (e) {
    // A model of another kind (the discrete baseline has no `objective`): the field is absent, which differs.
    if (e instanceof ConfigError) return null;
    throw e;
  }
}

/**
 * For each training loss whose meaning differs across `runs`, the model fields that differ (see
 * LOSS_MEANING_FIELDS): such a loss is not comparable between the arms, e.g. the diffusion loss of a min-SNR arm
 * against a constant-weighting one. Compare held-out, unweighted metrics instead (src/eval's `diffusion_mse`).
 */
export function incomparableLosses(runs: readonly LoadedRun[]): Partial<Record<LossKey, string[]>> {
  const out: Partial<Record<LossKey, string[]>> = {};
  for (const key of LOSS_KEYS) {
    const differ = LOSS_MEANING_FIELDS[key].filter((field) => new Set(runs.map((r) => canonicalJson(modelField(r, field)))).size > 1);
    if (differ.length > 0) out[key] = differ.map((f) => f.replace(/^objective\./, ''));
  }
  return out;
}

/** How a training loss is named in figures: as logged, or with why it does not compare across these arms. */
function lossLabel(key: LossKey, incomparable: Partial<Record<LossKey, string[]>>): string {
  const why = incomparable[key];
  return why ? `${key} (not comparable: ${why.join(', ')} ${why.length === 1 ? 'differs' : 'differ'})` : key;
}

/** The label a run is grouped under: its sweep arm, or its own name. */
export function armOf(run: LoadedRun): string {
  return run.record.arm?.label ?? run.record.name;
}

/**
 * One row per run: `run`, `arm`, `model` (its kind), `seed`, `status`, `steps`, each swept field (by dotted
 * path), the final `loss`, `lm`, `diffusion` (and the baseline's `text`, `image` where a run logged them),
 * `seconds`, the last evaluation's fields as `eval.<name>`, and `dir`.
 */
export function compareRuns(input: RunsInput, options?: DeepPartial<CompareOptions>): aq.ColumnTable {
  const opts = mergeConfig(DEFAULT_COMPARE, options, 'compareRuns');
  check.positiveInt('compareRuns.window', opts.window);
  const runs = loadAll(input);
  const lossKeys = [...LOSS_KEYS, ...loggedLossKeys(runs).filter((k) => !(LOSS_KEYS as readonly string[]).includes(k))];
  const rows = runs.map((run) => {
    const r = run.record;
    const swept = Object.fromEntries(Object.entries(r.arm?.values ?? {}).map(([k, v]) => [k, typeof v === 'object' && v !== null ? JSON.stringify(v) : v]));
    const losses = Object.fromEntries(lossKeys.map((k) => [k, meanOfLast(run.history, k, opts.window)]));
    const last = run.evals[run.evals.length - 1] ?? {};
    const evals = Object.fromEntries(Object.entries(last).map(([k, v]) => [EVAL_PREFIX + k, v]));
    return { run: r.name, arm: armOf(run), model: run.modelKind, seed: r.seed, status: r.status, steps: r.steps, ...swept, ...losses, seconds: r.seconds, ...evals, dir: run.dir };
  });
  return rowsTable(rows);
}

export interface ComparisonPlotsOptions {
  /** Smoothing of the training curves (as lossCurves; default 0.6). */
  readonly smoothing: number;
  /** Final-loss window of the bars (default 10, as compareRuns). */
  readonly window: number;
}

export const DEFAULT_COMPARISON_PLOTS: ComparisonPlotsOptions = { smoothing: 0.6, window: 10 };

export interface ComparisonFigures {
  /**
   * Loss, LM and diffusion curves against step, one colour per arm (seeds of an arm share it); null when no run
   * logged a step. A loss whose meaning differs across the arms is named with the fields that differ
   * (`incomparableLosses`), here and in the bars.
   */
  readonly curves: Figure | null;
  /**
   * Final losses and every numeric evaluation metric, one panel each, one bar per arm (mean ± std over seeds);
   * null when there is nothing to draw.
   */
  readonly bars: Figure | null;
}

/** The standard figures of a comparison; takes what compareRuns takes, or its table (read through `dir`). */
export function comparisonPlots(input: RunsInput | aq.ColumnTable, options?: DeepPartial<ComparisonPlotsOptions>): ComparisonFigures {
  const opts = mergeConfig(DEFAULT_COMPARISON_PLOTS, options, 'comparisonPlots');
  check.positiveInt('comparisonPlots.window', opts.window);
  const dirs = typeof input === 'string' || Array.isArray(input) ? input as RunsInput : ((input as aq.ColumnTable).array('dir') as string[]);
  const runs = loadAll(dirs);
  const logged = loggedLossKeys(runs);
  const incomparable = incomparableLosses(runs);
  const label = (k: string) => ((LOSS_KEYS as readonly string[]).includes(k) ? lossLabel(k as LossKey, incomparable) : k);
  const relabel = (row: Readonly<Record<string, unknown>>): HistoryRow =>
    Object.fromEntries(Object.entries(row).map(([k, v]) => [logged.includes(k) ? label(k) : k, v])) as unknown as HistoryRow;
  const curves = logged.length === 0 ? null : ablationCurves(
    runs.map((run) => ({ arm: armOf(run), history: run.history.map(relabel) })),
    { metrics: logged.map(label), smoothing: opts.smoothing, title: 'Training losses per arm' },
  );
  const barRows: AblationRow[] = runs.flatMap((run) => {
    const arm = armOf(run);
    const losses = logged.flatMap((k) => {
      const value = meanOfLast(run.history, k, opts.window);
      return value === null ? [] : [{ arm, metric: `final ${label(k)}`, value }];
    });
    const last = run.evals[run.evals.length - 1] ?? {};
    const metrics = Object.entries(last)
      .filter(([k, v]) => typeof v === 'number' && Number.isFinite(v) && !EVAL_SETTINGS.includes(k))
      .map(([metric, value]) => ({ arm, metric, value: value as number }));
    return [...losses, ...metrics];
  });
  const bars = barRows.length === 0 ? null : ablationBars(barRows, { title: `Final losses (mean of the last ${opts.window} steps) and evaluation` });
  return { curves, bars };
}
