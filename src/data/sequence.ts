/**
 * The sequence builder: turns documents of text and images into model batches (paper §3 data representation, §4.1 data).
 *
 * A document is `[BOS] parts... [EOS]`; a text part is its tokens, an image part is `[BOI] <P patch
 * positions> [EOI]`, where P = patchesPerImage = (H/f/k) * (W/f/k) comes from the model. A caption/image pair
 * becomes caption-first `[BOS] caption [BOI] <image> [EOI] [EOS]` (80%) or image-first
 * `[BOS] [BOI] <image> [EOI] caption [EOS]` (20%, paper §4.1), and with probability `captionDropout` the
 * caption is dropped so the model also learns the unconditional distribution classifier-free guidance needs.
 * Documents are packed greedily, in order, into rows of length L, padded with PAD; an image is never split.
 *
 * The result is plain typed arrays (no tensors), so it is cheap to build and exact to test.
 */
import { ConfigError, DeepPartial, check, mergeConfig } from '../config';
import { Rng, rng as globalRng } from '../engine/random';
import { SequenceLayout } from '../blocks/layout';
import { Tokenizer, byteTokenizer } from './tokenizer';

export interface TextPart {
  readonly kind: 'text';
  readonly text: string;
}

export interface ImagePart {
  readonly kind: 'image';
  /** Index into the images array the document is packed with. */
  readonly index: number;
  /** The caption paired with the image, reported in `MixedBatch.captions` (default ''). */
  readonly caption?: string;
  /** The image precedes its caption, so the objective may cap its noise (paper's noise limiting, Tab 8) (default false). */
  readonly imageFirst?: boolean;
}

export type DocumentPart = TextPart | ImagePart;

/** Ordered parts; BOS and EOS are added by the builder. */
export type Document = readonly DocumentPart[];

/** A training pair: pixels (or cached latents) and their caption. */
export interface CaptionedImage {
  readonly image: Float32Array;
  readonly caption: string;
}

export interface SequenceConfig {
  /** Positions per row, L (default 129: 63 text + BOI + 64 patches + EOI, the shared `tiny` benchmark). */
  readonly length: number;
  /** Positions one image occupies, (H/f/k) * (W/f/k) from the model (default 64: a 16x16 latent, patch 2). */
  readonly patchesPerImage: number;
  /** Probability a pair is image-first rather than caption-first (default 0.2, paper §4.1's 80/20). */
  readonly imageFirstProb: number;
  /**
   * Probability the caption is dropped and the image stands alone (default 0.1: the paper does not state
   * its value; 0.1 is the common classifier-free guidance choice).
   */
  readonly captionDropout: number;
  /** Pack several documents per row (default false: one pair per row, as in the `tiny` benchmark). */
  readonly pack: boolean;
  /**
   * LM loss on text that comes before an image in its document, the prompt of a caption-first pair (default true:
   * the paper's objective, LM loss on all text). false keeps the loss on the text after an image (the caption of an
   * image-first pair) and on the token that predicts BOI, and drops it on the prompt itself. A caption drawn
   * uniformly from templates and digits is unpredictable before its image: its digit costs ln 10 nats at best, a
   * gradient of pure noise, while the caption after an image carries the signal captioning learns from.
   */
  readonly promptLoss: boolean;
  /**
   * For the first this-many epochs, an image-first pair's caption is the sample's `plainCaption` (one fixed form,
   * MNIST's "the digit 7") instead of the caption drawn from the templates (default 0: never). Reading the image
   * is learned on one caption shape first, and carries over to every shape once the drawn captions take over
   * (README, "Time to quality"). Caption-first pairs, the prompts text-to-image learns from, keep the drawn
   * captions throughout. 'all' keeps the plain caption for every epoch: the model then captions in that one form, and
   * reading is never diluted over the templates (README, "Time to quality", row Z4). Needs a dataset whose
   * samples have a plainCaption (MNIST's do).
   */
  readonly plainCaptionEpochs: number | 'all';
  /**
   * The image-first probability during the plain-caption epochs (default null: `imageFirstProb` throughout). 1 makes
   * those epochs a reading warm-up, every pair image-first; text-to-image then trains on the drawn captions after it.
   */
  readonly plainCaptionImageFirstProb: number | null;
  /**
   * The image-first probability of each of the first epochs, epoch 0 first (default []: none). Epoch e < length
   * uses entry e, in place of `plainCaptionImageFirstProb` and `imageFirstProb`; later epochs use those as before.
   * `[1, 1]` with one plain-caption epoch is a two-epoch reading warm-up: the plain caption, then the drawn ones,
   * every pair image-first; `[1, 0.6, 0.4]` tapers to the usual mix.
   */
  readonly imageFirstByEpoch: readonly number[];
}

