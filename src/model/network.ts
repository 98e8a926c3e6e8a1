/**
 * The Transfusion network (Zhou et al. 2024, §3): one transformer over a sequence in which text tokens are
 * embedded and image latents are cut into patches, encoded, and placed between BOI and EOI. It returns the
 * hidden states, LM logits on request, and the decoder's per-patch prediction for every image.
 *
 * The network knows nothing of noise schedules (docs/ARCHITECTURE.md, 'The network and the noise process'). It is
 * given noisy latents and their time values and predicts; the diffusion objective (objective.ts) owns noising,
 * targets and weighting.
 */
import { tf } from '../engine/tf';
import { Rng, rng as globalRng } from '../engine/random';
import { ShapeError } from '../config';
import { Module } from '../blocks/module';
import { Transformer } from '../blocks/transformer';
import { TokenEmbedding, LMHead } from '../blocks/embedding';
import { TimestepMLP } from '../blocks/timestep';
import { makePatchEncoder, makePatchDecoder, type PatchEncoder, type PatchDecoder } from '../blocks/patch';
import { numPatches } from '../blocks/patchify';
import { PatchPositionEmbedding } from '../blocks/patch-positions';
import { and, buildMask, document, type MaskPredicate } from '../blocks/masks';
import { materializeMask, materializeMaskNaive } from '../blocks/mask-materialize';
import { gatherRows } from '../blocks/gather';
import type { KVCache, CacheUse } from '../blocks/kvcache';
import type { SequenceLayout } from '../blocks/layout';
import type { NetConfig } from './config';

const CPU_BACKENDS = new Set(['cpu', 'wasm', 'nativecpu']);

/** Where one image sits in the sequence batch (the subset of data's ImageSlot the network needs). */
export interface SlotPlace {
  readonly row: number;
  /** First patch position in the row. */
  readonly start: number;
}

/** One forward's sequence: ids and layout are plain arrays, images are noisy latents with their times. */
export interface SequenceInput {
  readonly batchSize: number;
  readonly length: number;
  /** [B*L] ids; the positions of image patches are ignored (overwritten by patch vectors). */
  readonly tokens: Int32Array;
  /** [B*L] 1-D positions (0 at each document start). */
  readonly positions: Int32Array;
  readonly layouts: readonly SequenceLayout[];
  /** Images in the order of `latents`, each occupying N = patchesPerImage positions from `start`. */
  readonly slots: readonly SlotPlace[];
  /** [S, H, W, C] noisy latents x_t (S = slots.length; may be null when S = 0). */
  readonly latents: tf.Tensor | null;
  /** [S] time of each image in [0, 1] (t = 0 clean); embedded as t * 1000 (the DDPM step scale). */
  readonly t: tf.Tensor | null;
}

export interface NetworkOutput {
  /** [B, L, D] after the final norm. */
  readonly hidden: tf.Tensor;
  /** [S, H, W, C] the decoder's prediction for each image (null when S = 0). */
  readonly prediction: tf.Tensor | null;
}

export interface ForwardOptions {
  /** A KV cache of the positions before this input's first position (generation; see kvcache.ts). */
  readonly cache?: CacheUse<KVCache>;
  /** With a cache: absolute index of this input's first position in the layouts (mask rows to build). */
  readonly queryStart?: number;
  /**
   * The attention mask of this input's layouts from `queryStart`, as `attentionMask` builds it, when the caller
   * runs the same layouts many times (the denoising loop: one mask for every step). Built per forward otherwise.
   */
  readonly mask?: tf.Tensor;
}

export class TransfusionNet extends Module {
  readonly embed: TokenEmbedding;
  readonly transformer: Transformer;
  readonly head: LMHead;
  readonly timeEmbed: TimestepMLP;
  readonly encoder: PatchEncoder;
  readonly decoder: PatchDecoder;
  readonly mask: MaskPredicate;
  /** N: positions one image occupies. */
  readonly patchesPerImage: number;
  /** The absolute patch-position table, or null for net.patchPositions 'none'. */
  readonly patchPositions: PatchPositionEmbedding | null;

