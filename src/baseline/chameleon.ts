/**
 * The Chameleon baseline of Transfusion Tab 3 (Chameleon Team 2024): images quantised by a VQ autoencoder into
 * codes that extend the text vocabulary, and one transformer trained with next-token prediction on every
 * position. Generating an image is sampling h * w codes autoregressively (restricted to the code ids) and
 * decoding them with the VQ; captioning is encoding an image to codes and decoding text greedily.
 *
 * The facade mirrors `Transfusion`: `ChameleonBaseline.create('mnist', overrides)`, `.config`, `.net`,
 * `.loss(batch)`, `.namedParameters()`, `.summary()`. The VQ autoencoder is frozen and belongs to the caller:
 * it is never among the parameters trained, and `dispose()` leaves it alone.
 */
import { tf } from '../engine/tf';
import { Rng, rng as globalRng } from '../engine/random';
import { ConfigError, type DeepPartial } from '../config';
import type { MixedBatch } from '../data/sequence';
import { byteTokenizer, type Tokenizer } from '../data/tokenizer';
import type { SequenceLayout } from '../blocks/layout';
import type { VQAutoencoder } from '../blocks/vq';
import type { LossOutput } from '../train/trainer';
import { resolveBaselineConfig, validateBaselineConfig, type BaselineConfig, type BaselinePresetName } from './config';
import { checkCodesMatch, codeSequence, type CodeBatch } from './codes';
import { BaselineNet } from './network';
import { ModelFacade } from '../model/facade';
import { resolveGenerateOptions } from '../generate/options';
import { sampleToken, type TokenSampling } from '../generate/sample-token';

export interface BaselineOptions {
  /** Stream of the initial weights (default: the global stream). */
  readonly rng?: Rng;
  /** The frozen VQ whose codes are the image tokens; needed by `textToImage` and `caption` only. */
  readonly vq?: VQAutoencoder;
  readonly tokenizer?: Tokenizer;
}

/**
 * How each token is drawn (`temperature`, `topK`, `topP`, `greedy`, with DEFAULT_GENERATE's defaults and checks:
 * the same draw as Transfusion's generation), and the decoding loop.
 */
export interface TextToImageOptions extends Partial<TokenSampling> {
  /** Reuse keys/values between tokens (default true); false recomputes every prefix (the reference path). */
  readonly cache?: boolean;
  /** Stream of the draws (default: the global stream). */
  readonly rng?: Rng;
}

export interface CaptionOptions extends TextToImageOptions {
  /** Most bytes generated per caption (default 32); generation stops earlier at EOS. Greedy unless `greedy: false`. */
  readonly maxTokens?: number;
}

export interface TextToImageResult {
  /** [N, H, W, C] the decoded images (the VQ decoder's values, not clipped). */
  readonly images: tf.Tensor4D;
  /** [N, h * w] int32 sampled codes, row-major over the code grid. */
  readonly codes: tf.Tensor2D;
}

/** The sampling fields of `options` over DEFAULT_GENERATE's, checked there (errors name `generate.<field>`). */
function samplingOf(options: TextToImageOptions, defaults: Partial<TokenSampling> = {}): TokenSampling {
  const { temperature, topK, topP, greedy } = { ...defaults, ...options };
  const given = Object.fromEntries(Object.entries({ temperature, topK, topP, greedy }).filter(([, v]) => v !== undefined));
  return resolveGenerateOptions(given);
}

function isCodeBatch(batch: MixedBatch | CodeBatch): batch is CodeBatch {
  return !('slots' in batch);
}

export class ChameleonBaseline extends ModelFacade<BaselineNet> {
  readonly config: BaselineConfig;
  readonly net: BaselineNet;
  readonly tokenizer: Tokenizer;
  /**
   * The image tokenizer (settable later, e.g. after training it); checked against the config when used. The
   * caller owns it: `dispose()` frees the network's parameters only.
   */
  vq: VQAutoencoder | null;

  constructor(config: BaselineConfig, options: BaselineOptions = {}) {
    super();
    this.config = validateBaselineConfig(config);
    this.net = new BaselineNet(this.config.net, (options.rng ?? globalRng()).fork('init'));
    this.vq = options.vq ?? null;
    this.tokenizer = options.tokenizer ?? byteTokenizer;
    if (this.tokenizer.vocabSize > this.config.net.textVocab) {
      throw new ConfigError('net.textVocab', this.config.net.textVocab, `at least the tokenizer's vocabulary (${this.tokenizer.vocabSize}), so codes never collide with text ids`);
    }
  }

