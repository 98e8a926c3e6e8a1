/**
 * Row gather with a gradient every backend can run fast: [n, D] table, M row indices -> [M, D].
 *
 * Why not plain tf.gather: its gradient is UnsortedSegmentSum, which the pure-JS `cpu` backend builds from one
 * mask per segment (one op per table row: thousands per step for a sequence assembly) and which the `wasm`
 * backend does not implement at all. Here the backward pass is a scatter-add over the typed arrays on those two
 * backends (the data already lives in JS memory there); backends with a native UnsortedSegmentSum use it.
 */
import { tf } from '../engine/tf';

const SCATTER_IN_JS = new Set(['cpu', 'wasm']);

function scatterAddRows(dy: tf.Tensor, index: Int32Array, n: number, d: number): tf.Tensor {
  if (!SCATTER_IN_JS.has(tf.getBackend())) return tf.unsortedSegmentSum(dy, tf.tensor1d(index, 'int32'), n);
  const g = dy.dataSync() as Float32Array;
  const out = new Float32Array(n * d);
  for (let m = 0; m < index.length; m++) {
    const dst = index[m] * d;
    const src = m * d;
    for (let j = 0; j < d; j++) out[dst + j] += g[src + j];
  }
  return tf.tensor2d(out, [n, d]);
}

/** table [n, D], index [M] (each in [0, n)) -> [M, D]; differentiable with respect to `table`. */
export function gatherRows(table: tf.Tensor, index: Int32Array): tf.Tensor {
  if (table.rank !== 2) throw new RangeError(`gatherRows: table must be [n, D], got [${table.shape}]`);
  const [n, d] = table.shape as [number, number];
  for (const i of index) {
    if (!(i >= 0 && i < n)) throw new RangeError(`gatherRows: index ${i} outside [0, ${n})`);
  }
  const op = tf.customGrad(((x: tf.Tensor) => {
    const value = tf.gather(x, tf.tensor1d(index, 'int32'));
    return { value, gradFunc: (dy: tf.Tensor | tf.Tensor[]) => scatterAddRows(dy as tf.Tensor, index, n, d) };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(table);
}