export const DEFAULT_SEQUENCE_CONFIG: SequenceConfig = {
  length: 129,
  patchesPerImage: 64,
  imageFirstProb: 0.2,
  captionDropout: 0.1,
  pack: false,
  promptLoss: true,
  plainCaptionEpochs: 0,
  plainCaptionImageFirstProb: null,
  imageFirstByEpoch: [],
};

/**
 * `c` without its training curriculum (plain-caption epochs, per-epoch image-first probabilities): what an
 * evaluation pairs with, so every epoch it draws is the usual mix with the drawn captions.
 */
export function withoutCurriculum(c: SequenceConfig): SequenceConfig {
  return { ...c, plainCaptionEpochs: 0, imageFirstByEpoch: [] };
}

/** Whether epoch `epoch`'s image-first pairs read the plain caption (SequenceConfig.plainCaptionEpochs). */
export function isPlainEpoch(c: SequenceConfig, epoch: number): boolean {
  return c.plainCaptionEpochs === 'all' || epoch < c.plainCaptionEpochs;
}

/** The image-first probability of epoch `epoch` (SequenceConfig.imageFirstByEpoch, then the plain epochs' and the usual one). */
export function imageFirstProbAt(c: SequenceConfig, epoch: number): number {
  if (epoch < c.imageFirstByEpoch.length) return c.imageFirstByEpoch[epoch];
  if (isPlainEpoch(c, epoch) && c.plainCaptionImageFirstProb !== null) return c.plainCaptionImageFirstProb;
  return c.imageFirstProb;
}

/** One image's place in a batch. */
export interface ImageSlot {
  readonly row: number;
  /** First patch position in the row. */
  readonly start: number;
  /** Patch positions, = patchesPerImage. */
  readonly length: number;
  /** Index into the batch's `images`. */
  readonly source: number;
  /** The image came before its caption (noise limiting, paper Tab 8). */
  readonly imageFirst: boolean;
}

/** A model batch of B rows of L positions; every per-position array is row-major `[B * L]`. */
export interface MixedBatch {
  readonly batchSize: number;
  readonly length: number;
  /** [B*L] input ids; image positions hold PAD (the model overwrites them with patch vectors). */
  readonly tokens: Int32Array;
  /**
   * [B*L] next-token target, or -1 where there is no LM loss (paper §3, training objective): where the input is BOI (its next is
   * a patch), at image positions, at PAD, and at each document's last position (EOS has no next). The token
   * before BOI does predict BOI, so the model learns when to start an image; EOI predicts the next text.
   */
  readonly targets: Int32Array;
  /** [B*L] position within its document (0 at the document start; PAD counts as one more document). */
  readonly positions: Int32Array;
  /** Per row: image index (-1 text, else the k-th image of the row) and document index per position. */
  readonly layouts: SequenceLayout[];
  /** Every image of the batch, in row then position order. */
  readonly slots: ImageSlot[];
  /** Source images (pixels or cached latents), referenced by `slot.source`. */
  readonly images: Float32Array[];
  /** Per slot: the caption it was paired with ('' when dropped). */
  readonly captions: string[];
}

