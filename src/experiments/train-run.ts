/**
 * One recorded training run, the call a notebook makes:
 *
 *   const { model } = await trainRun({ name: 'lambda-2', model: { objective: { lambda: 2 } }, steps: 300 });
 *
 * builds the model and the data loader from a spec (MNIST 16 x 16 and the `mnist` preset by default), trains
 * with a live progress line, records every step under runs/<name>/ (src/experiments/run-record.ts), then saves
 * a sample grid, an evaluation row (from an `evaluate` callback or the config's `evaluation`) and a checkpoint. Training goes through
 * the checkpoint module's TrainingRun, so a run stopped midway can go on from its last checkpoint exactly.
 *
 * `modelKind: 'chameleon'` trains the discrete-token baseline instead (src/baseline), through the same steps:
 * its session (src/baseline/session.ts: ChameleonRun) first trains its VQ tokenizer on the run's data, then the
 * baseline; the record, samples, evaluation (the same scorer, src/eval/evaluate.ts), checkpoint and the table
 * below are the same, so the two kinds compare run for run and can be arms of one sweep. A Chameleon run stopped
 * while its tokenizer trains has trained nothing worth keeping: it throws TokenizerInterrupted before run.json is
 * written, and the next call starts afresh.
 *
 * A run folder is never destroyed unasked. The call holds the folder's lock (lock.ts), so a second writer is
 * refused, or with `resume: true` (`whenHeld`) waits until the first lets go, then goes on as below. What it does
 * with the run already there:
 *
 *   folder holds                  resume unset     resume: true          resume: false     overwrite: true
 *   nothing                       trains           trains                trains            trains
 *   this run, finished            reused           reused                refused           trains afresh
 *   another config, finished      refused          refused               refused           trains afresh
 *   this run, unfinished          trains afresh    goes on (checkpoint)  trains afresh     trains afresh
 *   another config, unfinished    trains afresh    refused               trains afresh     trains afresh
 *   something that is not a run   refused          refused               refused           trains afresh
 *
 * "Reused": the finished run is loaded from its checkpoint and returned as it is, nothing trains (a notebook
 * cell run again gets its model back, as a sweep skips its finished arms). A refusal names the folder and the
 * config fields that differ. An unfinished run without a checkpoint has nothing to go on from and restarts.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { tf } from '../engine/tf';
import { Rng, setSeed } from '../engine/random';
import { interruptRequested } from '../engine/interrupt';
import { check, ConfigError } from '../config';
import type { ImageDataset } from '../data/image';
import type { Transfusion } from '../model/transfusion';
import type { RunResult, StepReport, Trainer } from '../train/trainer';
import { DEFAULT_RUN_LOADER, TrainingRun, type TrainOptions } from '../checkpoint/session';
import { textToImage } from '../generate/batch';
import { ChameleonBaseline } from '../baseline/chameleon';
import { ChameleonRun } from '../baseline/session';
import { evaluate } from '../eval/evaluate';
import { imageGrid, type ImageGrid } from '../viz/image-grid';
import { Progress, type ProgressOptions } from '../viz/progress';
import { asResolvedNow, configChanges, describeChanges } from './config-diff';
import { describeOwner, FolderLock, folderHasContent, isLockFile } from './lock';
import { buildDataset, checkDataFitsModel, resolveExperiment, type ExperimentConfig, type ExperimentSpec, type SampleConfig } from './experiment-config';

/** The model a run trains: a Transfusion, or the Chameleon baseline of a `modelKind: 'chameleon'` run. */
export type RunModel = Transfusion | ChameleonBaseline;
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

/**
 * Scores a trained model: returns a flat object of metrics, one row of eval.json / eval.csv. A Chameleon run's
 * scorer gets its ChameleonBaseline (EvaluateFn<ChameleonBaseline>); one given to a sweep with arms of both kinds
 * gets either (EvaluateFn<RunModel>).
 */
