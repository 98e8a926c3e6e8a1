/**
 * The config of the discrete-token baseline (Chameleon, Chameleon Team 2024; the comparison of Transfusion
 * Tab 3): images become VQ codes appended to the text vocabulary, and one transformer is trained with the LM
 * loss alone. It mirrors TransfusionConfig (`net.transformer`, `net.tieEmbeddings`, `net.maxPositions`,
 * `sequence`), so a comparison changes only how images enter the model; `baselineConfigFrom` copies those
 * fields from a Transfusion config.
 */
import { check, checkKeys, ConfigError, resolvePreset, type DeepPartial } from '../config';
import type { TransformerConfig } from '../blocks/transformer';
import { DEFAULT_VQ, resolveAutoencoderConfig, type VQConfig } from '../blocks/autoencoder-config';
import { resolveAutoencoderTrainConfig, type AutoencoderTrainConfig } from '../latents/train';
import { DEFAULT_SEQUENCE_CONFIG, validateSequenceConfig, type SequenceConfig } from '../data/sequence';
import { VOCAB_SIZE } from '../data/tokenizer';
import { DEFAULT_NET, PRESETS, resolveBoundedTransformer, resolveConfig, type TransfusionConfig } from '../model/config';

export interface BaselineNetConfig {
  /** Text vocabulary (default 262, the byte tokenizer's); image code k is token `textVocab + k`. */
  readonly textVocab: number;
  /** VQ codebook size K (default 256, DEFAULT_VQ's): the image vocabulary, token ids textVocab .. textVocab + K - 1. */
  readonly codebookSize: number;
  /**
   * The code grid of one image, h x w tokens in row-major order (default 8 x 8 = 64 codes: the positions the
   * default Transfusion gives an image, 16 x 16 latents in 2 x 2 patches).
   */
  readonly grid: { readonly height: number; readonly width: number };
  /** The backbone, the same block as Transfusion's (default: DEFAULT_NET.transformer). */
  readonly transformer: TransformerConfig;
  /** Share the LM head with the token embedding (default false, as Transfusion's default). */
  readonly tieEmbeddings: boolean;
  /** Longest sequence the positions allow (default 4096, as Transfusion's). */
  readonly maxPositions: number;
}

export interface BaselineConfig {
  readonly net: BaselineNetConfig;
  /**
   * How pairs become rows (default DEFAULT_SEQUENCE_CONFIG: 80/20 caption/image order and caption dropout, as
   * Transfusion's); `patchesPerImage` is the code grid's h * w and is overwritten on resolve.
   */
  readonly sequence: SequenceConfig;
}

export const DEFAULT_BASELINE_NET: BaselineNetConfig = {
  textVocab: VOCAB_SIZE,
  codebookSize: DEFAULT_VQ.codebookSize,
  grid: { height: 8, width: 8 },
  transformer: DEFAULT_NET.transformer,
  tieEmbeddings: DEFAULT_NET.tieEmbeddings,
  maxPositions: DEFAULT_NET.maxPositions,
};

export const DEFAULT_BASELINE: BaselineConfig = { net: DEFAULT_BASELINE_NET, sequence: DEFAULT_SEQUENCE_CONFIG };

/**
 * Named presets, each the discrete twin of the Transfusion preset of the same name: the same transformer and
 * sequence length, and as many code positions per image as that preset has patches (`mnist`: 16 x 16 digits
 * through a VQ with 2x downsampling -> 8 x 8 codes, Transfusion's 64 patches).
 */
export const BASELINE_PRESETS = {
  tiny: {},
  mnist: {
    net: { transformer: PRESETS.mnist.net.transformer, grid: { height: 8, width: 8 } },
    sequence: PRESETS.mnist.sequence,
  },
  small: {
    net: { transformer: PRESETS.small.net.transformer },
    sequence: PRESETS.small.sequence,
  },
} as const satisfies Record<string, DeepPartial<BaselineConfig>>;

