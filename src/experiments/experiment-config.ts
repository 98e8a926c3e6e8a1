/**
 * What one training run is, as plain data (house style 1): the model config, the training config, the run
 * length, the batch size, the seed and the data. A spec gives a preset plus the fields to change; it resolves
 * to a complete `ExperimentConfig`, the object a run records in run.json and rebuilds from.
 */
import { check, ConfigError, mergeConfig, type DeepPartial } from '../config';
import { Rng } from '../engine/random';
import { DEFAULT_MNIST_CONFIG, MnistDataset, canonicalCaption, type MnistConfig } from '../data/mnist';
import { DEFAULT_SHAPES_CONFIG, ShapesDataset, type ShapesConfig } from '../data/shapes';
import type { ImageDataset } from '../data/image';
import { resolveConfig, type PresetName, type TransfusionConfig } from '../model/config';
import { DEFAULT_TRAIN, makeTrainConfig, type TrainConfig } from '../train/trainer';
import { resolveSpec, type Spec } from '../schedules/spec';
import { resolveGenerateOptions, type GenerateOptions } from '../generate/options';
import { DEFAULT_EVAL, type EvalConfig } from '../eval/evaluate';

/** Training images, by kind; the fields are those of the dataset's own config. */
export type DataConfig = ({ readonly kind: 'mnist' } & MnistConfig) | ({ readonly kind: 'shapes' } & ShapesConfig);

const DATA_DEFAULTS: { readonly [K in DataConfig['kind']]: Extract<DataConfig, { kind: K }> } = {
  mnist: { kind: 'mnist', ...DEFAULT_MNIST_CONFIG },
  shapes: { kind: 'shapes', ...DEFAULT_SHAPES_CONFIG },
};

const DATASETS: { readonly [K in DataConfig['kind']]: (c: Extract<DataConfig, { kind: K }>) => ImageDataset } = {
  mnist: ({ kind: _, ...c }) => new MnistDataset(c),
  shapes: ({ kind: _, ...c }) => new ShapesDataset(c),
};

/** The dataset a data config describes. */
export function buildDataset(data: DataConfig): ImageDataset {
  const build = DATASETS[data.kind] as (c: DataConfig) => ImageDataset;
  return build(data);
}

/** The sample grid a run saves when training ends: one image per caption. */
export interface SampleConfig {
  /**
   * Prompts, one image each. Default: for MNIST the ten canonical captions ("the digit 0" .. "the digit 9",
   * the prompts src/eval scores); for other data the captions of its first 8 items.
   */
  readonly captions: readonly string[];
  /** How the images are generated (default DEFAULT_GENERATE: DDIM, 50 steps, no guidance). */
  readonly generate: GenerateOptions;
}

/** Default captions of a data config (see SampleConfig.captions). */
export function defaultCaptions(data: DataConfig): string[] {
  if (data.kind === 'mnist') return Array.from({ length: 10 }, (_, d) => canonicalCaption(d));
  const dataset = buildDataset(data);
  const rng = new Rng('sample-captions');
  return Array.from({ length: Math.min(8, dataset.length) }, (_, i) => dataset.get(i, rng).caption);
}

/** A run as given: a preset and only the fields to change. */
export interface ExperimentSpec {
  /** Model preset, or a complete model config (a saved run's) to start from. Default 'mnist'. */
  readonly preset?: PresetName | TransfusionConfig;
  /** Model fields to change, e.g. `{ objective: { lambda: 2 } }`. Default none. */
  readonly model?: DeepPartial<TransfusionConfig>;
  /**
   * Training fields to change. Default none, except that a warmup-cosine schedule whose `totalSteps` is not
   * given decays over the run's own `steps` (the default 1000 would leave a short run at its peak rate).
   */
  readonly train?: DeepPartial<TrainConfig>;
  /** Optimiser steps. Default 200 (about a minute on the native CPU backend at the `mnist` preset's d = 128). */
  readonly steps?: number;
  /** Rows per batch. Default 8. */
  readonly batchSize?: number;
  /** Seed of the initialisation, the data order and the diffusion noise. Default 0. */
  readonly seed?: number;
  /** Training images: a kind plus the fields to change. Default `{ kind: 'mnist', size: 16 }`, the `mnist` preset's pixels. */
  readonly data?: Spec<DataConfig>;
  /** The final sample grid: fields to change (default: see SampleConfig), or null for none. */
  readonly samples?: { readonly captions?: readonly string[]; readonly generate?: DeepPartial<GenerateOptions> } | null;
  /**
   * Score the model when training ends with src/eval's `evaluate` (text-to-image accuracy, FID, caption
   * accuracy, perplexity on 16 x 16 MNIST): the fields to change, e.g. `{ n: 10 }`, or null. Default null:
   * evaluating costs more than a short run (and trains the reference classifier the first time).
   */
  readonly evaluation?: DeepPartial<EvalConfig> | null;
}

