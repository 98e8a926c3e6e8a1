/**
 * The one typed config a Transfusion is built from (docs/ARCHITECTURE.md, 'Configs'): the network (`net`), the
 * diffusion objective (`objective`) and how data becomes sequences (`sequence`). Saved with a run, it rebuilds the
 * same model. Named presets live in PRESETS; `resolveConfig('tiny', overrides)` merges and validates.
 */
import { check, ConfigError, resolvePreset, type DeepPartial } from '../config';
import { DEFAULT_TRANSFORMER, resolveTransformerConfig, type TransformerConfig } from '../blocks/transformer';
import { resolveMask, DEFAULT_MASK, type MaskConfig } from '../blocks/masks';
import { resolvePatchConfig, DEFAULT_LINEAR_PATCH, type PatchConfig } from '../blocks/patch';
import { PATCH_POSITION_KINDS, type PatchPositionKind } from '../blocks/patch-positions';
import { checkPatchGrid, checkPatchSize, numPatches } from '../blocks/patchify';
import { DEFAULT_SEQUENCE_CONFIG, validateSequenceConfig, type SequenceConfig } from '../data/sequence';
import { DEFAULT_SCHEDULE } from '../schedules/make-schedule';
import { schedules, type ScheduleConfig } from '../schedules/schedule';
import { timestepSamplers, DEFAULT_TIMESTEP_SAMPLER, type TimestepSamplerConfig } from '../schedules/timestep-sampler';
import { predictionTarget, type PredictionKind } from '../schedules/targets';
import { weightings, DEFAULT_WEIGHTING, type WeightingConfig } from '../schedules/weighting';

/** How image patches are numbered for RoPE. */
export type ImagePositions =
  /** Each patch its own 1-D position, continuing the text's count (the paper's default reading). */
  | 'sequential'
  /** Every patch of an image shares one position (the BOI's + 1): order inside an image comes from the 2-D content alone. */
  | 'shared'
  /** 2-D axial RoPE: patch (r, c) of an image starting at p gets (p + r, p + c); text p gets (p, p). */
  | '2d';

export const IMAGE_POSITIONS: readonly ImagePositions[] = ['sequential', 'shared', '2d'];

export interface NetConfig {
  /** Token vocabulary (default 262: 256 bytes + BOS, EOS, PAD, BOI, EOI, spare; src/data/tokenizer.ts). */
  readonly vocabSize: number;
  readonly transformer: TransformerConfig;
  /** Latent grid the network diffuses: channels, height, width (default 4 x 16 x 16, the `tiny` benchmark). */
  readonly latent: { readonly channels: number; readonly height: number; readonly width: number };
  /** Patch side k (paper: 1, 2, 4, 8; default 2). */
  readonly patchSize: number;
  /** Patch encoder/decoder pair (paper §3.2: linear, or U-Net down/up blocks). */
  readonly patch: PatchConfig;
  /** Attention mask (paper §3.2: causal text, bidirectional inside an image). Packed documents add a document mask. */
  readonly mask: MaskConfig;
  readonly imagePositions: ImagePositions;
  /**
   * An absolute position table added to every image's patches (src/blocks/patch-positions.ts): 'none' (default,
   * RoPE alone), 'sincos-2d' (DiT's fixed table) or 'learned'.
   */
  readonly patchPositions: PatchPositionKind;
  /** Share the LM head with the token embedding (default false, as in the `tiny` benchmark). */
  readonly tieEmbeddings: boolean;
  /** Longest sequence the positions allow (RoPE has no table, but the limit catches runaway generation). */
  readonly maxPositions: number;
}

