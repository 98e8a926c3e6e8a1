/**
 * A training session that can stop and go on exactly: it owns the model, the trainer, the data loader and the
 * noise stream the objective draws from, and checkpoints all of their state. Resumed from step k, it produces
 * the same loss at every later step as the run that never stopped (same seed, same backend).
 *
 * What must be restored for that, and where it lives:
 *   weights, AdamW moments and step, EMA, trainer step (LR schedule), history   checkpoint.ts
 *   Dropout streams inside the model                                            checkpoint.ts (rng.modules)
 *   the noise stream (timesteps and epsilon of every image)                     rng.named.noise
 *   the data position: epoch e, batch b within it                               session.data
 * Epoch e's batches are a function of (loader seed, e) alone (src/data/loader.ts), so the position is two
 * integers: resuming rebuilds epoch e and skips its first b batches. The loader seed derives from the run
 * seed, so the loader is rebuilt rather than stored; only the dataset itself must be passed again.
 */
import { ConfigError, check, checkKeys, mergeConfig, type DeepPartial } from '../config';
import { Rng, setGlobalRngState } from '../engine/random';
import { resolveConfig, type PresetName, type TransfusionConfig } from '../model/config';
import { Transfusion } from '../model/transfusion';
import { Trainer, makeTrainConfig, type RunResult, type StepReport, type TrainConfig } from '../train/trainer';
import { DataLoader, DEFAULT_LOADER_CONFIG, type LoaderBatch, type LoaderOptions } from '../data/loader';
import type { ImageDataset } from '../data/image';
import { CheckpointError, restore, saveCheckpoint } from './checkpoint';

/** Loader settings a run chooses; the row layout (`sequence`) comes from the model config. */
export interface RunLoaderConfig {
  /** Rows per batch (default 16, as DEFAULT_LOADER_CONFIG). */
  readonly batchSize: number;
  /** Fresh seeded order each epoch (default true). */
  readonly shuffle: boolean;
  /** Drop each epoch's short last batch (default true: every step sees batchSize rows). */
  readonly dropLast: boolean;
}

export interface RunConfig {
  /**
   * Seed of the run's streams (default 0): initial weights from `<seed>/init`, data order from `<seed>/data`,
   * diffusion noise from `<seed>/noise`. Separate streams, so drawing more noise never shifts the data.
   */
  readonly seed: number;
  readonly model: TransfusionConfig;
  readonly train: TrainConfig;
  readonly loader: RunLoaderConfig;
}

export const DEFAULT_RUN_LOADER: RunLoaderConfig = {
  batchSize: DEFAULT_LOADER_CONFIG.batchSize,
  shuffle: DEFAULT_LOADER_CONFIG.shuffle,
  dropLast: DEFAULT_LOADER_CONFIG.dropLast,
};

export interface RunOverrides {
  /** Model preset or full config to start from (default 'tiny'). */
  readonly preset?: PresetName | TransfusionConfig;
  readonly model?: DeepPartial<TransfusionConfig>;
  readonly train?: DeepPartial<TrainConfig>;
  readonly loader?: DeepPartial<RunLoaderConfig>;
  readonly seed?: number;
}

/** Every field of RunOverrides, typed so that a field added there must be added here. */
const RUN_OVERRIDE_FIELDS: { readonly [K in keyof Required<RunOverrides>]: true } = { preset: true, model: true, train: true, loader: true, seed: true };

export function makeRunConfig(overrides: RunOverrides = {}): RunConfig {
  checkKeys(overrides, Object.keys(RUN_OVERRIDE_FIELDS), 'run');
  const seed = overrides.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw new ConfigError('run.seed', seed, 'an integer');
  const loader = mergeConfig(DEFAULT_RUN_LOADER, overrides.loader, 'run.loader');
  check.size('run.loader.batchSize', loader.batchSize, 'batch');
  return { seed, model: resolveConfig(overrides.preset ?? 'tiny', overrides.model ?? {}), train: makeTrainConfig(overrides.train), loader };
}

