/**
 * A training session of the Chameleon baseline that can stop and go on exactly, the baseline's counterpart of
 * `TrainingRun` (src/checkpoint/session.ts), so `trainRun` records, checkpoints, resumes and reuses a baseline
 * run as it does a Transfusion one (src/experiments/train-run.ts, `modelKind: 'chameleon'`).
 *
 * A fresh session first trains its VQ tokenizer on the run's data (`trainAutoencoder`, src/latents/train.ts,
 * seeded by the setup's `tokenizerTrain.seed`), freezes it, and then trains the baseline with next-token
 * prediction on text and codes. The checkpoint holds the tokenizer's weights beside the baseline's, so a resumed,
 * reused or restored run never trains its tokenizer again and draws images with the very codebook it learned.
 *
 * What the checkpoint holds, and where: the same safetensors layout as a Transfusion checkpoint
 * (src/checkpoint/checkpoint.ts: weights by dotted name, `optimizer.m.` / `optimizer.v.` moments, `ema.` weights,
 * `__metadata__` trainer, history, rng and session), plus
 *   `tokenizer.<parameter>`      the frozen VQ's weights (no moments: it is not trained here)
 *   `__metadata__.model_kind`    'chameleon', so `restoreChameleon` refuses a Transfusion file and back
 *   `__metadata__.config`        { baseline: BaselineConfig, tokenizer: VQConfig }
 * Resumed from step k, the session gives the same loss at every later step as the run that never stopped: the
 * data position is two integers (epoch, batch), as TrainingRun's, and the baseline's loss draws no noise.
 */
import { tf } from '../engine/tf';
import { Rng, setGlobalRngState } from '../engine/random';
import { mergeConfig } from '../config';
import type { ImageDataset } from '../data/image';
import type { DataLoader, LoaderBatch } from '../data/loader';
import { makeAutoencoder, resolveAutoencoderConfig, type VQConfig } from '../blocks/autoencoder';
import type { VQAutoencoder } from '../blocks/vq';
import { Trainer, type RunResult, type StepReport, type TrainConfig } from '../train/trainer';
import { trainAutoencoder } from '../latents/train';
import type { Transfusion } from '../model/transfusion';
import {
  CheckpointError, loadCheckpointOf, refuseUnused, restoreModuleStreams, restoredTrainer, saveCheckpoint, takeTensor, trainerTensors,
  type CheckpointConfigReader, type RngStates, type TrainerState,
} from '../checkpoint/checkpoint';
import { BatchWalk, DEFAULT_RUN_LOADER, resumedLoader, type DataPosition, type SavedDataPosition, type RunLoaderConfig, type TrainOptions } from '../checkpoint/session';
import { resolveBaselineConfig, type BaselineConfig, type ChameleonSetup } from './config';
import { ChameleonBaseline } from './chameleon';
import { codeLoader } from './codes';

/** Everything a baseline session is, as plain data. */
export interface ChameleonRunConfig {
  /** Seed of the run's streams: initial weights from `<seed>/init`, data order from `<seed>/data`. */
  readonly seed: number;
  readonly setup: ChameleonSetup;
  readonly train: TrainConfig;
  readonly loader: RunLoaderConfig;
}

/** What `__metadata__.config` of a baseline checkpoint holds: what rebuilds the two networks. */
export interface ChameleonCheckpointConfig {
  readonly baseline: BaselineConfig;
  readonly tokenizer: VQConfig;
}

/** The `__metadata__.model_kind` of a baseline checkpoint. */
export const CHAMELEON_MODEL_KIND = 'chameleon';
const TOKENIZER_PREFIX = 'tokenizer.';

export interface RestoredChameleon {
  /** The baseline with its tokenizer attached (`model.vq`); the caller disposes both (`dispose()` here does). */
  readonly model: ChameleonBaseline;
  readonly tokenizer: VQAutoencoder;
  /** Null when the checkpoint was saved without a trainer. */
  readonly trainer: Trainer | null;
  readonly rngs: Record<string, Rng>;
  /** The trainer state and streams as saved (the global stream included). */
  readonly metadata: { readonly config: ChameleonCheckpointConfig; readonly trainer: TrainerState | null; readonly rng: RngStates; readonly session: unknown; readonly created: string };
  /** Free the baseline, the tokenizer and the trainer. */
  dispose(): void;
}

/** What a session adds to its checkpoint's `session` entry (as TrainingRun's). */
interface SessionState {
  readonly seed: number;
  readonly setup: ChameleonSetup;
  readonly loader: RunLoaderConfig;
  readonly data: SavedDataPosition;
}

