/**
 * The record of one training run, a folder anyone can open without the lab:
 *
 *   runs/<name>/run.json                 config, seed, engine, package versions, git commit, times, status
 *   runs/<name>/metrics.csv, .arrow      one row per optimiser step (step, loss, lm, diffusion, lr, gradNorm, ...)
 *   runs/<name>/eval.json, eval.csv      evaluation rows (one per `addEval`)
 *   runs/<name>/samples/*.png            sample grids
 *   runs/<name>/checkpoint.safetensors   weights and optimiser state (written by the checkpoint module)
 *
 * Every file is written atomically (src/experiments/atomic.ts), so a crash leaves the previous complete
 * version. run.json says `running` until `finish`/`fail`: a record still `running` with no live process is a
 * run that crashed, and a sweep reruns it.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as aq from 'arquero';
import { ConfigError, check } from '../config';
import type { StepReport } from '../train/trainer';
import { writeRunFile, writeRunJson } from './atomic';
import { provenance, type Provenance } from './provenance';

export type RunStatus = 'running' | 'finished' | 'interrupted' | 'failed';

/** Marks run.json files this module wrote, with the layout version. */
export const RUN_FORMAT = 'transfusion-lab/run@1';

/** File names inside a run folder. */
export const RUN_FILES = {
  record: 'run.json',
  metricsCsv: 'metrics.csv',
  metricsArrow: 'metrics.arrow',
  evalJson: 'eval.json',
  evalCsv: 'eval.csv',
  samples: 'samples',
  checkpoint: 'checkpoint.safetensors',
  report: 'report.html',
} as const;

/** run.json. */
export interface RunRecord<C = unknown> extends Provenance {
  readonly format: typeof RUN_FORMAT;
  readonly name: string;
  readonly status: RunStatus;
  /** The error message of a failed run (`name: message`), else null. */
  readonly error: string | null;
  /** ISO 8601 times; `endedAt` is null while running. */
  readonly startedAt: string;
  readonly endedAt: string | null;
  /** Wall time from the start (or the last resume) to the end; null while running. */
  readonly seconds: number | null;
  readonly seed: number;
  /** Optimiser steps logged so far. */
  readonly steps: number;
  /** The run's full config (for `trainRun`: an ExperimentConfig), enough to rebuild it. */
  readonly config: C;
  /** For an arm of a sweep: its label and the values it set; null for a single run. */
  readonly arm: ArmInfo | null;
  /** Each time the run went on from a checkpoint: the step it went on from, when, and on which engine. */
  readonly resumed: readonly { readonly step: number; readonly at: string; readonly engine: string | null }[];
}

/** Which arm of a sweep a run is: the label its seeds share ('lambda=0.5') and the values it set, by dotted path. */
export interface ArmInfo {
  readonly label: string;
  readonly values: Readonly<Record<string, unknown>>;
}

/** One metrics.csv row. `lm`/`diffusion` are null where the loss had no such part. */
export type MetricsRow = Readonly<Record<string, number | null>> & { readonly step: number };

/** The first columns of metrics.csv, in order; other loss parts follow in first-seen order. */
export const METRIC_COLUMNS = ['step', 'loss', 'lm', 'diffusion', 'lr', 'gradNorm', 'stepMs', 'tokensPerSec'] as const;

/** One evaluation as eval.json holds it: a flat object of metrics (e.g. src/eval's EvalRow) plus `trainStep`. */
export type RecordedEval = Readonly<Record<string, unknown>>;

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._=,+-]*$/;

/** A run or sample name is one folder/file name: letters, digits and `._=,+-`, not starting with a dot. */
export function checkName(field: string, name: unknown): string {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name) || name.length > 200) {
    throw new ConfigError(field, name, 'a name of letters, digits and . _ = , + - (not starting with . or -, at most 200 characters)');
  }
  return name;
}

/** A metrics row from a trainer's step report; the trainer's 0-based step index is kept as is. */
export function metricsRow(report: StepReport): MetricsRow {
  const { lm, diffusion, ...rest } = report.breakdown;
  return {
    step: report.step,
    loss: report.loss,
    lm: lm ?? null,
    diffusion: diffusion ?? null,
    lr: report.lr,
    gradNorm: report.gradNorm,
    stepMs: report.stepMs,
    tokensPerSec: report.tokensPerSec,
    ...rest,
  };
}

/** Rows as an arquero table with every column present in every row (null where a row lacks it). */
export function rowsTable(rows: readonly Readonly<Record<string, unknown>>[], leading: readonly string[] = []): aq.ColumnTable {
  const names = [...new Set([...leading, ...rows.flatMap((r) => Object.keys(r))])];
  return aq.table(Object.fromEntries(names.map((n) => [n, rows.map((r) => r[n] ?? null)])));
}

