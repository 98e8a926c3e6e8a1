/**
 * Training compute per step, so Transfusion and the Chameleon baseline can be compared at equal FLOPs (the
 * paper's Tab 3 and Fig 2 compare at matched compute). The usual approximation (Kaplan et al. 2020 §2.1;
 * Hoffmann et al. 2022 App. F): a weight used once per position costs 2 FLOPs forward and 4 backward, so a
 * training step costs 6 * N * positions, plus attention's products, which have no weights:
 * QK^T and AV are 2 L D multiply-adds each per position and layer, 12 L D per position with the backward.
 * Attention is counted dense (all L x L scores), as the lab computes it; a fused causal kernel would halve it.
 *
 * Each weight is charged for the positions it is applied to: the transformer at all B * L positions, the LM
 * head at positions with a target, Transfusion's patch pair as its kind states (`flops` of the kind's definition:
 * the linear pair per patch, the U-Net per latent pixel, an upper bound) and its timestep MLP once per image. Embedding lookups cost nothing. The frozen autoencoders (VAE, VQ) are outside the step: their
 * latents and codes are cached, as the paper's are precomputed.
 */
import { Rng } from '../engine/random';
import { check } from '../config';
import type { TransformerConfig } from '../blocks/transformer';
import { makePatchDecoder, makePatchEncoder, patchKinds } from '../blocks/patch';
import { numPatches } from '../blocks/patchify';
import { Transfusion } from '../model/transfusion';
import { validateConfig, type NetConfig, type TransfusionConfig } from '../model/config';
import { validateBaselineConfig, vocabSize, type BaselineConfig } from './config';
import { ChameleonBaseline } from './chameleon';

/** What one training step processes. */
export interface StepShape {
  /** Rows B. */
  readonly batchSize: number;
  /** Positions per row L. */
  readonly length: number;
  /** Images in the step (default batchSize: one caption/image pair per row, the loader's default). */
  readonly images?: number;
  /**
   * Positions with an LM target (default: Transfusion, every position outside its images and their BOI; the
   * baseline, every position). Pass the count of a real batch's targets for an exact figure.
   */
  readonly lmPositions?: number;
}

/** FLOPs of one training step (forward and backward), in total and by part. */
export interface FlopCount {
  readonly total: number;
  readonly breakdown: {
    /** 6 * transformer weights * B * L. */
    readonly transformer: number;
    /** 12 * nLayers * L * D per position: the dense score and value products. */
    readonly attention: number;
    /** 6 * V * D per position with an LM target. */
    readonly lmHead: number;
    /** Transfusion's patch encoder and decoder (0 for the baseline). */
    readonly patch: number;
    /** Transfusion's timestep MLP, once per image (0 for the baseline). */
    readonly timestep: number;
  };
}

/** Weights of the transformer blocks and final norm: per layer 4 D^2 (attention) + 3 D F (SwiGLU) + 2 D (norms). */
export function transformerParameters(c: TransformerConfig): number {
  const D = c.dModel;
  const qkNorm = c.qkNorm ? 2 * (D / c.nHeads) : 0;
  return c.nLayers * (4 * D * D + 3 * D * c.ffnHidden + 2 * D + qkNorm) + D;
}

/** Weights of Transfusion's patch encoder + decoder (built once and freed, so any patch kind is counted exactly). */
export function patchParameters(net: NetConfig): number {
  const geometry = { latentChannels: net.latent.channels, patchSize: net.patchSize, dModel: net.transformer.dModel };
  const rng = new Rng('flops/patch-count');
  const encoder = makePatchEncoder(net.patch, geometry, { rng, field: 'net.patch' });
  const decoder = makePatchDecoder(net.patch, geometry, { rng, field: 'net.patch' });
  const n = encoder.numParameters() + decoder.numParameters();
  encoder.dispose();
  decoder.dispose();
  return n;
}

/** Weights of the timestep MLP: sinusoid (256) -> D -> D, with biases (blocks/timestep.ts). */
function timestepParameters(D: number): number {
  return 256 * D + D + D * D + D;
}

