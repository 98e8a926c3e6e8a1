/**
 * Configs of the image autoencoders: what maps pixels to the space where diffusion (or the discrete-token
 * baseline) runs. Transfusion §3.1 / §4.1 uses a VAE with 8x downsampling and 8 latent channels; Chameleon's
 * discrete baseline (Tab 3) uses a VQ-VAE. Plain data; a partial config merges into its kind's default. Each kind is
defined on `autoencoderKinds` (src/registry.ts) by the file that implements it: identity-ae.ts, vae.ts, vq.ts.
 *
 * Images are NHWC in [-1, 1]; latents are NHWC at H / downsample.
 */
import type { Rng } from '../engine/random';
import { check, ConfigError, DeepPartial } from '../config';
import { KindFamily, type KindDefinition } from '../registry';
import type { Autoencoder } from './autoencoder';

/** Pixel space: latents are the images themselves (no parameters). */
export interface IdentityAutoencoderConfig {
  readonly kind: 'identity';
  /** Image channels (default 3, RGB; 1 for MNIST). */
  readonly imageChannels: number;
}

/** The convolutional shape shared by the VAE and the VQ autoencoder. */
export interface ConvAutoencoderShape {
  /** Image channels (default 3, RGB; 1 for MNIST). */
  readonly imageChannels: number;
  /**
   * Side reduction f from image to latent: 2, 4 or 8 (default 4, so a 32 px toy image gives an 8x8 latent;
   * the paper uses 8 on 256 px images). log2 f stride-2 steps.
   */
  readonly downsample: number;
  /**
   * Width of each level, level i at H / 2^i (default [16, 32, 64, 64]); the first log2 f + 1 are used. Narrow
   * at full resolution, where convolutions cost the most: a training step on 4 images of 32x32 takes seconds on
   * the pure-JS cpu backend. Stable Diffusion's VAE uses [128, 256, 512, 512].
   */
  readonly channels: readonly number[];
  /** ResBlocks per level in each half (default 1; Stable Diffusion's VAE uses 2). */
  readonly blocksPerLevel: number;
  /** GroupNorm groups (default 8); must divide every entry of `channels`. */
  readonly groups: number;
}

/** KL-regularised autoencoder (Kingma & Welling 2014; Rombach et al. 2022 "LDM", the "KL-f" models). */
export interface VAEConfig extends ConvAutoencoderShape {
  readonly kind: 'vae';
  /** Latent channels c (default 4, as Stable Diffusion; the paper uses 8 at f = 8). */
  readonly latentChannels: number;
  /**
   * Weight of the KL term (default 1e-6, LDM's KL-f models): small, so the latent keeps enough detail for sharp
   * reconstructions; raise it (1e-4 .. 1e-2) for a smoother, more Gaussian latent. The KL is summed over
   * latent elements and divided by the pixel values per image, the footing of the per-pixel MSE, so the
   * weight trades the two terms as LDM's per-image sums do.
   */
  readonly klWeight: number;
  /**
   * Multiplies latents after encoding and divides them before decoding (default 1), so the diffusion model sees
   * roughly unit variance: Stable Diffusion's 0.18215 is 1 / std of its latents. `fitScalingFactor` sets it
   * from data; `config` then reports the fitted value, so a saved config rebuilds the same model.
   */
  readonly scalingFactor: number;
}

/** Vector-quantised autoencoder (van den Oord et al. 2017), the discrete-token baseline's tokenizer. */
export interface VQConfig extends ConvAutoencoderShape {
  readonly kind: 'vq';
  /** Number of codes K (default 256; Chameleon uses 8192 at scale): the baseline's image vocabulary. */
  readonly codebookSize: number;
  /** Width of a code, and so the latent channels (default 8). */
  readonly codeDim: number;
  /** Commitment weight beta (default 0.25, van den Oord et al. 2017 §3.2: "robust from 0.1 to 2.0"). */
  readonly beta: number;
}

/**
 * The built-in autoencoder configs by kind; a kind defined in its own file adds its config by declaration merging
 * (`declare module './autoencoder-config' { interface AutoencoderKinds { fsq: FsqConfig } }`).
 */
export interface AutoencoderKinds {
  identity: IdentityAutoencoderConfig;
  vae: VAEConfig;
  vq: VQConfig;
}

export type AutoencoderConfig = AutoencoderKinds[keyof AutoencoderKinds];
export type AutoencoderKind = AutoencoderConfig['kind'];

export const DEFAULT_IDENTITY_AUTOENCODER: IdentityAutoencoderConfig = { kind: 'identity', imageChannels: 3 };

