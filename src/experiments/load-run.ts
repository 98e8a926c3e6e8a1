/**
 * Reading run folders back, on this machine or another one the folder was copied (or unzipped) to: the
 * record, the metrics as an arquero table, the evaluation rows, the sample images, and the model from the
 * checkpoint. Also: which runs a folder holds (one run, a sweep, or a folder of runs).
 */
import { existsSync, lstatSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as aq from 'arquero';
import { restore, type Restored } from '../checkpoint/checkpoint';
import { restoreChameleon, type RestoredChameleon } from '../baseline/session';
import type { ExperimentConfig, ModelKind } from './experiment-config';
import { RUN_FILES, observedStatus, readEvals, readMetrics, readRecord, type RecordedEval, type MetricsRow, type RunRecord } from './run-record';
import { readSweepManifest } from './sweep';

export interface LoadedRun {
  readonly dir: string;
  /** run.json, except that a run whose process died while it said `running` has status `died` (observedStatus). */
  readonly record: RunRecord<ExperimentConfig>;
  /** The run's config (`record.config`): `trainRun({ ...specOf(config), name })` reruns it. */
  readonly config: ExperimentConfig;
  /** metrics.arrow as an arquero table (one row per step). */
  readonly metrics: aq.ColumnTable;
  /** The same rows as objects, for `lossCurves(history)`. */
  readonly history: readonly MetricsRow[];
  readonly evals: readonly RecordedEval[];
  /** samples/*.png that are plain files (not links, which could point anywhere), sorted by name. */
  readonly samples: readonly string[];
  /** checkpoint.safetensors, or null when the run saved none. */
  readonly checkpoint: string | null;
  /** Which model the run trained (`config.modelKind`; 'transfusion' for records from before the field). */
  readonly modelKind: ModelKind;
  /**
   * The model (and trainer, streams) from the checkpoint; the caller disposes them. A Chameleon run's baseline,
   * with its tokenizer, is `restore('chameleon')` (src/baseline/session.ts); asking a run for the other kind's
   * model is an error naming the kind it holds.
   */
  restore(kind?: 'transfusion'): Restored;
  restore(kind: 'chameleon'): RestoredChameleon;
}

/** Say in one sentence why `dir` cannot be read as runs. */
export class RunFolderError extends Error {
  constructor(readonly dir: string, problem: string) {
    super(`${dir} ${problem}`);
    this.name = 'RunFolderError';
  }
}

function checkFolder(dir: string): string {
  const path = resolve(dir);
  if (!existsSync(path)) throw new RunFolderError(path, 'does not exist');
  if (!statSync(path).isDirectory()) throw new RunFolderError(path, 'is a file, not a run folder');
  return path;
}

/** Load the run in `dir` (a folder holding run.json). */
export function loadRun(dir: string): LoadedRun {
  const path = checkFolder(dir);
  if (!existsSync(join(path, RUN_FILES.record))) throw new RunFolderError(path, `has no ${RUN_FILES.record}, so it is not a run folder`);
  const written = readRecord<ExperimentConfig>(path);
  const record = { ...written, status: observedStatus(path, written) };
  const metrics = readMetrics(path);
  const samplesDir = join(path, RUN_FILES.samples);
  const checkpoint = join(path, RUN_FILES.checkpoint);
  const hasCheckpoint = existsSync(checkpoint);
  const modelKind: ModelKind = record.config.modelKind ?? 'transfusion';
  function restoreModel(kind?: 'transfusion'): Restored;
  function restoreModel(kind: 'chameleon'): RestoredChameleon;
  function restoreModel(kind: ModelKind = 'transfusion'): Restored | RestoredChameleon {
    if (!hasCheckpoint) throw new RunFolderError(path, `has no ${RUN_FILES.checkpoint} to restore a model from`);
    if (kind !== modelKind) {
      throw new RunFolderError(path, `holds a ${modelKind} run, not a ${kind} one: restore(${modelKind === 'chameleon' ? "'chameleon'" : ''}) gives its model`);
    }
    return modelKind === 'chameleon' ? restoreChameleon(checkpoint) : restore(checkpoint);
  }
  return {
    dir: path,
    record,
    config: record.config,
    metrics,
    history: metrics.objects() as MetricsRow[],
    evals: readEvals(path),
    samples: lstatSync(samplesDir, { throwIfNoEntry: false })?.isDirectory()
      ? readdirSync(samplesDir, { withFileTypes: true }).filter((e) => e.isFile() && e.name.endsWith('.png')).map((e) => join(samplesDir, e.name)).sort()
      : [],
    checkpoint: hasCheckpoint ? checkpoint : null,
    modelKind,
    restore: restoreModel,
  };
}

/**
 * The run folders `dir` stands for: itself when it holds run.json; a sweep's arms that have started, in the
 * sweep's order; otherwise its sub-folders holding run.json, by name. None at all is an error.
 */
export function runDirs(dir: string): string[] {
  const path = checkFolder(dir);
  if (existsSync(join(path, RUN_FILES.record))) return [path];
  const manifest = readSweepManifest(path);
  const dirs = manifest
    ? manifest.arms.map((a) => join(path, a.name))
    // Sub-folders themselves, not links: a folder from elsewhere could link anywhere on this machine.
    : readdirSync(path, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(path, e.name)).sort();
  const runs = dirs.filter((d) => existsSync(join(d, RUN_FILES.record)));
  if (runs.length === 0) throw new RunFolderError(path, `holds no runs (no ${RUN_FILES.record} in it or in its sub-folders)`);
  return runs;
}
