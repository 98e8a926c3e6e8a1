/**
 * Generation contexts as network inputs. A context row is a token sequence with clean images placed in it; a
 * batch of rows of different lengths is left-padded to a common length, the padding being a document of its
 * own, so that with the document mask nothing attends across it and every row's content sees exactly what it
 * would see alone (RoPE positions restart at 0 where the content starts, as in an unpadded row). Optionally
 * every row ends with the N positions of one fresh image being denoised, which all rows share a start for.
 */
import { tf } from '../engine/tf';
import { ConfigError, ShapeError } from '../config';
import type { SequenceLayout } from '../blocks/layout';
import type { SequenceInput, SlotPlace } from '../model/network';

/** A clean image inside a context row: its first patch position and its latent [H, W, C] (shown at t = 0). */
export interface ContextImage {
  readonly start: number;
  readonly latent: tf.Tensor;
}

/** One row of context: ids (anything at image positions; they are overwritten by patches) and its images. */
export interface ContextRow {
  readonly tokens: readonly number[];
  readonly images: readonly ContextImage[];
}

/** Rows laid out for the network: host arrays of B rows of L positions, row-major [B * L]. */
export interface RowsLayout {
  readonly batchSize: number;
  readonly length: number;
  readonly patchesPerImage: number;
  readonly tokens: Int32Array;
  readonly positions: Int32Array;
  readonly layouts: SequenceLayout[];
  /** Every context image, with its row and absolute start. */
  readonly images: ReadonlyArray<{ readonly row: number; readonly start: number; readonly latent: tf.Tensor }>;
  /** First position of the fresh image in every row, or null when the layout has none. */
  readonly freshStart: number | null;
}

/**
 * Left-pad `rows` with `pad` to a common length P, then, with `withFreshImage`, append the N positions of a fresh
 * image to every row (at [P, P + N)).
 * The padding is document 0 and the content document 1.
 */
export function layoutRows(rows: readonly ContextRow[], patchesPerImage: number, pad: number, withFreshImage = false): RowsLayout {
  if (rows.length === 0) throw new ConfigError('rows', rows, 'at least one context row');
  const N = patchesPerImage;
  const P = Math.max(...rows.map((r) => r.tokens.length));
  const B = rows.length;
  const L = P + (withFreshImage ? N : 0);
  const tokens = new Int32Array(B * L).fill(pad);
  const positions = new Int32Array(B * L);
  const layouts: SequenceLayout[] = [];
  const images: Array<{ row: number; start: number; latent: tf.Tensor }> = [];
  rows.forEach((r, b) => {
    const offset = P - r.tokens.length;
    const image = new Int32Array(L).fill(-1);
    const document = new Int32Array(L);
    for (let i = 0; i < L; i++) {
      const content = i >= offset;
      positions[b * L + i] = content ? i - offset : i;
      document[i] = content ? 1 : 0;
      if (content && i < P) tokens[b * L + i] = r.tokens[i - offset];
    }
    r.images.forEach((img, k) => {
      if (!Number.isInteger(img.start) || img.start < 0 || img.start + N > r.tokens.length) {
        throw new ConfigError(`rows[${b}].images[${k}].start`, img.start, `an integer in [0, ${r.tokens.length - N}] (the row holds ${r.tokens.length} ids, an image ${N})`);
      }
      image.fill(k, offset + img.start, offset + img.start + N);
      images.push({ row: b, start: offset + img.start, latent: img.latent });
    });
    if (withFreshImage) image.fill(r.images.length, P, L);
    layouts.push({ length: L, image, document });
  });
  return { batchSize: B, length: L, patchesPerImage: N, tokens, positions, layouts, images, freshStart: withFreshImage ? P : null };
}

/** The fresh image of every row at one time: [B, H, W, C] noisy latents x_t and t in [0, 1]. */
export interface FreshImage {
  readonly latents: tf.Tensor;
  readonly t: number;
}

/**
 * The network input for positions [0, end) of `layout` (default the whole of it), of which a cached forward
 * computes [start, end). Slots: the fresh images first (so prediction rows [0, B) are theirs), then every
 * context image inside [start, end) at t = 0. Creates tensors: call it inside the forward's tf.tidy.
 */
export function windowInput(layout: RowsLayout, start: number, fresh: FreshImage | null, end = layout.length): SequenceInput {
  const { batchSize: B, length: L } = layout;
  if (!(Number.isInteger(end) && end > start && end <= L)) throw new RangeError(`windowInput: window [${start}, ${end}) is not inside [0, ${L})`);
  const tokens = new Int32Array(B * end);
  const positions = new Int32Array(B * end);
  for (let b = 0; b < B; b++) {
    tokens.set(layout.tokens.subarray(b * L, b * L + end), b * end);
    positions.set(layout.positions.subarray(b * L, b * L + end), b * end);
  }
  const layouts = layout.layouts.map((l) => ({ length: end, image: l.image.subarray(0, end), document: l.document.subarray(0, end) }));
  const slots: SlotPlace[] = [];
  const latents: tf.Tensor[] = [];
  const times: number[] = [];
  if (fresh) {
    if (layout.freshStart === null || layout.freshStart < start || end !== L) throw new RangeError('windowInput: the fresh image lies outside the window');
    if (fresh.latents.shape[0] !== B) throw new ShapeError('fresh latents', `[${B}, H, W, C] (one per row)`, fresh.latents.shape);
    for (let b = 0; b < B; b++) slots.push({ row: b, start: layout.freshStart });
    latents.push(fresh.latents);
    times.push(...new Array<number>(B).fill(fresh.t));
  }
  for (const img of layout.images) {
    if (img.start + layout.patchesPerImage <= start || img.start >= end) continue;
    if (img.start < start || img.start + layout.patchesPerImage > end) {
      throw new RangeError(`windowInput: the image at ${img.start} of row ${img.row} straddles the window [${start}, ${end})`);
    }
    slots.push({ row: img.row, start: img.start });
    latents.push(img.latent.expandDims(0));
    times.push(0);
  }
  return {
    batchSize: B,
    length: end,
    tokens,
    positions,
    layouts,
    slots,
    latents: latents.length ? tf.concat(latents, 0) : null,
    t: times.length ? tf.tensor1d(times, 'float32') : null,
  };
}