const DEFAULT_CONV_SHAPE: ConvAutoencoderShape = { imageChannels: 3, downsample: 4, channels: [16, 32, 64, 64], blocksPerLevel: 1, groups: 8 };

export const DEFAULT_VAE: VAEConfig = { kind: 'vae', ...DEFAULT_CONV_SHAPE, latentChannels: 4, klWeight: 1e-6, scalingFactor: 1 };

export const DEFAULT_VQ: VQConfig = { kind: 'vq', ...DEFAULT_CONV_SHAPE, codebookSize: 256, codeDim: 8, beta: 0.25 };

/** Pixel space is the default: it needs no pretrained autoencoder, so a notebook can start from nothing. */
export const DEFAULT_AUTOENCODER: AutoencoderConfig = DEFAULT_IDENTITY_AUTOENCODER;

/** A config given by its kind and any fields to change from that kind's default. */
export type AutoencoderConfigInput = {
  [K in AutoencoderKind]: { readonly kind: K } & DeepPartial<Omit<Extract<AutoencoderConfig, { kind: K }>, 'kind'>>;
}[AutoencoderKind];

/** Construction options every autoencoder takes. */
export interface AutoencoderBuildOptions {
  /** Stream for the initial weights (default the global `rng()`). */
  readonly rng?: Rng;
  /** Config path used in error messages (default 'autoencoder'). */
  readonly field?: string;
}

export const DOWNSAMPLE_FACTORS = [2, 4, 8] as const;

/** Throw unless the shared convolutional fields are valid, errors naming `field.<name>`. */
export function checkConvShape(c: ConvAutoencoderShape, field: string): void {
  check.size(`${field}.imageChannels`, c.imageChannels, 'width');
  check.oneOf(`${field}.downsample`, c.downsample, DOWNSAMPLE_FACTORS);
  const groups = check.positiveInt(`${field}.groups`, c.groups);
  const need = Math.log2(c.downsample) + 1;
  if (!Array.isArray(c.channels) || c.channels.length < need) {
    throw new ConfigError(`${field}.channels`, c.channels, `a list of at least ${need} widths (levels 0..log2 f) for downsample ${c.downsample}`);
  }
  c.channels.forEach((w, i) => {
    check.size(`${field}.channels.${i}`, w, 'width');
    if (w % groups !== 0) throw new ConfigError(`${field}.channels.${i}`, w, `a multiple of groups (${groups})`);
  });
  check.size(`${field}.blocksPerLevel`, c.blocksPerLevel, 'depth');
}

/** What an autoencoder kind defines (src/registry.ts): how a resolved config is built. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface AutoencoderKindDefinition<C extends { readonly kind: string } = any> extends KindDefinition<C> {
  /** The autoencoder of a resolved config (checked already: build does not check again). */
  readonly build: (config: C, options: AutoencoderBuildOptions) => Autoencoder;
}

/** The image autoencoders; each kind's file defines itself here (identity-ae.ts, vae.ts, vq.ts). */
export const autoencoderKinds = new KindFamily<AutoencoderConfig, AutoencoderKindDefinition>('autoencoder', 'autoencoder');

declare module '../registry' {
  interface KindFamilies {
    autoencoder: typeof autoencoderKinds;
  }
}

/** Merge a partial config into its kind's default and check every field (errors name `field.<name>`). */
export function resolveAutoencoderConfig(input: AutoencoderConfigInput | AutoencoderConfig, field = 'autoencoder'): AutoencoderConfig {
  return autoencoderKinds.resolve(input, field);
}

/** The identity autoencoder's checks. */
export function checkIdentityAutoencoder(c: IdentityAutoencoderConfig, field: string): void {
  check.size(`${field}.imageChannels`, c.imageChannels, 'width');
}

/** The VAE's checks. */
export function checkVAE(c: VAEConfig, field: string): void {
  checkConvShape(c, field);
  check.size(`${field}.latentChannels`, c.latentChannels, 'width');
  check.nonNegative(`${field}.klWeight`, c.klWeight);
  check.positive(`${field}.scalingFactor`, c.scalingFactor);
}

/** The VQ autoencoder's checks. */
export function checkVQ(c: VQConfig, field: string): void {
  checkConvShape(c, field);
  check.size(`${field}.codebookSize`, c.codebookSize, 'vocab');
  check.size(`${field}.codeDim`, c.codeDim, 'width');
  check.nonNegative(`${field}.beta`, c.beta);
}
