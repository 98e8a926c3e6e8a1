/**
 * Sweeps: one base spec, a grid of values for config fields named by dotted path, and every combination
 * (the cartesian product, times `seeds`) trained as its own run under runs/<sweep>/<arm>, one after another.
 *
 *   await sweep({ steps: 300 }, { 'objective.lambda': [0.5, 1, 2, 5, 10] }, { name: 'lambda', seeds: [0, 1, 2] });
 *
 * A sweep can be stopped (kernel interrupt) or crash and be started again with the same arguments: arms whose
 * run.json says `finished` with the same config are not rerun, an unfinished arm goes on from its checkpoint
 * when it has one (see `checkpointEvery`) and restarts otherwise, and the arms not yet run follow.
 * runs/<sweep>/sweep.json lists the grid and each arm's status. With `rescore: true` the finished arms it skips
 * are evaluated again from their checkpoints (rescore.ts), for a metric or scorer newer than the runs.
 *
 * A sweep never destroys an arm: one sweep at a time holds the folder (lock.ts), except that a second process
 * running the very same sweep joins it and shares the arms (`sweep` says how); started again with another
 * grid it adds the new arms and keeps listing the old ones; an arm folder that holds another config, or a base
 * config that changed, is refused before anything trains, naming the fields.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../config';
import { canonicalJson, readJsonFile, writeRunJson } from './atomic';
import { asResolvedNow, configChanges, describeChanges } from './config-diff';
import { canonicalPath, withField } from './dotted-path';
import { resolveExperiment, type ExperimentConfig, type ExperimentSpec } from './experiment-config';
import { EXPECT, expectField, expectRoot, expectValue, oneOf } from './file-check';
import { interruptRequested } from '../engine/interrupt';
import { describeOwner, FolderLock, FolderLockedError, isOtherLocalProcess, waitWhileHeldElsewhere, type LockOwner } from './lock';
import { DEFAULT_RUNS_ROOT, RUN_FILES, checkName, observedStatus, readRecord, type RunStatus } from './run-record';
import { trainRun, type TrainRunOptions } from './train-run';
import { rescoreRun } from './rescore';

/** Values to try per field: `{ 'objective.lambda': [0.5, 1, 2], 'train.optimizer.lr': [1e-3, 3e-4] }`. */
export type SweepGrid = Readonly<Record<string, readonly unknown[]>>;

export interface SweepOptions extends Omit<TrainRunOptions, keyof ExperimentSpec | 'name' | 'arm' | 'resume' | 'overwrite'> {
  /** Folder of the sweep under `root`; each arm is a run inside it. */
  readonly name: string;
  /** Seeds to repeat every combination with (default: the base spec's seed only, not named in the arm). */
  readonly seeds?: readonly number[];
  /**
   * Evaluate the finished arms found on disk again, from their checkpoints, with this call's `evaluate` (default
   * src/eval's, with each arm's `evaluation` settings), adding the row to their eval.json (default false: a
   * finished arm is left as it is). For a metric added, or a scorer changed, after the arms trained. A call that
   * joined another process's sweep of the same plan leaves rescoring to that process.
   */
  readonly rescore?: boolean;
}

/** One run of a sweep. */
export interface SweepArm {
  /** Folder name: the arm label, plus `,seed=<n>` when the sweep repeats seeds. */
  readonly name: string;
  /** What the arm varies, e.g. 'lambda=0.5' (shared by the seeds of one combination, for plots with error bars). */
  readonly arm: string;
  /** The grid values of this arm, by dotted path. */
  readonly values: Readonly<Record<string, unknown>>;
  readonly seed: number;
  readonly spec: ExperimentSpec;
  readonly config: ExperimentConfig;
}

export type ArmStatus = RunStatus | 'pending';

export const SWEEP_FORMAT = 'transfusion-lab/sweep@1';
export const SWEEP_FILE = 'sweep.json';

/** One arm as sweep.json lists it. */
export interface ManifestArm {
  readonly name: string;
  readonly arm: string;
  readonly values: Readonly<Record<string, unknown>>;
  readonly seed: number;
  readonly status: ArmStatus;
}

/** runs/<sweep>/sweep.json. */
export interface SweepManifest {
  readonly format: typeof SWEEP_FORMAT;
  readonly name: string;
  /** The base config every arm starts from (with the base seed). */
  readonly base: ExperimentConfig;
  /** The grid and seeds of the latest call; `arms` also keeps the arms of earlier calls with other grids. */
  readonly grid: SweepGrid;
  readonly seeds: readonly number[] | null;
  readonly arms: readonly ManifestArm[];
  readonly updatedAt: string;
}