  constructor(readonly config: NetConfig, rng: Rng = globalRng()) {
    super();
    const d = config.transformer.dModel;
    this.embed = this.module('embed', new TokenEmbedding(config.vocabSize, d, { rng }));
    this.transformer = this.module('transformer', new Transformer(config.transformer, { rng }));
    this.head = this.module('head', new LMHead(d, config.vocabSize, { rng, tiedTo: config.tieEmbeddings ? this.embed : undefined }));
    this.timeEmbed = this.module('time_embed', new TimestepMLP(d, { rng }));
    const geometry = { latentChannels: config.latent.channels, patchSize: config.patchSize, dModel: d };
    this.encoder = this.module('patch_in', makePatchEncoder(config.patch, geometry, { rng, field: 'net.patch' }));
    this.decoder = this.module('patch_out', makePatchDecoder(config.patch, geometry, { rng, field: 'net.patch' }));
    // Packed rows hold several documents: nothing attends across a document boundary.
    this.mask = and(document, buildMask(config.mask, 'net.mask'));
    this.patchesPerImage = numPatches(config.latent.height, config.latent.width, config.patchSize);
    const k = config.patchSize;
    this.patchPositions =
      config.patchPositions === 'none'
        ? null
        : this.module('patch_pos', new PatchPositionEmbedding(config.patchPositions, config.latent.height / k, config.latent.width / k, d, rng));
  }

