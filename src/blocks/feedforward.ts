/**
 * SwiGLU feed-forward (Shazeer 2020, "GLU Variants Improve Transformer", eq. 6 without biases, as in Llama):
 * FFN(x) = w2( SiLU(w1 x) * (w3 x) ). The gate makes the block better per parameter than a plain MLP; Llama
 * keeps the parameter count of a 4D MLP by using a hidden width of about (2/3) * 4D.
 */
import { tf } from '../engine/tf';
import { fusedOn, fusedSwiglu } from '../engine/fused';
import { Rng, rng as globalRng } from '../engine/random';
import { check, ShapeError } from '../config';
import { Module } from './module';
import { Linear } from './linear';

export interface FeedForwardOptions {
  /** Init std of w1 and w3 (default 0.02). */
  readonly initStd?: number;
  /** Init std of w2, the projection back into the residual stream (default `initStd`). */
  readonly outputStd?: number;
  readonly rng?: Rng;
}

export class SwiGLU extends Module {
  readonly w1: Linear;
  readonly w2: Linear;
  readonly w3: Linear;

  constructor(readonly dModel: number, readonly hidden: number, options: FeedForwardOptions = {}) {
    super();
    check.positiveInt('feedForward.dModel', dModel);
    check.positiveInt('feedForward.hidden', hidden);
    const r = options.rng ?? globalRng();
    const std = options.initStd ?? 0.02;
    this.w1 = this.module('w1', new Linear(dModel, hidden, { bias: false, std, rng: r }));
    this.w2 = this.module('w2', new Linear(hidden, dModel, { bias: false, std: options.outputStd ?? std, rng: r }));
    this.w3 = this.module('w3', new Linear(dModel, hidden, { bias: false, std, rng: r }));
  }

  /** [..., D] -> [..., D] */
  forward(x: tf.Tensor): tf.Tensor {
    if (x.shape[x.rank - 1] !== this.dModel) throw new ShapeError('SwiGLU input', `[..., ${this.dModel}]`, x.shape);
    return tf.tidy(() => {
      // SiLU(a) = a * sigmoid(a) (Swish with beta = 1, Ramachandran et al. 2017).
      const a = this.w1.forward(x);
      const b = this.w3.forward(x);
      // SiLU(a) * b in one native kernel where nativecpu runs (src/engine/fused.ts); the same formula.
      const gated = fusedOn() && a.dtype === 'float32' ? fusedSwiglu(a, b) : a.mul(a.sigmoid()).mul(b);
      return this.w2.forward(gated);
    });
  }

  override describe(): string {
    return `SwiGLU(${this.dModel} -> ${this.hidden} -> ${this.dModel})`;
  }
}
