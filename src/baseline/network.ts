/**
 * The baseline's network: a plain decoder-only language model over text and image-code tokens (Chameleon):
 * token embedding, the lab's Transformer, LM head. Attention is causal everywhere, images included (there is
 * no bidirectional in-image attention: codes are generated one by one), and never crosses a packed document.
 */
import { tf } from '../engine/tf';
import { Rng, rng as globalRng } from '../engine/random';
import { ShapeError } from '../config';
import { Module } from '../blocks/module';
import { Transformer } from '../blocks/transformer';
import { TokenEmbedding, LMHead } from '../blocks/embedding';
import { and, causal, document, type MaskPredicate } from '../blocks/masks';
import { materializeMask, materializeMaskNaive } from '../blocks/mask-materialize';
import { gatherRows } from '../blocks/gather';
import type { CacheUse, KVCache } from '../blocks/kvcache';
import type { SequenceLayout } from '../blocks/layout';
import { vocabSize, type BaselineNetConfig } from './config';

/** Backends whose tensors live in JS memory, where the mask is cheaper built by the plain loop (as TransfusionNet). */
const CPU_BACKENDS = new Set(['cpu', 'wasm', 'nativecpu']);

/** One forward's sequence: every array covers the whole rows [B*L]; only [queryStart, L) is computed. */
export interface TokenInput {
  readonly batchSize: number;
  readonly length: number;
  /** [B*L] token ids in [0, textVocab + codebookSize). */
  readonly tokens: Int32Array;
  /** [B*L] 1-D RoPE positions (0 at each document start). */
  readonly positions: Int32Array;
  /** Per row: document index per position (the image field is not used: attention is causal everywhere). */
  readonly layouts: readonly SequenceLayout[];
}

export interface TokenForwardOptions {
  /** Keys/values of positions [0, queryStart), extended in 'append' mode (generation). */
  readonly cache?: CacheUse<KVCache>;
  /** First position to compute (default 0); with a cache, the cache must hold exactly the positions before it. */
  readonly queryStart?: number;
}

export class BaselineNet extends Module {
  readonly embed: TokenEmbedding;
  readonly transformer: Transformer;
  readonly head: LMHead;
  /** Chameleon's mask: causal, and within one packed document. */
  readonly mask: MaskPredicate = and(document, causal);
  readonly vocabSize: number;

  constructor(readonly config: BaselineNetConfig, rng: Rng = globalRng()) {
    super();
    const d = config.transformer.dModel;
    this.vocabSize = vocabSize(config);
    this.embed = this.module('embed', new TokenEmbedding(this.vocabSize, d, { rng }));
    this.transformer = this.module('transformer', new Transformer(config.transformer, { rng }));
    this.head = this.module('head', new LMHead(d, this.vocabSize, { rng, tiedTo: config.tieEmbeddings ? this.embed : undefined }));
  }

  /** Hidden states [B, L - queryStart, D] (after the final norm) of positions [queryStart, L). */
  forward(input: TokenInput, options: TokenForwardOptions = {}): tf.Tensor {
    const { batchSize: B, length: L } = input;
    if (input.tokens.length !== B * L) throw new ShapeError('tokens', `[B*L] = [${B * L}]`, [input.tokens.length]);
    if (input.positions.length !== B * L) throw new ShapeError('positions', `[B*L] = [${B * L}]`, [input.positions.length]);
    if (L > this.config.maxPositions) throw new RangeError(`sequence length ${L} exceeds net.maxPositions (${this.config.maxPositions})`);
    const start = options.queryStart ?? 0;
    if (!Number.isInteger(start) || start < 0 || start >= L) throw new RangeError(`queryStart ${start} is outside [0, ${L})`);
    const cached = options.cache?.store.length ?? 0;
    if (cached !== start) throw new RangeError(`the KV cache holds ${cached} positions, but queryStart is ${start}; they must be equal`);
    const Lq = L - start;
    const window = (a: Int32Array) => {
      const out = new Int32Array(B * Lq);
      for (let b = 0; b < B; b++) out.set(a.subarray(b * L + start, (b + 1) * L), b * Lq);
      return out;
    };
    return tf.tidy(() => {
      const x = this.embed.forward(tf.tensor2d(window(input.tokens), [B, Lq], 'int32'));
      const build = CPU_BACKENDS.has(tf.getBackend()) ? materializeMaskNaive : materializeMask;
      const mask = build(this.mask, input.layouts, { form: 'additive', queryStart: start, length: L });
      const positions = tf.tensor2d(window(input.positions), [B, Lq], 'int32');
      return this.transformer.forward(x, { positions, mask, cache: options.cache });
    });
  }

  /** LM logits at chosen rows of the flattened hidden states: hidden [B, Lq, D], rows [M] -> [M, V]. */
  logitsAt(hidden: tf.Tensor, rows: Int32Array): tf.Tensor {
    const D = this.config.transformer.dModel;
    return tf.tidy(() => this.head.forward(gatherRows(hidden.reshape([-1, D]), rows)));
  }

  override describe(): string {
    const c = this.config;
    return `BaselineNet(vocab ${c.textVocab} text + ${c.codebookSize} codes, ${c.grid.height}x${c.grid.width} codes per image, causal mask)`;
  }
}