  /** Build from a preset with overrides, e.g. `ChameleonBaseline.create('mnist', { net: { codebookSize: 64 } }, { vq })`. */
  static create(preset: BaselinePresetName | BaselineConfig = 'tiny', overrides: DeepPartial<BaselineConfig> = {}, options: BaselineOptions = {}): ChameleonBaseline {
    return new ChameleonBaseline(resolveBaselineConfig(preset, overrides), options);
  }

  /** Id of image code 0; code k is `codeOffset + k`. */
  get codeOffset(): number {
    return this.config.net.textVocab;
  }

  /** Codes per image, h * w. */
  get codesPerImage(): number {
    return this.config.sequence.patchesPerImage;
  }

  /**
   * Mean next-token cross-entropy over every position with a target, codes included (Chameleon's only loss).
   * `batch` is a loader batch whose images are code arrays (codeLoader) or an already built CodeBatch.
   * breakdown: `text` (mean over targets that are text or special ids) and `image` (over targets that are codes),
   * for monitoring; total weighs every target equally, so it is their token-weighted mean, not their sum.
   */
  loss(batch: MixedBatch | CodeBatch): LossOutput {
    const seq = isCodeBatch(batch) ? batch : codeSequence(batch, this.config.net, this.tokenizer);
    const rows: number[] = [];
    const targets: number[] = [];
    const image: number[] = [];
    seq.targets.forEach((y, i) => {
      if (y < 0) return;
      rows.push(i);
      targets.push(y);
      image.push(y >= this.codeOffset ? 1 : 0);
    });
    const nImage = image.reduce((a, b) => a + b, 0);
    const nText = rows.length - nImage;
    return tf.tidy(() => {
      const hidden = this.net.forward(seq);
      if (rows.length === 0) return { total: tf.scalar(0), breakdown: { text: tf.scalar(0), image: tf.scalar(0) }, tokens: seq.batchSize * seq.length };
      const logits = this.net.logitsAt(hidden, Int32Array.from(rows));
      const onehot = tf.oneHot(tf.tensor1d(targets, 'int32'), this.net.vocabSize);
      const nll = tf.logSoftmax(logits).mul(onehot).sum(1).neg();
      const isImage = tf.tensor1d(image, 'float32');
      const part = (weights: tf.Tensor, count: number) => (count > 0 ? nll.mul(weights).sum().div(count) : tf.scalar(0)) as tf.Scalar;
      return {
        total: nll.mean() as tf.Scalar,
        breakdown: { text: part(tf.onesLike(isImage).sub(isImage), nText), image: part(isImage, nImage) },
        tokens: seq.batchSize * seq.length,
      };
    });
  }

  /**
   * Sample one image per caption: prompt `[BOS] caption [BOI]`, then h * w codes drawn one at a time from the
   * code ids only (left-padded prompts share one batch), decoded with the VQ.
   */
  textToImage(captions: readonly string[], options: TextToImageOptions = {}): TextToImageResult {
    const vq = this.requireVq();
    const sampling = samplingOf(options);
    const tok = this.tokenizer;
    const prompts = captions.map((c) => [tok.bos, ...tok.encode(c), tok.boi]);
    const n = this.codesPerImage;
    const K = this.config.net.codebookSize;
    const ids = this.generate(prompts, n, { lo: this.codeOffset, hi: this.codeOffset + K, exclude: [] }, sampling, options);
    const { height: h, width: w } = this.config.net.grid;
    const codes = tf.tensor2d(Int32Array.from(ids.flat(), (id) => id - this.codeOffset), [captions.length, n], 'int32');
    const images = captions.length === 0 ? (tf.zeros([0, h * vq.downsample, w * vq.downsample, vq.imageChannels]) as tf.Tensor4D) : (vq.decodeIndices(codes, h, w) as tf.Tensor4D);
    return { images, codes };
  }

  /**
   * Caption images [N, H, W, C]: encode each to codes, prompt `[BOS] [BOI] codes [EOI]` (the image-first order of
   * 20% of training pairs), and generate text bytes until EOS (greedy unless `greedy: false`).
   */
  caption(images: tf.Tensor, options: CaptionOptions = {}): string[] {
    const vq = this.requireVq();
    const maxTokens = options.maxTokens ?? 32;
    if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new ConfigError('caption.maxTokens', maxTokens, 'a positive integer');
    const sampling = samplingOf(options, { greedy: true });
    const [, H, W] = images.shape;
    checkCodesMatch(this.config.net, vq, { height: H, width: W, channels: images.shape[3] ?? 0 });
    const codes = vq.encodeIndices(images);
    const rows = codes.arraySync() as number[][];
    codes.dispose();
    const tok = this.tokenizer;
    const prompts = rows.map((r) => [tok.bos, tok.boi, ...r.map((c) => this.codeOffset + c), tok.eoi]);
    // Text ids and EOS only: no other special, and no image code, may appear in a caption.
    const exclude = [tok.bos, tok.pad, tok.boi, tok.eoi];
    const ids = this.generate(prompts, maxTokens, { lo: 0, hi: this.codeOffset, exclude, stop: tok.eos }, sampling, options);
    return ids.map((r) => {
      const end = r.indexOf(tok.eos);
      return tok.decode(end < 0 ? r : r.slice(0, end));
    });
  }

