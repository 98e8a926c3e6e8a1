/**
 * The one place the lab imports TensorFlow.js from.
 *
 * The union package's CommonJS bundle is used (not tfjs-core alone) because only it installs the chained
 * tensor methods (`x.mul(y)`) and registers every gradient; it brings the pure-JS `cpu` backend, so any
 * module that touches tensors works out of the box, and `initEngine()` (engine.ts) can then switch to a
 * faster backend once, before any work is done.
 */
import * as tf from '@tensorflow/tfjs';

/**
 * The cpu backend prints a multi-line "install tfjs-node" banner on its first tensor under Node. The engine
 * line already says which backend runs and why, so the banner is only noise in notebooks and test logs.
 */
function startOnCpu(): void {
  // setBackend initialises a synchronous backend before its first await, so `cpu` is live on return;
  // choosing it explicitly also stops tfjs from trying WebGL, which cannot work under Node.
  void tf.setBackend('cpu');
  (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
}
startOnCpu();

export { tf };
export type Tensor = tf.Tensor;
export type Variable = tf.Variable;
