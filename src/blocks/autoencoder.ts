/**
 * The image autoencoder interface and its registry. The model and the data pipeline see only this: pixels in
 * [-1, 1] go in, latents come out (diffusion adds noise to these, Transfusion §3.1), and back. Training an
 * autoencoder is `loss` under any optimiser: every term is differentiable in the parameters.
 */
import type { tf } from '../engine/tf';
import type { Rng } from '../engine/random';
import { rng as globalRng } from '../engine/random';
import { ConfigError, fromRegistry } from '../config';
import { Module } from './module';
import {
  AutoencoderBuildOptions,
  AutoencoderConfig,
  AutoencoderConfigInput,
  resolveAutoencoderConfig,
} from './autoencoder-config';
import { IdentityAutoencoder } from './identity-ae';
import { VAE } from './vae';
import { VQAutoencoder } from './vq';

export * from './autoencoder-config';
export { IdentityAutoencoder, VAE, VQAutoencoder };

export interface EncodeOptions {
  /** VAE: draw z = mean + std * eps instead of returning the mean (default false). Others ignore it. */
  readonly sample?: boolean;
  /** Stream for the sample (default the global `rng()`). */
  readonly rng?: Rng;
}

/**
 * Losses return the total and every term by name (docs/ARCHITECTURE.md, 'Losses'); the weights live in the config.
 */
export interface AutoencoderLoss {
  readonly total: tf.Scalar;
  readonly breakdown: Record<string, tf.Scalar>;
}

export interface Autoencoder extends Module {
  readonly config: AutoencoderConfig;
  readonly imageChannels: number;
  /** Channels c of a latent. */
  readonly latentChannels: number;
  /** Side reduction f: latents are [B, H/f, W/f, c]. */
  readonly downsample: number;
  /** images [B, H, W, Cimg] in [-1, 1] -> latents [B, H/f, W/f, c] */
  encode(images: tf.Tensor, options?: EncodeOptions): tf.Tensor;
  /** latents [B, h, w, c] -> images [B, h f, w f, Cimg] */
  decode(latents: tf.Tensor): tf.Tensor;
  /** Training loss on a batch of images [B, H, W, Cimg]; `rng` drives any sampling inside. */
  loss(images: tf.Tensor, rng?: Rng): AutoencoderLoss;
}

type Build = (options: AutoencoderBuildOptions) => Autoencoder;

export const AUTOENCODERS: { readonly [K in AutoencoderConfig['kind']]: (c: Extract<AutoencoderConfig, { kind: K }>) => Build } = {
  identity: (c) => (o) => new IdentityAutoencoder(c, o),
  vae: (c) => (o) => new VAE(c, o),
  vq: (c) => (o) => new VQAutoencoder(c, o),
};

/** A config (partial, merged into its kind's default) or a built autoencoder (docs/ARCHITECTURE.md, 'Slots'). */
export function makeAutoencoder(config: AutoencoderConfigInput | AutoencoderConfig | Autoencoder, options: AutoencoderBuildOptions = {}): Autoencoder {
  const field = options.field ?? 'autoencoder';
  if (config instanceof Module) {
    if (typeof (config as Partial<Autoencoder>).encode !== 'function') throw new ConfigError(field, config.describe(), 'an autoencoder config or an Autoencoder');
    return config;
  }
  const resolved = resolveAutoencoderConfig(config, field);
  return fromRegistry<AutoencoderConfig, Build>(AUTOENCODERS, resolved, field)({ rng: options.rng ?? globalRng(), field });
}
