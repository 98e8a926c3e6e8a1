/**
 * Group normalisation (Wu & He 2018), the norm of every diffusion U-Net since DDPM: statistics over each group
 * of channels and all positions of one example, so it does not depend on the batch size. tfjs has no GroupNorm
 * op, so it is built from `tf.moments`, whose gradient tfjs has.
 */
import { tf } from '../engine/tf';
import { check, ConfigError, ShapeError } from '../config';
import { Module } from './module';
import { ones, zeros } from './init';

/** [B, ..., C] -> [B, ..., C] normalised per (example, group) without the affine part. */
export function groupNormalize(x: tf.Tensor, groups: number, eps: number): tf.Tensor {
  const c = x.shape[x.rank - 1];
  return tf.tidy(() => {
    // Wu & He 2018, eq. 1-3: mu and sigma over the set S_i = {same example, same group of C/G channels}.
    const g = x.reshape([x.shape[0], -1, groups, c / groups]);
    const { mean, variance } = tf.moments(g, [1, 3], true);
    return g.sub(mean).mul(variance.add(eps).rsqrt()).reshape(x.shape);
  });
}

export interface GroupNormOptions {
  /** Added to the variance (default 1e-5, PyTorch's nn.GroupNorm). */
  readonly eps?: number;
}

/** GroupNorm with a per-channel affine `weight` (ones) and `bias` (zeros), PyTorch's names and init. */
export class GroupNorm extends Module {
  readonly eps: number;
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(readonly groups: number, readonly channels: number, options: GroupNormOptions = {}) {
    super();
    check.positiveInt('GroupNorm.groups', groups);
    check.positiveInt('GroupNorm.channels', channels);
    if (channels % groups !== 0) throw new ConfigError('GroupNorm.groups', groups, `a divisor of the channel count ${channels}`);
    this.eps = check.positive('GroupNorm.eps', options.eps ?? 1e-5);
    this.weight = this.param('weight', ones([channels]));
    this.bias = this.param('bias', zeros([channels]));
  }

  /** [B, ..., C] -> [B, ..., C] (channels last, e.g. NHWC images) */
  forward(x: tf.Tensor): tf.Tensor {
    if (x.rank < 2 || x.shape[x.rank - 1] !== this.channels) throw new ShapeError('GroupNorm input', `[B, ..., ${this.channels}]`, x.shape);
    return tf.tidy(() => groupNormalize(x, this.groups, this.eps).mul(this.weight).add(this.bias));
  }

  override describe(): string {
    return `GroupNorm(${this.groups} groups, ${this.channels} channels, eps=${this.eps})`;
  }
}
