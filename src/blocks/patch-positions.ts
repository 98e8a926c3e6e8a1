/**
 * An absolute position embedding for image patches: a [N, D] table added to the encoded patches of every image,
 * patch j of an image getting row j whatever the image's place in the sequence.
 *
 * Why it exists: RoPE (rope.ts) is relative. A text token after an image sees a patch only through its offset,
 * and that offset changes with the token's own place in the caption, so "the patch in row 3, column 2" has no
 * fixed address for it; and a patch knows where it sits in its image only through its offset to the BOI token.
 * Diffusion transformers add an absolute table for this reason: DiT (Peebles & Xie 2023) a fixed 2-D sine-cosine
 * one ('sincos-2d' here), U-ViT and ViT a learned one ('learned', initialised at std 0.02).
 * 'none' (the default) is the paper's linear-patch layout as the lab built it first: RoPE positions alone.
 */
import { tf } from '../engine/tf';
import { Rng, rng as globalRng } from '../engine/random';
import { check, ShapeError } from '../config';
import { Module } from './module';
import { normal } from './init';

export type PatchPositionKind = 'none' | 'sincos-2d' | 'learned';
export const PATCH_POSITION_KINDS: readonly PatchPositionKind[] = ['none', 'sincos-2d', 'learned'];

/**
 * DiT's `get_2d_sincos_pos_embed` construction: half the channels encode the row, half the column (DiT's first
 * half happens to hold the column; the order does not matter to a linear layer); within each half, D/4
 * frequencies 1 / 10000^(i / (D/4)), sines then cosines. [gridH * gridW, D], row-major like the patches.
 * D must be a multiple of 4.
 */
export function sincos2d(gridH: number, gridW: number, dModel: number): Float32Array {
  if (dModel % 4 !== 0) throw new RangeError(`sincos2d: dModel must be a multiple of 4, got ${dModel}`);
  const quarter = dModel / 4;
  const out = new Float32Array(gridH * gridW * dModel);
  for (let r = 0; r < gridH; r++) {
    for (let c = 0; c < gridW; c++) {
      const row = out.subarray((r * gridW + c) * dModel, (r * gridW + c + 1) * dModel);
      for (let i = 0; i < quarter; i++) {
        const omega = 1 / Math.pow(10000, i / quarter);
        // DiT concatenates [emb(row), emb(col)], each [sin, cos].
        row[i] = Math.sin(r * omega);
        row[quarter + i] = Math.cos(r * omega);
        row[2 * quarter + i] = Math.sin(c * omega);
        row[3 * quarter + i] = Math.cos(c * omega);
      }
    }
  }
  return out;
}

export class PatchPositionEmbedding extends Module {
  /** [N, D]: a trainable parameter ('learned') or a fixed table ('sincos-2d', not saved: it is made from the config). */
  readonly table: tf.Tensor;

  constructor(
    readonly kind: Exclude<PatchPositionKind, 'none'>,
    readonly gridH: number,
    readonly gridW: number,
    readonly dModel: number,
    rng: Rng = globalRng(),
  ) {
    super();
    check.positiveInt('PatchPositionEmbedding.gridH', gridH);
    check.positiveInt('PatchPositionEmbedding.gridW', gridW);
    const n = gridH * gridW;
    this.table =
      kind === 'learned'
        ? this.param('weight', normal([n, dModel], 0.02, rng))
        : tf.keep(tf.tensor2d(sincos2d(gridH, gridW, dModel), [n, dModel]));
  }

  /** tokens [S, N, D] -> tokens + table, broadcast over the images. */
  forward(tokens: tf.Tensor): tf.Tensor {
    const n = this.gridH * this.gridW;
    if (tokens.rank !== 3 || tokens.shape[1] !== n || tokens.shape[2] !== this.dModel) {
      throw new ShapeError('PatchPositionEmbedding tokens', `[S, ${n}, ${this.dModel}]`, tokens.shape);
    }
    return tf.tidy(() => tokens.add(this.table));
  }

  override dispose(): void {
    if (this.kind !== 'learned') this.table.dispose();
    super.dispose();
  }

  override describe(): string {
    return `PatchPositionEmbedding(${this.kind}, ${this.gridH}x${this.gridW} x ${this.dModel})`;
  }
}
