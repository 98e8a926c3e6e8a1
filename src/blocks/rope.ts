/**
 * Rotary position embedding (RoPE, Su et al. 2021, "RoFormer", sec. 3.4): rotate each pair of query/key
 * channels by an angle proportional to the token's position, so that the score q_m . k_n depends on the
 * positions only through m - n.
 *
 * Positions are passed in rather than implied by the sequence index, so a caller can give every patch of an
 * image one shared position, number them in 2-D, or continue numbering after a cached prefix.
 *   - 1-D: positions [B, L]; pair i turns by p * theta_i, theta_i = base^(-2i / Dh)   (RoFormer eq. 15).
 *   - 2-D axial: positions [B, L, 2] = (row, column); the first half of the pairs turn with the row and the
 *     second half with the column, each half using the 1-D frequencies of a head of width Dh / 2
 *     (axial RoPE, Heo et al. 2024, "Rotary Position Embedding for Vision Transformer").
 *     Needs Dh divisible by 4.
 *
 * Pairs are (x[i], x[i + Dh/2]) ("rotate half", as GPT-NeoX and Hugging Face Llama) rather than adjacent
 * channels (2i, 2i + 1), because halves are two `tf.slice`s, which have gradients, while picking every
 * other channel would need stridedSlice, which has none in tfjs. The two pairings are the same model up to
 * a fixed permutation of the q/k projection columns.
 * A batch dimension of 1 in the positions broadcasts over the batch.
 */
import { tf } from '../engine/tf';
import { fusedOn, fusedRotary } from '../engine/fused';
import { ConfigError, ShapeError, check } from '../config';

/** Inverse frequencies by `${width}/${base}`: built once per head width, as they are the same in every layer. */
const inverseFrequencyCache = new Map<string, Float32Array>();

/** theta_i = base^(-2i / width) for i = 0 .. width/2 - 1 (RoFormer eq. 15). `width` must be even. */
export function inverseFrequencies(width: number, base: number): Float32Array {
  const key = `${width}/${base}`;
  let cached = inverseFrequencyCache.get(key);
  if (!cached) {
    check.positiveInt('rope.width', width);
    if (width % 2 !== 0) throw new ConfigError('rope.width', width, 'an even number (RoPE rotates channel pairs)');
    check.positive('rope.base', base);
    cached = Float32Array.from({ length: width / 2 }, (_, i) => Math.pow(base, (-2 * i) / width));
    inverseFrequencyCache.set(key, cached);
  }
  return cached;
}

/**
 * Rotation angle of every channel pair: positions [B, L] (1-D) or [B, L, 2] (2-D axial) -> [B, L, Dh/2].
 * Positions may be int32 or float32.
 */
export function ropeAngles(positions: tf.Tensor, headDim: number, base: number): tf.Tensor {
  return tf.tidy(() => {
    const p = positions.toFloat();
    if (positions.rank === 2) {
      const theta = tf.tensor1d(inverseFrequencies(headDim, base));
      return p.expandDims(-1).mul(theta);
    }
    if (positions.rank === 3 && positions.shape[2] === 2) {
      if (headDim % 4 !== 0) throw new RangeError(`2-D RoPE: head width ${headDim} must be divisible by 4 (half the pairs per axis)`);
      const theta = tf.tensor1d(inverseFrequencies(headDim / 2, base));
      const [batch, length] = positions.shape;
      const rows = tf.slice(p, [0, 0, 0], [batch, length, 1]).mul(theta);
      const cols = tf.slice(p, [0, 0, 1], [batch, length, 1]).mul(theta);
      return tf.concat([rows, cols], -1);
    }
    throw new ShapeError('RoPE positions', '[B, L] (1-D) or [B, L, 2] (2-D row, column)', positions.shape);
  });
}

/** cos and sin of the angles, [B or 1, L, Dh/2] each: what every layer's rotation needs, computed once per forward. */
export interface RotaryTables {
  readonly cos: tf.Tensor;
  readonly sin: tf.Tensor;
}

/** The rotation tables of `positions` (see ropeAngles), for `rotate`; the transformer builds them once for all layers. */
export function rotaryTables(positions: tf.Tensor, headDim: number, base: number): RotaryTables {
  return tf.tidy(() => {
    const angles = ropeAngles(positions, headDim, base);
    return { cos: angles.cos(), sin: angles.sin() };
  });
}

/** `tables` checked against a batch of `batch` rows of `length` positions and heads of 2 * `half` channels. */
export function checkTables(tables: RotaryTables, batch: number, length: number, half: number): RotaryTables {
  const { cos, sin } = tables;
  if (cos.rank !== 3 || (cos.shape[0] !== batch && cos.shape[0] !== 1) || cos.shape[1] !== length || cos.shape[2] !== half ||
    sin.shape.join() !== cos.shape.join()) {
    throw new ShapeError('RoPE angles', `[${batch} or 1, ${length}, ${half}]`, cos.shape);
  }
  return tables;
}

/**
 * Rotate queries or keys x [B, H, L, Dh] by the tables of `rotaryTables` -> [B, H, L, Dh].
 * RoFormer eq. 34: (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin) for every pair. One native kernel where
 * nativecpu runs (src/engine/fused.ts), the composed ops below elsewhere.
 */
export function rotate(x: tf.Tensor, tables: RotaryTables): tf.Tensor {
  const [batch, heads, length, headDim] = x.shape;
  const half = headDim / 2;
  if (x.rank !== 4 || headDim % 2 !== 0) throw new ShapeError('RoPE input', '[B, H, L, Dh] with Dh even', x.shape);
  const { cos, sin } = checkTables(tables, batch, length, half);
  if (fusedOn() && x.dtype === 'float32' && cos.dtype === 'float32' && sin.dtype === 'float32') return fusedRotary(x, cos, sin);
  return tf.tidy(() => {
    const c = cos.expandDims(1);
    const s = sin.expandDims(1);
    const x1 = tf.slice(x, [0, 0, 0, 0], [batch, heads, length, half]);
    const x2 = tf.slice(x, [0, 0, 0, half], [batch, heads, length, half]);
    return tf.concat([x1.mul(c).sub(x2.mul(s)), x2.mul(c).add(x1.mul(s))], -1);
  });
}

/** Rotate queries or keys x [B, H, L, Dh] by angles [B or 1, L, Dh/2] (from `ropeAngles`) -> [B, H, L, Dh]. */
export function applyRotary(x: tf.Tensor, angles: tf.Tensor): tf.Tensor {
  // rotate checks x, then the tables, which have the angles' shape: the same errors as checking the angles here.
  return tf.tidy(() => rotate(x, { cos: angles.cos(), sin: angles.sin() }));
}

/** RoPE in one call: x [B, H, L, Dh], positions [B or 1, L] or [B or 1, L, 2] -> [B, H, L, Dh]. */
export function applyRope(x: tf.Tensor, positions: tf.Tensor, base: number): tf.Tensor {
  if (x.rank !== 4) throw new ShapeError('RoPE input', '[B, H, L, Dh]', x.shape);
  const headDim = x.shape[3] ?? 0;
  return tf.tidy(() => applyRotary(x, ropeAngles(positions, headDim, base)));
}

/** Positions start, start + 1, ... for every row: [batch, length] int32 (text, or a cache continued at `start`). */
export function sequentialPositions(batch: number, length: number, start = 0): tf.Tensor {
  return tf.tidy(() => tf.range(start, start + length, 1, 'int32').expandDims(0).tile([batch, 1]));
}