/** The next batch a run draws: batch `batch` (0-based) of epoch `epoch`. */
export interface DataPosition {
  readonly epoch: number;
  readonly batch: number;
}

/** A data position as a session checkpoints it: with the loader's seed and the dataset's length, checked on resume. */
export type SavedDataPosition = DataPosition & { readonly loaderSeed: number; readonly datasetLength: number };

/** What a run adds to its checkpoint's `session` entry. */
interface SessionState {
  readonly seed: number;
  readonly loader: RunLoaderConfig;
  readonly data: SavedDataPosition;
}

/** How the loader gets images and text beyond its config (its rng is the run's own). */
export type RunDataOptions = Omit<LoaderOptions, 'rng'>;

export interface TrainOptions {
  /** Called after every step; calling `run.checkpoint(path)` here saves at a step boundary. */
  readonly onStep?: (report: StepReport) => void;
  readonly shouldStop?: () => boolean;
}

/**
 * The walk over a loader's batches from a data position, epoch after epoch: what makes a session exactly resumable
 * (the position is checkpointed, and a resumed walk skips to it). Shared by TrainingRun and the baseline's
 * ChameleonRun (src/baseline/session.ts). `owner` names the session in errors.
 */
export class BatchWalk {
  private batches: Generator<LoaderBatch> | null = null;

  constructor(
    readonly loader: DataLoader,
    private current: DataPosition,
    private readonly owner: string,
    /** The run's batch size, named when one epoch cannot fill a batch. */
    private readonly batchSize: number,
  ) {}

  /** Where the next batch comes from. */
  get position(): DataPosition {
    return this.current;
  }

  next(): LoaderBatch {
    for (;;) {
      const { epoch, batch } = this.current;
      if (!this.batches) {
        this.batches = this.loader.epoch(epoch);
        for (let i = 0; i < batch; i++) {
          if (this.batches.next().done) throw new Error(`${this.owner}: epoch ${epoch} has only ${i} batches, cannot resume at batch ${batch}`);
        }
      }
      const next = this.batches.next();
      if (!next.done) {
        this.current = { epoch, batch: batch + 1 };
        return next.value;
      }
      if (batch === 0) {
        throw new ConfigError('run.loader.batchSize', this.batchSize, `at most the rows one epoch fills (${this.loader.dataset.length} items), or set dropLast: false`);
      }
      this.current = { epoch: epoch + 1, batch: 0 };
      this.batches = null;
    }
  }
}

/**
 * The loader and data position a resumed session goes on from (TrainingRun's and the baseline's ChameleonRun's):
 * the saved position checked, the dataset checked to be the one trained on, and the rebuilt loader checked to
 * draw the saved order, each refusal naming the file.
 */
export function resumedLoader(
  path: string,
  saved: SavedDataPosition,
  dataset: ImageDataset,
  makeLoader: () => DataLoader,
): { readonly loader: DataLoader; readonly position: DataPosition } {
  for (const key of ['epoch', 'batch'] as const) {
    if (!Number.isSafeInteger(saved[key]) || saved[key] < 0) throw new CheckpointError(path, `__metadata__.session.data.${key} is ${JSON.stringify(saved[key])}; expected an integer >= 0`);
  }
  if (dataset.length !== saved.datasetLength) {
    throw new CheckpointError(path, `the run trained on a dataset of ${saved.datasetLength} items; the dataset given has ${dataset.length}, so the data order could not be the same`);
  }
  const loader = makeLoader();
  if (loader.seed !== saved.loaderSeed) {
    throw new CheckpointError(path, `the rebuilt loader's seed is ${loader.seed}, the run's was ${saved.loaderSeed}: the loader's seeding changed since the file was written`);
  }
  return { loader, position: { epoch: saved.epoch, batch: saved.batch } };
}

export class TrainingRun {
  private readonly walk: BatchWalk;

