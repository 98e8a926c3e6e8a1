/**
 * One recorded training run, the call a notebook makes:
 *
 *   const { model } = await trainRun({ name: 'lambda-2', model: { objective: { lambda: 2 } }, steps: 300 });
 *
 * builds the model and the data loader from a spec (MNIST 16 x 16 and the `mnist` preset by default), trains
 * with a live progress line, records every step under runs/<name>/ (src/experiments/run-record.ts), then saves
 * a sample grid, an evaluation row (from an `evaluate` callback or the config's `evaluation`) and a checkpoint. Training goes through
 * the checkpoint module's TrainingRun, so a run stopped midway can go on from its last checkpoint exactly.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Rng, setSeed } from '../engine/random';
import { check } from '../config';
import type { ImageDataset } from '../data/image';
import type { Transfusion } from '../model/transfusion';
import type { StepReport, Trainer } from '../train/trainer';
import { TrainingRun } from '../checkpoint/session';
import { textToImage } from '../generate/batch';
import { evaluate } from '../eval/evaluate';
import { imageGrid, type ImageGrid } from '../viz/image-grid';
import { Progress, type ProgressOptions } from '../viz/progress';
import { canonicalJson } from './atomic';
import { buildDataset, checkDataFitsModel, resolveExperiment, type ExperimentConfig, type ExperimentSpec, type SampleConfig } from './experiment-config';
import { DEFAULT_RUNS_ROOT, RUN_FILES, Run, checkName, readRecord, type ArmInfo, type RunStatus } from './run-record';

/** What an `evaluate` callback gets besides the model (which is in eval mode). */
export interface EvaluateContext {
  readonly config: ExperimentConfig;
  /** The stream `<seed>/eval`, its own, so evaluation is as reproducible as training and never shifts it. */
  readonly rng: Rng;
  readonly run: Run<ExperimentConfig>;
}

/** The context a scorer gets for the run `run` of `config`: the same for a run's own evaluation and a rescore. */
export function evaluationContext(config: ExperimentConfig, run: Run<ExperimentConfig>): EvaluateContext {
  return { config, rng: new Rng(`${config.seed}/eval`), run };
}

/** Scores a trained model: returns a flat object of metrics, one row of eval.json / eval.csv. */
export type EvaluateFn = (model: Transfusion, context: EvaluateContext) => object | Promise<object>;

export interface TrainRunOptions extends ExperimentSpec {
  /** Folder name of the run under `root`. */
  readonly name: string;
  /** Parent folder (default 'runs'). */
  readonly root?: string;
  /** A dataset built by the caller, used instead of building `data` (which is then recorded but not used). */
  readonly dataset?: ImageDataset;
  /** For an arm of a sweep: its label and values (recorded in run.json). */
  readonly arm?: ArmInfo;
  /**
   * Scores the model after training; its row goes to eval.json / eval.csv. Default: src/eval's `evaluate` with
   * the config's `evaluation` fields when those are set, else no evaluation.
   */
  readonly evaluate?: EvaluateFn;
  /** The live progress line: false hides it, an object sets its options. Default shown, titled with the name. */
  readonly progress?: boolean | Partial<ProgressOptions>;
  /**
   * Also checkpoint every this many steps (default 0: only at the end). A run stopped midway then goes on
   * from its last checkpoint when started again with `resume: true`.
   */
  readonly checkpointEvery?: number;
  /**
   * Go on from runs/<name>/checkpoint.safetensors when that run has the same config and did not finish
   * (default false: start afresh, replacing the folder).
   */
  readonly resume?: boolean;
  /** Called after every step with the step's report (after it is recorded). */
  readonly onStep?: (report: StepReport, run: Run<ExperimentConfig>) => void;
  /** Polled between steps: true stops the run there, as a kernel interrupt does (status `interrupted`). */
  readonly shouldStop?: () => boolean;
}

export interface TrainRunResult {
  readonly run: Run<ExperimentConfig>;
  readonly status: RunStatus;
  readonly config: ExperimentConfig;
  /** The trained model (in eval mode once finished) and its trainer, owned by the caller: `dispose()` them when done. */
  readonly model: Transfusion;
  readonly trainer: Trainer;
  readonly session: TrainingRun;
  /** The step at which this call took over from a checkpoint, or null when it started from scratch. */
  readonly resumedFrom: number | null;
  dispose(): void;
}

