/**
 * The Transfusion backbone: the Llama transformer (Touvron et al. 2023) that Transfusion trains (Zhou et al.
 * 2024): pre-norm residual blocks of RMSNorm, rotary multi-head attention and a SwiGLU feed-forward, then a
 * final RMSNorm. The modality-specific parts (token embedding, patch encoders, heads) live outside it; the
 * transformer maps [B, L, D] to [B, L, D].
 */
import { tf } from '../engine/tf';
import { Rng, rng as globalRng } from '../engine/random';
import { ConfigError, DeepPartial, ShapeError, check, mergeConfig } from '../config';
import { Module } from './module';
import { RMSNorm } from './rmsnorm';
import { MultiHeadAttention, additiveMask, checkPositions } from './attention';
import { rotaryTables, type RotaryTables } from './rope';
import { SwiGLU } from './feedforward';
import { Dropout } from './dropout';
import { CacheUse, KVCache } from './kvcache';

export interface TransformerConfig {
  /** Residual stream width D (default 256: a CPU-sized model; the paper's 7B uses 4096). */
  readonly dModel: number;
  /** Number of blocks (default 4). */
  readonly nLayers: number;
  /** Attention heads; must divide dModel and leave an even head width for RoPE (default 4: head width 64). */
  readonly nHeads: number;
  /** SwiGLU hidden width (default 688: Llama's 2/3 * 4D = 683 rounded up to a multiple of 16). */
  readonly ffnHidden: number;
  /** eps of every RMSNorm (default 1e-6, Llama 1). */
  readonly normEps: number;
  /** RoPE base (default 10000, RoFormer / Llama). */
  readonly ropeBase: number;
  /** RMSNorm on queries and keys per head (default false; Chameleon needed it for stable mixed-modal training). */
  readonly qkNorm: boolean;
  /** Dropout on each residual branch in train mode, in [0, 1) (default 0: large pretraining runs use none). */
  readonly dropout: number;
  /** Dropout on attention probabilities in train mode, in [0, 1) (default 0). */
  readonly attentionDropout: number;
  /**
   * Init std of every weight matrix (default 0.02, GPT-2 / Llama). The two projections back into the residual
   * stream (wo, w2) use initStd / sqrt(2 nLayers) so the stream's variance does not grow with depth
   * (GPT-2, Radford et al. 2019, sec. 2.3).
   */
  readonly initStd: number;
}

export const DEFAULT_TRANSFORMER: TransformerConfig = {
  dModel: 256,
  nLayers: 4,
  nHeads: 4,
  ffnHidden: 688,
  normEps: 1e-6,
  ropeBase: 10000,
  qkNorm: false,
  dropout: 0,
  attentionDropout: 0,
  initStd: 0.02,
};

function dropoutRate(field: string, v: unknown): number {
  if (typeof v !== 'number' || !(v >= 0 && v < 1)) throw new ConfigError(field, v, 'a number in [0, 1)');
  return v;
}

/** Merge overrides into DEFAULT_TRANSFORMER and check every field; errors name `field` paths under `path`. */
export function resolveTransformerConfig(overrides: DeepPartial<TransformerConfig> = {}, path = 'transformer'): TransformerConfig {
  const c = mergeConfig(DEFAULT_TRANSFORMER, overrides, path);
  check.positiveInt(`${path}.dModel`, c.dModel);
  check.positiveInt(`${path}.nLayers`, c.nLayers);
  check.positiveInt(`${path}.nHeads`, c.nHeads);
  check.divides(`${path}.nHeads`, c.nHeads, `${path}.dModel`, c.dModel);
  if ((c.dModel / c.nHeads) % 2 !== 0) {
    throw new ConfigError(`${path}.nHeads`, c.nHeads, `a divisor of dModel (${c.dModel}) giving an even head width (RoPE rotates channel pairs)`);
  }
  check.positiveInt(`${path}.ffnHidden`, c.ffnHidden);
  check.positive(`${path}.normEps`, c.normEps);
  if (typeof c.ropeBase !== 'number' || !(c.ropeBase > 1) || !Number.isFinite(c.ropeBase)) {
    throw new ConfigError(`${path}.ropeBase`, c.ropeBase, 'a finite number > 1 (frequencies must fall across pairs)');
  }
  check.oneOf(`${path}.qkNorm`, c.qkNorm, [true, false]);
  dropoutRate(`${path}.dropout`, c.dropout);
  dropoutRate(`${path}.attentionDropout`, c.attentionDropout);
  check.positive(`${path}.initStd`, c.initStd);
  return c;
}

/** Per-forward inputs besides x (see AttentionInputs for positions and mask). */
export interface TransformerInputs {
  /** [B or 1, L] (1-D RoPE) or [B or 1, L, 2] (2-D axial RoPE): positions of x's tokens. */
  readonly positions: tf.Tensor;
  /** Boolean or additive, [L, Lk], [B or 1, L, Lk] or [B or 1, 1, L, Lk]; null = full attention. See masks.ts. */
  readonly mask: tf.Tensor | null;
  /** Past keys/values of every layer; with it x holds only the new positions (kvcache.ts). */
  readonly cache?: CacheUse<KVCache>;
  /** RoPE's tables for `positions` (AttentionInputs.rotary); Transformer.forward builds them once for all its layers. */
  readonly rotary?: RotaryTables;
}

