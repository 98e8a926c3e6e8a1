/**
 * Configs of the patch encoder/decoder pair (Transfusion §3.2): how a noisy latent becomes transformer tokens and
 * how the transformer's output tokens become the latent-shaped prediction. One config serves both halves, so
 * the decoder always mirrors its encoder (a U-Net's skips line up level by level).
 *
 * Plain data only; the geometry (latent channels, patch size, transformer width) comes from the model config.
 */
import type { Rng } from '../engine/random';
import { check, ConfigError, DeepPartial } from '../config';
import { KindFamily, type KindDefinition } from '../registry';
import { checkPatchSize } from './patchify';
import { CONDITIONINGS, Conditioning } from './resblock';
import type { PatchDecoder, PatchEncoder } from './patch';

/**
 * The built-in patch configs by kind; a kind defined in its own file adds its config by declaration merging
 * (`declare module './patch-config' { interface PatchKinds { conv: ConvPatchConfig } }`).
 */
export interface PatchKinds {
  linear: LinearPatchConfig;
  unet: UNetPatchConfig;
}

/** Paper §3.2 "linear layer": one Linear per patch each way. */
export interface LinearPatchConfig {
  readonly kind: 'linear';
  /**
   * 'add' (default, paper §3.2: "we add an embedding of the timestep t to every patch vector"); 'none' gives
   * the transformer no timestep through the image tokens, an ablation. The decoder ignores the timestep either
   * way: the output tokens already carry it, and the paper's decoder is a bare linear layer.
   */
  readonly conditioning: 'add' | 'none';
}

/** Paper §3.2 / Tab 7: U-Net down blocks before the transformer, up blocks after it. */
export interface UNetPatchConfig {
  readonly kind: 'unet';
  /**
   * Width of each U-Net level, level i at latent resolution / 2^i (default [32, 64, 64, 64]). A patch size k
   * uses the first log2(k) + 1 entries (k stride-2 steps reach the patch grid), so 4 entries serve k up to 8.
   * Small on purpose so a CPU trains it; the paper's 7B model uses a U-Net of 0.27B parameters.
   */
  readonly channels: readonly number[];
  /** ResBlocks per level (default 1; ADM uses 2-3 at image resolution). */
  readonly blocksPerLevel: number;
  /** GroupNorm groups (default 8); must divide every entry of `channels`. */
  readonly groups: number;
  /**
   * How the timestep enters each ResBlock (default 'scale-shift', ADM's AdaGN, which Dhariwal & Nichol 2021
   * found better than 'add'); 'none' gives the transformer no timestep through the image tokens.
   */
  readonly conditioning: Conditioning;
  /**
   * Concatenate the encoder's features of each level into the decoder (default false, so every bit of the image
   * passes through the transformer and its text context; true is the classic U-Net, where high-resolution detail
   * can bypass the transformer).
   */
  readonly skip: boolean;
}

export type PatchConfig = PatchKinds[keyof PatchKinds];
export type PatchEncoderConfig = PatchConfig;
export type PatchDecoderConfig = PatchConfig;
export type PatchKind = PatchConfig['kind'];

export const DEFAULT_LINEAR_PATCH: LinearPatchConfig = { kind: 'linear', conditioning: 'add' };

export const DEFAULT_UNET_PATCH: UNetPatchConfig = {
  kind: 'unet',
  channels: [32, 64, 64, 64],
  blocksPerLevel: 1,
  groups: 8,
  conditioning: 'scale-shift',
  skip: false,
};

/** The linear pair is the default: cheapest on a CPU, and the paper's choice for most of its ablations. */
export const DEFAULT_PATCH: PatchConfig = DEFAULT_LINEAR_PATCH;

/** A config given by its kind and any fields to change from that kind's default. */
export type PatchConfigInput = {
  [K in PatchKind]: { readonly kind: K } & DeepPartial<Omit<Extract<PatchConfig, { kind: K }>, 'kind'>>;
}[PatchKind];

/** What the model tells the patch pair: latent channels C, patch side k, transformer width D. */
export interface PatchGeometry {
  readonly latentChannels: number;
  readonly patchSize: number;
  readonly dModel: number;
}

