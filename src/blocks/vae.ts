/**
 * A small convolutional VAE (Kingma & Welling 2014) in the layout of LDM's KL autoencoder (Rombach et al. 2022):
 * the encoder emits a diagonal Gaussian per latent element, the decoder maps a latent back to pixels, and the loss
 * is reconstruction MSE plus a lightly weighted KL to N(0, I). Transfusion (§4.1) trains its diffusion on such
 * latents (8x downsampling, 8 channels); here the sizes are a config away from that.
 */
import { tf } from '../engine/tf';
import { Rng, rng as globalRng } from '../engine/random';
import { ShapeError } from '../config';
import { Module } from './module';
import { BUILT_IN, fieldsOf } from '../registry';
import { autoencoderKinds, AutoencoderBuildOptions, checkVAE, DEFAULT_VAE, VAEConfig } from './autoencoder-config';
import { checkImages, ConvDecoder, ConvEncoder } from './autoencoder-conv';
import type { Autoencoder, AutoencoderLoss, EncodeOptions } from './autoencoder';

/** LDM's `DiagonalGaussianDistribution` clamps log-variance to this range so exp() stays finite early on. */
const LOGVAR_RANGE = [-30, 20] as const;

/** KL(N(mean, exp(logvar)) || N(0, 1)) summed over all but the batch axis: [B, ...] -> [B] (Kingma & Welling 2014, App. B). */
export function gaussianKl(mean: tf.Tensor, logvar: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const perElement = mean.square().add(logvar.exp()).sub(1).sub(logvar).mul(0.5);
    return perElement.reshape([mean.shape[0], -1]).sum(1);
  });
}

export class VAE extends Module implements Autoencoder {
  readonly imageChannels: number;
  readonly latentChannels: number;
  readonly downsample: number;
  readonly klWeight: number;
  /** Latent multiplier (see VAEConfig.scalingFactor); set by `fitScalingFactor`. */
  scalingFactor: number;
  readonly encoder: ConvEncoder;
  readonly decoder: ConvDecoder;
  private readonly base: VAEConfig;

  /** `config` resolved (checked by `checkVAE`) already, e.g. by `resolveAutoencoderConfig`. */
  constructor(config: VAEConfig, options: AutoencoderBuildOptions = {}) {
    super();
    const field = options.field ?? 'autoencoder';
    this.base = config;
    const r = options.rng ?? globalRng();
    this.imageChannels = this.base.imageChannels;
    this.latentChannels = this.base.latentChannels;
    this.downsample = this.base.downsample;
    this.klWeight = this.base.klWeight;
    this.scalingFactor = this.base.scalingFactor;
    // 2c outputs: mean and log-variance of each latent element (LDM's `double_z`).
    this.encoder = this.module('encoder', new ConvEncoder(this.base, 2 * this.latentChannels, r, field));
    this.decoder = this.module('decoder', new ConvDecoder(this.base, this.latentChannels, r, field));
  }

  /** The config that rebuilds this model, including a fitted scaling factor. */
  get config(): VAEConfig {
    return { ...this.base, scalingFactor: this.scalingFactor };
  }

  /** images [B, H, W, Cimg] -> mean and clamped log-variance, each [B, H/f, W/f, c], unscaled */
  posterior(images: tf.Tensor): { mean: tf.Tensor; logvar: tf.Tensor } {
    checkImages(images, this.imageChannels, this.downsample, 'VAE images');
    return tf.tidy(() => {
      const [mean, logvar] = tf.split(this.encoder.forward(images), 2, 3);
      return { mean, logvar: logvar.clipByValue(LOGVAR_RANGE[0], LOGVAR_RANGE[1]) };
    });
  }

  /** images [B, H, W, Cimg] in [-1, 1] -> latents [B, H/f, W/f, c] times scalingFactor: the mean, or a sample. */
  encode(images: tf.Tensor, options: EncodeOptions = {}): tf.Tensor {
    return tf.tidy(() => {
      const { mean, logvar } = this.posterior(images);
      const z = options.sample ? this.reparameterize(mean, logvar, options.rng ?? globalRng()) : mean;
      return z.mul(this.scalingFactor);
    });
  }

  /** latents [B, h, w, c] (scaled, as `encode` returns them) -> images [B, h f, w f, Cimg] */
  decode(latents: tf.Tensor): tf.Tensor {
    if (latents.rank !== 4 || latents.shape[3] !== this.latentChannels) throw new ShapeError('VAE latents', `[B, h, w, ${this.latentChannels}]`, latents.shape);
    return tf.tidy(() => this.decoder.forward(latents.div(this.scalingFactor)));
  }

  /**
   * recon = mean squared pixel error of decode(sample); kl = KL summed per image / pixel values per image;
   * total = recon + klWeight * kl. Differentiable in every parameter (the sample is reparameterised).
   */
  loss(images: tf.Tensor, rng: Rng = globalRng()): AutoencoderLoss {
    return tf.tidy(() => {
      const { mean, logvar } = this.posterior(images);
      const recon = this.decoder.forward(this.reparameterize(mean, logvar, rng)).sub(images).square().mean() as tf.Scalar;
      const pixelsPerImage = images.size / images.shape[0];
      const kl = gaussianKl(mean, logvar).mean().div(pixelsPerImage) as tf.Scalar;
      return { total: recon.add(kl.mul(this.klWeight)) as tf.Scalar, breakdown: { recon, kl } };
    });
  }

  /**
   * Set scalingFactor = 1 / std of the posterior means over `images` (Rombach et al. 2022 §4.3.2 / Stable
   * Diffusion's 0.18215, measured on one batch) and return it.
   */
  fitScalingFactor(images: tf.Tensor): number {
    const std = tf.tidy(() => tf.moments(this.posterior(images).mean).variance.sqrt().dataSync()[0]);
    if (!(std > 0)) throw new Error(`VAE.fitScalingFactor: the latents of these images have no spread (std ${std}); pass a batch of differing images`);
    this.scalingFactor = 1 / std;
    return this.scalingFactor;
  }

  /** z = mean + exp(logvar / 2) * eps, eps ~ N(0, I) drawn from `rng` (Kingma & Welling 2014 §2.4). */
  private reparameterize(mean: tf.Tensor, logvar: tf.Tensor, rng: Rng): tf.Tensor {
    return tf.tidy(() => mean.add(logvar.mul(0.5).exp().mul(rng.randomNormal(mean.shape))));
  }

  override describe(): string {
    return `VAE(${this.imageChannels} -> ${this.latentChannels} channels, /${this.downsample}, klWeight ${this.klWeight}, scale ${this.scalingFactor.toPrecision(4)})`;
  }
}

autoencoderKinds.define(
  'vae',
  { defaults: fieldsOf(DEFAULT_VAE), validate: checkVAE, build: (c, o) => new VAE(c, o), doc: 'KL-regularised autoencoder (Kingma & Welling 2014; LDM KL-f)' },
  BUILT_IN,
);
