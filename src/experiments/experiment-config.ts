/**
 * What one training run is, as plain data (docs/ARCHITECTURE.md, 'Configs'): which kind of model, the model config,
 * the training config, the run length, the batch size, the seed and the data. A spec gives a preset plus the fields
 * to change; it resolves to a complete `ExperimentConfig`, the object a run records in run.json and rebuilds from.
 *
 * Two model kinds train through the same spec (`modelKind`): Transfusion (the default), and the discrete-token
 * Chameleon baseline of the paper's Tab 3 (src/baseline), built as the twin of the Transfusion model the spec
 * describes: the same transformer, position limit and sequence settings, with images as VQ codes. Flipping
 * `modelKind` therefore changes only how images enter the model, which is the comparison Tab 3 makes.
 */
import { check, checkKeys, ConfigError, mergeConfig, type DeepPartial } from '../config';
import { Rng } from '../engine/random';
import { DEFAULT_MNIST_CONFIG, MnistDataset, canonicalCaption, mnistCaptions, validateMnistConfig, type MnistConfig } from '../data/mnist';
import { DEFAULT_SHAPES_CONFIG, ShapesDataset, validateShapesConfig, type ShapesConfig } from '../data/shapes';
import { byteTokenizer } from '../data/tokenizer';
import type { ImageDataset } from '../data/image';
import { resolveConfig, type PresetName, type TransfusionConfig } from '../model/config';
import { DEFAULT_TRAIN, makeTrainConfig, type TrainConfig } from '../train/trainer';
import { DEFAULT_WARMUP_STEPS } from '../train/lr-schedule';
import { resolveSpec, type Spec } from '../schedules/spec';
import { DEFAULT_GENERATE, resolveGenerateOptions, type GenerateOptions } from '../generate/options';
import { DEFAULT_EVAL, validateEvalConfig, type EvalConfig } from '../eval/evaluate';
import { makeSampler, type SamplerSpec } from '../schedules/make-sampler';
import { makeSchedule } from '../schedules/make-schedule';
import { resolveChameleonSetup, type ChameleonSetup, type ChameleonSetupSpec } from '../baseline/config';

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