export type BaselinePresetName = keyof typeof BASELINE_PRESETS;

/** Every token: text ids then K code ids. */
export function vocabSize(net: Pick<BaselineNetConfig, 'textVocab' | 'codebookSize'>): number {
  return net.textVocab + net.codebookSize;
}

/** Check every field (errors name `net.<field>` / `sequence.<field>`) and derive `sequence.patchesPerImage`. */
export function validateBaselineConfig(c: BaselineConfig): BaselineConfig {
  const n = c.net;
  check.size('net.textVocab', n.textVocab, 'vocab');
  check.size('net.codebookSize', n.codebookSize, 'vocab');
  check.size('net.grid.height', n.grid.height, 'side');
  check.size('net.grid.width', n.grid.width, 'side');
  const transformer = resolveBoundedTransformer(n.transformer, 'net.transformer');
  check.oneOf('net.tieEmbeddings', n.tieEmbeddings, [true, false]);
  check.size('net.maxPositions', n.maxPositions, 'positions');
  const sequence = validateSequenceConfig({ ...c.sequence, patchesPerImage: n.grid.height * n.grid.width });
  if (sequence.length > n.maxPositions) {
    throw new ConfigError('sequence.length', sequence.length, `at most net.maxPositions (${n.maxPositions})`);
  }
  return { net: { ...n, transformer }, sequence };
}

/** Merge `overrides` into a preset (or a full config) and validate, like Transfusion's `resolveConfig`. */
export function resolveBaselineConfig(preset: BaselinePresetName | BaselineConfig = 'tiny', overrides: DeepPartial<BaselineConfig> = {}): BaselineConfig {
  return resolvePreset<BaselineConfig, BaselinePresetName>(DEFAULT_BASELINE, BASELINE_PRESETS, preset, overrides, validateBaselineConfig);
}

/**
 * The baseline twin of a Transfusion config: the same transformer, embeddings tie, position limit and sequence
 * settings, and by default one code per Transfusion patch (grid = latent grid / patchSize), so both models see
 * sequences of the same length. `overrides` then sets the codebook (and anything else).
 */
export function baselineConfigFrom(transfusion: TransfusionConfig, overrides: DeepPartial<BaselineConfig> = {}): BaselineConfig {
  const t = resolveConfig(transfusion);
  const k = t.net.patchSize;
  const base: BaselineConfig = {
    net: {
      ...DEFAULT_BASELINE_NET,
      textVocab: t.net.vocabSize,
      grid: { height: t.net.latent.height / k, width: t.net.latent.width / k },
      transformer: t.net.transformer,
      tieEmbeddings: t.net.tieEmbeddings,
      maxPositions: t.net.maxPositions,
    },
    sequence: t.sequence,
  };
  return resolveBaselineConfig(base, overrides);
}

/**
 * What a recorded run of the baseline is beyond the twin Transfusion config it is built from
 * (src/experiments/experiment-config.ts, `modelKind: 'chameleon'`): the baseline's own config, its VQ tokenizer,
 * and how that tokenizer is trained on the run's data before the baseline trains.
 */
export interface ChameleonSetup {
  /**
   * The baseline (default: `baselineConfigFrom` the run's Transfusion config, i.e. the same transformer, tie,
   * position limit and sequence settings, with the tokenizer's code grid and codebook).
   */
  readonly model: BaselineConfig;
  /**
   * The image tokenizer (default DEFAULT_VQ with the data's channels, `downsample` equal to the Transfusion
   * patch size so one code stands where one patch stood, and the first log2 f + 1 of DEFAULT_VQ's widths).
   */
  readonly tokenizer: VQConfig;
  /** Its training (DEFAULT_AUTOENCODER_TRAIN, except that `seed` defaults to the run's seed). */
  readonly tokenizerTrain: AutoencoderTrainConfig;
}

