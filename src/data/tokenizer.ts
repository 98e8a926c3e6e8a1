/**
 * Byte-level tokenizer: ids 0..255 are the UTF-8 bytes of the text, then the special tokens.
 * Bytes need no training and cover every language, which suits a toy lab; the paper uses a 65K BPE
 * vocabulary (Llama 2's), a drop-in change here because the model only sees ids.
 * The vocabulary (262) is the one the `tiny` speed benchmark fixes (`npm run bench`, bench/train.ts, which runs
 * the `tiny` preset of src/model/config.ts next to a PyTorch reference of the same model), so the two compare.
 */
import { ConfigError } from '../config';

/** Begin of a document. */
export const BOS = 256;
/** End of a document. */
export const EOS = 257;
/** Padding after the last document of a packed row. */
export const PAD = 258;
/** Begin of image: the model switches to diffusion after it (paper §3: images are wrapped in BOI ... EOI). */
export const BOI = 259;
/** End of image: the model is back in text mode after it. */
export const EOI = 260;
/** Reserved, so a researcher can add one special (e.g. a task marker) without resizing the embedding. */
export const SPARE = 261;
/** 256 bytes + BOS, EOS, PAD, BOI, EOI, spare. */
export const VOCAB_SIZE = 262;

/** Display names of the specials, used by `decode(ids, { specials: 'show' })`. */
export const SPECIAL_NAMES: Readonly<Record<number, string>> = {
  [BOS]: '<bos>',
  [EOS]: '<eos>',
  [PAD]: '<pad>',
  [BOI]: '<boi>',
  [EOI]: '<eoi>',
  [SPARE]: '<spare>',
};

export interface DecodeOptions {
  /** 'skip' (default) drops special ids; 'show' writes them as `<boi>` etc. so a sequence can be read. */
  readonly specials?: 'skip' | 'show';
}

const utf8 = new TextEncoder();

/** Text -> UTF-8 byte ids (no BOS/EOS: the sequence builder adds them where a document starts and ends). */
export function encode(text: string): number[] {
  return Array.from(utf8.encode(text));
}

/**
 * Ids -> text. Bytes between two specials are decoded together, so a multi-byte character survives;
 * an invalid byte sequence (a sampled model can emit one) becomes U+FFFD rather than an error.
 */
export function decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
  const specials = options.specials ?? 'skip';
  if (specials !== 'skip' && specials !== 'show') throw new ConfigError('decode.specials', specials, "'skip', 'show'");
  const decoder = new TextDecoder('utf-8', { fatal: false });
  let out = '';
  let run: number[] = [];
  const flush = (): void => {
    if (run.length > 0) out += decoder.decode(Uint8Array.from(run));
    run = [];
  };
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= VOCAB_SIZE) {
      throw new ConfigError(`decode.ids[${i}]`, id, `an integer in [0, ${VOCAB_SIZE - 1}]`);
    }
    if (id < 256) {
      run.push(id);
      continue;
    }
    flush();
    if (specials === 'show') out += SPECIAL_NAMES[id];
  }
  flush();
  return out;
}

/** True for BOS, EOS, PAD, BOI, EOI and the spare id. */
export function isSpecial(id: number): boolean {
  return id >= 256 && id < VOCAB_SIZE;
}

/**
 * What the sequence builder needs from a tokenizer, so a BPE vocabulary can replace the bytes: the ids of
 * the specials and text <-> ids.
 */
export interface Tokenizer {
  readonly vocabSize: number;
  readonly bos: number;
  readonly eos: number;
  readonly pad: number;
  readonly boi: number;
  readonly eoi: number;
  encode(text: string): number[];
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string;
}

/** The byte tokenizer above as a `Tokenizer`. */
export const byteTokenizer: Tokenizer = {
  vocabSize: VOCAB_SIZE,
  bos: BOS,
  eos: EOS,
  pad: PAD,
  boi: BOI,
  eoi: EOI,
  encode,
  decode,
};