/** The models a run can train: 'transfusion', or 'chameleon', the discrete-token baseline (src/baseline). */
export const MODEL_KINDS = ['transfusion', 'chameleon'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

/** A run as given: a preset and only the fields to change. */
export interface ExperimentSpec {
  /**
   * Which model trains. Default 'transfusion'. A spec with 'chameleon' (ChameleonExperimentSpec) trains the
   * discrete-token baseline of Tab 3 built as the twin of `preset` and `model`, with `chameleon`'s settings.
   */
  readonly modelKind?: 'transfusion';
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
   * evaluating costs more than a short run (and trains the reference classifier the first time). A Chameleon
   * run evaluates at guidance 1 (it has none); set `guidance: 1` for Transfusion arms that compare with it.
   */
  readonly evaluation?: DeepPartial<EvalConfig> | null;
  /**
   * The Chameleon baseline's own settings, used when `modelKind` is 'chameleon': its config over the twin's
   * (`model`, e.g. `{ net: { tieEmbeddings: true } }`), its VQ tokenizer (`tokenizer`, e.g. `{ codebookSize: 64 }`)
   * and how that trains first (`tokenizerTrain`, e.g. `{ steps: 300 }`). Default none. A Transfusion run checks
   * and ignores it, so one sweep base serves arms of both kinds.
   */
  readonly chameleon?: ChameleonSetupSpec;
}

/** A spec of the Chameleon baseline: `trainRun({ modelKind: 'chameleon', ... })`. */
export interface ChameleonExperimentSpec extends Omit<ExperimentSpec, 'modelKind'> {
  readonly modelKind: 'chameleon';
}

/** A spec of either kind. */
export type AnyExperimentSpec = ExperimentSpec | ChameleonExperimentSpec;

/** Everything a run is, resolved: saved in run.json, it rebuilds the same run. */
export interface ExperimentConfig {
  /** Which model trained (absent in records written before the baseline trained through runs: 'transfusion'). */
  readonly modelKind: ModelKind;
  /** The Transfusion config; for a 'chameleon' run, the twin its baseline was built from (`chameleon.model`). */
  readonly model: TransfusionConfig;
  /** The baseline's model, tokenizer and tokenizer training, for a 'chameleon' run; null otherwise. */
  readonly chameleon: ChameleonSetup | null;
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

/** Every field of a spec, typed so that a field added to ExperimentSpec must be added here too. */
const SPEC_FIELDS: { readonly [K in keyof Required<ExperimentSpec>]: true } = {
  preset: true, model: true, train: true, steps: true, batchSize: true, seed: true, data: true, samples: true, evaluation: true, modelKind: true, chameleon: true,
};

/** The fields of ExperimentSpec. */
export const SPEC_KEYS: readonly string[] = Object.keys(SPEC_FIELDS);

/**
 * Options a caller passes beside a spec in the same object (trainRun's and sweep's run options): a spec
 * resolved from such an object accepts them; any other key is a typo.
 */
export const RUN_OPTION_KEYS: readonly string[] = ['name', 'root', 'dataset', 'arm', 'evaluate', 'progress', 'checkpointEvery', 'resume', 'overwrite', 'whenHeld', 'onStep', 'shouldStop', 'seeds', 'rescore'];

/**
 * Throw unless `spec` is a plain object whose own keys are spec fields or `allowedExtra`: `trainRun({ step: 300 })`
 * fails naming `${where}.step` and suggesting 'steps' rather than training 200 steps.
 */
export function checkSpecKeys(spec: object, allowedExtra: readonly string[], where: string): void {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw new ConfigError(where, spec, 'an object of spec fields');
  const extra = allowedExtra.length ? `, or an option: ${allowedExtra.join(', ')}` : '';
  checkKeys(spec, [...SPEC_KEYS, ...allowedExtra], where, `a field of the spec: ${SPEC_KEYS.join(', ')}${extra}`);
}

/**
 * One layer's attention scores hold batchSize x nHeads x L^2 values; past 2^31 no backend can allocate them,
 * so a batch that large fails here, naming the most that fits, instead of at the first step.
 */
const MAX_ATTENTION_VALUES = 2 ** 31;

/**
 * Resolve a spec: merge every part into its defaults and validate, naming the field of any bad value. Every
 * option is checked here, before a run writes anything: unknown keys (run options in RUN_OPTION_KEYS aside),
 * ranges, bounds on sizes, and the options that depend on each other.
 */
export function resolveExperiment(spec: AnyExperimentSpec = {}): ExperimentConfig {
  checkSpecKeys(spec, RUN_OPTION_KEYS, 'experiment');
  const modelKind = check.oneOf('experiment.modelKind', spec.modelKind ?? 'transfusion', MODEL_KINDS);
  const steps = check.size('experiment.steps', spec.steps ?? DEFAULT_EXPERIMENT_SPEC.steps, 'steps');
  const batchSize = check.size('experiment.batchSize', spec.batchSize ?? DEFAULT_EXPERIMENT_SPEC.batchSize, 'batch');
  const seed = spec.seed ?? DEFAULT_EXPERIMENT_SPEC.seed;
  if (!Number.isSafeInteger(seed)) throw new ConfigError('experiment.seed', seed, 'an integer');
  const model = resolveConfig(spec.preset ?? DEFAULT_EXPERIMENT_SPEC.preset, spec.model ?? {});
  // Resolved for a Transfusion run too, so a typo in it fails here rather than in the sweep arm that uses it.
  const setup = spec.chameleon === undefined && modelKind === 'transfusion' ? null : resolveChameleonSetup(model, spec.chameleon ?? {}, seed, 'experiment.chameleon');
  const chameleon = modelKind === 'chameleon' ? setup : null;
  // What the trained network reads: its rows and its transformer.
  const { sequence, transformer } = chameleon ? { sequence: chameleon.model.sequence, transformer: chameleon.model.net.transformer } : { sequence: model.sequence, transformer: model.net.transformer };
  const train = resolveTrain(spec.train ?? {}, steps);
  const data = resolveData(spec.data ?? DEFAULT_EXPERIMENT_SPEC.data);
  checkCaptionsFit(trainingCaptions(data), sequence, 'experiment.data.templates', 'a training caption');
  const evaluation = spec.evaluation === undefined || spec.evaluation === null ? null : resolveEvaluation(spec.evaluation, modelKind, model, sequence, data);
  const samples = spec.samples === null ? null : resolveSamples(spec.samples ?? {}, data, model, sequence);
  const { nHeads } = transformer;
  const L = sequence.length;
  const fits = Math.floor(MAX_ATTENTION_VALUES / (nHeads * L * L));
  if (batchSize > fits) {
    throw new ConfigError('experiment.batchSize', batchSize, `at most ${fits}: one layer's attention scores (batchSize x nHeads ${nHeads} x sequence.length ${L}^2) must stay under 2^31 values`);
  }
  return { model, train, steps, batchSize, seed, data, samples, evaluation, modelKind, chameleon };
}

/**
 * The training config, with a warmup-cosine schedule whose `totalSteps` is not given decaying over the run's
 * own steps. The warmup must end within the schedule, with one exception this function itself makes: the
 * default warmup over a run shorter than it (the run then trains at the warming rate throughout), which a
 * saved run's spec (specOf) spells out and must resolve again.
 */
function resolveTrain(given: DeepPartial<TrainConfig>, steps: number): TrainConfig {
  const merged = mergeConfig(DEFAULT_TRAIN, given, 'train');
  const runLength = merged.lrSchedule.kind === 'warmup-cosine' && (given.lrSchedule as { totalSteps?: number } | undefined)?.totalSteps === undefined;
  const train = makeTrainConfig(runLength ? { ...given, lrSchedule: { ...merged.lrSchedule, totalSteps: steps } } : given);
  const schedule = train.lrSchedule;
  if (schedule.kind === 'warmup-cosine' && schedule.warmupSteps > schedule.totalSteps) {
    const defaultOverShortRun = schedule.warmupSteps === DEFAULT_WARMUP_STEPS && schedule.totalSteps === steps;
    if (!defaultOverShortRun) {
      const total = schedule.totalSteps === steps ? `the run's steps (${steps})` : `train.lrSchedule.totalSteps (${schedule.totalSteps})`;
      throw new ConfigError('train.lrSchedule.warmupSteps', schedule.warmupSteps, `at most ${total}: the learning rate would never finish warming up`);
    }
  }
  return train;
}

/** The data config of a spec, every field checked here rather than when the dataset is built. */
function resolveData(spec: Spec<DataConfig>): DataConfig {
  const data = resolveSpec<DataConfig>(DATA_DEFAULTS, spec, 'experiment.data');
  if (data.kind === 'mnist') validateMnistConfig(data, 'experiment.data');
  else validateShapesConfig(data, 'experiment.data');
  return data;
}

/** Captions the data can pair with an image, where they are known in advance (MNIST's templates). */
function trainingCaptions(data: DataConfig): string[] {
  return data.kind === 'mnist' ? mnistCaptions(data.templates) : [];
}

/** What a caption must fit: the row length and the positions of one image (patches or codes). */
type RowShape = Pick<TransfusionConfig['sequence'], 'length' | 'patchesPerImage'>;

/**
 * Throw unless every caption fits a training row beside its image: `[BOS] caption [BOI] patches [EOI] [EOS]`
 * within sequence.length. A longer training caption would stop the run at the step that draws it; a longer
 * prompt asks for positions the model never trained on.
 */
function checkCaptionsFit(captions: readonly string[], sequence: RowShape, field: string, what: string): void {
  const { length, patchesPerImage } = sequence;
  const room = length - patchesPerImage - 4;
  const index = captions.findIndex((c) => byteTokenizer.encode(c).length > room);
  if (index >= 0) {
    const bytes = byteTokenizer.encode(captions[index]).length;
    throw new ConfigError(field, captions[index], `${what} of at most ${room} bytes (this one has ${bytes}): sequence.length ${length} - ${patchesPerImage} image positions - 4 (BOS, BOI, EOI, EOS)`);
  }
}

/**
 * The evaluation config: its fields, its sampler on the model's schedule, and what it needs of the model and
 * data (checkEvaluable). The Chameleon baseline has no classifier-free guidance: its guidance is 1 (the default
 * for it) and another scale is refused, as src/eval's `evalConfigFor` does.
 */
function resolveEvaluation(given: DeepPartial<EvalConfig>, modelKind: ModelKind, model: TransfusionConfig, sequence: RowShape, data: DataConfig): EvalConfig {
  const defaults = modelKind === 'chameleon' ? { ...DEFAULT_EVAL, guidance: 1 } : DEFAULT_EVAL;
  const evaluation = validateEvalConfig(mergeConfig(defaults, given, 'experiment.evaluation'), 'experiment.evaluation');
  if (modelKind === 'chameleon' && evaluation.guidance !== 1) {
    throw new ConfigError('experiment.evaluation.guidance', evaluation.guidance, '1: the Chameleon baseline has no classifier-free guidance');
  }
  checkEvaluable(model, data, evaluation);
  makeSampler({ kind: evaluation.sampler ?? DEFAULT_GENERATE.sampler.kind, steps: evaluation.steps } as SamplerSpec, makeSchedule(model.objective.schedule), 'experiment.evaluation');
  checkCaptionsFit(Array.from({ length: 10 }, (_, d) => canonicalCaption(d)), sequence, 'experiment.evaluation', 'an evaluation prompt');
  return evaluation;
}

/**
 * src/eval scores 16 x 16 grey digits and hands generated latents to its classifier as images; it captions the
 * first `heldout` digits of MNIST's evaluation split, which the training data must not contain.
 */
function checkEvaluable(model: TransfusionConfig, data: DataConfig, evaluation: EvalConfig): void {
  const { channels, height, width } = model.net.latent;
  if (data.kind !== 'mnist' || channels !== 1 || height !== 16 || width !== 16) {
    throw new ConfigError('experiment.evaluation', `a ${height}x${width}x${channels} latent on ${data.kind} data`,
      'null, unless the model is pixel-space 16x16x1 MNIST (the mnist preset on data { kind: \'mnist\', size: 16 }); call src/eval\'s evaluate with toImages for a latent model');
  }
  const split = DEFAULT_MNIST_CONFIG;
  if (data.split !== 'train' || data.splitSeed !== split.splitSeed) {
    throw new ConfigError('experiment.data', { split: data.split, splitSeed: data.splitSeed },
      `split 'train' with splitSeed ${split.splitSeed} when evaluating: other data holds the held-out digits the evaluation scores`);
  }
  if (data.heldout < evaluation.heldout) {
    throw new ConfigError('experiment.data.heldout', data.heldout,
      `at least evaluation.heldout (${evaluation.heldout}): the evaluation captions the first ${evaluation.heldout} held-out digits, which training must not see`);
  }
}

function resolveSamples(spec: NonNullable<ExperimentSpec['samples']>, data: DataConfig, model: TransfusionConfig, sequence: RowShape): SampleConfig {
  if (typeof spec !== 'object' || spec === null) throw new ConfigError('experiment.samples', spec, 'null, or an object with captions and generate');
  checkKeys(spec, ['captions', 'generate'], 'experiment.samples');
  const captions = spec.captions ?? defaultCaptions(data);
  if (!Array.isArray(captions) || captions.length === 0 || captions.some((c) => typeof c !== 'string')) {
    throw new ConfigError('experiment.samples.captions', captions, 'a non-empty array of strings');
  }
  // One batch of images: a list past the batch bound is a slip, not a grid.
  check.size('experiment.samples.captions.length', captions.length, 'batch');
  checkCaptionsFit(captions, sequence, 'experiment.samples.captions', 'a prompt');
  const generate = resolveGenerateOptions(spec.generate ?? {});
  const sampler = { ...generate.sampler, clipX0: generate.sampler.clipX0 ?? model.objective.clipX0 };
  makeSampler(sampler, makeSchedule(model.objective.schedule), 'experiment.samples.generate.sampler');
  return { captions: [...captions], generate };
}

/** The spec that resolves to `config` exactly (a saved run's config, to rerun or vary it). */
export function specOf(config: ExperimentConfig): AnyExperimentSpec {
  const kind = config.modelKind === 'chameleon' && config.chameleon
    ? { modelKind: 'chameleon' as const, chameleon: config.chameleon as ChameleonSetupSpec }
    : {};
  return {
    ...kind,
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
 * A Chameleon run's code grid is derived from the same latent shape (resolveChameleonSetup), so the check holds
 * for both kinds.
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