/** The shape's fields checked; `lmPositions` stays undefined when not given, each model has its own default. */
function checkShape(shape: StepShape): { B: number; L: number; images: number; lmPositions: number | undefined } {
  const B = check.positiveInt('flops.batchSize', shape.batchSize);
  const L = check.positiveInt('flops.length', shape.length);
  const images = shape.images === undefined ? B : check.nonNegativeInt('flops.images', shape.images);
  const lmPositions = shape.lmPositions === undefined ? undefined : check.nonNegativeInt('flops.lmPositions', shape.lmPositions);
  return { B, L, images, lmPositions };
}

function count(parts: FlopCount['breakdown']): FlopCount {
  return { total: Object.values(parts).reduce((a, b) => a + b, 0), breakdown: parts };
}

/** Dense attention, forward and backward: 3 x (QK^T + AV) = 3 x 4 L D per position and layer. */
function attentionFlops(c: TransformerConfig, B: number, L: number): number {
  return 12 * c.nLayers * L * c.dModel * B * L;
}

/** One Transfusion training step. */
export function transfusionFlops(config: TransfusionConfig, shape: StepShape): FlopCount {
  const c = validateConfig(config);
  const s = checkShape(shape);
  const net = c.net;
  const D = net.transformer.dModel;
  const N = numPatches(net.latent.height, net.latent.width, net.patchSize);
  const positions = s.B * s.L;
  // Transfusion §3.3: no LM target at an image's BOI or inside it.
  const lm = s.lmPositions ?? Math.max(0, positions - s.images * (N + 1));
  const geometry = { latentChannels: net.latent.channels, patchSize: net.patchSize, dModel: D };
  // Each patch kind states its own cost (src/blocks/patch-config.ts, PatchKindDefinition.flops), a kind defined at run time too.
  const patchPerImage = patchKinds.definition(net.patch.kind, 'net.patch').flops(net.patch, { geometry, height: net.latent.height, width: net.latent.width, parameters: patchParameters(net) });
  return count({
    transformer: 6 * transformerParameters(net.transformer) * positions,
    attention: attentionFlops(net.transformer, s.B, s.L),
    lmHead: 6 * net.vocabSize * D * lm,
    patch: patchPerImage * s.images,
    timestep: 6 * timestepParameters(D) * s.images,
  });
}

/** One training step of the discrete baseline: the same transformer terms, an LM head over text + codes at every target. */
export function baselineFlops(config: BaselineConfig, shape: StepShape): FlopCount {
  const c = validateBaselineConfig(config);
  const s = checkShape(shape);
  const positions = s.B * s.L;
  return count({
    transformer: 6 * transformerParameters(c.net.transformer) * positions,
    attention: attentionFlops(c.net.transformer, s.B, s.L),
    lmHead: 6 * vocabSize(c.net) * c.net.transformer.dModel * (s.lmPositions ?? positions),
    patch: 0,
    timestep: 0,
  });
}

/** FLOPs of one training step of either model (built, or its config) on batches of `shape`. */
export function flopsPerStep(model: Transfusion | ChameleonBaseline | TransfusionConfig | BaselineConfig, shape: StepShape): FlopCount {
  if (model instanceof Transfusion) return transfusionFlops(model.config, shape);
  if (model instanceof ChameleonBaseline) return baselineFlops(model.config, shape);
  return 'objective' in model ? transfusionFlops(model, shape) : baselineFlops(model, shape);
}

/** Steps at `flopsPerStep` that spend the compute of `reference.steps` steps at `reference.flopsPerStep` (rounded). */
export function computeMatchedSteps(reference: { readonly flopsPerStep: number; readonly steps: number }, flopsPerStep: number): number {
  check.positive('computeMatchedSteps.reference.flopsPerStep', reference.flopsPerStep);
  check.nonNegativeInt('computeMatchedSteps.reference.steps', reference.steps);
  check.positive('computeMatchedSteps.flopsPerStep', flopsPerStep);
  return Math.round((reference.flopsPerStep * reference.steps) / flopsPerStep);
}