export function validateSequenceConfig(c: SequenceConfig): SequenceConfig {
  check.positiveInt('sequence.length', c.length);
  check.positiveInt('sequence.patchesPerImage', c.patchesPerImage);
  check.probability('sequence.imageFirstProb', c.imageFirstProb);
  check.probability('sequence.captionDropout', c.captionDropout);
  check.oneOf('sequence.pack', c.pack, [true, false]);
  check.oneOf('sequence.promptLoss', c.promptLoss, [true, false]);
  if (c.plainCaptionEpochs !== 'all' && (!Number.isInteger(c.plainCaptionEpochs) || c.plainCaptionEpochs < 0)) {
    throw new ConfigError('sequence.plainCaptionEpochs', c.plainCaptionEpochs, "a whole number of epochs >= 0, or 'all'");
  }
  if (c.plainCaptionImageFirstProb !== null) check.probability('sequence.plainCaptionImageFirstProb', c.plainCaptionImageFirstProb);
  if (!Array.isArray(c.imageFirstByEpoch)) throw new ConfigError('sequence.imageFirstByEpoch', c.imageFirstByEpoch, 'an array of probabilities, one per epoch from epoch 0');
  c.imageFirstByEpoch.forEach((p, e) => check.probability(`sequence.imageFirstByEpoch[${e}]`, p));
  if (c.length < c.patchesPerImage + 4) {
    throw new ConfigError('sequence.length', c.length, `at least patchesPerImage + 4 = ${c.patchesPerImage + 4} (BOS, BOI, the patches, EOI, EOS)`);
  }
  return c;
}

/** Merge overrides into DEFAULT_SEQUENCE_CONFIG and validate. */
export function sequenceConfig(overrides: DeepPartial<SequenceConfig> = {}): SequenceConfig {
  return validateSequenceConfig(mergeConfig(DEFAULT_SEQUENCE_CONFIG, overrides, 'sequence'));
}

/**
 * The document for image `index` and its caption (an empty caption gives the image alone, as if dropped).
 * Both draws are always made (dropout, then order), so the stream consumed per pair is fixed and one
 * pair's outcome never shifts the next pair's draws.
 */
export function pairDocument(
  index: number,
  caption: string,
  config: Pick<SequenceConfig, 'imageFirstProb' | 'captionDropout'>,
  rng: Rng = globalRng(),
): Document {
  const dropped = rng.bernoulli(config.captionDropout);
  const imageFirst = rng.bernoulli(config.imageFirstProb);
  if (dropped || caption === '') return [{ kind: 'image', index, caption: '', imageFirst: false }];
  const image: ImagePart = { kind: 'image', index, caption, imageFirst };
  const text: TextPart = { kind: 'text', text: caption };
  return imageFirst ? [image, text] : [text, image];
}

/** Positions a document occupies: BOS + EOS + its text tokens + (P + 2) per image. */
export function documentLength(doc: Document, patchesPerImage: number, tokenizer: Tokenizer = byteTokenizer): number {
  let n = 2;
  for (const part of doc) n += part.kind === 'text' ? tokenizer.encode(part.text).length : patchesPerImage + 2;
  return n;
}

/**
 * Greedy in-order row assignment: a document goes in the current row if it fits (and packing is on),
 * else it opens the next row. Shared by `packDocuments` and the loader, so both cut rows the same way.
 */
export class RowAssigner {
  private opened = 0;
  private fill = 0;

  constructor(readonly length: number, readonly pack: boolean) {}

  /** Rows opened so far. */
  get rows(): number {
    return this.opened;
  }

  /** The row for a document of `size` positions; fails naming both lengths when it can never fit. */
  place(size: number, what: () => string = () => 'a document'): number {
    if (size > this.length) {
      throw new ConfigError('sequence.length', this.length, `at least ${size} to hold ${what()} (a document is never split across rows)`);
    }
    if (this.opensRow(size)) {
      this.opened++;
      this.fill = 0;
    }
    this.fill += size;
    return this.opened - 1;
  }

