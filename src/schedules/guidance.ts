/** Classifier-free guidance (Ho & Salimans 2022, eq. 6), used by Transfusion at scale 3 to 5 (paper Sec. 4). */
import { tf } from '../engine/tf';
import { ConfigError, ShapeError } from '../config';

/** [B, ...] uncond + scale (cond - uncond): scale 1 is the conditional prediction, 0 the unconditional one. */
export function cfgCombine(cond: tf.Tensor, uncond: tf.Tensor, scale: number): tf.Tensor {
  if (typeof scale !== 'number' || !Number.isFinite(scale)) throw new ConfigError('cfgCombine.scale', scale, 'a finite number (3 to 5 in the paper)');
  if (!tf.util.arraysEqual(cond.shape, uncond.shape)) throw new ShapeError('cfgCombine.uncond', `[${cond.shape.join(', ')}] (the shape of cond)`, uncond.shape);
  return tf.tidy(() => tf.add(uncond, tf.mul(scale, tf.sub(cond, uncond))));
}