export type EvaluateFn<M extends RunModel = Transfusion> = (model: M, context: EvaluateContext) => object | Promise<object>;

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
   * true: go on from runs/<name>/checkpoint.safetensors when that run did not finish, and refuse, naming the
   * fields, when its config differs. false: start over, replacing an unfinished run (a finished one needs
   * `overwrite`). Unset (default): start over, except that a finished run of this very config is reused.
   * The table in this file's comment has every case.
   */
  readonly resume?: boolean;
  /** Replace whatever the folder holds, a finished run included, and train afresh (default false). */
  readonly overwrite?: boolean;
  /**
   * When another live process on this host holds the folder (it is training this run): 'wait' for it to let go,
   * polling, then go on as the folder then says (with `resume: true` a run it finished is loaded, one it stopped
   * resumes); 'refuse' at once with FolderLockedError naming it. Default 'wait' with `resume: true` (so two
   * kernels running one notebook never fail on each other's runs), else 'refuse'. The kernel interrupt or
   * `shouldStop` ends a wait with an error, nothing trained.
   */
  readonly whenHeld?: 'wait' | 'refuse';
  /** Called after every step with the step's report (after it is recorded). */
  readonly onStep?: (report: StepReport, run: Run<ExperimentConfig>) => void;
  /** Polled between steps: true stops the run there, as a kernel interrupt does (status `interrupted`). */
  readonly shouldStop?: () => boolean;
}

/** The options of a Chameleon baseline run: as TrainRunOptions, with `modelKind: 'chameleon'`. */
export interface ChameleonRunOptions extends Omit<TrainRunOptions, 'modelKind' | 'evaluate'> {
  readonly modelKind: 'chameleon';
  /** Scores the baseline after training (default: src/eval's `evaluate` with the config's `evaluation`, as TrainRunOptions). */
  readonly evaluate?: EvaluateFn<ChameleonBaseline>;
}

/** What a training session of either kind offers trainRun (TrainingRun, ChameleonRun). */
interface RunSession<M extends RunModel> {
  readonly model: M;
  readonly trainer: Trainer;
  readonly step: number;
  train(steps: number, options?: TrainOptions): Promise<RunResult>;
  checkpoint(path: string): void;
  dispose(): void;
}

export interface TrainRunResult<M extends RunModel = Transfusion, S = TrainingRun> {
  readonly run: Run<ExperimentConfig>;
  readonly status: RunStatus;
  readonly config: ExperimentConfig;
  /**
   * The trained model (in eval mode once finished) and its trainer, owned by the caller: `dispose()` frees them
   * (and a Chameleon run's tokenizer, `session.tokenizer`, which `model.vq` holds).
   */
  readonly model: M;
  readonly trainer: Trainer;
  readonly session: S;
  /** The step at which this call took over from a checkpoint, or null when it started from scratch. */
  readonly resumedFrom: number | null;
  /** True when the folder held this run finished and it was loaded, not trained (see `resume`). */
  readonly reused: boolean;
  dispose(): void;
}

/** The result of a Chameleon baseline run. */
export type ChameleonRunResult = TrainRunResult<ChameleonBaseline, ChameleonRun>;

/**
 * The sample grid of a run: one image per caption, generated on the stream `<seed>/samples` (its own, so
 * sampling never shifts what training or evaluation draw). A restored checkpoint gives the same PNG bytes. The
 * Chameleon baseline draws its codes with `generate`'s token fields (temperature, topK, topP, greedy).
 */
export async function runSamples(model: RunModel, samples: SampleConfig, seed: number): Promise<ImageGrid> {
  const { captions, generate } = samples;
  const rng = new Rng(`${seed}/samples`);
  const images = model instanceof ChameleonBaseline ? drawCodes(model, captions, generate, rng) : textToImage(model, captions, generate, { rng });
  try {
    // Cells of at least 80 px, so a caption like "the digit 7" fits under its image.
    const [, height, width] = images.shape as number[];
    const scale = Math.ceil(80 / Math.max(height, width));
    return await imageGrid(images, { labels: captions, columns: Math.min(10, captions.length), scale });
  } finally {
    images.dispose();
  }
}

/** The baseline's images for `captions`, its codes freed: what a sample grid and `evaluate` show. */
function drawCodes(model: ChameleonBaseline, captions: readonly string[], generate: SampleConfig['generate'], rng: Rng): tf.Tensor4D {
  const { images, codes } = model.textToImage(captions, { temperature: generate.temperature, topK: generate.topK, topP: generate.topP, greedy: generate.greedy, cache: generate.cache, rng });
  codes.dispose();
  return images;
}

type StartPlan = 'fresh' | 'resume' | 'reuse';

/**
 * What to do with what `dir` holds (the caller holds its lock, so a record still saying `running` is a run
 * that died); throws where starting would destroy or mix work. See the table in the file comment.
 */