/** Options of `ChameleonRun.create` besides the config: progress of the tokenizer's training. */
export interface ChameleonCreateOptions {
  readonly onTokenizerStep?: (report: StepReport) => void;
  /** Polled between tokenizer steps (besides the kernel interrupt). */
  readonly shouldStop?: () => boolean;
}

/** A fresh session was stopped while its tokenizer trained: nothing was trained after it, so nothing is saved. */
export class TokenizerInterrupted extends Error {
  constructor(readonly stepsRun: number, readonly steps: number) {
    super(`interrupted while training the tokenizer (step ${stepsRun} of ${steps}); the baseline did not start and nothing was saved`);
    this.name = 'TokenizerInterrupted';
  }
}

export class ChameleonRun {
  private readonly walk: BatchWalk;

  private constructor(
    readonly config: ChameleonRunConfig,
    readonly model: ChameleonBaseline,
    readonly tokenizer: VQAutoencoder,
    readonly trainer: Trainer,
    readonly loader: DataLoader,
    position: DataPosition,
  ) {
    this.walk = new BatchWalk(loader, position, 'ChameleonRun', config.loader.batchSize);
  }

  /** A fresh session on `dataset`: trains the tokenizer, then builds the baseline, its trainer and loader. */
  static async create(dataset: ImageDataset, config: ChameleonRunConfig, options: ChameleonCreateOptions = {}): Promise<ChameleonRun> {
    const { setup } = config;
    const trained = await trainAutoencoder(setup.tokenizer, dataset, { ...setup.tokenizerTrain, onStep: options.onTokenizerStep, shouldStop: options.shouldStop });
    const tokenizer = trained.autoencoder as VQAutoencoder;
    if (trained.stoppedBy !== 'done') {
      tokenizer.dispose();
      throw new TokenizerInterrupted(trained.history.length, setup.tokenizerTrain.steps);
    }
    const model = new ChameleonBaseline(setup.model, { rng: new Rng(`${config.seed}/init`), vq: tokenizer });
    const trainer = new Trainer(model, config.train);
    const loader = ChameleonRun.makeLoader(config, model, tokenizer, dataset);
    return new ChameleonRun(config, model, tokenizer, trainer, loader, { epoch: 0, batch: 0 });
  }

  /** Continue the session saved in `path` on the same `dataset`; the global stream is restored too (as TrainingRun.resume). */
  static resume(path: string, dataset: ImageDataset): ChameleonRun {
    const restored = restoreChameleon(path);
    try {
      const session = restored.metadata.session as SessionState | null;
      if (!restored.trainer || !session || !session.data || !session.setup) {
        throw new CheckpointError(path, 'not a ChameleonRun checkpoint (it lacks the trainer or the session data position); use restoreChameleon() for a plain model checkpoint');
      }
      const { seed, setup } = session;
      const loaderConfig = mergeConfig(DEFAULT_RUN_LOADER, session.loader, 'session.loader');
      const config: ChameleonRunConfig = { seed, setup, train: restored.trainer.config, loader: loaderConfig };
      const { loader, position } = resumedLoader(path, session.data, dataset, () => ChameleonRun.makeLoader(config, restored.model, restored.tokenizer, dataset));
      setGlobalRngState(restored.metadata.rng.global);
      return new ChameleonRun(config, restored.model, restored.tokenizer, restored.trainer, loader, position);
    } catch (e) {
      restored.dispose();
      throw e;
    }
  }

  private static makeLoader(config: ChameleonRunConfig, model: ChameleonBaseline, tokenizer: VQAutoencoder, dataset: ImageDataset): DataLoader {
    return codeLoader(model, tokenizer, dataset, { loader: config.loader, rng: new Rng(`${config.seed}/data`) });
  }

  /** Where the next batch comes from. */
  get dataPosition(): DataPosition {
    return this.walk.position;
  }

  /** Optimiser steps completed. */
  get step(): number {
    return this.trainer.step;
  }

  /** The next batch, advancing the data position epoch after epoch (TrainingRun's walk, BatchWalk). */
  nextBatch(): LoaderBatch {
    return this.walk.next();
  }

  /** Train `steps` more steps (fewer if stopped), each on the next batch. */
  train(steps: number, options: TrainOptions = {}): Promise<RunResult> {
    return this.trainer.run(() => this.model.loss(this.nextBatch()), { steps, ...options });
  }

  /** Save everything `resume` needs to `path`, atomically. Call between steps. */
  checkpoint(path: string): void {
    const session: SessionState = {
      seed: this.config.seed,
      setup: this.config.setup,
      loader: this.config.loader,
      data: { ...this.walk.position, loaderSeed: this.loader.seed, datasetLength: this.loader.dataset.length },
    };
    saveChameleonCheckpoint(path, this.model, this.tokenizer, { trainer: this.trainer, session });
  }

