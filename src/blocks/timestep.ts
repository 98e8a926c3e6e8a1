/**
 * Timestep embedding: sinusoidal features of the diffusion time (Vaswani et al. 2017's position code applied to
 * t, as in DDPM), then a small MLP (DiT's `TimestepEmbedder`). The network never sees a schedule
 * (docs/ARCHITECTURE.md, 'The network and the noise process'): the model passes a raw time value, t * 1000 for
 * continuous t in [0, 1], so the frequencies span the same range as in ADM's 1000-step models.
 */
import { tf } from '../engine/tf';
import { Rng, rng as globalRng } from '../engine/random';
import { check, ShapeError } from '../config';
import { Module } from './module';
import { Linear } from './linear';

/**
 * [B] -> [B, dim]. ADM convention (improved-diffusion `timestep_embedding`): freqs_i = exp(-ln(maxPeriod) i / half)
 * for i < half = floor(dim / 2), output [cos(t f), sin(t f)], and a zero column when dim is odd.
 */
export function timestepEmbedding(t: tf.Tensor, dim: number, maxPeriod = 10000): tf.Tensor {
  check.positiveInt('timestepEmbedding.dim', dim);
  check.positive('timestepEmbedding.maxPeriod', maxPeriod);
  if (t.rank !== 1) throw new ShapeError('timestepEmbedding t', '[B]', t.shape);
  const half = Math.floor(dim / 2);
  // Frequencies in float64 before the one rounding to float32, so they match the reference to float precision.
  const freqs = Float32Array.from({ length: half }, (_, i) => Math.exp((-Math.log(maxPeriod) * i) / half));
  return tf.tidy(() => {
    const args = t.cast('float32').reshape([-1, 1]).mul(tf.tensor2d(freqs, [1, half]));
    const parts = [args.cos(), args.sin()];
    if (dim % 2 === 1) parts.push(tf.zeros([t.shape[0], 1]));
    return tf.concat(parts, 1);
  });
}

export interface TimestepMLPOptions {
  /** Width of the sinusoidal features (default 256, DiT's `frequency_embedding_size`). */
  readonly freqDim?: number;
  /** Longest period of the sinusoids (default 10000, as in ADM and DiT). */
  readonly maxPeriod?: number;
  readonly rng?: Rng;
}

/**
 * t [B] -> temb [B, dModel]: sinusoidal features -> Linear -> SiLU -> Linear (DiT `TimestepEmbedder`; the
 * parameter names `mlp.0`, `mlp.2` are DiT's `nn.Sequential` indices, so its checkpoints map one to one).
 */
export class TimestepMLP extends Module {
  readonly freqDim: number;
  readonly maxPeriod: number;
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(readonly dModel: number, options: TimestepMLPOptions = {}) {
    super();
    check.positiveInt('TimestepMLP.dModel', dModel);
    this.freqDim = check.positiveInt('TimestepMLP.freqDim', options.freqDim ?? 256);
    this.maxPeriod = check.positive('TimestepMLP.maxPeriod', options.maxPeriod ?? 10000);
    const r = options.rng ?? globalRng();
    this.fc1 = this.module('mlp.0', new Linear(this.freqDim, dModel, { rng: r }));
    this.fc2 = this.module('mlp.2', new Linear(dModel, dModel, { rng: r }));
  }

  /** t [B] (raw time value, e.g. 0..999) -> [B, dModel] */
  forward(t: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const h = this.fc1.forward(timestepEmbedding(t, this.freqDim, this.maxPeriod));
      return this.fc2.forward(h.mul(h.sigmoid()));
    });
  }

  override describe(): string {
    return `TimestepMLP(sinusoid ${this.freqDim} -> ${this.dModel} -> SiLU -> ${this.dModel})`;
  }
}
