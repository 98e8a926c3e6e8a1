/**
 * 2-D convolution on NHWC tensors (tfjs's native layout). The weight is stored [kh, kw, in, out], tfjs's filter
 * layout; a PyTorch checkpoint's [out, in, kh, kw] maps onto it by a transpose (2, 3, 1, 0).
 *
 * The filter gradient is computed here as a forward convolution instead of by tfjs's Conv2DBackpropFilter: on
 * the cpu backend that kernel takes 10-16 s for one 3x3, 32-channel layer on a 4x32x32 batch (a forward
 * convolution does the same sums in 0.3 s), and the wasm backend has no such kernel, so a U-Net could not train
 * there at all.
 */
import { tf } from '../engine/tf';
import { Rng, rng as globalRng } from '../engine/random';
import { check, ShapeError } from '../config';
import { Module } from './module';
import { normal, torchDefault, zeros } from './init';

/**
 * dL/dw for y = conv2d(x, w, stride, pad): dw[ky, kx, i, o] = sum_{n,y,x} xpad[n, s y + ky, s x + kx, i] dy[n, y, x, o],
 * which is itself a convolution of xpad read as [Cin, Hp, Wp, B] with dy read as a [Ho, Wo, B, Cout] filter
 * dilated by the stride. x [B, H, W, Cin], dy [B, Ho, Wo, Cout] -> [k, k, Cin, Cout]
 */
export function conv2dFilterGrad(x: tf.Tensor, dy: tf.Tensor, kernelSize: number, stride: number, pad: number): tf.Tensor {
  return tf.tidy(() => {
    const xp = pad > 0 ? tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]]) : x;
    const sums = tf.conv2d(xp.transpose([3, 1, 2, 0]) as tf.Tensor4D, dy.transpose([1, 2, 0, 3]) as tf.Tensor4D, 1, 'valid', 'NHWC', stride);
    // At stride > 1 the dilated product can also give offsets >= k, which are not filter taps: drop them.
    const [cin, , , cout]: number[] = sums.shape;
    return sums.slice([0, 0, 0, 0], [cin, kernelSize, kernelSize, cout]).transpose([1, 2, 0, 3]);
  });
}

const convs = new Map<string, (x: tf.Tensor, w: tf.Tensor) => tf.Tensor>();

/** x [B, H, W, Cin], w [k, k, Cin, Cout] -> tf.conv2d(x, w, stride, pad), with the filter gradient above. */
export function conv2d(x: tf.Tensor, w: tf.Tensor, stride: number, pad: number): tf.Tensor {
  const key = `${stride}/${pad}`;
  let f = convs.get(key);
  if (!f) {
    f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [input, filter, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
      save([input, filter]);
      return {
        value: tf.conv2d(input, filter, stride, pad),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
          // The input gradient keeps tfjs's own kernel: as fast as a forward convolution on cpu, and wasm has it.
          const dx = tf.conv2dTranspose(dy as tf.Tensor4D, ws, xs.shape, stride, pad);
          return [dx, conv2dFilterGrad(xs, dy, ws.shape[0], stride, pad)];
        },
      };
    }) as (x: tf.Tensor, w: tf.Tensor) => tf.Tensor;
    convs.set(key, f);
  }
  return f(x, w);
}

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
      // A numeric pad is symmetric explicit padding in tfjs (PyTorch's `padding=p`).
      const y = conv2d(x, this.weight, this.stride, this.padding);
      return this.bias ? y.add(this.bias) : y;
    });
  }

  override describe(): string {
    const extra = this.stride === 1 ? '' : `, stride ${this.stride}`;
    return `Conv2d(${this.inChannels} -> ${this.outChannels}, ${this.kernelSize}x${this.kernelSize}${extra}${this.bias ? '' : ', no bias'})`;
  }
}