function planStart(dir: string, config: ExperimentConfig, options: Pick<TrainRunOptions, 'resume' | 'overwrite'>): StartPlan {
  if (options.overwrite === true || !folderHasContent(dir)) return 'fresh';
  if (!existsSync(join(dir, RUN_FILES.record))) {
    const entries = readdirSync(dir).filter((f) => !isLockFile(f)).sort();
    const shown = entries.slice(0, 5).join(', ') + (entries.length > 5 ? `, ... (${entries.length} entries)` : '');
    throw new Error(`${dir} holds ${shown} but no ${RUN_FILES.record}, so it is not a run (a sweep, or other files): use another name, or pass overwrite: true to replace the folder`);
  }
  const record = readRecord<ExperimentConfig>(dir);
  const changes = configChanges(asResolvedNow(record.config), config);
  if (record.status === 'finished') {
    const which = `${record.steps} steps, ended ${record.endedAt}`;
    if (changes.length > 0) {
      throw new Error(`${dir}: ${options.resume === true ? 'cannot resume: ' : ''}it holds a finished run (${which}) of another config: changed at ${describeChanges(changes)}; pass overwrite: true to replace it (its results are deleted), or use another name`);
    }
    if (options.resume === false) {
      throw new Error(`${dir}: it holds this run finished (${which}); pass overwrite: true to train it again (its results are deleted), or leave resume unset to load it`);
    }
    return 'reuse';
  }
  if (options.resume !== true) return 'fresh';
  if (changes.length > 0) {
    throw new Error(`${dir}: cannot resume: config changed at ${describeChanges(changes)}; pass resume: false to start over (the folder is replaced) or use another name`);
  }
  return existsSync(join(dir, RUN_FILES.checkpoint)) ? 'resume' : 'fresh';
}

/** A session of the run's kind going on from `checkpoint`: a Transfusion TrainingRun or a ChameleonRun. */
function resumeSession(config: ExperimentConfig, checkpoint: string, dataset: ImageDataset): RunSession<RunModel> {
  return config.modelKind === 'chameleon' ? ChameleonRun.resume(checkpoint, dataset) : TrainingRun.resume(checkpoint, dataset);
}

/**
 * A fresh session of the run's kind. A Chameleon session trains its tokenizer first, shown on its own progress
 * line (`<name> tokenizer`) and stopped by the same `shouldStop` and kernel interrupt.
 */
async function createSession(config: ExperimentConfig, dataset: ImageDataset, name: string, options: TrainRunOptions | ChameleonRunOptions): Promise<RunSession<RunModel>> {
  const loader = { batchSize: config.batchSize };
  if (config.modelKind !== 'chameleon' || !config.chameleon) {
    return TrainingRun.create(dataset, { preset: config.model, train: config.train, loader, seed: config.seed });
  }
  const setup = config.chameleon;
  const progress = options.progress === false ? null : new Progress(setup.tokenizerTrain.steps, {
    title: `${name} tokenizer`, ...(typeof options.progress === 'object' ? options.progress : {}),
  });
  const session = await ChameleonRun.create(dataset, { seed: config.seed, setup, train: config.train, loader: { ...DEFAULT_RUN_LOADER, ...loader } }, {
    onTokenizerStep: (r) => progress?.update({ step: r.step + 1, losses: { loss: r.loss, ...r.breakdown }, lr: r.lr }),
    shouldStop: options.shouldStop,
  });
  progress?.finish();
  return session;
}

/** The finished run in `dir`, loaded from its checkpoint instead of trained again. */
function reuseFinished(dir: string, config: ExperimentConfig, dataset: ImageDataset, say: boolean): TrainRunResult<RunModel, RunSession<RunModel>> {
  const checkpoint = join(dir, RUN_FILES.checkpoint);
  if (!existsSync(checkpoint)) {
    throw new Error(`${dir}: it holds this run finished but no ${RUN_FILES.checkpoint} to load its model from; pass overwrite: true to train it again`);
  }
  const run = Run.open<ExperimentConfig>(dir);
  const session = resumeSession(config, checkpoint, dataset);
  session.model.eval();
  if (say) console.log(`${run.name}: finished earlier (${run.info.steps} steps, ended ${run.info.endedAt}); loaded from ${checkpoint}, not trained again (overwrite: true trains it again)`);
  return {
    run, status: 'finished', config, model: session.model, trainer: session.trainer, session, resumedFrom: session.step, reused: true, dispose: () => session.dispose(),
  };
}

/** The scorer of a finished run: the caller's, else src/eval's `evaluate` with the config's `evaluation`, else none. */
function scorerOf(config: ExperimentConfig, options: TrainRunOptions | ChameleonRunOptions): EvaluateFn<RunModel> | null {
  if (options.evaluate) return options.evaluate as EvaluateFn<RunModel>;
  const evaluation = config.evaluation;
  return evaluation ? (model) => evaluate(model, evaluation) : null;
}

