/**
 * Turn a mask predicate (masks.ts) and a batch of sequence layouts into the [B, Lq, L] tensor attention takes.
 * `materializeMask` uses the predicate's vectorised form when it has one; `materializeMaskNaive` is the dense
 * double loop over (q, k) that defines the result and serves as the test oracle.
 */
import { tf } from '../engine/tf';
import { ConfigError, ShapeError, check } from '../config';
import { SequenceLayout } from './layout';
import { MaskIndex, MaskPredicate } from './masks';
import { MASKED } from './attention';

export interface MaterializeOptions {
  /** 'boolean': true = attend. 'additive': 0 = attend, MASKED (-1e9) = masked, added to the scores. */
  readonly form: 'boolean' | 'additive';
  /**
   * Query rows [queryStart, queryEnd) against keys [0, queryEnd) (defaults 0 and L): the mask of a forward
   * whose first queryStart positions are already in a KV cache and whose positions from queryEnd on do not
   * exist yet (a decoding step inside a layout planned ahead).
   */
  readonly queryStart?: number;
  readonly queryEnd?: number;
  /** If given, every layout must have this length (the length of the sequence the mask is for). */
  readonly length?: number;
}

/** Check a batch of layouts and return their common length L. */
export function checkLayouts(layouts: readonly SequenceLayout[], expectedLength?: number): number {
  if (layouts.length === 0) throw new RangeError('materializeMask: layouts is empty; need one layout per batch row');
  const length = expectedLength ?? layouts[0].length;
  layouts.forEach((layout, b) => {
    if (layout.length !== length) {
      const why = expectedLength === undefined ? 'layouts[0].length' : 'the sequence length';
      throw new ShapeError(`layouts[${b}].length`, `${length} (${why})`, [layout.length]);
    }
    if (layout.image.length !== length) throw new ShapeError(`layouts[${b}].image`, `[${length}] (the layout's length)`, [layout.image.length]);
    if (layout.document.length !== length) throw new ShapeError(`layouts[${b}].document`, `[${length}] (the layout's length)`, [layout.document.length]);
  });
  return length;
}

/** Check the options; return [start, end) of the query rows (keys run over [0, end)). */
function queryRange(options: MaterializeOptions, length: number): [number, number] {
  check.oneOf('materializeMask.form', options.form, ['boolean', 'additive'] as const);
  const end = options.queryEnd ?? length;
  if (!Number.isInteger(end) || end < 0 || end > length) throw new ConfigError('materializeMask.queryEnd', end, `an integer in [0, ${length}] (the layout length)`);
  const start = options.queryStart ?? 0;
  if (!Number.isInteger(start) || start < 0 || start > end) throw new ConfigError('materializeMask.queryStart', start, `an integer in [0, ${end}] (queryEnd)`);
  return [start, end];
}

/** Bool [B, Lq, L] -> the requested form. */
function toForm(allowed: tf.Tensor, form: MaterializeOptions['form']): tf.Tensor {
  return form === 'boolean' ? allowed : allowed.cast('float32').sub(1).mul(-MASKED);
}

/** The mask of `pred` for every layout: [B, queryEnd - queryStart, queryEnd], vectorised when the predicate allows. */
export function materializeMask(pred: MaskPredicate, layouts: readonly SequenceLayout[], options: MaterializeOptions): tf.Tensor {
  if (!pred.dense) return materializeMaskNaive(pred, layouts, options);
  const dense = pred.dense;
  const length = checkLayouts(layouts, options.length);
  const [start, end] = queryRange(options, length);
  const batch = layouts.length;
  const rows = end - start;
  return tf.tidy(() => {
    const image = tf.tensor2d(concat(layouts.map((l) => l.image.subarray(0, end))), [batch, end], 'int32');
    const doc = tf.tensor2d(concat(layouts.map((l) => l.document.subarray(0, end))), [batch, end], 'int32');
    const queryRows = (t: tf.Tensor) => tf.slice(t, [0, start], [batch, rows]).expandDims(2);
    const index: MaskIndex = {
      query: tf.range(start, end, 1, 'int32').reshape([1, rows, 1]),
      key: tf.range(0, end, 1, 'int32').reshape([1, 1, end]),
      queryImage: queryRows(image),
      keyImage: image.expandDims(1),
      queryDocument: queryRows(doc),
      keyDocument: doc.expandDims(1),
    };
    return toForm(tf.broadcastTo(dense(index), [batch, rows, end]), options.form);
  });
}

/** The same mask from the scalar rule, one (q, k) at a time: the definition, and the oracle for the fast path. */
export function materializeMaskNaive(pred: MaskPredicate, layouts: readonly SequenceLayout[], options: MaterializeOptions): tf.Tensor {
  const length = checkLayouts(layouts, options.length);
  const [start, end] = queryRange(options, length);
  const rows = end - start;
  const values = new Uint8Array(layouts.length * rows * end);
  layouts.forEach((layout, b) => {
    for (let q = start; q < end; q++) {
      for (let k = 0; k < end; k++) values[(b * rows + q - start) * end + k] = pred.allows(q, k, layout) ? 1 : 0;
    }
  });
  return tf.tidy(() => toForm(tf.tensor3d(values, [layouts.length, rows, end], 'bool'), options.form));
}

function concat(arrays: Int32Array[]): Int32Array {
  const out = new Int32Array(arrays.reduce((n, a) => n + a.length, 0));
  let offset = 0;
  for (const a of arrays) {
    out.set(a, offset);
    offset += a.length;
  }
  return out;
}
