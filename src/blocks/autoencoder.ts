/**
 * The image autoencoder interface, and the factory that builds one from its config through the kinds' registry
 * (`autoencoderKinds`, src/blocks/autoencoder-config.ts; src/registry.ts). The model and the data pipeline see only this: pixels in
 * [-1, 1] go in, latents come out (diffusion adds noise to these, Transfusion §3.1), and back. Training an
 * autoencoder is `loss` under any optimiser: every term is differentiable in the parameters.
 */
import type { tf } from '../engine/tf';
import type { Rng } from '../engine/random';
import { rng as globalRng } from '../engine/random';
import { ConfigError } from '../config';
import { Module } from './module';
import { autoencoderKinds, AutoencoderBuildOptions, AutoencoderConfig, AutoencoderConfigInput } from './autoencoder-config';
// The built-in kinds, one file each; loading a file defines its kind (src/registry.ts).
import { IdentityAutoencoder } from './identity-ae';
import { VAE } from './vae';
import { VQAutoencoder } from './vq';

export * from './autoencoder-config';
export { IdentityAutoencoder, VAE, VQAutoencoder };

/** The default of each built-in kind; a partial config is merged into the default of its kind. */
export const AUTOENCODER_DEFAULTS = autoencoderKinds.defaultsTable();

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

/** A config (partial, merged into its kind's default) or a built autoencoder (docs/ARCHITECTURE.md, 'Slots'). */
export function makeAutoencoder(config: AutoencoderConfigInput | AutoencoderConfig | Autoencoder, options: AutoencoderBuildOptions = {}): Autoencoder {
  const field = options.field ?? 'autoencoder';
  if (config instanceof Module) {
    if (typeof (config as Partial<Autoencoder>).encode !== 'function') throw new ConfigError(field, config.describe(), 'an autoencoder config or an Autoencoder');
    return config;
  }
  return autoencoderKinds.make(config, field, (definition, resolved) => definition.build(resolved, { rng: options.rng ?? globalRng(), field }));
}
