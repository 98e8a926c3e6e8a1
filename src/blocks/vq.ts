/**
 * Vector-quantised autoencoder (VQ-VAE, van den Oord et al. 2017): each latent vector is replaced by its nearest
 * codebook entry, so an image becomes a grid of integer tokens. This is the tokenizer of the discrete baseline
 * Transfusion compares against (Chameleon, Tab 3): image tokens predicted by next-token prediction like text.
 *
 * Loss (van den Oord et al. 2017, eq. 3): recon + ||sg[z_e] - e||^2 + beta ||z_e - sg[e]||^2, with the
 * decoder's gradient copied straight through the non-differentiable lookup onto z_e.
 */
import { tf } from '../engine/tf';
import { Rng, rng as globalRng } from '../engine/random';
import { check, ShapeError } from '../config';
import { Module } from './module';
import { BUILT_IN, fieldsOf } from '../registry';
import { autoencoderKinds, AutoencoderBuildOptions, checkVQ, DEFAULT_VQ, VQConfig } from './autoencoder-config';
import { checkImages, ConvDecoder, ConvEncoder } from './autoencoder-conv';
import type { Autoencoder, AutoencoderLoss } from './autoencoder';

/** sg[x]: x forward, zero gradient backward (tfjs has no stop-gradient op, so a custom gradient makes one). */
export const stopGradient = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const x = args[0] as tf.Tensor;
  return { value: x.clone(), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
}) as (x: tf.Tensor) => tf.Tensor;

/**
 * z_e + sg[z_q - z_e]: the value of z_q (to float rounding), the gradient of z_e (van den Oord et al. 2017 §3.2,
 * "we copy gradients from decoder input z_q(x) to encoder output z_e(x)").
 */
export function straightThrough(ze: tf.Tensor, zq: tf.Tensor): tf.Tensor {
  return tf.tidy(() => ze.add(stopGradient(zq.sub(ze))));
}

/** The codebook: K vectors of width d, parameter `codebook` [K, d]. */
export class VectorQuantizer extends Module {
  readonly codebook: tf.Variable;

  constructor(readonly size: number, readonly dim: number, rng: Rng = globalRng()) {
    super();
    check.positiveInt('VectorQuantizer.size', size);
    check.positiveInt('VectorQuantizer.dim', dim);
    // U(-1/K, 1/K), the init of the reference VQ-VAE implementations: codes start near the origin and are pulled
    // out to the encoder outputs by the codebook loss.
    this.codebook = this.param('codebook', rng.randomUniform([size, dim], -1 / size, 1 / size));
  }

  /** z [..., d] -> nearest code per vector: quantized [..., d] and indices int32 [...] (squared L2 distance). */
  quantize(z: tf.Tensor): { quantized: tf.Tensor; indices: tf.Tensor } {
    if (z.shape[z.rank - 1] !== this.dim) throw new ShapeError('VectorQuantizer input', `[..., ${this.dim}]`, z.shape);
    const lead = z.shape.slice(0, -1);
    return tf.tidy(() => {
      const flat = z.reshape([-1, this.dim]);
      // ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2, one matrix product instead of an [M, K, d] difference.
      const d2 = flat.square().sum(1, true).sub(tf.matMul(flat, this.codebook, false, true).mul(2)).add(this.codebook.square().sum(1).expandDims(0));
      const indices = d2.argMin(1);
      // A one-hot product rather than tf.gather: the indices depend on the parameters, and tfjs's backprop rejects
      // the int32 "gradient" GatherV2 returns for them, while OneHot's is float zeros. Same values, bit for bit.
      // The one-hot is made int32 and cast: tfjs-backend-wasm 4.22's OneHot with dtype 'float32' writes the integer
      // bit patterns into the float buffer (1 becomes 1.4e-45), so every code came out zero on wasm.
      const quantized = tf.oneHot(indices, this.size).cast('float32').matMul(this.codebook);
      return { quantized: quantized.reshape(z.shape), indices: indices.reshape(lead) };
    });
  }

  /** indices int32 [...] -> codes [..., d] */
  lookup(indices: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.gather(this.codebook, indices.reshape([-1]).cast('int32')).reshape([...indices.shape, this.dim]));
  }

  override describe(): string {
    return `VectorQuantizer(${this.size} codes x ${this.dim})`;
  }
}

