/**
 * Rescoring: evaluate a finished run again from its checkpoint, without training it again, and add the row to
 * its eval.json. What it is for: a metric added after the runs of an ablation trained (say `diffusion_mse`), a
 * scoring function that changed, or more generated images for a tighter FID. `compareRuns` reads each run's
 * newest row, so a rescored sweep compares on the new metrics; the old rows stay in eval.json for the record.
 *
 *   await rescoreRun('runs/lambda/lambda=5,seed=0');                 // src/eval's evaluate, the run's settings
 *   await sweep(base, grid, { name: 'lambda', rescore: true, evaluate: score });   // every finished arm too
 *
 * The model is restored exactly as it was saved (weights, EMA, config), put in eval mode, and handed to the
 * scorer with the same context a training run gives it, including the `<seed>/eval` stream, so a rescore with
 * an unchanged scorer reproduces the run's own row.
 */
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { restore } from '../checkpoint/checkpoint';
import { evaluate, type EvalConfig } from '../eval/evaluate';
import type { DeepPartial } from '../config';
import type { ExperimentConfig } from './experiment-config';
import { FolderLock } from './lock';
import { RUN_FILES, Run, type RecordedEval } from './run-record';
import { evaluationContext, type EvaluateFn } from './train-run';

export interface RescoreOptions {
  /**
   * The scorer (as `trainRun`'s `evaluate`). Default: src/eval's `evaluate` with `evaluation` below, else with the
   * run's own `evaluation` settings, else with the defaults.
   */
  readonly evaluate?: EvaluateFn;
  /** Settings for the default scorer, over the run's own (e.g. `{ n: 50 }` for a tighter FID). */
  readonly evaluation?: DeepPartial<EvalConfig>;
}

/**
 * Evaluate the finished run in `dir` from its checkpoint and add the row to its eval.json; returns the row.
 * Holds the folder's lock meanwhile: two rescores (or a rescore and a run) would each drop the other's row.
 */
export async function rescoreRun(dir: string, options: RescoreOptions = {}): Promise<RecordedEval> {
  if (!existsSync(dir)) throw new Error(`${resolve(dir)} does not exist`);
  const lock = FolderLock.acquire(dir, `rescore ${basename(resolve(dir))}`);
  try {
    const run = Run.open<ExperimentConfig>(dir);
    // Before the checkpoint is restored and scored, not only when the row is added.
    run.assertRescorable();
    const checkpoint = run.checkpointPath;
    if (!existsSync(checkpoint)) throw new Error(`${run.dir} has no ${RUN_FILES.checkpoint} to rescore from`);
    const config = run.info.config;
    const restored = restore(checkpoint);
    try {
      const model = restored.model;
      model.eval();
      const score: EvaluateFn = options.evaluate ?? ((m) => evaluate(m, { ...config.evaluation, ...options.evaluation }));
      const row = await score(model, evaluationContext(config, run));
      return run.addRescore(row);
    } finally {
      restored.model.dispose();
      restored.trainer?.dispose();
    }
  } finally {
    lock.release();
  }
}
