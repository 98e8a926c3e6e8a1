/**
 * Next-token logits for rows that grow by appending (LM mode). With a KV cache each call computes only the
 * positions added since the last call, in 'append' mode, so decoding costs one position per token; without it
 * every call reruns the whole sequence (the reference the cache is tested against).
 */
import { tf } from '../engine/tf';
import type { KVCache } from '../blocks/kvcache';
import type { TransfusionNet } from '../model/network';
import { layoutRows, windowInput, type ContextRow } from './rows';

export class TokenStepper {
  private readonly cache: KVCache | null;
  /** Positions already in the cache. */
  private fed = 0;

  constructor(private readonly net: TransfusionNet, useCache: boolean, private readonly pad: number) {
    this.cache = useCache ? net.transformer.newCache() : null;
  }

  /**
   * Rows of equal length L (context images inside them, clean) -> [B * V] logits at each row's last position.
   * With the cache, everything before the previous call's L is taken from it; an image must not straddle that
   * boundary (callers append an image together with its BOI and EOI).
   */
  logits(rows: readonly ContextRow[]): Float32Array {
    const L = rows[0].tokens.length;
    rows.forEach((r, b) => {
      if (r.tokens.length !== L) throw new RangeError(`TokenStepper: row ${b} has ${r.tokens.length} ids, row 0 has ${L}; rows must grow together`);
    });
    if (L <= this.fed) throw new RangeError(`TokenStepper: no new positions (${L} ids, ${this.fed} already computed)`);
    const layout = layoutRows(rows, this.net.patchesPerImage, this.pad);
    const start = this.cache ? this.fed : 0;
    const B = rows.length;
    const logits = tf.tidy(() => {
      const input = windowInput(layout, start, null);
      const options = this.cache ? { cache: { store: this.cache, mode: 'append' as const }, queryStart: start } : {};
      const { hidden } = this.net.forward(input, options);
      const Lq = L - start;
      const last = Int32Array.from({ length: B }, (_, b) => b * Lq + Lq - 1);
      return this.net.logitsAt(hidden, last);
    });
    const values = logits.dataSync() as Float32Array;
    logits.dispose();
    this.fed = L;
    return values;
  }

  dispose(): void {
    this.cache?.dispose();
  }
}