/** A setup as given: the fields to change. */
export interface ChameleonSetupSpec {
  readonly model?: DeepPartial<BaselineConfig>;
  readonly tokenizer?: DeepPartial<Omit<VQConfig, 'kind'>> & { readonly kind?: 'vq' };
  readonly tokenizerTrain?: DeepPartial<AutoencoderTrainConfig>;
}

/** Every field of ChameleonSetupSpec, typed so that a field added there must be added here. */
const SETUP_FIELDS: { readonly [K in keyof Required<ChameleonSetupSpec>]: true } = { model: true, tokenizer: true, tokenizerTrain: true };

/** Run `resolve`, renaming the leading `from` of a ConfigError's field to `to`, so errors name the spec's path. */
function renamed<T>(from: string, to: string, resolve: () => T): T {
  try {
    return resolve();
  } catch (e) {
    if (e instanceof ConfigError && (e.field === from || e.field.startsWith(`${from}.`))) throw new ConfigError(to + e.field.slice(from.length), e.value, e.allowed);
    throw e;
  }
}

/**
 * Resolve the baseline's setup for a run whose Transfusion config is `twin` and whose seed is `seed`; errors
 * name `${field}.<path>`. The code grid must cover the twin's latent (its pixels, for the pixel-space presets)
 * at the tokenizer's downsampling, and the baseline's codebook must be the tokenizer's.
 */
export function resolveChameleonSetup(twin: TransfusionConfig, given: ChameleonSetupSpec, seed: number, field = 'chameleon'): ChameleonSetup {
  if (typeof given !== 'object' || given === null || Array.isArray(given)) throw new ConfigError(field, given, 'an object with model, tokenizer, tokenizerTrain');
  checkKeys(given, Object.keys(SETUP_FIELDS), field);
  const { latent, patchSize } = twin.net;
  const downsample = given.tokenizer?.downsample ?? patchSize;
  const levels = typeof downsample === 'number' && downsample > 0 ? Math.log2(downsample) + 1 : DEFAULT_VQ.channels.length;
  const tokenizerInput = { kind: 'vq' as const, imageChannels: latent.channels, downsample: patchSize, channels: DEFAULT_VQ.channels.slice(0, levels), ...given.tokenizer };
  if (tokenizerInput.kind !== 'vq') throw new ConfigError(`${field}.tokenizer.kind`, tokenizerInput.kind, "'vq' (the baseline's images are VQ codes)");
  const tokenizer = resolveAutoencoderConfig(tokenizerInput, `${field}.tokenizer`) as VQConfig;
  const f = tokenizer.downsample;
  for (const side of ['height', 'width'] as const) {
    if (latent[side] % f !== 0) throw new ConfigError(`${field}.tokenizer.downsample`, f, `a divisor of the image ${side} (${latent[side]})`);
  }
  const grid = { height: latent.height / f, width: latent.width / f };
  const modelGiven = given.model ?? {};
  const model = renamed('net', `${field}.model.net`, () => renamed('sequence', `${field}.model.sequence`, () =>
    baselineConfigFrom(twin, { ...modelGiven, net: { codebookSize: tokenizer.codebookSize, grid, ...modelGiven.net } })));
  if (model.net.codebookSize !== tokenizer.codebookSize) {
    throw new ConfigError(`${field}.model.net.codebookSize`, model.net.codebookSize, `${tokenizer.codebookSize}, the tokenizer's codebookSize`);
  }
  for (const side of ['height', 'width'] as const) {
    if (model.net.grid[side] !== grid[side]) {
      throw new ConfigError(`${field}.model.net.grid.${side}`, model.net.grid[side], `${grid[side]} (the image ${side} ${latent[side]} / the tokenizer's downsample ${f})`);
    }
  }
  const tokenizerTrain = renamed('autoencoderTrain', `${field}.tokenizerTrain`, () => resolveAutoencoderTrainConfig({ seed, ...given.tokenizerTrain }));
  return { model, tokenizer, tokenizerTrain };
}
