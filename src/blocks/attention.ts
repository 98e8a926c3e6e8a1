/**
 * Multi-head scaled dot-product attention (Vaswani et al. 2017, eq. 1: softmax(Q K^T / sqrt(d_k)) V) with
 * rotary positions (rope.ts), optional QK-norm, attention dropout and a key/value cache (kvcache.ts).
 * Llama-style: the four projections have no bias.
 */
import { tf } from '../engine/tf';
import { Rng, rng as globalRng } from '../engine/random';
import { ConfigError, ShapeError, check } from '../config';
import { Module } from './module';
import { fusedAttention, fusedCachedAttention, fusedOn } from '../engine/fused';
import { Linear } from './linear';
import { RMSNorm } from './rmsnorm';
import { Dropout } from './dropout';
import { checkTables, rotate, rotaryTables, type RotaryTables } from './rope';
import { CacheUse, LayerKVCache } from './kvcache';

/** Additive value of a masked-out entry: exp(-1e9 - max) is exactly 0 in float32, and it stays finite. */
export const MASKED = -1e9;

export interface AttentionOptions {
  /** RMSNorm on q and k over each head's channels before RoPE (default false; Dehghani et al. 2023, Chameleon). */
  readonly qkNorm?: boolean;
  /** eps of the QK-norm RMSNorms (default 1e-6). */
  readonly normEps?: number;
  /** RoPE base (default 10000, RoFormer). */
  readonly ropeBase?: number;
  /** Dropout on the attention probabilities in train mode (default 0). */
  readonly attentionDropout?: number;
  /** Init std of wq, wk, wv (default 0.02). */
  readonly initStd?: number;
  /** Init std of wo (default `initStd`; the transformer scales it down with depth). */
  readonly outputStd?: number;
  readonly rng?: Rng;
}

/** Per-forward inputs besides x. */
export interface AttentionInputs {
  /** Positions of the (new) tokens of x: [B or 1, L] (1-D RoPE) or [B or 1, L, 2] (2-D axial RoPE). */
  readonly positions: tf.Tensor;
  /**
   * Which keys each query may see, or null for full attention. Boolean (true = attend) or additive float
   * (0 = attend, large negative = masked), shaped [Lq, Lk], [B or 1, Lq, Lk] or [B or 1, 1, Lq, Lk], where
   * Lq is the length of x and Lk = cached length + Lq.
   */
  readonly mask: tf.Tensor | null;
  /** Attend to (and in 'append' mode extend) this layer's cached keys/values. */
  readonly cache?: CacheUse<LayerKVCache>;
  /**
   * The rotation tables of `positions` (rope.ts's rotaryTables with this layer's head width and base), when the
   * caller built them once for several layers, as the transformer does; computed here otherwise.
   */
  readonly rotary?: RotaryTables;
}

/** Check RoPE positions against a batch of `batch` rows of `length` new tokens: [B or 1, L] or [B or 1, L, 2]. */
export function checkPositions(positions: tf.Tensor, batch: number, length: number): void {
  const p = positions.shape;
  if ((positions.rank !== 2 && positions.rank !== 3) || (p[0] !== batch && p[0] !== 1) || p[1] !== length) {
    throw new ShapeError('attention positions', `[${batch} or 1, ${length}] or [${batch} or 1, ${length}, 2]`, p);
  }
}

/** Check a mask against [B, Lq, Lk] and return it additive and broadcastable over heads: [B or 1, 1, Lq, Lk]. */
export function additiveMask(mask: tf.Tensor, batch: number, lq: number, lk: number): tf.Tensor {
  const s = mask.shape;
  const okBatch = (b: number) => b === batch || b === 1;
  const ok =
    (mask.rank === 2 && s[0] === lq && s[1] === lk) ||
    (mask.rank === 3 && okBatch(s[0]) && s[1] === lq && s[2] === lk) ||
    (mask.rank === 4 && okBatch(s[0]) && s[1] === 1 && s[2] === lq && s[3] === lk);
  if (!ok) throw new ShapeError('attention mask', `[${lq}, ${lk}], [${batch} or 1, ${lq}, ${lk}] or [${batch} or 1, 1, ${lq}, ${lk}]`, s);
  return tf.tidy(() => {
    const m = mask.dtype === 'bool' ? mask.cast('float32').sub(1).mul(-MASKED) : mask.toFloat();
    return m.reshape([mask.rank === 2 ? 1 : s[0], 1, lq, lk]);
  });
}

export class MultiHeadAttention extends Module {
  readonly headDim: number;
  readonly ropeBase: number;
  readonly wq: Linear;
  readonly wk: Linear;
  readonly wv: Linear;
  readonly wo: Linear;
  readonly qNorm: RMSNorm | null;
  readonly kNorm: RMSNorm | null;
  readonly attnDropout: Dropout;

