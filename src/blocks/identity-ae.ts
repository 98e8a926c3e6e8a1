/**
 * The identity autoencoder: diffusion runs on pixels. No parameters and nothing to train, so a notebook can start
 * without a pretrained VAE, and the latent/pixel comparison is one config change.
 */
import { tf } from '../engine/tf';
import { Module } from './module';
import { BUILT_IN, fieldsOf } from '../registry';
import { autoencoderKinds, AutoencoderBuildOptions, checkIdentityAutoencoder, DEFAULT_IDENTITY_AUTOENCODER, IdentityAutoencoderConfig } from './autoencoder-config';
import { checkImages } from './autoencoder-conv';
import type { Autoencoder, AutoencoderLoss } from './autoencoder';

export class IdentityAutoencoder extends Module implements Autoencoder {
  readonly config: IdentityAutoencoderConfig;
  readonly imageChannels: number;
  readonly latentChannels: number;
  readonly downsample = 1;

  /** `config` resolved (checked by `checkIdentityAutoencoder`) already, e.g. by `resolveAutoencoderConfig`. */
  constructor(config: IdentityAutoencoderConfig, _options: AutoencoderBuildOptions = {}) {
    super();
    this.config = config;
    this.imageChannels = this.config.imageChannels;
    this.latentChannels = this.config.imageChannels;
  }

  /** images [B, H, W, C] -> a copy (the caller may dispose the result without losing the input) */
  encode(images: tf.Tensor): tf.Tensor {
    checkImages(images, this.imageChannels, 1, 'IdentityAutoencoder images');
    return images.clone();
  }

  /** latents [B, H, W, C] -> a copy */
  decode(latents: tf.Tensor): tf.Tensor {
    checkImages(latents, this.latentChannels, 1, 'IdentityAutoencoder latents');
    return latents.clone();
  }

  /** Nothing to learn: total and recon are 0. */
  loss(images: tf.Tensor): AutoencoderLoss {
    checkImages(images, this.imageChannels, 1, 'IdentityAutoencoder images');
    return { total: tf.scalar(0), breakdown: { recon: tf.scalar(0) } };
  }

  override describe(): string {
    return `IdentityAutoencoder(${this.imageChannels} channels, pixel space)`;
  }
}

autoencoderKinds.define(
  'identity',
  { defaults: fieldsOf(DEFAULT_IDENTITY_AUTOENCODER), validate: checkIdentityAutoencoder, build: (c, o) => new IdentityAutoencoder(c, o), doc: 'pixel space: latents are the images' },
  BUILT_IN,
);