/**
 * Train, record, sample, evaluate and checkpoint one run under `<root>/<name>/`: every step's metrics, a sample
 * grid, an evaluation row (`evaluate` or the config's `evaluation`) and a checkpoint; returns the model and the run.
 *
 *   const { model } = await trainRun({ name: 'lambda-2', model: { objective: { lambda: 2 } }, steps: 300 });
 *   const { model: baseline } = await trainRun({ name: 'chameleon', modelKind: 'chameleon', steps: 300 });
 *
 * `modelKind: 'chameleon'` trains the discrete-token baseline that is the twin of the spec's Transfusion model
 * (ChameleonRunOptions). The folder is never destroyed unasked: a finished run of the same config is reused
 * (loaded, not retrained), `resume: true` goes on from the last checkpoint, and another config in the folder is
 * refused, naming the changed fields, unless `overwrite: true` (the full table is in this file's header comment).
 */
export function trainRun(options: TrainRunOptions): Promise<TrainRunResult>;
export function trainRun(options: ChameleonRunOptions): Promise<ChameleonRunResult>;
export function trainRun(options: TrainRunOptions | ChameleonRunOptions): Promise<TrainRunResult | ChameleonRunResult>;
export async function trainRun(options: TrainRunOptions | ChameleonRunOptions): Promise<TrainRunResult<RunModel, RunSession<RunModel>>> {
  const name = checkName('trainRun.name', options.name);
  const every = check.nonNegativeInt('trainRun.checkpointEvery', options.checkpointEvery ?? 0);
  const config = resolveExperiment(options);
  const root = options.root ?? DEFAULT_RUNS_ROOT;
  const dir = resolve(root, name);
  const dataset = options.dataset ?? buildDataset(config.data);
  checkDataFitsModel(dataset, config);

  if (options.overwrite === true && options.resume === true) throw new ConfigError('trainRun.overwrite', true, 'false with resume: true (overwrite starts afresh, resume goes on)');

  const whenHeld = options.whenHeld ?? (options.resume === true ? 'wait' : 'refuse');
  check.oneOf('trainRun.whenHeld', whenHeld, ['wait', 'refuse']);
  const lock = whenHeld === 'refuse' ? FolderLock.acquire(dir, `trainRun ${name}`) : await FolderLock.acquireWhenFree(dir, `trainRun ${name}`, {
    stop: () => interruptRequested() || options.shouldStop?.() === true,
    onWait: (owner) => {
      if (options.progress !== false) console.log(`${name}: another process is training it, ${describeOwner(owner)}; waiting for it to let go (interrupt to stop waiting)`);
    },
  });
  if (lock === null) throw new Error(`${dir}: stopped while waiting for another process to let go of the run; nothing was trained`);
  const releaseOnError = async <T>(step: () => T | Promise<T>): Promise<T> => {
    try {
      return await step();
    } catch (e) {
      lock.release();
      throw e;
    }
  };
  const plan = await releaseOnError(() => planStart(dir, config, options));
  // Code that draws from the global stream during the run (rng()) draws the same in every run of this seed.
  setSeed(config.seed);
  if (plan === 'reuse') {
    try {
      return reuseFinished(dir, config, dataset, options.progress !== false);
    } finally {
      lock.release();
    }
  }
  const session = await releaseOnError(() => plan === 'resume' ? resumeSession(config, join(dir, RUN_FILES.checkpoint), dataset) : createSession(config, dataset, name, options));
  const resumedFrom = plan === 'resume' ? session.step : null;
  let run: Run<ExperimentConfig>;
  try {
    run = plan === 'resume'
      ? await Run.resume<ExperimentConfig>(dir, session.trainer.history, { lock })
      : await Run.start({ name, root, config, seed: config.seed, arm: options.arm, lock });
  } catch (e) {
    lock.release();
    session.dispose();
    throw e;
  }
  const result = (status: RunStatus): TrainRunResult<RunModel, RunSession<RunModel>> => ({
    run, status, config, model: session.model, trainer: session.trainer, session, resumedFrom, reused: false, dispose: () => session.dispose(),
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
    const score = scorerOf(config, options);
    if (score) run.addEval(await score(model, evaluationContext(config, run)));
    await run.finish();
    return result('finished');
  } catch (e) {
    await run.fail(e);
    session.dispose();
    throw e;
  }
}