  constructor(readonly dModel: number, readonly nHeads: number, options: AttentionOptions = {}) {
    super();
    check.positiveInt('attention.dModel', dModel);
    check.positiveInt('attention.nHeads', nHeads);
    check.divides('attention.nHeads', nHeads, 'attention.dModel', dModel);
    this.headDim = dModel / nHeads;
    if (this.headDim % 2 !== 0) {
      throw new ConfigError('attention.nHeads', nHeads, `a divisor of dModel (${dModel}) giving an even head width (RoPE rotates channel pairs)`);
    }
    this.ropeBase = check.positive('attention.ropeBase', options.ropeBase ?? 10000);
    const r = options.rng ?? globalRng();
    const std = options.initStd ?? 0.02;
    this.wq = this.module('wq', new Linear(dModel, dModel, { bias: false, std, rng: r }));
    this.wk = this.module('wk', new Linear(dModel, dModel, { bias: false, std, rng: r }));
    this.wv = this.module('wv', new Linear(dModel, dModel, { bias: false, std, rng: r }));
    this.wo = this.module('wo', new Linear(dModel, dModel, { bias: false, std: options.outputStd ?? std, rng: r }));
    const eps = options.normEps ?? 1e-6;
    this.qNorm = options.qkNorm ? this.module('q_norm', new RMSNorm(this.headDim, { eps })) : null;
    this.kNorm = options.qkNorm ? this.module('k_norm', new RMSNorm(this.headDim, { eps })) : null;
    this.attnDropout = this.module('attn_dropout', new Dropout(options.attentionDropout ?? 0, r.fork('attention-dropout')));
  }

  /** x [B, L, D] -> [B, L, D]. With a cache, x holds only the new positions. */
  forward(x: tf.Tensor, inputs: AttentionInputs): tf.Tensor {
    if (x.rank !== 3 || x.shape[2] !== this.dModel) throw new ShapeError('attention input', `[B, L, ${this.dModel}]`, x.shape);
    const [batch, length] = x.shape;
    const { positions, mask, cache } = inputs;
    checkPositions(positions, batch, length);
    const keyLength = (cache?.store.length ?? 0) + length;
    return tf.tidy(() => {
      // Validate the mask before the cache is touched, so a bad call leaves an 'append' cache as it was.
      const bias = mask ? additiveMask(mask, batch, length, keyLength) : null;
      const past = cache?.mode === 'read' ? cache.store.past : null;
      const fused = x.dtype === 'float32' && !(this.attnDropout.training && this.attnDropout.rate > 0) && fusedOn() &&
        (!cache || (past !== null && past.k.shape[0] === batch && past.k.shape[1] === this.nHeads && past.k.shape[3] === this.headDim));
      if (fused) {
        // One native kernel (src/engine/fused.ts) on the projections' own [B, L, H, Dh] layout: no head
        // transposes, no score tensors between kernels; with a cache being read (a frozen prefix, as diffusion
        // sampling uses it), no concatenation of past and new keys either. The same formula as below.
        const heads = [batch, length, this.nHeads, this.headDim];
        let q = this.wq.forward(x).reshape(heads);
        let k = this.wk.forward(x).reshape(heads);
        const v = this.wv.forward(x).reshape(heads);
        if (this.qNorm && this.kNorm) {
          q = this.qNorm.forward(q);
          k = this.kNorm.forward(k);
        }
        const { cos, sin } = checkTables(inputs.rotary ?? rotaryTables(positions, this.headDim, this.ropeBase), batch, length, this.headDim / 2);
        const out = past ? fusedCachedAttention(q, k, v, past.k, past.v, cos, sin, bias) : fusedAttention(q, k, v, cos, sin, bias);
        return this.wo.forward(out.reshape([batch, length, this.dModel]));
      }
      let q = this.splitHeads(this.wq.forward(x));
      let k = this.splitHeads(this.wk.forward(x));
      let v = this.splitHeads(this.wv.forward(x));
      if (this.qNorm && this.kNorm) {
        q = this.qNorm.forward(q);
        k = this.kNorm.forward(k);
      }
      const tables = inputs.rotary ?? rotaryTables(positions, this.headDim, this.ropeBase);
      q = rotate(q, tables);
      k = rotate(k, tables);
      if (cache) ({ k, v } = cache.store.extend(k, v, cache.mode));
      // Vaswani et al. 2017, eq. 1; scaling q first is the same product with a smaller tensor.
      let scores = tf.matMul(q.mul(1 / Math.sqrt(this.headDim)), k, false, true);
      if (bias) scores = scores.add(bias);
      const probs = this.attnDropout.forward(tf.softmax(scores, -1));
      const heads = tf.matMul(probs, v);
      return this.wo.forward(heads.transpose([0, 2, 1, 3]).reshape([batch, length, this.dModel]));
    });
  }

  /** [B, L, D] -> [B, H, L, Dh] */
  private splitHeads(t: tf.Tensor): tf.Tensor {
    const [batch, length] = t.shape;
    return t.reshape([batch, length, this.nHeads, this.headDim]).transpose([0, 2, 1, 3]);
  }

  override describe(): string {
    return `MultiHeadAttention(d=${this.dModel}, heads=${this.nHeads}${this.qNorm ? ', qk-norm' : ''})`;
  }
}
