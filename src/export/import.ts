/**
 * Bring a run trained on PyTorch back into its run folder (issue 16, "comes back"): train.py's lab-format
 * checkpoint becomes the folder's checkpoint.safetensors, metrics.csv/.arrow gain the steps trained there (from the
 * checkpoint's history), and run.json says how far the run got and how: `steps`, the config's `steps` and `train`
 * (so a rerun of the old spec is told its config changed rather than handed this model as its own), and a
 * `resumed` entry naming torch as the engine. `loadRun(dir).restore()`, `evaluate` and the viz functions then
 * open it like any run, and nobody copies files by hand.
 *
 * It goes through the lab's own writers (Run.resume, the folder lock, atomic writes: src/experiments/run-record.ts),
 * so a folder another process writes is refused and a crash leaves the previous complete files.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { restore } from '../checkpoint/checkpoint';
import { resolveConfig, type TransfusionConfig } from '../model/config';
import { TransfusionObjective } from '../model/objective';
import type { ExperimentConfig } from '../experiments/experiment-config';
import { configChanges } from '../experiments/config-diff';
import { writeRunFile, writeRunJson } from '../experiments/atomic';
import { FolderLock } from '../experiments/lock';
import { Run, RUN_FILES, readRecord } from '../experiments/run-record';
import type { StepReport, TrainConfig } from '../train/trainer';
import { completeConfig } from './torch';

export interface TorchImport {
  readonly dir: string;
  /** The lab's step the PyTorch run went on from (the run's steps before the import). */
  readonly from: number;
  /** The run's steps now (the checkpoint's trainer step). */
  readonly steps: number;
  /** What trained the new steps (the checkpoint's package_version, e.g. `torch 1.13.0a0 (train.py)`). */
  readonly engine: string;
}

/** `config` with every objective block complete, as exportTorch writes it and train.py hands it back. */
function complete(config: TransfusionConfig): TransfusionConfig {
  const resolved = resolveConfig(config);
  const o = new TransfusionObjective(resolved.objective);
  return { ...resolved, objective: { ...resolved.objective, schedule: o.schedule.config, timesteps: o.timesteps.config, weighting: o.weighting.config } };
}

/**
 * Make `checkpoint` (written by the exported train.py) the checkpoint of the run in `runDir` (the run it was
 * exported from), recording the steps trained on PyTorch. Refused, naming the problem, when the checkpoint is
 * of another model config, has no trainer state, or is behind the run (fewer steps than the run already has).
 */
export async function importTorch(checkpoint: string, runDir: string): Promise<TorchImport> {
  const record = readRecord<ExperimentConfig>(runDir);
  const restored = restore(checkpoint);
  let history: StepReport[];
  let train: TrainConfig;
  let steps: number;
  try {
    const changes = configChanges(complete(record.config.model), completeConfig(restored.model));
    if (changes.length > 0) throw new Error(`importTorch: ${checkpoint} holds another model than the run in ${runDir}: changed at ${changes.join(', ')}`);
    if (!restored.trainer) throw new Error(`importTorch: ${checkpoint} has no trainer state (__metadata__.trainer); write it with the exported train.py, which records its steps`);
    ({ history } = restored.trainer);
    train = restored.trainer.config;
    steps = restored.trainer.step;
  } finally {
    restored.trainer?.dispose();
    restored.model.dispose();
  }
  const from = record.steps;
  if (history.length !== steps) throw new Error(`importTorch: ${checkpoint} says step ${steps} but holds ${history.length} step reports; a run's metrics need one per step`);
  if (steps < from) throw new Error(`importTorch: ${checkpoint} is at step ${steps}, behind the run in ${runDir} (${from} steps); import the checkpoint that went on from it`);
  const engine = restored.metadata.packageVersion;

  const lock = FolderLock.acquire(runDir, `importTorch ${checkpoint}`);
  // Run.resume keeps the run's own first `from` steps and its evaluations up to there; finish releases the lock.
  const run = await Run.resume<ExperimentConfig>(runDir, history.slice(0, from), { lock });
  try {
    writeRunFile(join(run.dir, RUN_FILES.checkpoint), readFileSync(checkpoint));
    for (const report of history.slice(from)) run.logStep(report);
  } catch (e) {
    await run.fail(e);
    throw e;
  }
  await run.finish();
  // What Run.resume cannot know: the engine of the steps it went on with, and the config they ran under. Written
  // under the folder's lock again, as every run.json write is.
  const again = FolderLock.acquire(runDir, `importTorch ${checkpoint}`);
  try {
    const now = readRecord<ExperimentConfig>(runDir);
    const resumed = now.resumed.map((r, i) => (i === now.resumed.length - 1 ? { ...r, step: from, engine } : r));
    writeRunJson(join(run.dir, RUN_FILES.record), { ...now, config: { ...now.config, steps, train }, resumed });
  } finally {
    again.release();
  }
  return { dir: run.dir, from, steps, engine };
}