export class VQAutoencoder extends Module implements Autoencoder {
  readonly config: VQConfig;
  readonly imageChannels: number;
  readonly latentChannels: number;
  readonly downsample: number;
  readonly encoder: ConvEncoder;
  readonly quantizer: VectorQuantizer;
  readonly decoder: ConvDecoder;

  /** `config` resolved (checked by `checkVQ`) already, e.g. by `resolveAutoencoderConfig`. */
  constructor(config: VQConfig, options: AutoencoderBuildOptions = {}) {
    super();
    const field = options.field ?? 'autoencoder';
    this.config = config;
    const r = options.rng ?? globalRng();
    this.imageChannels = this.config.imageChannels;
    this.latentChannels = this.config.codeDim;
    this.downsample = this.config.downsample;
    this.encoder = this.module('encoder', new ConvEncoder(this.config, this.config.codeDim, r, field));
    this.quantizer = this.module('quantizer', new VectorQuantizer(this.config.codebookSize, this.config.codeDim, r));
    this.decoder = this.module('decoder', new ConvDecoder(this.config, this.config.codeDim, r, field));
  }

  /** images [B, H, W, Cimg] in [-1, 1] -> quantized latents [B, H/f, W/f, codeDim] (codebook vectors) */
  encode(images: tf.Tensor): tf.Tensor {
    checkImages(images, this.imageChannels, this.downsample, 'VQAutoencoder images');
    return tf.tidy(() => this.quantizer.quantize(this.encoder.forward(images)).quantized);
  }

  /** latents [B, h, w, codeDim] -> images [B, h f, w f, Cimg]; latents are decoded as given, not re-quantized. */
  decode(latents: tf.Tensor): tf.Tensor {
    return this.decoder.forward(latents);
  }

  /** images [B, H, W, Cimg] -> int32 [B, h * w] code indices, row-major over the latent grid (the token order). */
  encodeIndices(images: tf.Tensor): tf.Tensor {
    checkImages(images, this.imageChannels, this.downsample, 'VQAutoencoder images');
    return tf.tidy(() => {
      const { indices } = this.quantizer.quantize(this.encoder.forward(images));
      return indices.reshape([images.shape[0], -1]);
    });
  }

  /** indices int32 [B, h * w] (row-major) on an h x w latent grid -> images [B, h f, w f, Cimg] */
  decodeIndices(indices: tf.Tensor, h: number, w: number): tf.Tensor {
    if (indices.rank !== 2 || indices.shape[1] !== h * w) throw new ShapeError('VQAutoencoder indices', `[B, ${h * w}] for a ${h}x${w} grid`, indices.shape);
    return tf.tidy(() => this.decoder.forward(this.quantizer.lookup(indices).reshape([indices.shape[0], h, w, this.latentChannels])));
  }

  /**
   * recon = pixel MSE of decode(straight-through z_q); codebook = ||sg[z_e] - e||^2 (moves codes, eq. 3 second
   * term); commitment = ||z_e - sg[e]||^2 (keeps the encoder near its codes); total = recon + codebook +
   * beta * commitment. Squared distances are averaged over latent elements.
   */
  loss(images: tf.Tensor): AutoencoderLoss {
    checkImages(images, this.imageChannels, this.downsample, 'VQAutoencoder images');
    return tf.tidy(() => {
      const ze = this.encoder.forward(images);
      const { quantized: zq } = this.quantizer.quantize(ze);
      const codebook = stopGradient(ze).sub(zq).square().mean() as tf.Scalar;
      const commitment = ze.sub(stopGradient(zq)).square().mean() as tf.Scalar;
      const recon = this.decoder.forward(straightThrough(ze, zq)).sub(images).square().mean() as tf.Scalar;
      const total = recon.add(codebook).add(commitment.mul(this.config.beta)) as tf.Scalar;
      return { total, breakdown: { recon, codebook, commitment } };
    });
  }

  override describe(): string {
    const c = this.config;
    return `VQAutoencoder(${c.imageChannels} channels, /${c.downsample}, ${c.codebookSize} codes x ${c.codeDim}, beta ${c.beta})`;
  }
}

autoencoderKinds.define(
  'vq',
  { defaults: fieldsOf(DEFAULT_VQ), validate: checkVQ, build: (c, o) => new VQAutoencoder(c, o), doc: 'vector-quantised autoencoder (van den Oord et al. 2017), the baseline tokenizer' },
  BUILT_IN,
);