export interface RunStartOptions<C = unknown> {
  /** Folder name under `root`. */
  readonly name: string;
  /** Parent folder of the run (default 'runs', relative to the working directory). */
  readonly root?: string;
  /** The run's config; must be JSON-serialisable (it is what rebuilds the run). */
  readonly config: C;
  readonly seed: number;
  /** For an arm of a sweep: its label and values. */
  readonly arm?: ArmInfo;
  /**
   * What to do when `root/name` exists: 'replace' (default) deletes it, so re-running a notebook cell
   * gives a fresh record rather than a mix of two runs; 'error' refuses.
   */
  readonly ifExists?: 'replace' | 'error';
  /** Rewrite metrics.csv/.arrow every this many steps (default 50), so a crash keeps the curve up to there. */
  readonly flushEvery?: number;
}

export const DEFAULT_RUNS_ROOT = 'runs';

export class Run<C = unknown> {
  private record: RunRecord<C>;
  private readonly rows: MetricsRow[] = [];
  private readonly evals: RecordedEval[] = [];
  private readonly started = performance.now();

  private constructor(readonly dir: string, record: RunRecord<C>, private readonly flushEvery: number) {
    this.record = record;
  }

  /** Create `root/name` and write run.json with status `running`. */
  static async start<C>(options: RunStartOptions<C>): Promise<Run<C>> {
    const name = checkName('run.name', options.name);
    const flushEvery = check.positiveInt('run.flushEvery', options.flushEvery ?? 50);
    const dir = resolve(options.root ?? DEFAULT_RUNS_ROOT, name);
    const ifExists = check.oneOf('run.ifExists', options.ifExists ?? 'replace', ['replace', 'error'] as const);
    try {
      JSON.stringify(options.config);
    } catch (e) {
      throw new ConfigError('run.config', String(e), 'a JSON-serialisable config');
    }
    if (existsSync(dir)) {
      if (ifExists === 'error') throw new ConfigError('run.name', name, `a name not yet used under ${resolve(options.root ?? DEFAULT_RUNS_ROOT)} (or ifExists: 'replace')`);
      rmSync(dir, { recursive: true, force: true });
    }
    mkdirSync(dir, { recursive: true });
    const record: RunRecord<C> = {
      format: RUN_FORMAT,
      name,
      status: 'running',
      error: null,
      startedAt: new Date().toISOString(),
      endedAt: null,
      seconds: null,
      seed: options.seed,
      steps: 0,
      config: options.config,
      arm: options.arm ?? null,
      resumed: [],
      ...provenance(),
    };
    const run = new Run(dir, record, flushEvery);
    run.writeRecord();
    return run;
  }

  /**
   * Go on with the run in `dir` from a checkpoint taken after `history.length` steps: the metrics become
   * `history` (the restored trainer's, so they match the weights exactly), evaluations taken later are
   * dropped, and run.json says `running` again with the resume noted.
   */
  static async resume<C>(dir: string, history: readonly StepReport[], options: { readonly flushEvery?: number } = {}): Promise<Run<C>> {
    const flushEvery = check.positiveInt('run.flushEvery', options.flushEvery ?? 50);
    const record = readRecord<C>(dir);
    const step = history.length;
    const run = new Run<C>(dir, {
      ...record,
      status: 'running',
      error: null,
      endedAt: null,
      seconds: null,
      steps: step,
      resumed: [...record.resumed, { step, at: new Date().toISOString(), engine: provenance().engine }],
    }, flushEvery);
    run.rows.push(...history.map(metricsRow));
    run.evals.push(...readEvals(dir).filter((r) => typeof r.trainStep !== 'number' || r.trainStep <= step));
    run.writeMetrics();
    run.writeEvals();
    run.writeRecord();
    return run;
  }

  /**
   * Open the run in `dir` as it stands (record, metrics, evaluations), to add a later evaluation to a finished run
   * with `addRescore` (see rescore.ts). Nothing is written by opening.
   */
  static open<C>(dir: string): Run<C> {
    const record = readRecord<C>(dir);
    const run = new Run<C>(resolve(dir), record, 50);
    run.rows.push(...(readMetrics(dir).objects() as MetricsRow[]));
    run.evals.push(...readEvals(dir));
    return run;
  }

  get name(): string {
    return this.record.name;
  }

  get status(): RunStatus {
    return this.record.status;
  }

  /** run.json as it stands. */
  get info(): RunRecord<C> {
    return this.record;
  }

  /** The metrics rows logged so far (metrics.csv). */
  get history(): readonly MetricsRow[] {
    return this.rows;
  }

  get evalRows(): readonly RecordedEval[] {
    return this.evals;
  }

  /** Where the checkpoint module writes this run's checkpoint. */
  get checkpointPath(): string {
    return join(this.dir, RUN_FILES.checkpoint);
  }

  get samplesDir(): string {
    return join(this.dir, RUN_FILES.samples);
  }

  private assertRunning(what: string): void {
    if (this.record.status !== 'running') throw new Error(`run '${this.name}': ${what} after the run ended (status ${this.record.status})`);
  }