  /**
   * Autoregressive decoding of `steps` tokens after each prompt, each drawn from ids [lo, hi) minus `exclude`
   * (an image has a fixed number of codes, so nothing but a code may be drawn inside it).
   * Prompts of different lengths are left-padded: the padding is a document of its own, so the causal document
   * mask keeps it invisible. Rows that produced `stop` keep decoding (their later tokens are discarded) until
   * every row has stopped.
   */
  private generate(
    prompts: number[][],
    steps: number,
    range: { lo: number; hi: number; exclude: readonly number[]; stop?: number },
    sampling: TokenSampling,
    options: TextToImageOptions,
  ): number[][] {
    const B = prompts.length;
    if (B === 0) return [];
    const rng = options.rng ?? globalRng();
    const useCache = options.cache ?? true;
    const P = Math.max(...prompts.map((p) => p.length));
    const pads = prompts.map((p) => P - p.length);
    const rowsTokens = prompts.map((p, b) => [...Array<number>(pads[b]).fill(this.tokenizer.pad), ...p]);
    const out: number[][] = prompts.map(() => []);
    const stopped = new Array<boolean>(B).fill(false);
    const cache = useCache ? this.net.transformer.newCache() : null;
    const wasTraining = this.net.training;
    this.net.eval();
    try {
      for (let s = 0; s < steps; s++) {
        const L = P + s;
        const input = this.tokenInput(rowsTokens, pads, L);
        const queryStart = cache ? cache.length : 0;
        const logits = tf.tidy(() => {
          const hidden = this.net.forward(input, cache ? { cache: { store: cache, mode: 'append' }, queryStart } : {});
          const Lq = L - queryStart;
          return this.net.logitsAt(hidden, Int32Array.from({ length: B }, (_, b) => b * Lq + Lq - 1));
        });
        const data = logits.dataSync() as Float32Array;
        logits.dispose();
        const V = this.net.vocabSize;
        const banned = range.exclude.filter((id) => id >= range.lo && id < range.hi).map((id) => id - range.lo);
        for (let b = 0; b < B; b++) {
          const id = range.lo + sampleToken(data.subarray(b * V + range.lo, b * V + range.hi), sampling, rng, banned);
          rowsTokens[b].push(id);
          if (!stopped[b]) out[b].push(id);
          if (id === range.stop) stopped[b] = true;
        }
        if (stopped.every(Boolean)) break;
      }
    } finally {
      cache?.dispose();
      this.net.train(wasTraining);
    }
    return out;
  }

  /** The first L tokens of each row as a forward input: padding is document 0 (positions from 0), the prompt document 1. */
  private tokenInput(rows: number[][], pads: number[], L: number): { batchSize: number; length: number; tokens: Int32Array; positions: Int32Array; layouts: SequenceLayout[] } {
    const B = rows.length;
    const tokens = new Int32Array(B * L);
    const positions = new Int32Array(B * L);
    const layouts: SequenceLayout[] = [];
    rows.forEach((row, b) => {
      const document = new Int32Array(L);
      for (let i = 0; i < L; i++) {
        tokens[b * L + i] = row[i];
        const inPrompt = i >= pads[b];
        document[i] = inPrompt ? 1 : 0;
        positions[b * L + i] = inPrompt ? i - pads[b] : i;
      }
      layouts.push({ length: L, image: new Int32Array(L).fill(-1), document });
    });
    return { batchSize: B, length: L, tokens, positions, layouts };
  }

  private requireVq(): VQAutoencoder {
    if (!this.vq) throw new ConfigError('baseline.vq', null, 'a VQAutoencoder (pass { vq } to create, or set baseline.vq) to turn codes into images and back');
    if (this.vq.config.codebookSize !== this.config.net.codebookSize) {
      throw new ConfigError('net.codebookSize', this.config.net.codebookSize, `${this.vq.config.codebookSize} (the VQ autoencoder's codebook size)`);
    }
    return this.vq;
  }

  protected readonly title = 'ChameleonBaseline';

  protected objectiveLine(): string {
    const n = this.config.net;
    return `objective: next-token cross-entropy on every position (text and ${n.grid.height * n.grid.width} codes per image from a ${n.codebookSize}-code VQ)`;
  }
}