/** Construction options every patch encoder and decoder takes. */
export interface PatchBuildOptions {
  /** Stream for the initial weights (default the global `rng()`). */
  readonly rng?: Rng;
  /** Config path used in error messages (default 'patch'). */
  readonly field?: string;
}

export function checkPatchGeometry(g: PatchGeometry, field = 'patch'): PatchGeometry {
  check.positiveInt(`${field}.latentChannels`, g.latentChannels);
  checkPatchSize(g.patchSize, `${field}.patchSize`);
  check.positiveInt(`${field}.dModel`, g.dModel);
  return g;
}

/** Number of stride-2 steps from the latent grid to the patch grid: log2(k). */
export function patchLevels(patchSize: number): number {
  return Math.round(Math.log2(patchSize));
}

/** What a patch kind defines (src/registry.ts): both halves, and what they cost. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface PatchKindDefinition<C extends { readonly kind: string } = any> extends KindDefinition<C> {
  /** The encoder of a resolved config for this geometry. */
  readonly encoder: (config: C, geometry: PatchGeometry, options: PatchBuildOptions) => PatchEncoder;
  /** The decoder of the same config, mirroring the encoder. */
  readonly decoder: (config: C, geometry: PatchGeometry, options: PatchBuildOptions) => PatchDecoder;
  /**
   * FLOPs of one training step (forward and backward) of encoder and decoder on one image, given the pair's
   * weight count: src/baseline/flops.ts charges it per image, so FLOP-matched comparisons cover every kind.
   */
  readonly flops: (config: C, image: PatchImageShape) => number;
}

/** What a patch pair's FLOPs depend on besides its config. */
export interface PatchImageShape {
  readonly geometry: PatchGeometry;
  /** Latent grid of one image. */
  readonly height: number;
  readonly width: number;
  /** Weights of encoder + decoder (counted on the built pair). */
  readonly parameters: number;
}

/** The patch encoder/decoder pairs; each kind's file defines itself here (patch-linear.ts, patch-unet.ts). */
export const patchKinds = new KindFamily<PatchConfig, PatchKindDefinition>('patch', 'patch encoder/decoder', undefined, ['encoder', 'decoder', 'flops']);

declare module '../registry' {
  interface KindFamilies {
    patch: typeof patchKinds;
  }
}

/** Merge a partial config into its kind's default and check every field (errors name `field.<name>`). */
export function resolvePatchConfig(input: PatchConfigInput | PatchConfig, field = 'patch'): PatchConfig {
  return patchKinds.resolve(input, field);
}

/** The linear pair's checks. */
export function checkLinearPatch(c: LinearPatchConfig, field: string): void {
  check.oneOf(`${field}.conditioning`, c.conditioning, ['add', 'none'] as const);
}

/** The U-Net pair's checks (its depth against the patch size is checked when it is built, on the geometry). */
export function checkUNetPatch(c: UNetPatchConfig, field: string): void {
  if (!Array.isArray(c.channels) || c.channels.length === 0) {
    throw new ConfigError(`${field}.channels`, c.channels, 'a non-empty list of channel widths, one per U-Net level');
  }
  const groups = check.positiveInt(`${field}.groups`, c.groups);
  c.channels.forEach((w, i) => {
    check.size(`${field}.channels.${i}`, w, 'width');
    if (w % groups !== 0) throw new ConfigError(`${field}.channels.${i}`, w, `a multiple of groups (${groups})`);
  });
  check.size(`${field}.blocksPerLevel`, c.blocksPerLevel, 'depth');
  check.oneOf(`${field}.conditioning`, c.conditioning, CONDITIONINGS);
  check.oneOf(`${field}.skip`, c.skip, [true, false]);
}

/** Throw unless the U-Net has a width for every level that patch size k needs. */
export function checkUNetDepth(config: UNetPatchConfig, patchSize: number, field = 'patch'): void {
  const need = patchLevels(patchSize) + 1;
  if (config.channels.length < need) {
    throw new ConfigError(`${field}.channels`, config.channels, `at least ${need} widths (levels 0..log2 k) for patchSize ${patchSize}`);
  }
}