  /** The row a document of `size` would open or join, without placing it. */
  peek(size: number): number {
    return this.opensRow(size) ? this.opened : this.opened - 1;
  }

  private opensRow(size: number): boolean {
    return this.opened === 0 || !this.pack || this.fill + size > this.length;
  }
}

/**
 * Lay documents into rows of `config.length` (greedy, in order, never splitting a document) and build the
 * batch. `images[part.index]` is each image part's source.
 */
export function packDocuments(
  documents: readonly Document[],
  images: readonly Float32Array[],
  config: Pick<SequenceConfig, 'length' | 'patchesPerImage' | 'pack'> & Partial<Pick<SequenceConfig, 'promptLoss'>>,
  tokenizer: Tokenizer = byteTokenizer,
): MixedBatch {
  const promptLoss = config.promptLoss ?? true;
  if (documents.length === 0) throw new ConfigError('documents', documents, 'at least one document');
  const { length: L, patchesPerImage: P } = config;
  const encoded = documents.map((doc, d) => encodeDocument(doc, d, images.length, P, tokenizer));
  const assigner = new RowAssigner(L, config.pack);
  const rowOf = encoded.map((e, d) => assigner.place(e.tokens.length, () => `document ${d} (${describeParts(documents[d], tokenizer)})`));
  const B = assigner.rows;
  const tokens = new Int32Array(B * L).fill(tokenizer.pad);
  const targets = new Int32Array(B * L).fill(-1);
  const positions = new Int32Array(B * L);
  const layouts: SequenceLayout[] = [];
  const slots: ImageSlot[] = [];
  const captions: string[] = [];
  let d = 0;
  for (let row = 0; row < B; row++) {
    const image = new Int32Array(L).fill(-1);
    const document = new Int32Array(L);
    let at = 0;
    let docInRow = 0;
    let imageInRow = 0;
    for (; d < encoded.length && rowOf[d] === row; d++, docInRow++) {
      const e = encoded[d];
      const n = e.tokens.length;
      for (let i = 0; i < n; i++) {
        const p = row * L + at + i;
        tokens[p] = e.tokens[i];
        positions[p] = i;
        document[at + i] = docInRow;
        // Paper §3 (training objective): LM loss on text only. No target where the input is BOI or a patch, nor at EOS.
        // Without prompt loss, no target where the next token is prompt text (BOI, which ends the prompt, stays).
        if (i + 1 < n && e.image[i] < 0 && e.tokens[i] !== tokenizer.boi && (promptLoss || !e.prompt[i + 1])) targets[p] = e.tokens[i + 1];
      }
      for (const img of e.images) {
        image.fill(imageInRow++, at + img.start, at + img.start + P);
        slots.push({ row, start: at + img.start, length: P, source: img.part.index, imageFirst: img.part.imageFirst ?? false });
        captions.push(img.part.caption ?? '');
      }
      at += n;
    }
    // PAD is one more document of its own, so padding never attends to (or is attended by) real tokens.
    for (let i = at; i < L; i++) {
      positions[row * L + i] = i - at;
      document[i] = docInRow;
    }
    layouts.push({ length: L, image, document });
  }
  return { batchSize: B, length: L, tokens, targets, positions, layouts, slots, images: images.slice(), captions };
}

interface EncodedDocument {
  /** Ids with PAD at patch positions. */
  readonly tokens: number[];
  /** Per position: >= 0 inside an image (the image's order in the document), else -1. */
  readonly image: number[];
  /** Per position: a text token that an image follows later in the document (a prompt). */
  readonly prompt: boolean[];
  readonly images: Array<{ start: number; part: ImagePart }>;
}

