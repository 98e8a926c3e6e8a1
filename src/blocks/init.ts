/** Seeded weight initialisers. Each takes an `Rng` so that a model built from the same seed is bit-identical. */
import { tf } from '../engine/tf';
import { Rng, rng as globalRng } from '../engine/random';

/** N(0, std^2) (GPT-2 / Llama use std 0.02 for linear and embedding weights). */
export function normal(shape: number[], std: number, rng: Rng = globalRng()): tf.Tensor {
  return rng.randomNormal(shape, 0, std);
}

/** Xavier/Glorot uniform (Glorot & Bengio 2010): U(-a, a), a = sqrt(6 / (fanIn + fanOut)). */
export function xavierUniform(shape: number[], fanIn: number, fanOut: number, rng: Rng = globalRng()): tf.Tensor {
  const a = Math.sqrt(6 / (fanIn + fanOut));
  return rng.randomUniform(shape, -a, a);
}

/** PyTorch's nn.Linear / nn.Conv2d default (kaiming_uniform with a = sqrt(5)): U(-1/sqrt(fanIn), 1/sqrt(fanIn)). */
export function torchDefault(shape: number[], fanIn: number, rng: Rng = globalRng()): tf.Tensor {
  const a = 1 / Math.sqrt(fanIn);
  return rng.randomUniform(shape, -a, a);
}

export function zeros(shape: number[]): tf.Tensor {
  return tf.zeros(shape);
}

export function ones(shape: number[]): tf.Tensor {
  return tf.ones(shape);
}
