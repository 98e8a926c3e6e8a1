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
import { ConfigError, mergeConfig } from '../config';
import type { ImageDataset } from '../data/image';
import type { DataLoader, LoaderBatch } from '../data/loader';
import { makeAutoencoder, resolveAutoencoderConfig, type VQConfig } from '../blocks/autoencoder';
import type { VQAutoencoder } from '../blocks/vq';
import { Trainer, makeTrainConfig, type RunResult, type StepReport, type TrainConfig } from '../train/trainer';
import { trainAutoencoder } from '../latents/train';
import type { Transfusion } from '../model/transfusion';
import { CHECKPOINT_FORMAT, CHECKPOINT_VERSION, CheckpointError, moduleStreams, saveCheckpoint, type RngStates, type TrainerState } from '../checkpoint/checkpoint';
import { readSafetensors, toTensor } from '../checkpoint/safetensors';
import { BatchWalk, DEFAULT_RUN_LOADER, type DataPosition, type RunLoaderConfig, type TrainOptions } from '../checkpoint/session';
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
const OPTIMIZER_PREFIX = 'optimizer.';
const EMA_PREFIX = 'ema.';

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
  readonly data: DataPosition & { readonly loaderSeed: number; readonly datasetLength: number };
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
      const { seed, setup, data: saved } = session;
      const loaderConfig = mergeConfig(DEFAULT_RUN_LOADER, session.loader, 'session.loader');
      for (const key of ['epoch', 'batch'] as const) {
        if (!Number.isSafeInteger(saved[key]) || saved[key] < 0) throw new CheckpointError(path, `__metadata__.session.data.${key} is ${JSON.stringify(saved[key])}; expected an integer >= 0`);
      }
      if (dataset.length !== saved.datasetLength) {
        throw new CheckpointError(path, `the run trained on a dataset of ${saved.datasetLength} items; the dataset given has ${dataset.length}, so the data order could not be the same`);
      }
      const config: ChameleonRunConfig = { seed, setup, train: restored.trainer.config, loader: loaderConfig };
      const trainer = restored.trainer;
      const loader = ChameleonRun.makeLoader(config, restored.model, restored.tokenizer, dataset);
      if (loader.seed !== saved.loaderSeed) {
        throw new CheckpointError(path, `the rebuilt loader's seed is ${loader.seed}, the run's was ${saved.loaderSeed}: the loader's seeding changed since the file was written`);
      }
      setGlobalRngState(restored.metadata.rng.global);
      return new ChameleonRun(config, restored.model, restored.tokenizer, trainer, loader, { epoch: saved.epoch, batch: saved.batch });
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

/**
 * Read a baseline checkpoint: the baseline (with its tokenizer attached), the trainer when one was saved, the
 * streams. Every tensor is checked against the rebuilt networks (name, shape, dtype, finite values), and a
 * tensor neither network has a place for is an error, as `restore` does for Transfusion.
 */