export interface ObjectiveConfig {
  /** Noise schedule (paper: cosine, T = 1000). */
  readonly schedule: ScheduleConfig;
  /** What the decoder predicts (paper: epsilon). */
  readonly prediction: PredictionKind;
  /** How training times are drawn (paper: uniform over the 1000 steps). */
  readonly timesteps: TimestepSamplerConfig;
  /** Per-image weight of the diffusion loss over t (paper: constant). */
  readonly weighting: WeightingConfig;
  /** lambda in L = L_LM + lambda * L_DDPM (paper: 5). */
  readonly lambda: number;
  /** Cap t at `noiseLimitTMax` for images placed before their caption (paper §4.3, Tab 8: 500 of 1000). */
  readonly noiseLimit: boolean;
  readonly noiseLimitTMax: number;
  /**
   * Range of clean samples, |x0| <= clipX0, or null when unbounded (latents). Samplers clip their x0 estimate to it
   * by default (src/schedules/sampler.ts); pixel space in [-1, 1] uses 1.
   */
  readonly clipX0: number | null;
}

export interface TransfusionConfig {
  readonly net: NetConfig;
  readonly objective: ObjectiveConfig;
  /** Sequence building; `patchesPerImage` is derived from the net and overwritten on resolve. */
  readonly sequence: SequenceConfig;
}

export const DEFAULT_NET: NetConfig = {
  vocabSize: 262,
  transformer: { ...DEFAULT_TRANSFORMER, dModel: 256, nLayers: 4, nHeads: 4, ffnHidden: 683 },
  latent: { channels: 4, height: 16, width: 16 },
  patchSize: 2,
  patch: DEFAULT_LINEAR_PATCH,
  mask: DEFAULT_MASK,
  imagePositions: 'sequential',
  patchPositions: 'none',
  tieEmbeddings: false,
  maxPositions: 4096,
};

export const DEFAULT_OBJECTIVE: ObjectiveConfig = {
  schedule: DEFAULT_SCHEDULE,
  prediction: 'epsilon',
  timesteps: DEFAULT_TIMESTEP_SAMPLER,
  weighting: DEFAULT_WEIGHTING,
  lambda: 5,
  noiseLimit: true,
  noiseLimitTMax: 0.5,
  clipX0: null,
};

export const DEFAULT_CONFIG: TransfusionConfig = {
  net: DEFAULT_NET,
  objective: DEFAULT_OBJECTIVE,
  sequence: DEFAULT_SEQUENCE_CONFIG,
};

/**
 * Named presets. `tiny` is the speed yardstick (`npm run bench`, bench/train.ts); `mnist` trains on 16 x 16
 * MNIST digits in pixel space in minutes on a CPU, as the paper's recipe lays them out; `mnist-fast` is the same
 * network tuned for time to quality; `small` is the next size up for a longer run.
 */
export const PRESETS = {
  tiny: {},
  mnist: {
    net: {
      transformer: { dModel: 128, nLayers: 4, nHeads: 4, ffnHidden: 344 },
      latent: { channels: 1, height: 16, width: 16 },
      patchSize: 2,
    },
    objective: { clipX0: 1 },
    sequence: { length: 96 },
  },
  /**
   * The `mnist` network at a quarter of the positions, tuned for time to quality (README, "Time to quality";
   * `npm run speedrun`): 4 x 4 patches (16 per digit instead of 64) with 2-D positions; half the pairs image-first
   * and lambda 2, so captioning gets a fair share of the signal (with the paper's 80/20 mix and lambda 5 the
   * text after an image is mostly EOS, and greedy captions come out empty).
   */
  'mnist-fast': {
    net: {
      transformer: { dModel: 128, nLayers: 4, nHeads: 4, ffnHidden: 344 },
      latent: { channels: 1, height: 16, width: 16 },
      patchSize: 4,
      imagePositions: '2d',
    },
    objective: { clipX0: 1, lambda: 2 },
    sequence: { length: 48, imageFirstProb: 0.5 },
  },
  small: {
    net: { transformer: { dModel: 384, nLayers: 6, nHeads: 6, ffnHidden: 1024 } },
    sequence: { length: 160 },
  },
} as const satisfies Record<string, DeepPartial<TransfusionConfig>>;

export type PresetName = keyof typeof PRESETS;

