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
 * version. A run holds the folder's lock (lock.ts) from start to end, so a second writer is refused rather
 * than deleting it. run.json says `running` until `finish`/`fail`: a record still `running` whose lock is gone
 * or names a dead process is a run that died, read back as `died`, and a sweep reruns it.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import * as aq from 'arquero';
import { ConfigError, check } from '../config';
import type { StepReport } from '../train/trainer';
import { readJsonFile, writeRunFile, writeRunJson } from './atomic';
import { EXPECT, RunFileError, expectField, expectRoot, expectValue, isPlainObject, oneOf, type Expect } from './file-check';
import { FolderLock, folderHasContent, isLockFile, writerState } from './lock';
import { provenance, type Provenance } from './provenance';

/**
 * How a run stands. run.json holds the first four; `died` is what a reader sees for a record that says
 * `running` while no process writes it (killed, out of memory): see `observedStatus`.
 */
export type RunStatus = 'running' | 'finished' | 'interrupted' | 'failed' | 'died';

const WRITTEN_STATUSES: readonly RunStatus[] = ['running', 'finished', 'interrupted', 'failed'];

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
  /**
   * CPU time (user + system, all threads) the process spent on the run, evaluation included, summed over every
   * resume: what the run cost. Brought up to date at each flush of the metrics while it trains, so the CPU of a
   * process killed mid-run stays counted (the steps it took past its last checkpoint are then trained, and
   * counted, again: they were spent). Null after a resume of a record that did not keep it; absent from records
   * written before it was kept.
   */
  readonly cpuSeconds?: number | null;
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
   * What to do when `root/name` holds files: 'replace' (default) empties it, so re-running a notebook cell
   * gives a fresh record rather than a mix of two runs; 'error' refuses. Either way a folder another writer
   * holds is refused (see lock.ts). `trainRun` decides before this (it never replaces a finished run unasked).
   */
  readonly ifExists?: 'replace' | 'error';
  /** Rewrite metrics.csv/.arrow every this many steps (default 50), so a crash keeps the curve up to there. */
  readonly flushEvery?: number;
  /**
   * The folder's lock when the caller holds it already (trainRun takes it before it reads the folder);
   * default: taken here. The run releases it when it ends.
   */
  readonly lock?: FolderLock;
}

export const DEFAULT_RUNS_ROOT = 'runs';

/** CPU seconds (user + system) this process spent since `start` (a `process.cpuUsage()` reading). */
function cpuSince(start: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(start);
  return (user + system) / 1e6;
}

export class Run<C = unknown> {
  private record: RunRecord<C>;
  private readonly rows: MetricsRow[] = [];
  private readonly evals: RecordedEval[] = [];
  private readonly started = performance.now();
  private readonly cpuStarted = process.cpuUsage();
  /** CPU seconds of earlier segments (before a resume), as their record says; null where it did not keep them. */
  private readonly cpuBefore: number | null;

  private constructor(readonly dir: string, record: RunRecord<C>, private readonly flushEvery: number, private readonly lock: FolderLock | null, cpuBefore: number | null = 0) {
    this.record = record;
    this.cpuBefore = cpuBefore;
  }