/** Everything a run is, resolved: saved in run.json, it rebuilds the same run. */
export interface ExperimentConfig {
  readonly model: TransfusionConfig;
  readonly train: TrainConfig;
  readonly steps: number;
  readonly batchSize: number;
  readonly seed: number;
  readonly data: DataConfig;
  readonly samples: SampleConfig | null;
  readonly evaluation: EvalConfig | null;
}

export const DEFAULT_EXPERIMENT_SPEC = {
  preset: 'mnist',
  steps: 200,
  batchSize: 8,
  seed: 0,
  data: { kind: 'mnist', size: 16 },
} as const satisfies ExperimentSpec;

/** Resolve a spec: merge every part into its defaults and validate, naming the field of any bad value. */
export function resolveExperiment(spec: ExperimentSpec = {}): ExperimentConfig {
  const steps = check.positiveInt('experiment.steps', spec.steps ?? DEFAULT_EXPERIMENT_SPEC.steps);
  const batchSize = check.positiveInt('experiment.batchSize', spec.batchSize ?? DEFAULT_EXPERIMENT_SPEC.batchSize);
  const seed = spec.seed ?? DEFAULT_EXPERIMENT_SPEC.seed;
  if (!Number.isSafeInteger(seed)) throw new ConfigError('experiment.seed', seed, 'an integer');
  const model = resolveConfig(spec.preset ?? DEFAULT_EXPERIMENT_SPEC.preset, spec.model ?? {});
  const given = spec.train ?? {};
  const schedule = mergeConfig(DEFAULT_TRAIN, given, 'train').lrSchedule;
  const runLength = schedule.kind === 'warmup-cosine' && (given.lrSchedule as { totalSteps?: number } | undefined)?.totalSteps === undefined;
  const train = makeTrainConfig(runLength ? { ...given, lrSchedule: { ...schedule, totalSteps: steps } } : given);
  const data = resolveSpec<DataConfig>(DATA_DEFAULTS, spec.data ?? DEFAULT_EXPERIMENT_SPEC.data, 'experiment.data');
  const samples = spec.samples === null ? null : resolveSamples(spec.samples ?? {}, data);
  const evaluation = spec.evaluation === undefined || spec.evaluation === null ? null : mergeConfig(DEFAULT_EVAL, spec.evaluation, 'experiment.evaluation');
  if (evaluation) checkEvaluable(model, data);
  return { model, train, steps, batchSize, seed, data, samples, evaluation };
}

/** src/eval scores 16 x 16 grey digits and hands generated latents to its classifier as images. */
function checkEvaluable(model: TransfusionConfig, data: DataConfig): void {
  const { channels, height, width } = model.net.latent;
  if (data.kind !== 'mnist' || channels !== 1 || height !== 16 || width !== 16) {
    throw new ConfigError('experiment.evaluation', `a ${height}x${width}x${channels} latent on ${data.kind} data`,
      'null, unless the model is pixel-space 16x16x1 MNIST (the mnist preset on data { kind: \'mnist\', size: 16 }); call src/eval\'s evaluate with toImages for a latent model');
  }
}

function resolveSamples(spec: NonNullable<ExperimentSpec['samples']>, data: DataConfig): SampleConfig {
  const captions = spec.captions ?? defaultCaptions(data);
  if (!Array.isArray(captions) || captions.length === 0 || captions.some((c) => typeof c !== 'string')) {
    throw new ConfigError('experiment.samples.captions', captions, 'a non-empty array of strings');
  }
  return { captions: [...captions], generate: resolveGenerateOptions(spec.generate ?? {}) };
}

/** The spec that resolves to `config` exactly (a saved run's config, to rerun or vary it). */
export function specOf(config: ExperimentConfig): ExperimentSpec {
  return {
    preset: config.model,
    train: config.train,
    steps: config.steps,
    batchSize: config.batchSize,
    seed: config.seed,
    data: config.data,
    samples: config.samples as ExperimentSpec['samples'],
    evaluation: config.evaluation,
  };
}

/**
 * trainRun hands dataset pixels to the model as its latents, so their shapes must agree: it trains pixel-space
 * models. A latent-space model needs its autoencoder's latent cache (src/data/latent-cache.ts) and its own loop.
 */
export function checkDataFitsModel(dataset: ImageDataset, config: ExperimentConfig): void {
  const { channels, height, width } = config.model.net.latent;
  if (dataset.height !== height || dataset.width !== width || dataset.channels !== channels) {
    throw new ConfigError(
      'experiment.data',
      `${dataset.height}x${dataset.width}x${dataset.channels} images`,
      `images of the model's latent shape model.net.latent = ${height}x${width}x${channels} (HxWxC)`,
    );
  }
}