export interface SweepResult {
  readonly dir: string;
  /** 'interrupted' when an arm was stopped early; the remaining arms did not run. */
  readonly status: 'finished' | 'interrupted';
  readonly manifest: SweepManifest;
  /** Arms trained by this call, and arms found finished and skipped. */
  readonly ran: readonly string[];
  readonly skipped: readonly string[];
  /** Finished arms evaluated again by this call (`rescore: true`). */
  readonly rescored: readonly string[];
  /**
   * Arms another process was training (a second kernel on the same sweep): this call passed over them, then waited
   * for that process to let go; each is also in `skipped` (it finished there) or `ran` (it stopped, and this call
   * went on with it).
   */
  readonly waited: readonly string[];
}

/** A value as it reads in a folder name: numbers and strings as written, a `{ kind }` block by its kind. */
function valueLabel(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && typeof (value as { kind?: unknown }).kind === 'string') return (value as { kind: string }).kind;
  return canonicalJson(value);
}

function sanitize(label: string): string {
  return label.replace(/[^A-Za-z0-9._=,+-]/g, '_').replace(/^[._-]+/, '').slice(0, 150) || 'arm';
}

/** Field names in arm labels: the last path segment, or the whole path where two fields share one. */
function fieldLabels(paths: readonly string[]): string[] {
  const last = paths.map((p) => p.split('.').pop()!);
  return paths.map((p, i) => (last.filter((l) => l === last[i]).length > 1 ? p : last[i]));
}

function checkGrid(grid: SweepGrid): [string, readonly unknown[]][] {
  if (typeof grid !== 'object' || grid === null || Array.isArray(grid)) throw new ConfigError('sweep.grid', grid, 'an object of dotted path -> array of values');
  const entries = Object.entries(grid);
  for (const [path, values] of entries) {
    if (!Array.isArray(values) || values.length === 0) throw new ConfigError(`sweep.grid['${path}']`, values, 'a non-empty array of values');
  }
  const canonical = entries.map(([p]) => canonicalPath(p));
  canonical.forEach((p, i) => {
    if (canonical.indexOf(p) !== i) throw new ConfigError(`sweep.grid['${entries[i][0]}']`, entries[i][0], `a field not already in the grid (it is ${entries[canonical.indexOf(p)][0]})`);
  });
  return entries;
}

/**
 * Every arm of a sweep, in order (the first field varies slowest, seeds fastest), each spec resolved: a bad
 * path or value fails here, before anything trains, naming the path.
 */
export function planSweep(base: ExperimentSpec, grid: SweepGrid, seeds?: readonly number[]): SweepArm[] {
  const entries = checkGrid(grid);
  if (seeds !== undefined && (!Array.isArray(seeds) || seeds.length === 0 || seeds.some((s) => !Number.isSafeInteger(s)))) {
    throw new ConfigError('sweep.seeds', seeds, 'a non-empty array of integers');
  }
  const resolvedBase = resolveExperiment(base);
  const labels = fieldLabels(entries.map(([p]) => p));
  let combos: Record<string, unknown>[] = [{}];
  for (const [path, values] of entries) combos = combos.flatMap((c) => values.map((v) => ({ ...c, [path]: v })));
  const armLabels = combos.map((c) => sanitize(entries.map(([p], i) => `${labels[i]}=${valueLabel(c[p])}`).join(',') || 'base'));
  const unique = armLabels.map((l, i) => (armLabels.indexOf(l) === armLabels.lastIndexOf(l) ? l : `${l}-${i}`));
  return combos.flatMap((values, i) => (seeds ?? [resolvedBase.seed]).map((seed) => {
    let spec = base;
    for (const [path, value] of Object.entries(values)) spec = withField(spec, resolvedBase, path, value);
    spec = { ...spec, seed };
    let config: ExperimentConfig;
    try {
      config = resolveExperiment(spec);
    } catch (e) {
      if (e instanceof ConfigError) throw new ConfigError(`sweep arm ${unique[i]}: ${e.field}`, e.value, e.allowed);
      throw e;
    }
    const name = seeds === undefined ? unique[i] : `${unique[i]},seed=${seed}`;
    return { name, arm: unique[i], values, seed, spec, config };
  }));
}

function armStatus(dir: string): ArmStatus {
  return existsSync(join(dir, RUN_FILES.record)) ? observedStatus(dir, readRecord(dir)) : 'pending';
}

const ARM_STATUSES: readonly ArmStatus[] = ['pending', 'running', 'finished', 'interrupted', 'failed', 'died'];