/**
 * Merge `overrides` into a preset (or the default) and validate every field; errors name the field. A complete
 * config given as the preset (a saved run's) is checked against DEFAULT_CONFIG's fields too.
 */
export function resolveConfig(preset: PresetName | TransfusionConfig = 'tiny', overrides: DeepPartial<TransfusionConfig> = {}): TransfusionConfig {
  return resolvePreset<TransfusionConfig, PresetName>(DEFAULT_CONFIG, PRESETS, preset, overrides, validateConfig);
}

/** resolveTransformerConfig with its sizes bounded (LIMITS), so an absurd width fails before any weight exists. */
export function resolveBoundedTransformer(config: TransformerConfig, path: string): TransformerConfig {
  const t = resolveTransformerConfig(config, path);
  check.size(`${path}.dModel`, t.dModel, 'width');
  check.size(`${path}.nLayers`, t.nLayers, 'depth');
  check.size(`${path}.ffnHidden`, t.ffnHidden, 'hidden');
  return t;
}

export function validateConfig(c: TransfusionConfig): TransfusionConfig {
  const n = c.net;
  check.size('net.vocabSize', n.vocabSize, 'vocab');
  const transformer = resolveBoundedTransformer(n.transformer, 'net.transformer');
  check.size('net.latent.channels', n.latent.channels, 'width');
  check.size('net.latent.height', n.latent.height, 'side');
  check.size('net.latent.width', n.latent.width, 'side');
  checkPatchSize(n.patchSize, 'net.patchSize');
  checkPatchGrid(n.patchSize, n.latent.height, n.latent.width, 'net.patchSize');
  const patch = resolvePatchConfig(n.patch, 'net.patch');
  const mask = resolveMask(n.mask, 'net.mask');
  check.oneOf('net.imagePositions', n.imagePositions, IMAGE_POSITIONS);
  check.oneOf('net.patchPositions', n.patchPositions, PATCH_POSITION_KINDS);
  if (n.patchPositions === 'sincos-2d' && transformer.dModel % 4 !== 0) {
    throw new ConfigError('net.patchPositions', n.patchPositions, `'none' or 'learned' when net.transformer.dModel (${transformer.dModel}) is not a multiple of 4`);
  }
  check.oneOf('net.tieEmbeddings', n.tieEmbeddings, [true, false]);
  check.size('net.maxPositions', n.maxPositions, 'positions');

  // Each swappable block is resolved here, once (src/registry.ts): completed from its kind's defaults and
  // checked, so the model builds it from plain data without checking again.
  const o = {
    ...c.objective,
    schedule: schedules.resolve(c.objective.schedule, 'objective.schedule'),
    timesteps: timestepSamplers.resolve(c.objective.timesteps, 'objective.timesteps'),
    weighting: weightings.resolve(c.objective.weighting, 'objective.weighting'),
  };
  predictionTarget(o.prediction, 'objective.prediction');
  check.nonNegative('objective.lambda', o.lambda);
  check.oneOf('objective.noiseLimit', o.noiseLimit, [true, false]);
  check.inRange('objective.noiseLimitTMax', o.noiseLimitTMax, 0, 1);
  if (o.clipX0 !== null) check.positive('objective.clipX0', o.clipX0);

  const patchesPerImage = numPatches(n.latent.height, n.latent.width, n.patchSize);
  const sequence = validateSequenceConfig({ ...c.sequence, patchesPerImage });
  if (sequence.length > n.maxPositions) {
    throw new ConfigError('sequence.length', sequence.length, `at most net.maxPositions (${n.maxPositions})`);
  }
  if (n.mask.kind === 'prefix-lm' && n.mask.prefixLength > sequence.length) {
    throw new ConfigError('net.mask.prefixLength', n.mask.prefixLength, `at most sequence.length (${sequence.length}); a longer prefix is the 'full' mask`);
  }
  return { net: { ...n, transformer, patch, mask }, objective: o, sequence };
}
