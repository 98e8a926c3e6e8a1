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

/**
 * The same mask from the scalar rule, one (q, k) at a time: the definition, and the oracle for the fast path.
 * Rows whose layouts are equal (same image and document arrays) are computed once.
 */
export function materializeMaskNaive(pred: MaskPredicate, layouts: readonly SequenceLayout[], options: MaterializeOptions): tf.Tensor {
  const length = checkLayouts(layouts, options.length);
  const [start, end] = queryRange(options, length);
  const rows = end - start;
  const shape: [number, number, number] = [layouts.length, rows, end];
  const block = rows * end;
  // The additive form is written directly (0 or MASKED, as toForm computes them), not as a bool tensor and three
  // ops: on CPU backends this loop is the training step's mask (network.ts) and runs once a forward.
  const additive = options.form === 'additive';
  const values = additive ? new Float32Array(layouts.length * block) : new Uint8Array(layouts.length * block);
  const [yes, no] = additive ? [0, MASKED] : [1, 0];
  // A rule sees only (q, k, layout), so rows of equal layouts have equal masks: a training batch holds a few
  // distinct layouts (image-first or caption-first, a few caption lengths), each computed once and copied.
  const seen = new Map<string, number>();
  layouts.forEach((layout, b) => {
    const key = `${layout.image.join(',')}|${layout.document.join(',')}`;
    const same = seen.get(key);
    if (same !== undefined) {
      values.copyWithin(b * block, same * block, (same + 1) * block);
      return;
    }
    seen.set(key, b);
    for (let q = start; q < end; q++) {
      const row = b * block + (q - start) * end;
      for (let k = 0; k < end; k++) values[row + k] = pred.allows(q, k, layout) ? yes : no;
    }
  });
  return additive ? tf.tensor3d(values, shape, 'float32') : tf.tensor3d(values, shape, 'bool');
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