function encodeDocument(doc: Document, d: number, imageCount: number, P: number, tokenizer: Tokenizer): EncodedDocument {
  const tokens = [tokenizer.bos];
  const image = [-1];
  const images: Array<{ start: number; part: ImagePart }> = [];
  // The part each text token came from (-1 elsewhere), to mark the text that an image follows.
  const textPart = [-1];
  doc.forEach((part, i) => {
    if (part.kind === 'text') {
      for (const id of tokenizer.encode(part.text)) {
        tokens.push(id);
        image.push(-1);
        textPart.push(i);
      }
    } else if (part.kind === 'image') {
      if (!Number.isInteger(part.index) || part.index < 0 || part.index >= imageCount) {
        throw new ConfigError(`documents[${d}][${i}].index`, part.index, `an index into the ${imageCount} images`);
      }
      tokens.push(tokenizer.boi);
      image.push(-1);
      images.push({ start: tokens.length, part });
      for (let k = 0; k < P; k++) {
        tokens.push(tokenizer.pad);
        image.push(images.length - 1);
      }
      tokens.push(tokenizer.eoi);
      image.push(-1);
      textPart.push(...new Array<number>(P + 2).fill(-1));
    } else {
      throw new ConfigError(`documents[${d}][${i}].kind`, (part as { kind: unknown }).kind, "'text', 'image'");
    }
  });
  tokens.push(tokenizer.eos);
  image.push(-1);
  textPart.push(-1);
  let lastImagePart = -1;
  doc.forEach((part, i) => part.kind === 'image' && (lastImagePart = i));
  return { tokens, image, images, prompt: textPart.map((k) => k >= 0 && k < lastImagePart) };
}

function describeParts(doc: Document, tokenizer: Tokenizer): string {
  const text = doc.reduce((n, p) => n + (p.kind === 'text' ? tokenizer.encode(p.text).length : 0), 0);
  const imgs = doc.filter((p) => p.kind === 'image').length;
  return `${text} text tokens and ${imgs} image${imgs === 1 ? '' : 's'} plus BOS/EOS`;
}

/**
 * Caption/image pairs -> a batch: each pair becomes a document (order and caption dropout drawn from `rng`),
 * then the documents are packed. `batch.images[k]` is `pairs[k].image`.
 */
export function buildBatch(
  pairs: readonly CaptionedImage[],
  overrides: DeepPartial<SequenceConfig> = {},
  rng: Rng = globalRng(),
  tokenizer: Tokenizer = byteTokenizer,
): MixedBatch {
  const config = sequenceConfig(overrides);
  const documents = pairs.map((pair, k) => pairDocument(k, pair.caption, config, rng));
  return packDocuments(documents, pairs.map((p) => p.image), config, tokenizer);
}

/** The prompt that asks for an image of `caption` (text-to-image generation): `[BOS] caption [BOI]`. */
export function captionPrompt(caption: string, tokenizer: Tokenizer = byteTokenizer): number[] {
  return [tokenizer.bos, ...tokenizer.encode(caption), tokenizer.boi];
}

/** A readable view of one row, e.g. `<bos>a 7<boi>[64 patches]<eoi><eos><pad>x3`, for notebooks and debugging. */
export function formatRow(batch: MixedBatch, row: number, tokenizer: Tokenizer = byteTokenizer): string {
  if (!Number.isInteger(row) || row < 0 || row >= batch.batchSize) {
    throw new ConfigError('formatRow.row', row, `an integer in [0, ${batch.batchSize - 1}]`);
  }
  const L = batch.length;
  const layout = batch.layouts[row];
  let out = '';
  let i = 0;
  while (i < L) {
    if (layout.image[i] >= 0) {
      let j = i;
      while (j < L && layout.image[j] === layout.image[i]) j++;
      out += `[${j - i} patches]`;
      i = j;
    } else if (batch.tokens[row * L + i] === tokenizer.pad) {
      out += `<pad>x${L - i}`;
      break;
    } else {
      let j = i;
      while (j < L && layout.image[j] < 0 && batch.tokens[row * L + j] !== tokenizer.pad) j++;
      out += tokenizer.decode(batch.tokens.subarray(row * L + i, row * L + j), { specials: 'show' });
      i = j;
    }
  }
  return out;
}
