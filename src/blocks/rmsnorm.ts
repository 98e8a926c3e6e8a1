/**
 * Root-mean-square layer norm (Zhang & Sennrich 2019), the norm of Llama and so of Transfusion's transformer:
 * y = x / sqrt(mean(x^2) + eps) * weight. No mean subtraction and no bias, which is cheaper than LayerNorm
 * and trains as well.
 */
import { tf } from '../engine/tf';
import { fusedOn, fusedRmsNorm } from '../engine/fused';
import { check, ShapeError } from '../config';
import { Module } from './module';
import { ones } from './init';

export interface RMSNormOptions {
  /** Added to the mean square before the square root (default 1e-6, Llama 1); guards against all-zero rows. */
  readonly eps?: number;
}

/** [..., D] -> [..., D]: normalise the last axis, then scale by a learned per-channel `weight` [D]. */
export function rmsNorm(x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor {
  // One native kernel, forward and backward, where nativecpu runs (src/engine/fused.ts); the same formula.
  if (fusedOn() && x.dtype === 'float32' && weight.dtype === 'float32' && weight.rank === 1 && x.rank >= 1 && x.shape[x.rank - 1] === weight.shape[0]) {
    return fusedRmsNorm(x, weight, eps);
  }
  return tf.tidy(() => {
    // Zhang & Sennrich 2019, eq. 4: a_i / RMS(a) * g_i with RMS(a) = sqrt(mean(a^2) + eps).
    const meanSquare = x.square().mean(-1, true);
    return x.mul(meanSquare.add(eps).rsqrt()).mul(weight);
  });
}

export class RMSNorm extends Module {
  readonly weight: tf.Variable;
  readonly eps: number;

  constructor(readonly dim: number, options: RMSNormOptions = {}) {
    super();
    check.positiveInt('RMSNorm.dim', dim);
    this.eps = check.positive('RMSNorm.eps', options.eps ?? 1e-6);
    this.weight = this.param('weight', ones([dim]));
  }

  /** [..., dim] -> [..., dim] */
  forward(x: tf.Tensor): tf.Tensor {
    if (x.shape[x.rank - 1] !== this.dim) throw new ShapeError('RMSNorm input', `[..., ${this.dim}]`, x.shape);
    return rmsNorm(x, this.weight, this.eps);
  }

  override describe(): string {
    return `RMSNorm(${this.dim}, eps=${this.eps})`;
  }
}