/**
 * sweep.json of the sweep in `dir`, or null when `dir` is not a sweep folder; a damaged file is an error naming
 * it. Arm names are checked as folder names, so a sweep.json from elsewhere cannot point outside its folder.
 */
export function readSweepManifest(dir: string): SweepManifest | null {
  const path = join(dir, SWEEP_FILE);
  if (!existsSync(path)) return null;
  const manifest = expectRoot<Record<string, unknown>>(path, readJsonFile(path));
  expectField(path, manifest, 'format', [(v) => v === SWEEP_FORMAT, JSON.stringify(SWEEP_FORMAT)]);
  expectField(path, manifest, 'name', EXPECT.string);
  expectField(path, manifest, 'base', EXPECT.object);
  expectField(path, manifest, 'grid', EXPECT.object);
  expectField(path, manifest, 'seeds', [(v) => v === null || (Array.isArray(v) && v.every(Number.isSafeInteger)), 'null or an array of integers']);
  (expectField(path, manifest, 'arms', EXPECT.array) as unknown[]).forEach((arm, i) => {
    const entry = expectValue(path, `arms.${i}`, arm, EXPECT.object) as Record<string, unknown>;
    const name = expectField(path, entry, 'name', EXPECT.string, `arms.${i}.`);
    try {
      checkName(`arms.${i}.name`, name);
    } catch (e) {
      throw new Error(`${path}: ${(e as Error).message}`);
    }
    expectField(path, entry, 'arm', EXPECT.string, `arms.${i}.`);
    expectField(path, entry, 'values', EXPECT.object, `arms.${i}.`);
    expectField(path, entry, 'seed', EXPECT.integer, `arms.${i}.`);
    expectField(path, entry, 'status', oneOf(ARM_STATUSES), `arms.${i}.`);
  });
  return manifest as unknown as SweepManifest;
}

/** The base config without its seed: the arms set their own seeds, so only the rest must match. */
function baseWithoutSeed(config: ExperimentConfig): Omit<ExperimentConfig, 'seed'> {
  const { seed: _seed, ...rest } = config;
  return rest;
}

/**
 * Refuse, before anything trains, a sweep folder whose base config changed or whose arm folders hold runs of
 * other configs: mixing them would compare runs that differ in more than the grid.
 */
function checkExisting(root: string, name: string, previous: SweepManifest | null, base: ExperimentConfig, arms: readonly SweepArm[]): void {
  if (previous) {
    const changes = configChanges(baseWithoutSeed(asResolvedNow(previous.base)), baseWithoutSeed(base));
    if (changes.length > 0) {
      throw new ConfigError('sweep.name', name, `a new sweep name, or delete ${root}: its base config changed at ${describeChanges(changes)}, so its arms would not compare with new ones`);
    }
  }
  for (const arm of arms) {
    const dir = join(root, arm.name);
    if (!existsSync(join(dir, RUN_FILES.record))) continue;
    const changes = configChanges(asResolvedNow(readRecord<ExperimentConfig>(dir).config), arm.config);
    if (changes.length > 0) {
      throw new ConfigError('sweep.name', name, `a new sweep name, or delete ${root}: its arm ${arm.name} was run with a different config (changed at ${describeChanges(changes)})`);
    }
  }
}

/** The plan a sweep call trains: its base (less the seed), grid and seeds, as a short hash for its lock. */
export function planId(base: ExperimentConfig, grid: SweepGrid, seeds: readonly number[] | undefined): string {
  return createHash('sha256').update(canonicalJson({ base: baseWithoutSeed(base), grid, seeds: seeds ?? null })).digest('hex').slice(0, 12);
}

/**
 * Take the sweep folder, or join the live sweep that holds it when that sweep trains the very same plan (same
 * base, grid and seeds: `planId` is in its lock's purpose) from another process on this host: null then, and
 * this call helps with the arms. Anything else holding the folder is refused, naming it.
 */
function takeOrJoin(root: string, purpose: string): FolderLock | null {
  try {
    return FolderLock.acquire(root, purpose);
  } catch (e) {
    if (e instanceof FolderLockedError && isOtherLocalProcess(e.owner) && e.owner.purpose === purpose) return null;
    throw e;
  }
}