  private constructor(
    readonly config: RunConfig,
    readonly model: Transfusion,
    readonly trainer: Trainer,
    readonly loader: DataLoader,
    /** The stream the objective draws timesteps and noise from. */
    readonly noise: Rng,
    position: DataPosition,
  ) {
    this.walk = new BatchWalk(loader, position, 'TrainingRun', config.loader.batchSize);
  }

  /** A fresh run on `dataset`: everything random derives from `overrides.seed`. */
  static create(dataset: ImageDataset, overrides: RunOverrides = {}, data: RunDataOptions = {}): TrainingRun {
    const config = makeRunConfig(overrides);
    const model = new Transfusion(config.model, new Rng(`${config.seed}/init`));
    const trainer = new Trainer(model, config.train);
    const loader = TrainingRun.makeLoader(config.seed, config.loader, config.model, dataset, data);
    return new TrainingRun(config, model, trainer, loader, new Rng(`${config.seed}/noise`), { epoch: 0, batch: 0 });
  }

  /**
   * Continue the run saved in `path` on the same `dataset` (and the same `data` options it was created with):
   * weights, optimizer, EMA, history, every stream and the data position are those of the saved step. The
   * global stream (`rng()`) is restored too, so code around the run also draws what it would have drawn.
   */
  static resume(path: string, dataset: ImageDataset, data: RunDataOptions = {}): TrainingRun {
    const { model, trainer, rngs, metadata } = restore(path);
    try {
      const session = metadata.session as SessionState | null;
      if (!trainer || !session || !session.data || !rngs.noise) {
        throw new CheckpointError(path, 'not a TrainingRun checkpoint (it lacks the trainer, the session data position or the noise stream); use restore() for a plain model checkpoint');
      }
      const { seed } = session;
      const loaderConfig = mergeConfig(DEFAULT_RUN_LOADER, session.loader, 'session.loader');
      const { loader, position } = resumedLoader(path, session.data, dataset, () => TrainingRun.makeLoader(seed, loaderConfig, model.config, dataset, data));
      setGlobalRngState(metadata.rng.global);
      const config: RunConfig = { seed, model: model.config, train: trainer.config, loader: loaderConfig };
      return new TrainingRun(config, model, trainer, loader, rngs.noise, position);
    } catch (e) {
      trainer?.dispose();
      model.dispose();
      throw e;
    }
  }

  private static makeLoader(seed: number, config: RunLoaderConfig, model: TransfusionConfig, dataset: ImageDataset, data: RunDataOptions): DataLoader {
    return new DataLoader(dataset, { ...config, sequence: model.sequence }, { ...data, rng: new Rng(`${seed}/data`) });
  }

  /** Where the next batch comes from. */
  get dataPosition(): DataPosition {
    return this.walk.position;
  }

  /** Optimiser steps completed. */
  get step(): number {
    return this.trainer.step;
  }

  /** The next batch, advancing the data position (epoch after epoch, as DataLoader.batches). */
  nextBatch(): LoaderBatch {
    return this.walk.next();
  }

  /** Train `steps` more steps (fewer if stopped); each micro-batch takes the next batch and draws from `noise`. */
  train(steps: number, options: TrainOptions = {}): Promise<RunResult> {
    return this.trainer.run(() => this.model.loss(this.nextBatch(), this.noise), { steps, ...options });
  }

  /** Save everything `resume` needs to `path`, atomically. Call between steps (after `train` or from `onStep`). */
  checkpoint(path: string, metadata?: Readonly<Record<string, string>>): void {
    const session: SessionState = {
      seed: this.config.seed,
      loader: this.config.loader,
      data: { ...this.walk.position, loaderSeed: this.loader.seed, datasetLength: this.loader.dataset.length },
    };
    saveCheckpoint(path, { model: this.model, trainer: this.trainer, rngs: { noise: this.noise }, session, metadata });
  }

  dispose(): void {
    this.trainer.dispose();
    this.model.dispose();
  }
}