  dispose(): void {
    this.trainer.dispose();
    this.model.dispose();
    this.tokenizer.dispose();
  }
}

/**
 * Write a baseline checkpoint (see the file comment) through the lab's own writer, `saveCheckpoint`: it reads
 * only `namedParameters()`, `net` (for Dropout streams) and `config` of the model it is given, so the baseline
 * goes in as that view, with the tokenizer's weights under `tokenizer.`.
 */
export function saveChameleonCheckpoint(path: string, model: ChameleonBaseline, tokenizer: VQAutoencoder, options: { readonly trainer?: Trainer; readonly session?: unknown } = {}): void {
  const config: ChameleonCheckpointConfig = { baseline: model.config, tokenizer: tokenizer.config as VQConfig };
  const view = {
    config,
    net: model.net,
    namedParameters: () => [...model.namedParameters(), ...tokenizer.namedParameters().map(([n, v]) => [TOKENIZER_PREFIX + n, v] as [string, tf.Variable])],
  };
  saveCheckpoint(path, { model: view as unknown as Transfusion, trainer: options.trainer, session: options.session, metadata: { model_kind: CHAMELEON_MODEL_KIND } });
}

/** How a baseline checkpoint's config entry is read: a file of another model kind is refused before it. */
const CHAMELEON_READER: CheckpointConfigReader<ChameleonCheckpointConfig> = {
  read: (saved) => {
    const { baseline, tokenizer } = (saved ?? {}) as Partial<ChameleonCheckpointConfig>;
    return { baseline: resolveBaselineConfig(baseline as BaselineConfig), tokenizer: resolveAutoencoderConfig(tokenizer as VQConfig, 'tokenizer') as VQConfig };
  },
  what: '{ baseline, tokenizer }',
  check: (raw, fail) => {
    if (raw.model_kind !== CHAMELEON_MODEL_KIND) {
      throw fail(`__metadata__.model_kind is ${JSON.stringify(raw.model_kind)}, expected '${CHAMELEON_MODEL_KIND}': a Transfusion checkpoint is read by restore() (src/checkpoint/checkpoint.ts)`);
    }
  },
};

/**
 * Read a baseline checkpoint: the baseline (with its tokenizer attached), the trainer when one was saved, the
 * streams. Every tensor is checked against the rebuilt networks (name, shape, dtype, finite values), and a
 * tensor neither network has a place for is an error, as `restore` does for Transfusion.
 */
export function restoreChameleon(path: string): RestoredChameleon {
  const { metadata, tensors } = loadCheckpointOf<ChameleonCheckpointConfig>(path, CHAMELEON_READER);
  const { config } = metadata;
  // The initial weights are overwritten at once; a private stream keeps building them from advancing rng().
  const init = new Rng('checkpoint/restore');
  let tokenizer: VQAutoencoder | null = null;
  let model: ChameleonBaseline | null = null;
  let trainer: Trainer | null = null;
  try {
    tokenizer = makeAutoencoder(config.tokenizer, { rng: init.fork('tokenizer') }) as VQAutoencoder;
    model = new ChameleonBaseline(config.baseline, { rng: init.fork('baseline'), vq: tokenizer });
    const used = new Set<string>();
    const params = model.namedParameters();
    const weights = Object.fromEntries(params.map(([n, v]) => [n, takeTensor(path, tensors, n, v, used)]));
    const tokenizerWeights = Object.fromEntries(tokenizer.namedParameters().map(([n, v]) => [n, takeTensor(path, tensors, TOKENIZER_PREFIX + n, v, used)]));
    const state = metadata.trainer ? trainerTensors(path, tensors, params, metadata.trainer, used) : null;
    refuseUnused(path, tensors, used);
    model.net.loadStateDict(weights);
    tokenizer.loadStateDict(tokenizerWeights);
    if (metadata.trainer && state) trainer = restoredTrainer(model, metadata.trainer, state);
    restoreModuleStreams(path, model.net, metadata.rng);
  } catch (e) {
    trainer?.dispose();
    model?.dispose();
    tokenizer?.dispose();
    throw e;
  } finally {
    tf.dispose(Object.values(tensors));
  }
  const rngs = Object.fromEntries(Object.entries(metadata.rng.named).map(([n, s]) => [n, Rng.fromState(s, `rng.named.${n}`)]));
  const [owned, baseline, vq] = [trainer, model, tokenizer];
  return {
    model: baseline, tokenizer: vq, trainer, rngs,
    metadata: { config, trainer: metadata.trainer, rng: metadata.rng, session: metadata.session, created: metadata.created },
    dispose: () => {
      owned?.dispose();
      baseline.dispose();
      vq.dispose();
    },
  };
}