  /** Create `root/name` (taking its lock) and write run.json with status `running`. */
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
    const lock = options.lock ?? FolderLock.acquire(dir, `run ${name}`);
    try {
      if (folderHasContent(dir)) {
        if (ifExists === 'error') throw new ConfigError('run.name', name, `a name not yet used under ${resolve(options.root ?? DEFAULT_RUNS_ROOT)} (or ifExists: 'replace')`);
        // Emptied rather than removed: the lock inside it stays ours throughout.
        for (const entry of readdirSync(dir)) if (!isLockFile(entry)) rmSync(join(dir, entry), { recursive: true, force: true });
      }
      const run = new Run(dir, Run.freshRecord(name, options), flushEvery, lock);
      run.writeRecord();
      return run;
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  private static freshRecord<C>(name: string, options: RunStartOptions<C>): RunRecord<C> {
    return {
      format: RUN_FORMAT,
      name,
      status: 'running',
      error: null,
      startedAt: new Date().toISOString(),
      endedAt: null,
      seconds: null,
      cpuSeconds: null,
      seed: options.seed,
      steps: 0,
      config: options.config,
      arm: options.arm ?? null,
      resumed: [],
      ...provenance(),
    };
  }

  /**
   * Go on with the run in `dir` from a checkpoint taken after `history.length` steps: the metrics become
   * `history` (the restored trainer's, so they match the weights exactly), evaluations taken later are
   * dropped, and run.json says `running` again with the resume noted. Takes the folder's lock unless given it.
   */
  static async resume<C>(dir: string, history: readonly StepReport[], options: { readonly flushEvery?: number; readonly lock?: FolderLock } = {}): Promise<Run<C>> {
    const flushEvery = check.positiveInt('run.flushEvery', options.flushEvery ?? 50);
    const lock = options.lock ?? FolderLock.acquire(dir, `run ${basename(dir)}`);
    try {
      const record = readRecord<C>(dir);
      const step = history.length;
      const run = new Run<C>(resolve(dir), {
        ...record,
        status: 'running',
        error: null,
        endedAt: null,
        seconds: null,
        cpuSeconds: null,
        steps: step,
        resumed: [...record.resumed, { step, at: new Date().toISOString(), engine: provenance().engine }],
      }, flushEvery, lock, 'cpuSeconds' in record ? record.cpuSeconds ?? 0 : null);
      run.rows.push(...history.map(metricsRow));
      run.evals.push(...readEvals(dir).filter((r) => typeof r.trainStep !== 'number' || r.trainStep <= step));
      run.writeMetrics();
      run.writeEvals();
      run.writeRecord();
      return run;
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  /**
   * Open the run in `dir` as it stands (record, metrics, evaluations), to add a later evaluation to a finished run
   * with `addRescore` (see rescore.ts, which holds the folder's lock meanwhile). Nothing is written by opening.
   */
  static open<C>(dir: string): Run<C> {
    const record = readRecord<C>(dir);
    const run = new Run<C>(resolve(dir), record, 50, null);
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
    if (this.rows.length % this.flushEvery === 0) {
      this.writeMetrics();
      this.record = { ...this.record, cpuSeconds: this.cpuSoFar() };
      this.writeRecord();
    }
  }

  /** cpuSeconds now: the earlier segments' and this process's since the run started or resumed. */
  private cpuSoFar(): number | null {
    return this.cpuBefore === null ? null : this.cpuBefore + cpuSince(this.cpuStarted);
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
    try {
      this.writeMetrics();
      this.record = {
        ...this.record,
        status,
        error,
        endedAt: new Date().toISOString(),
        seconds: (performance.now() - this.started) / 1000,
        cpuSeconds: this.cpuSoFar(),
      };
      this.writeRecord();
    } finally {
      // Also when the last write failed: the record then still says `running`, and reads as `died`.
      this.lock?.release();
    }
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

/** Every column of a metrics table holds numbers (or nulls), and `step` is there: else an error naming the file. */
function checkMetrics(path: string, table: aq.ColumnTable): aq.ColumnTable {
  if (table.numRows() === 0) return table;
  if (!table.columnNames().includes('step')) throw new RunFileError(path, `has no step column (columns: ${table.columnNames().map((c) => JSON.stringify(c)).join(', ')}); expected one row per optimiser step`);
  for (const column of table.columnNames()) {
    const values = table.array(column) as unknown[];
    const row = values.findIndex((v) => v !== null && v !== undefined && typeof v !== 'number');
    if (row >= 0) throw new RunFileError(path, `column ${JSON.stringify(column)} row ${row} is ${JSON.stringify(values[row])}; expected a number or nothing`);
  }
  return table;
}

/** The metrics table of the run in `dir`: from metrics.arrow, or metrics.csv where only that was kept. */
export function readMetrics(dir: string): aq.ColumnTable {
  const arrow = join(dir, RUN_FILES.metricsArrow);
  const csv = join(dir, RUN_FILES.metricsCsv);
  const path = existsSync(arrow) ? arrow : existsSync(csv) ? csv : null;
  if (path === null) return aq.table({ step: [] });
  let table: aq.ColumnTable;
  try {
    table = path === arrow ? aq.fromArrow(readFileSync(arrow)) : aq.fromCSV(readFileSync(csv, 'utf8'));
  } catch (e) {
    throw new RunFileError(path, `cannot be read as ${path === arrow ? 'an Arrow IPC table' : 'CSV'} (${(e as Error).message}); it is damaged or was not written by the lab`);
  }
  return checkMetrics(path, table);
}

/** The evaluation rows of the run in `dir` (eval.json), none when it has no evaluation yet. */
export function readEvals(dir: string): RecordedEval[] {
  const path = join(dir, RUN_FILES.evalJson);
  if (!existsSync(path)) return [];
  const rows = expectRoot<unknown[]>(path, readJsonFile(path), [Array.isArray, 'an array of evaluation rows']);
  rows.forEach((row, i) => expectValue(path, `row ${i}`, row, [isPlainObject, 'an object of metrics']));
  return rows as RecordedEval[];
}

function checkRecord<C>(path: string, value: unknown): RunRecord<C> {
  const record = expectRoot<Record<string, unknown>>(path, value);
  const field = (name: string, expect: Expect, of = record, prefix = '') => expectField(path, of, name, expect, prefix);
  field('format', [(v) => v === RUN_FORMAT, JSON.stringify(RUN_FORMAT)]);
  field('name', EXPECT.string);
  field('status', oneOf(WRITTEN_STATUSES));
  field('error', EXPECT.stringOrNull);
  field('startedAt', EXPECT.string);
  field('endedAt', EXPECT.stringOrNull);
  field('seconds', EXPECT.numberOrNull);
  if ('cpuSeconds' in record) field('cpuSeconds', EXPECT.numberOrNull);
  field('seed', EXPECT.integer);
  field('steps', EXPECT.count);
  field('config', EXPECT.present);
  field('arm', [(v) => v === null || isPlainObject(v), 'null or { label, values }']);
  if (record.arm !== null) {
    field('label', EXPECT.string, record.arm as Record<string, unknown>, 'arm.');
    field('values', EXPECT.object, record.arm as Record<string, unknown>, 'arm.');
  }
  (field('resumed', EXPECT.array) as unknown[]).forEach((r, i) => {
    expectValue(path, `resumed.${i}`, r, EXPECT.object);
    field('step', EXPECT.count, r as Record<string, unknown>, `resumed.${i}.`);
    field('at', EXPECT.string, r as Record<string, unknown>, `resumed.${i}.`);
    field('engine', EXPECT.stringOrNull, r as Record<string, unknown>, `resumed.${i}.`);
  });
  field('engine', EXPECT.stringOrNull);
  const packages = field('packages', EXPECT.object) as Record<string, unknown>;
  for (const name of Object.keys(packages)) field(name, EXPECT.stringOrNull, packages, 'packages.');
  const runtime = field('runtime', EXPECT.object) as Record<string, unknown>;
  for (const name of ['node', 'platform', 'arch']) field(name, EXPECT.string, runtime, 'runtime.');
  field('cpus', EXPECT.count, runtime, 'runtime.');
  const git = field('git', EXPECT.object) as Record<string, unknown>;
  field('commit', EXPECT.stringOrNull, git, 'git.');
  field('dirty', EXPECT.booleanOrNull, git, 'git.');
  return record as unknown as RunRecord<C>;
}

/** run.json of the run in `dir`, as written; a missing, unreadable or malformed file is an error naming it. */
export function readRecord<C = unknown>(dir: string): RunRecord<C> {
  const path = join(dir, RUN_FILES.record);
  if (!existsSync(path)) throw new Error(`${path} does not exist: ${dir} is not a run folder`);
  return checkRecord<C>(path, readJsonFile(path));
}

/**
 * The status of the run in `dir` as it stands: run.json's, except that a record saying `running` whose
 * writer is gone (no lock, or a lock naming a dead process on this host) is `died`. A lock from another host
 * cannot be checked, so that run stays `running`.
 */
export function observedStatus(dir: string, record: RunRecord<unknown>): RunStatus {
  return record.status === 'running' && writerState(dir) === 'gone' ? 'died' : record.status;
}
