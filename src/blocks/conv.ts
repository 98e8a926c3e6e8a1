/**
 * 2-D convolution on NHWC tensors (tfjs's native layout). The weight is stored [kh, kw, in, out], tfjs's filter
 * layout; a PyTorch checkpoint's [out, in, kh, kw] maps onto it by a transpose (2, 3, 1, 0).
 */
import { tf } from '../engine/tf';
import { Rng, rng as globalRng } from '../engine/random';
import { check, ShapeError } from '../config';
import { Module } from './module';
import { normal, torchDefault, zeros } from './init';

export interface Conv2dOptions {
  /** Square kernel side (default 3). */
  readonly kernelSize?: number;
  /** Step between windows (default 1; 2 halves each side, the U-Net's learned downsampling). */
  readonly stride?: number;
  /**
   * Zeros added on every side (default floor(kernelSize / 2), which keeps H and W at stride 1 and halves even
   * sides at stride 2, as PyTorch's `padding=1` does for a 3x3 kernel).
   */
  readonly padding?: number;
  readonly bias?: boolean;
  /** Init std for N(0, std^2); default PyTorch's U(-1/sqrt(fanIn), 1/sqrt(fanIn)); 0 zero-initialises. */
  readonly std?: number;
  readonly rng?: Rng;
}

export class Conv2d extends Module {
  readonly kernelSize: number;
  readonly stride: number;
  readonly padding: number;
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;

  constructor(readonly inChannels: number, readonly outChannels: number, options: Conv2dOptions = {}) {
    super();
    check.positiveInt('Conv2d.inChannels', inChannels);
    check.positiveInt('Conv2d.outChannels', outChannels);
    this.kernelSize = check.positiveInt('Conv2d.kernelSize', options.kernelSize ?? 3);
    this.stride = check.positiveInt('Conv2d.stride', options.stride ?? 1);
    this.padding = check.nonNegativeInt('Conv2d.padding', options.padding ?? Math.floor(this.kernelSize / 2));
    const r = options.rng ?? globalRng();
    const shape = [this.kernelSize, this.kernelSize, inChannels, outChannels];
    const fanIn = this.kernelSize * this.kernelSize * inChannels;
    const init = options.std === undefined ? torchDefault(shape, fanIn, r) : options.std === 0 ? zeros(shape) : normal(shape, options.std, r);
    this.weight = this.param('weight', init);
    this.bias = options.bias === false ? null : this.param('bias', zeros([outChannels]));
  }

  /** [B, H, W, in] -> [B, floor((H + 2p - k) / s) + 1, (same for W), out] */
  forward(x: tf.Tensor): tf.Tensor {
    if (x.rank !== 4 || x.shape[3] !== this.inChannels) throw new ShapeError('Conv2d input', `[B, H, W, ${this.inChannels}]`, x.shape);
    return tf.tidy(() => {
      // A numeric pad is symmetric explicit padding in tfjs, and Conv2D's gradient passes it through unchanged.
      const y = tf.conv2d(x as tf.Tensor4D, this.weight as tf.Tensor4D, this.stride, this.padding);
      return this.bias ? y.add(this.bias) : y;
    });
  }

  override describe(): string {
    const extra = this.stride === 1 ? '' : `, stride ${this.stride}`;
    return `Conv2d(${this.inChannels} -> ${this.outChannels}, ${this.kernelSize}x${this.kernelSize}${extra}${this.bias ? '' : ', no bias'})`;
  }
}
