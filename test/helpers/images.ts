import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';

/**
 * `n` one-channel images [n, size, size, 1] of smooth stripes sin(a y + c x + p) in [-1, 1], a different
 * direction and phase per image: learnable by a tiny autoencoder at 8x8. The same `n` always gives the same
 * images (a fixed seed), and a smaller batch is a prefix of a larger one.
 */
export function stripes(n: number, size: number): tf.Tensor4D {
  const r = new Rng(42);
  const data: number[] = [];
  for (let b = 0; b < n; b++) {
    const [a, c, p] = [r.uniform(0.3, 1.2), r.uniform(-1, 1), r.uniform(0, 6)];
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) data.push(Math.sin(a * y + c * x + p));
  }
  return tf.tensor4d(data, [n, size, size, 1]);
}
