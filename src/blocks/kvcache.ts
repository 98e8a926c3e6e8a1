/**
 * Key/value cache for incremental attention. Keys are stored after RoPE, so a cached position keeps the
 * position it was computed with and later forwards only pass the positions of their new tokens.
 *
 * Two uses, chosen per forward by `CacheMode`:
 *   - 'append': autoregressive decoding. The new keys/values are attended to and then kept, so the next
 *     forward sees them as past.
 *   - 'read': a frozen prefix. The new keys/values are attended to in this forward only and the cache is left
 *     untouched, so a text prefix computed once serves every denoising step of an image that follows it
 *     (Transfusion's inference: the noisy image is replaced in the sequence at every diffusion step).
 *
 * A cache is an inference tool: it holds tensors across forwards, so it is not meant to be inside a
 * gradient computation. Call `dispose()` when done.
 */
import { tf } from '../engine/tf';
import { ShapeError } from '../config';

export type CacheMode = 'append' | 'read';

/** What a forward is told about caching: which store, and whether to extend it. */
export interface CacheUse<S> {
  readonly store: S;
  readonly mode: CacheMode;
}

/** One attention layer's past keys and values, [B, H, Lpast, Dh] each, or nothing yet. */
export class LayerKVCache {
  private k: tf.Tensor | null = null;
  private v: tf.Tensor | null = null;

  /** Number of cached positions. */
  get length(): number {
    return this.k ? this.k.shape[2] ?? 0 : 0;
  }

  /** The stored keys (rotated) and values, [B, H, Lpast, Dh] each, or null when nothing is cached yet. */
  get past(): { readonly k: tf.Tensor; readonly v: tf.Tensor } | null {
    return this.k && this.v ? { k: this.k, v: this.v } : null;
  }

  /**
   * Keys and values to attend to: past ++ new along the sequence axis, [B, H, Lpast + Lnew, Dh].
   * In 'append' mode the result also replaces the stored past (and survives the caller's tf.tidy).
   */
  extend(kNew: tf.Tensor, vNew: tf.Tensor, mode: CacheMode): { k: tf.Tensor; v: tf.Tensor } {
    if (this.k && this.v) {
      const [b, h, , d] = this.k.shape;
      if (kNew.shape[0] !== b || kNew.shape[1] !== h || kNew.shape[3] !== d) {
        throw new ShapeError('KV cache new keys', `[${b}, ${h}, Lnew, ${d}] (the cached batch, heads and head width)`, kNew.shape);
      }
    }
    const k = this.k ? tf.concat([this.k, kNew], 2) : kNew;
    const v = this.v ? tf.concat([this.v, vNew], 2) : vNew;
    if (mode === 'append') {
      tf.keep(k);
      tf.keep(v);
      this.k?.dispose();
      this.v?.dispose();
      this.k = k;
      this.v = v;
    }
    return { k, v };
  }

  dispose(): void {
    this.k?.dispose();
    this.v?.dispose();
    this.k = null;
    this.v = null;
  }
}

/** A cache for a whole transformer: one `LayerKVCache` per block. */
export class KVCache {
  readonly layers: readonly LayerKVCache[];

  constructor(readonly nLayers: number) {
    this.layers = Array.from({ length: nLayers }, () => new LayerKVCache());
  }

  /** Number of cached positions (the same in every layer); the next new token's 1-D position if numbered 0, 1, ... */
  get length(): number {
    return this.layers.length ? this.layers[0].length : 0;
  }

  layer(index: number): LayerKVCache {
    const l = this.layers[index];
    if (!l) throw new RangeError(`KVCache.layer: index ${index} out of range [0, ${this.nLayers})`);
    return l;
  }

  dispose(): void {
    for (const l of this.layers) l.dispose();
  }
}