/**
 * Train every arm of `grid` (dotted config paths to lists of values, every combination, times `options.seeds`)
 * from `base`, each as its own run under `<root>/<name>/<arm>`, and return each arm's status and run folder.
 *
 *   await sweep({ steps: 300 }, { 'objective.lambda': [0.5, 1, 2] }, { name: 'lambda', seeds: [0, 1, 2] });
 *
 * Started again with the same arguments it skips finished arms, resumes an unfinished one from its checkpoint
 * and trains the rest; with another grid it keeps the arms it already has. `rescore: true` evaluates skipped arms
 * again from their checkpoints.
 *
 * Started with the same arguments in a second process while the first still runs (a second kernel on the same
 * notebook, `npm run results -- --workers 2`), it shares the arms instead of being refused: each process trains
 * the arms nobody holds, passing over the ones the other is training, then waits for those to finish. Each arm
 * trains once; both calls return every arm finished. The process that took the folder writes sweep.json.
 */
export async function sweep(base: ExperimentSpec, grid: SweepGrid, options: SweepOptions): Promise<SweepResult> {
  const { name, seeds, root: parent, rescore, ...runOptions } = options;
  checkName('sweep.name', name);
  const arms = planSweep(base, grid, seeds);
  const root = resolve(parent ?? DEFAULT_RUNS_ROOT, name);
  const resolvedBase = resolveExperiment(base);
  const purpose = `sweep ${name} (plan ${planId(resolvedBase, grid, seeds)})`;
  let lock = takeOrJoin(root, purpose);
  try {
    const previous = readSweepManifest(root);
    checkExisting(root, name, previous, resolvedBase, arms);
    const planned = new Set(arms.map((a) => a.name));
    const earlier = (previous?.arms ?? []).filter((a) => !planned.has(a.name));
    /**
     * sweep.json with every arm's status as its run.json says now, the arms of earlier grids after this grid's;
     * written by the process that holds the folder. A process that joined takes the folder over once the one that
     * held it has ended (stopped or interrupted), and writes from then on.
     */
    const save = (): SweepManifest => {
      if (lock === null) {
        try {
          lock = takeOrJoin(root, purpose);
        } catch (e) {
          if (!(e instanceof FolderLockedError)) throw e; // another sweep has the folder now: it writes sweep.json
        }
      }
      const listed = [...arms, ...earlier].map((a) => ({ name: a.name, arm: a.arm, values: a.values, seed: a.seed, status: armStatus(join(root, a.name)) }));
      const manifest: SweepManifest = { format: SWEEP_FORMAT, name, base: resolvedBase, grid, seeds: seeds ?? null, arms: listed, updatedAt: new Date().toISOString() };
      if (lock !== null) writeRunJson(join(root, SWEEP_FILE), manifest);
      return manifest;
    };
    save();
    const ran: string[] = [];
    const skipped: string[] = [];
    const rescored: string[] = [];
    const waited: string[] = [];
    const stop = () => interruptRequested() || runOptions.shouldStop?.() === true;
    const say = (line: string) => {
      if (runOptions.progress !== false) console.log(line);
    };
    /** One arm: skipped when finished, passed over ('held') when another process trains it and `wait` is false. */
    const runArm = async (arm: SweepArm, wait: boolean): Promise<'skipped' | 'held' | RunStatus> => {
      const dir = join(root, arm.name);
      const onWait = (owner: LockOwner) => {
        if (!waited.includes(arm.name)) waited.push(arm.name);
        say(`${arm.name}: another process is training it, ${describeOwner(owner)}; waiting for it`);
      };
      if (wait && !(await waitWhileHeldElsewhere(dir, { stop, onWait }))) return 'interrupted';
      if (armStatus(dir) === 'finished') {
        skipped.push(arm.name);
        if (rescore === true && lock !== null) {
          await rescoreRun(dir, { evaluate: runOptions.evaluate });
          rescored.push(arm.name);
        }
        return 'skipped';
      }
      let status: RunStatus;
      try {
        const result = await trainRun({ ...runOptions, ...arm.spec, name: arm.name, root, arm: { label: arm.arm, values: arm.values }, resume: true, whenHeld: wait ? 'wait' : 'refuse' });
        status = result.status;
        result.dispose();
      } catch (e) {
        if (!wait && e instanceof FolderLockedError && isOtherLocalProcess(e.owner)) return 'held';
        throw e;
      } finally {
        save();
      }
      ran.push(arm.name);
      return status;
    };
    const result = (status: SweepResult['status']): SweepResult => ({ dir: root, status, manifest: save(), ran, skipped, rescored, waited });
    // First pass: every arm nobody else holds. Second: the arms another process held, once it lets go of each.
    const held: SweepArm[] = [];
    for (const arm of arms) {
      const status = await runArm(arm, false);
      if (status === 'held') held.push(arm);
      if (status === 'interrupted') return result('interrupted');
    }
    for (const arm of held) {
      if ((await runArm(arm, true)) === 'interrupted') return result('interrupted');
    }
    return result('finished');
  } finally {
    lock?.release();
  }
}