/**
 * The sample grid of a run: one image per caption, generated on the stream `<seed>/samples` (its own, so
 * sampling never shifts what training or evaluation draw). A restored checkpoint gives the same PNG bytes.
 */
export async function runSamples(model: Transfusion, samples: SampleConfig, seed: number): Promise<ImageGrid> {
  const { captions, generate } = samples;
  const images = textToImage(model, captions, generate, { rng: new Rng(`${seed}/samples`) });
  try {
    // Cells of at least 80 px, so a caption like "the digit 7" fits under its image.
    const [, height, width] = images.shape as number[];
    const scale = Math.ceil(80 / Math.max(height, width));
    return await imageGrid(images, { labels: captions, columns: Math.min(10, captions.length), scale });
  } finally {
    images.dispose();
  }
}

/** True when `dir` holds an unfinished run of `config` with a checkpoint to go on from. */
function canResume(dir: string, config: ExperimentConfig): boolean {
  if (!existsSync(join(dir, RUN_FILES.record)) || !existsSync(join(dir, RUN_FILES.checkpoint))) return false;
  const record = readRecord<ExperimentConfig>(dir);
  return record.status !== 'finished' && canonicalJson(record.config) === canonicalJson(config);
}

/** Train, record, sample, evaluate and checkpoint one run; see the file comment. */
export async function trainRun(options: TrainRunOptions): Promise<TrainRunResult> {
  const name = checkName('trainRun.name', options.name);
  const every = check.nonNegativeInt('trainRun.checkpointEvery', options.checkpointEvery ?? 0);
  const config = resolveExperiment(options);
  const root = options.root ?? DEFAULT_RUNS_ROOT;
  const dir = resolve(root, name);
  const dataset = options.dataset ?? buildDataset(config.data);
  checkDataFitsModel(dataset, config);

  // Code that draws from the global stream during the run (rng()) draws the same in every run of this seed.
  setSeed(config.seed);
  const resuming = options.resume === true && canResume(dir, config);
  const session = resuming
    ? TrainingRun.resume(join(dir, RUN_FILES.checkpoint), dataset)
    : TrainingRun.create(dataset, { preset: config.model, train: config.train, loader: { batchSize: config.batchSize }, seed: config.seed });
  const resumedFrom = resuming ? session.step : null;
  let run: Run<ExperimentConfig>;
  try {
    run = resuming
      ? await Run.resume<ExperimentConfig>(dir, session.trainer.history)
      : await Run.start({ name, root, config, seed: config.seed, arm: options.arm });
  } catch (e) {
    session.dispose();
    throw e;
  }
  const result = (status: RunStatus): TrainRunResult => ({
    run, status, config, model: session.model, trainer: session.trainer, session, resumedFrom, dispose: () => session.dispose(),
  });
  try {
    const progress = options.progress === false ? null : new Progress(config.steps, {
      title: name, ...(typeof options.progress === 'object' ? options.progress : {}),
    });
    const outcome = await session.train(config.steps - session.step, {
      onStep: (report) => {
        run.logStep(report);
        progress?.update({ step: report.step + 1, losses: { loss: report.loss, ...report.breakdown }, lr: report.lr, info: { gradNorm: report.gradNorm } });
        if (every > 0 && session.step % every === 0 && session.step < config.steps) session.checkpoint(run.checkpointPath);
        options.onStep?.(report, run);
      },
      shouldStop: options.shouldStop,
    });
    progress?.finish();
    session.checkpoint(run.checkpointPath);
    if (outcome.stoppedBy !== 'done') {
      await run.finish('interrupted');
      return result('interrupted');
    }
    const model = session.model;
    model.eval();
    if (config.samples) await run.saveSamples('final', (await runSamples(model, config.samples, config.seed)).png);
    const score = options.evaluate ?? (config.evaluation ? () => evaluate(model, config.evaluation!) : null);
    if (score) run.addEval(await score(model, evaluationContext(config, run)));
    await run.finish();
    return result('finished');
  } catch (e) {
    await run.fail(e);
    session.dispose();
    throw e;
  }
}