export function restoreChameleon(path: string): RestoredChameleon {
  const contents = readSafetensors(path);
  const raw = contents.metadata;
  const fail = (problem: string) => new CheckpointError(path, problem);
  if (raw.format !== CHECKPOINT_FORMAT) throw fail(`not a transfusion-lab checkpoint (__metadata__.format is ${JSON.stringify(raw.format)}, expected '${CHECKPOINT_FORMAT}')`);
  if (raw.model_kind !== CHAMELEON_MODEL_KIND) {
    throw fail(`__metadata__.model_kind is ${JSON.stringify(raw.model_kind)}, expected '${CHAMELEON_MODEL_KIND}': a Transfusion checkpoint is read by restore() (src/checkpoint/checkpoint.ts)`);
  }
  if (!(Number(raw.format_version) >= 1 && Number(raw.format_version) <= CHECKPOINT_VERSION)) {
    throw fail(`__metadata__.format_version is ${JSON.stringify(raw.format_version)}; this build reads formats 1 to ${CHECKPOINT_VERSION}`);
  }
  const json = <T>(key: string): T => {
    if (raw[key] === undefined) throw fail(`__metadata__.${key} is missing`);
    try {
      return JSON.parse(raw[key]) as T;
    } catch (e) {
      throw fail(`__metadata__.${key} is not valid JSON (${(e as Error).message})`);
    }
  };
  const saved = json<ChameleonCheckpointConfig>('config');
  let config: ChameleonCheckpointConfig;
  try {
    config = { baseline: resolveBaselineConfig(saved.baseline), tokenizer: resolveAutoencoderConfig(saved.tokenizer, 'tokenizer') as VQConfig };
  } catch (e) {
    throw fail(`__metadata__.config is not a valid { baseline, tokenizer }: ${(e as Error).message}`);
  }
  const trainerMeta = raw.trainer === undefined ? null : json<{ step: number; optimizerStep: number }>('trainer');
  const rng = json<RngStates>('rng');
  const tensors: Record<string, tf.Tensor> = {};
  const take = (name: string, like: tf.Variable): tf.Tensor => {
    const host = contents.tensors[name];
    if (!host) throw fail(`tensor '${name}' is missing (expected shape [${like.shape.join(', ')}])`);
    const t = (tensors[name] ??= toTensor(host, name, path));
    if (t.shape.length !== like.shape.length || t.shape.some((d, i) => d !== like.shape[i]) || t.dtype !== like.dtype) {
      throw fail(`tensor '${name}' is ${t.dtype} [${t.shape.join(', ')}]; the model expects ${like.dtype} [${like.shape.join(', ')}]`);
    }
    if (t.dtype === 'float32' && tf.tidy(() => tf.logicalNot(tf.isFinite(t)).any().dataSync()[0]) === 1) {
      throw fail(`tensor '${name}' holds non-finite values; a checkpoint must hold finite numbers: the file is corrupt or was written from a diverged state`);
    }
    return t;
  };
  // The initial weights are overwritten at once; a private stream keeps building them from advancing rng().
  const init = new Rng('checkpoint/restore');
  const tokenizer = makeAutoencoder(config.tokenizer, { rng: init.fork('tokenizer') }) as VQAutoencoder;
  const model = new ChameleonBaseline(config.baseline, { rng: init.fork('baseline'), vq: tokenizer });
  let trainer: Trainer | null = null;
  try {
    const params = model.namedParameters();
    model.net.loadStateDict(Object.fromEntries(params.map(([n, v]) => [n, take(n, v)])));
    tokenizer.loadStateDict(Object.fromEntries(tokenizer.namedParameters().map(([n, v]) => [n, take(TOKENIZER_PREFIX + n, v)])));
    let trainerState: TrainerState | null = null;
    if (trainerMeta) {
      const train = makeTrainConfig(json<TrainConfig>('train_config'));
      trainerState = { train, step: trainerMeta.step, optimizerStep: trainerMeta.optimizerStep, history: json<StepReport[]>('history') };
      trainer = new Trainer(model, train);
      const moments: Record<string, tf.Tensor> = {};
      for (const [n, v] of params) {
        // AdamW makes a parameter's moments at its first update, so a parameter never updated has none.
        if (!v.trainable || !(`${OPTIMIZER_PREFIX}m.${n}` in contents.tensors)) continue;
        for (const m of ['m', 'v']) moments[`${m}.${n}`] = take(`${OPTIMIZER_PREFIX}${m}.${n}`, v);
      }
      trainer.optimizer.loadStateDict({ step: trainerMeta.optimizerStep, tensors: moments });
      if (train.emaDecay > 0) trainer.ema?.loadStateDict(Object.fromEntries(params.map(([n, v]) => [n, take(EMA_PREFIX + n, v)])));
      trainer.step = trainerMeta.step;
      trainer.history.push(...trainerState.history);
    }
    const unexpected = Object.keys(contents.tensors).filter((n) => !(n in tensors));
    if (unexpected.length) throw fail(`tensors this config has no place for: ${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? ` and ${unexpected.length - 5} more` : ''}`);
    const streams = new Map(moduleStreams(model.net));
    for (const [p, state] of Object.entries(rng.modules ?? {})) {
      const stream = streams.get(p);
      if (!stream) throw fail(`__metadata__.rng.modules has a stream for '${p}', which is not a Dropout module of this model`);
      stream.setState(state, `rng.modules.${p}`);
    }
    const rngs = Object.fromEntries(Object.entries(rng.named ?? {}).map(([n, s]) => [n, Rng.fromState(s, `rng.named.${n}`)]));
    const session = raw.session === undefined ? null : json<unknown>('session');
    const owned = trainer;
    return {
      model, tokenizer, trainer, rngs,
      metadata: { config, trainer: trainerState, rng, session, created: raw.created ?? 'unknown' },
      dispose: () => {
        owned?.dispose();
        model.dispose();
        tokenizer.dispose();
      },
    };
  } catch (e) {
    trainer?.dispose();
    model.dispose();
    tokenizer.dispose();
    throw e;
  } finally {
    tf.dispose(Object.values(tensors));
  }
}