/** Pre-norm residual block: h = x + Attn(RMSNorm(x)); out = h + FFN(RMSNorm(h)) (Llama; Xiong et al. 2020). */
export class TransformerBlock extends Module {
  readonly attnNorm: RMSNorm;
  readonly attn: MultiHeadAttention;
  readonly ffnNorm: RMSNorm;
  readonly ffn: SwiGLU;
  private readonly attnResidualDropout: Dropout;
  private readonly ffnResidualDropout: Dropout;

  constructor(config: TransformerConfig, rng: Rng) {
    super();
    const { dModel, nHeads, normEps, initStd } = config;
    const outputStd = initStd / Math.sqrt(2 * config.nLayers);
    this.attnNorm = this.module('attn_norm', new RMSNorm(dModel, { eps: normEps }));
    this.attn = this.module('attn', new MultiHeadAttention(dModel, nHeads, {
      qkNorm: config.qkNorm, normEps, ropeBase: config.ropeBase, attentionDropout: config.attentionDropout, initStd, outputStd, rng,
    }));
    this.ffnNorm = this.module('ffn_norm', new RMSNorm(dModel, { eps: normEps }));
    this.ffn = this.module('ffn', new SwiGLU(dModel, config.ffnHidden, { initStd, outputStd, rng }));
    this.attnResidualDropout = this.module('attn_residual_dropout', new Dropout(config.dropout, rng.fork('attn-residual-dropout')));
    this.ffnResidualDropout = this.module('ffn_residual_dropout', new Dropout(config.dropout, rng.fork('ffn-residual-dropout')));
  }

  /** x [B, L, D] -> [B, L, D]; `cache` is this block's layer of the transformer's cache. */
  forward(x: tf.Tensor, inputs: TransformerInputs, layerIndex: number): tf.Tensor {
    return tf.tidy(() => {
      const cache = inputs.cache ? { store: inputs.cache.store.layer(layerIndex), mode: inputs.cache.mode } : undefined;
      const a = this.attn.forward(this.attnNorm.forward(x), { positions: inputs.positions, mask: inputs.mask, cache, rotary: inputs.rotary });
      const h = x.add(this.attnResidualDropout.forward(a));
      return h.add(this.ffnResidualDropout.forward(this.ffn.forward(this.ffnNorm.forward(h))));
    });
  }
}

export interface TransformerOptions {
  /** Stream for initialisation and dropout masks (default: the global stream). */
  readonly rng?: Rng;
}

export class Transformer extends Module {
  /** The resolved config: saved as JSON, it rebuilds the same architecture. */
  readonly config: TransformerConfig;
  readonly layers: readonly TransformerBlock[];
  readonly norm: RMSNorm;

  constructor(config: DeepPartial<TransformerConfig> = {}, options: TransformerOptions = {}) {
    super();
    this.config = resolveTransformerConfig(config);
    const r = options.rng ?? globalRng();
    this.layers = Array.from({ length: this.config.nLayers }, (_, i) => this.module(`layers.${i}`, new TransformerBlock(this.config, r)));
    this.norm = this.module('norm', new RMSNorm(this.config.dModel, { eps: this.config.normEps }));
  }

  get dModel(): number {
    return this.config.dModel;
  }

  /** A cache sized for this transformer's layers. */
  newCache(): KVCache {
    return new KVCache(this.config.nLayers);
  }

  /** x [B, L, D] -> [B, L, D] (after the final norm). With a cache, x holds only the new positions. */
  forward(x: tf.Tensor, inputs: TransformerInputs): tf.Tensor {
    if (x.rank !== 3 || x.shape[2] !== this.config.dModel) throw new ShapeError('transformer input', `[B, L, ${this.config.dModel}]`, x.shape);
    if (inputs.cache && inputs.cache.store.nLayers !== this.config.nLayers) {
      throw new RangeError(`transformer cache: has ${inputs.cache.store.nLayers} layers, the transformer ${this.config.nLayers}`);
    }
    return tf.tidy(() => {
      // What every layer would otherwise rebuild: RoPE's cos and sin tables, and the mask in additive form. Checked
      // in the attention's order (positions, then mask), with its errors.
      const [batch, length] = x.shape;
      const keyLength = (inputs.cache?.store.length ?? 0) + length;
      checkPositions(inputs.positions, batch, length);
      const shared: TransformerInputs = {
        ...inputs,
        mask: inputs.mask ? additiveMask(inputs.mask, batch, length, keyLength) : null,
        rotary: inputs.rotary ?? rotaryTables(inputs.positions, this.config.dModel / this.config.nHeads, this.config.ropeBase),
      };
      let h = x;
      this.layers.forEach((layer, i) => {
        h = layer.forward(h, shared, i);
      });
      return this.norm.forward(h);
    });
  }

  override describe(): string {
    const c = this.config;
    return `Transformer(d=${c.dModel}, layers=${c.nLayers}, heads=${c.nHeads}, ffn=${c.ffnHidden}${c.qkNorm ? ', qk-norm' : ''})`;
  }
}

/** A transformer slot: a config (partial, merged into the default) or a built one (docs/ARCHITECTURE.md, 'Slots'). */
export type TransformerSpec = DeepPartial<TransformerConfig> | Transformer;

export function makeTransformer(spec: TransformerSpec = {}, options: TransformerOptions = {}): Transformer {
  return spec instanceof Transformer ? spec : new Transformer(spec, options);
}