  /** Record one optimiser step (e.g. as the trainer's `onStep`). */
  logStep(report: StepReport): void {
    this.assertRunning('logStep');
    this.rows.push(metricsRow(report));
    this.record = { ...this.record, steps: this.rows.length };
    if (this.rows.length % this.flushEvery === 0) this.writeMetrics();
  }

  /** Record an evaluation (a flat object of metrics); `trainStep` (steps completed) is added unless the row has one. */
  addEval(row: object): void {
    this.assertRunning('addEval');
    this.evals.push({ trainStep: this.rows.length, ...row });
    this.writeEvals();
  }

  /** Throw unless the run is finished: only a finished run's checkpoint is the model it ended with. */
  assertRescorable(): void {
    if (this.record.status !== 'finished') {
      throw new Error(`${this.dir}: only a finished run is rescored (status ${this.record.status}); resume or rerun it first`);
    }
  }

  /**
   * Add an evaluation to a FINISHED run, taken later from its checkpoint (e.g. with a metric added since it
   * trained): `trainStep` is the run's last step and `rescoredAt` says when. The newest row is the one
   * `compareRuns` reads; the earlier ones stay in eval.json.
   */
  addRescore(row: object): RecordedEval {
    this.assertRescorable();
    const recorded = { trainStep: this.record.steps, rescoredAt: new Date().toISOString(), ...row } as RecordedEval;
    this.evals.push(recorded);
    this.writeEvals();
    return recorded;
  }

  /** Save a PNG (e.g. `(await imageGrid(samples)).png`) as samples/<name>.png; returns its path. */
  async saveSamples(name: string, png: Uint8Array): Promise<string> {
    const path = join(this.samplesDir, `${checkName('saveSamples.name', name)}.png`);
    writeRunFile(path, png);
    return path;
  }

  /** End the run as `finished` (default) or `interrupted` (stopped early, e.g. by a kernel interrupt). */
  async finish(status: 'finished' | 'interrupted' = 'finished'): Promise<void> {
    this.end(status, null);
  }

  /** End the run as `failed`, recording the error's name and message. */
  async fail(error: unknown): Promise<void> {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    this.end('failed', message);
  }

  private end(status: RunStatus, error: string | null): void {
    this.assertRunning(status === 'failed' ? 'fail' : 'finish');
    this.writeMetrics();
    this.record = {
      ...this.record,
      status,
      error,
      endedAt: new Date().toISOString(),
      seconds: (performance.now() - this.started) / 1000,
    };
    this.writeRecord();
  }

  private writeRecord(): void {
    writeRunJson(join(this.dir, RUN_FILES.record), this.record);
  }

  private writeEvals(): void {
    if (this.evals.length === 0) {
      for (const f of [RUN_FILES.evalJson, RUN_FILES.evalCsv]) rmSync(join(this.dir, f), { force: true });
      return;
    }
    writeRunJson(join(this.dir, RUN_FILES.evalJson), this.evals);
    writeRunFile(join(this.dir, RUN_FILES.evalCsv), aq.toCSV(rowsTable(this.evals, ['trainStep'])));
  }

  private writeMetrics(): void {
    const table = rowsTable(this.rows, METRIC_COLUMNS);
    writeRunFile(join(this.dir, RUN_FILES.metricsCsv), aq.toCSV(table));
    writeRunFile(join(this.dir, RUN_FILES.metricsArrow), aq.toArrowIPC(table));
  }
}

/** The metrics table of the run in `dir`: from metrics.arrow, or metrics.csv where only that was kept. */
export function readMetrics(dir: string): aq.ColumnTable {
  const arrow = join(dir, RUN_FILES.metricsArrow);
  if (existsSync(arrow)) return aq.fromArrow(readFileSync(arrow));
  const csv = join(dir, RUN_FILES.metricsCsv);
  if (existsSync(csv)) return aq.fromCSV(readFileSync(csv, 'utf8'));
  return aq.table({ step: [] });
}

/** The evaluation rows of the run in `dir` (eval.json), none when it has no evaluation yet. */
export function readEvals(dir: string): RecordedEval[] {
  const path = join(dir, RUN_FILES.evalJson);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as RecordedEval[]) : [];
}

/** run.json of the run in `dir`; a missing or unreadable file is an error naming it. */
export function readRecord<C = unknown>(dir: string): RunRecord<C> {
  const path = join(dir, RUN_FILES.record);
  if (!existsSync(path)) throw new Error(`${path} does not exist: ${dir} is not a run folder`);
  let record: RunRecord<C>;
  try {
    record = JSON.parse(readFileSync(path, 'utf8')) as RunRecord<C>;
  } catch (e) {
    throw new Error(`${path} is not valid JSON (${(e as Error).message})`);
  }
  if (record.format !== RUN_FORMAT) throw new Error(`${path}: format is ${JSON.stringify(record.format)}, expected ${JSON.stringify(RUN_FORMAT)}`);
  return record;
}
