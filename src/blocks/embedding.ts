/**
 * The text ends of the model: token ids -> vectors (TokenEmbedding) and vectors -> next-token logits (LMHead).
 * The head can be untied (its own matrix, as Llama) or tied to the embedding (logits = h E^T, Press & Wolf
 * 2017), which saves vocab * D parameters.
 */
import { tf } from '../engine/tf';
import { Rng, rng as globalRng } from '../engine/random';
import { check, ShapeError } from '../config';
import { Module } from './module';
import { normal } from './init';
import { gatherRows } from './gather';

export interface EmbeddingOptions {
  /** Init std of the table (default 0.02, GPT-2 / Llama). */
  readonly std?: number;
  readonly rng?: Rng;
}

export class TokenEmbedding extends Module {
  /** [vocab, D], the PyTorch nn.Embedding layout. */
  readonly weight: tf.Variable;

  constructor(readonly vocab: number, readonly dModel: number, options: EmbeddingOptions = {}) {
    super();
    check.positiveInt('TokenEmbedding.vocab', vocab);
    check.positiveInt('TokenEmbedding.dModel', dModel);
    this.weight = this.param('weight', normal([vocab, dModel], check.positive('TokenEmbedding.std', options.std ?? 0.02), options.rng ?? globalRng()));
  }

  /** ids [...] int32 in [0, vocab) -> [..., D]. A row lookup whose gradient is fast on every backend (gather.ts). */
  forward(ids: tf.Tensor): tf.Tensor {
    if (ids.dtype !== 'int32') throw new TypeError(`TokenEmbedding: ids must be int32, got ${ids.dtype}`);
    return tf.tidy(() => {
      const flat = ids.reshape([-1]);
      const { min, max } = extremes(flat);
      if (flat.size > 0 && (min < 0 || max >= this.vocab)) {
        throw new RangeError(`TokenEmbedding: token ids must lie in [0, ${this.vocab}), got values in [${min}, ${max}]`);
      }
      return gatherRows(this.weight, flat.dataSync() as Int32Array).reshape([...ids.shape, this.dModel]);
    });
  }

  override describe(): string {
    return `TokenEmbedding(${this.vocab}, ${this.dModel})`;
  }
}

function extremes(ids: tf.Tensor): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const v of ids.dataSync()) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

export interface LMHeadOptions extends EmbeddingOptions {
  /** Share this embedding's table instead of owning one (the head then has no parameters of its own). */
  readonly tiedTo?: TokenEmbedding;
}

export class LMHead extends Module {
  /** [vocab, D]: the head's own table, or the tied embedding's. */
  readonly weight: tf.Variable;
  readonly tied: boolean;

  constructor(readonly dModel: number, readonly vocab: number, options: LMHeadOptions = {}) {
    super();
    check.positiveInt('LMHead.dModel', dModel);
    check.positiveInt('LMHead.vocab', vocab);
    const tiedTo = options.tiedTo;
    if (tiedTo && (tiedTo.vocab !== vocab || tiedTo.dModel !== dModel)) {
      throw new ShapeError('LMHead tied embedding', `[${vocab}, ${dModel}]`, tiedTo.weight.shape);
    }
    this.tied = tiedTo !== undefined;
    // Stored [vocab, D] like the embedding, so a tied and an untied head compute the same h W^T.
    this.weight = tiedTo ? tiedTo.weight : this.param('weight', normal([vocab, dModel], check.positive('LMHead.std', options.std ?? 0.02), options.rng ?? globalRng()));
  }

  /** h [..., D] -> logits [..., vocab] = h W^T. */
  forward(h: tf.Tensor): tf.Tensor {
    if (h.shape[h.rank - 1] !== this.dModel) throw new ShapeError('LMHead input', `[..., ${this.dModel}]`, h.shape);
    return tf.tidy(() => {
      const lead = h.shape.slice(0, -1);
      return tf.matMul(h.reshape([-1, this.dModel]), this.weight, false, true).reshape([...lead, this.vocab]);
    });
  }

  override describe(): string {
    return `LMHead(${this.dModel} -> ${this.vocab}${this.tied ? ', tied to the embedding' : ''})`;
  }
}
