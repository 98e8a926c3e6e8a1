/** Linear layer y = x W (+ b), weight stored [in, out] so the forward is a plain matMul. */
import { tf } from '../engine/tf';
import { Rng, rng as globalRng } from '../engine/random';
import { check } from '../config';
import { Module } from './module';
import { normal, torchDefault, zeros } from './init';

export interface LinearOptions {
  /** Add a bias (default true). Llama-style attention and FFN use none. */
  readonly bias?: boolean;
  /** Init std for N(0, std^2); default: PyTorch's U(-1/sqrt(in), 1/sqrt(in)). 0 gives a zero-initialised layer. */
  readonly std?: number;
  readonly rng?: Rng;
}

export class Linear extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, options: LinearOptions = {}) {
    super();
    check.positiveInt('Linear.inFeatures', inFeatures);
    check.positiveInt('Linear.outFeatures', outFeatures);
    const r = options.rng ?? globalRng();
    const shape = [inFeatures, outFeatures];
    const init = options.std === undefined ? torchDefault(shape, inFeatures, r) : options.std === 0 ? zeros(shape) : normal(shape, options.std, r);
    this.weight = this.param('weight', init);
    this.bias = options.bias === false ? null : this.param('bias', zeros([outFeatures]));
  }

  /** [..., in] -> [..., out] */
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const x2 = x.reshape([-1, this.inFeatures]);
      let y = tf.matMul(x2, this.weight);
      if (this.bias) y = y.add(this.bias);
      return y.reshape([...lead, this.outFeatures]);
    });
  }

  override describe(): string {
    return `Linear(${this.inFeatures} -> ${this.outFeatures}${this.bias ? '' : ', no bias'})`;
  }
}