  /** [S] times in [0, 1] -> [S, D] timestep embedding (sinusoid of t * 1000, then the MLP). */
  timeEmbedding(t: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.timeEmbed.forward(t.mul(1000)));
  }

  /**
   * The RoPE positions for the chosen image-position scheme: [B, Lq] (1-D) or [B, Lq, 2] (2-D), for the query
   * window [start, start + Lq) of each row.
   */
  ropePositions(input: Pick<SequenceInput, 'batchSize' | 'length' | 'positions' | 'slots'>, start = 0): tf.Tensor {
    const { batchSize: B, length: L } = input;
    const scheme = this.config.imagePositions;
    const N = this.patchesPerImage;
    const gridW = this.config.latent.width / this.config.patchSize;
    const pos = Int32Array.from(input.positions);
    const pos2 = scheme === '2d' ? new Int32Array(B * L * 2) : null;
    if (pos2) for (let i = 0; i < B * L; i++) pos2[2 * i] = pos2[2 * i + 1] = pos[i];
    for (const s of input.slots) {
      const base = s.row * L + s.start;
      const p0 = input.positions[base];
      for (let j = 0; j < N; j++) {
        if (scheme === 'shared') pos[base + j] = p0;
        if (pos2) {
          pos2[2 * (base + j)] = p0 + Math.floor(j / gridW);
          pos2[2 * (base + j) + 1] = p0 + (j % gridW);
        }
      }
    }
    const Lq = L - start;
    return tf.tidy(() => {
      if (pos2) return tf.tensor3d(pos2, [B, L, 2], 'int32').slice([0, start, 0], [B, Lq, 2]);
      return tf.tensor2d(pos, [B, L], 'int32').slice([0, start], [B, Lq]);
    });
  }

  /**
   * The input sequence [B, Lq, D]: token embeddings, with each image's N encoded patches in place.
   * Assembled with one row gather from [text rows ; image patches] so gradients reach both (tfjs has no ScatterNd
   * gradient; gather.ts explains why not tf.gather).
   */
  private assemble(input: SequenceInput, temb: tf.Tensor | null, start: number): { x: tf.Tensor; skips: tf.Tensor[] } {
    const { batchSize: B, length: L } = input;
    const Lq = L - start;
    const D = this.config.transformer.dModel;
    const N = this.patchesPerImage;
    const ids = new Int32Array(B * Lq);
    for (let b = 0; b < B; b++) ids.set(input.tokens.subarray(b * L + start, (b + 1) * L), b * Lq);
    const idsT = tf.tensor2d(ids, [B, Lq], 'int32');
    const text = this.embed.forward(idsT).reshape([B * Lq, D]);
    idsT.dispose();
    if (!input.latents || input.slots.length === 0) return { x: text.reshape([B, Lq, D]), skips: [] };
    const { tokens, skips } = this.encoder.encode(input.latents, temb);
    const patches = this.patchPositions ? this.patchPositions.forward(tokens.reshape([-1, N, D])) : tokens;
    const index = new Int32Array(B * Lq);
    for (let i = 0; i < B * Lq; i++) index[i] = i;
    input.slots.forEach((s, k) => {
      for (let j = 0; j < N; j++) {
        const p = s.start + j - start;
        if (p >= 0 && p < Lq) index[s.row * Lq + p] = B * Lq + k * N + j;
      }
    });
    const table = tf.concat([text, patches.reshape([-1, D])], 0);
    const x = gatherRows(table, index).reshape([B, Lq, D]);
    return { x, skips };
  }

  /** Gather the hidden states of every image's patches: [B, Lq, D] -> [S, N, D]. */
  imageHidden(hidden: tf.Tensor, slots: readonly SlotPlace[], start = 0): tf.Tensor {
    const [B, Lq, D] = hidden.shape as [number, number, number];
    const N = this.patchesPerImage;
    const index = new Int32Array(slots.length * N);
    slots.forEach((s, k) => {
      for (let j = 0; j < N; j++) {
        const p = s.start + j - start;
        if (p < 0 || p >= Lq) throw new RangeError(`imageHidden: image ${k} patch ${j} at position ${s.start + j} is outside the window [${start}, ${start + Lq})`);
        index[k * N + j] = s.row * Lq + p;
      }
    });
    return tf.tidy(() => gatherRows(hidden.reshape([B * Lq, D]), index).reshape([slots.length, N, D]));
  }

  /**
   * Run the network. With `options.cache`, only positions [queryStart, L) are computed (their keys attend to
   * the cached prefix); slots must then lie inside that window.
   */
  forward(input: SequenceInput, options: ForwardOptions = {}): NetworkOutput {
    const { batchSize: B, length: L } = input;
    if (input.tokens.length !== B * L) throw new ShapeError('tokens', `[B*L] = [${B * L}]`, [input.tokens.length]);
    if (L > this.config.maxPositions) throw new RangeError(`sequence length ${L} exceeds net.maxPositions (${this.config.maxPositions})`);
    const S = input.slots.length;
    if (S > 0) {
      const { height: H, width: W, channels: C } = this.config.latent;
      const shape = input.latents?.shape ?? [];
      if (shape.length !== 4 || shape[0] !== S || shape[1] !== H || shape[2] !== W || shape[3] !== C) {
        throw new ShapeError('latents', `[S, H, W, C] = [${S}, ${H}, ${W}, ${C}]`, shape);
      }
    }
    const start = options.queryStart ?? 0;
    return tf.tidy(() => {
      const temb = input.t && S > 0 ? this.timeEmbedding(input.t) : null;
      const { x, skips } = this.assemble(input, temb, start);
      const mask = options.mask ?? this.attentionMask(input.layouts, start);
      const positions = this.ropePositions(input, start);
      const hidden = this.transformer.forward(x, { positions, mask, cache: options.cache });
      let prediction: tf.Tensor | null = null;
      if (S > 0) {
        const { height: H, width: W, channels: C } = this.config.latent;
        prediction = this.decoder.decode(this.imageHidden(hidden, input.slots, start), temb, skips, { H, W, C });
      }
      // tidy keeps every tensor of the returned object; `prediction` may be null when the batch has no image.
      return { hidden, prediction } as unknown as tf.TensorContainer;
    }) as unknown as NetworkOutput;
  }

  /** The additive attention mask of `layouts`, rows from `queryStart` on: [B, L - queryStart, L]. */
  attentionMask(layouts: SequenceInput['layouts'], queryStart = 0): tf.Tensor {
    // On CPU backends the per-position rule in plain JS beats the broadcast tensor build (measured: ~30 ms vs
    // ~180 ms for 16 x 129 x 129 on nativecpu); accelerators keep the tensor build, which stays on the device.
    const build = CPU_BACKENDS.has(tf.getBackend()) ? materializeMaskNaive : materializeMask;
    return build(this.mask, layouts, { form: 'additive', queryStart });
  }

  /** LM logits at chosen rows of the flattened hidden states: hidden [B, L, D], rows [M] -> [M, V]. */
  logitsAt(hidden: tf.Tensor, rows: Int32Array): tf.Tensor {
    const D = this.config.transformer.dModel;
    return tf.tidy(() => this.head.forward(gatherRows(hidden.reshape([-1, D]), rows)));
  }

  override describe(): string {
    const c = this.config;
    return `TransfusionNet(latent ${c.latent.channels}x${c.latent.height}x${c.latent.width}, patch ${c.patchSize} -> ${this.patchesPerImage} patches, ${c.patch.kind} encoder, mask ${c.mask.kind}, positions ${c.imagePositions})`;
  }
}
