/**
 * The U-Net patch pair (Transfusion §3.2, Tab 7): the down half of a U-Net turns the latent into a grid at the
 * patch resolution (log2 k stride-2 steps, so one grid cell per k x k patch), whose cells become tokens in
 * row-major order, the order `patchify` gives; the up half turns output tokens back into a latent. The paper
 * finds this beats the linear pair at every patch size, and lets larger patches cost less quality.
 */
import { tf } from '../engine/tf';
import { rng as globalRng } from '../engine/random';
import { ShapeError } from '../config';
import { Module } from './module';
import { Linear } from './linear';
import { Conv2d } from './conv';
import { GroupNorm } from './groupnorm';
import { silu } from './resblock';
import { UNetDown, UNetStackOptions, UNetUp } from './unet';
import { checkPatchGrid, numPatches } from './patchify';
import { BUILT_IN, fieldsOf } from '../registry';
import { checkPatchGeometry, checkUNetDepth, checkUNetPatch, DEFAULT_UNET_PATCH, PatchBuildOptions, PatchGeometry, patchKinds, patchLevels, UNetPatchConfig } from './patch-config';
import type { LatentShape, PatchDecoder, PatchEncoder, PatchEncoding } from './patch';

function stackOptions(config: UNetPatchConfig, geometry: PatchGeometry, options: PatchBuildOptions): UNetStackOptions {
  return {
    channels: config.channels.slice(0, patchLevels(geometry.patchSize) + 1),
    blocksPerLevel: config.blocksPerLevel,
    groups: config.groups,
    conditioning: config.conditioning,
    tembDim: geometry.dModel,
    rng: options.rng ?? globalRng(),
  };
}

/** conv_in -> down (levels 0..log2 k) -> norm_out, SiLU -> proj_out to D per grid cell. */
export class UNetPatchEncoder extends Module implements PatchEncoder {
  readonly convIn: Conv2d;
  readonly down: UNetDown;
  readonly normOut: GroupNorm;
  readonly projOut: Linear;
  private readonly field: string;

  constructor(readonly config: UNetPatchConfig, readonly geometry: PatchGeometry, options: PatchBuildOptions = {}) {
    super();
    this.field = options.field ?? 'patch';
    checkPatchGeometry(geometry, this.field);
    checkUNetDepth(config, geometry.patchSize, this.field);
    const stack = stackOptions(config, geometry, options);
    const top = stack.channels[stack.channels.length - 1];
    this.convIn = this.module('conv_in', new Conv2d(geometry.latentChannels, stack.channels[0], { rng: stack.rng }));
    this.down = this.module('down', new UNetDown(stack.channels[0], stack, this.field));
    this.normOut = this.module('norm_out', new GroupNorm(config.groups, top));
    this.projOut = this.module('proj_out', new Linear(top, geometry.dModel, { rng: stack.rng }));
  }

  /**
   * latent [B, H, W, C], temb [B, D] -> tokens [B, N, D], N = (H/k)(W/k) row-major; skips (when config.skip)
   * [B, H/2^i, W/2^i, channels[i]] for i = 0..log2 k, to hand to the decoder, else [].
   */
  encode(latent: tf.Tensor, temb: tf.Tensor | null): PatchEncoding {
    const { latentChannels: c, patchSize: k, dModel } = this.geometry;
    const [, h, w, channels]: number[] = latent.shape;
    if (latent.rank !== 4 || channels !== c) throw new ShapeError('UNetPatchEncoder latent', `[B, H, W, ${c}]`, latent.shape);
    checkPatchGrid(k, h, w, `${this.field}.patchSize`);
    return tf.tidy(() => {
      const down = this.down.forward(this.convIn.forward(latent), temb);
      const [b, gh, gw]: number[] = down.h.shape;
      const tokens = this.projOut.forward(silu(this.normOut.forward(down.h))).reshape([b, gh * gw, dModel]);
      return { tokens, skips: this.config.skip ? down.skips : [] };
    });
  }

  override describe(): string {
    const { latentChannels: c, patchSize: k, dModel } = this.geometry;
    return `UNetPatchEncoder(${c} channels, ${k}x${k} patches -> ${dModel}, timestep ${this.config.conditioning}${this.config.skip ? ', skips' : ''})`;
  }
}

/** proj_in from D per token -> grid -> up (levels log2 k..0) -> norm_out, SiLU -> conv_out to C. */
export class UNetPatchDecoder extends Module implements PatchDecoder {
  readonly projIn: Linear;
  readonly up: UNetUp;
  readonly normOut: GroupNorm;
  readonly convOut: Conv2d;
  private readonly field: string;
  private readonly top: number;

  constructor(readonly config: UNetPatchConfig, readonly geometry: PatchGeometry, options: PatchBuildOptions = {}) {
    super();
    this.field = options.field ?? 'patch';
    checkPatchGeometry(geometry, this.field);
    checkUNetDepth(config, geometry.patchSize, this.field);
    const stack = stackOptions(config, geometry, options);
    this.top = stack.channels[stack.channels.length - 1];
    this.projIn = this.module('proj_in', new Linear(geometry.dModel, this.top, { rng: stack.rng }));
    this.up = this.module('up', new UNetUp(this.top, { ...stack, skip: config.skip }, this.field));
    this.normOut = this.module('norm_out', new GroupNorm(config.groups, stack.channels[0]));
    this.convOut = this.module('conv_out', new Conv2d(stack.channels[0], geometry.latentChannels, { rng: stack.rng }));
  }

  /** tokens [B, N, D], temb [B, D], skips from the encoder (when config.skip) -> [B, H, W, C] */
  decode(tokens: tf.Tensor, temb: tf.Tensor | null, skips: readonly tf.Tensor[], shape: LatentShape): tf.Tensor {
    const { latentChannels: c, patchSize: k, dModel } = this.geometry;
    if (shape.C !== c) throw new ShapeError('UNetPatchDecoder shape.C', `${c}`, [shape.C]);
    checkPatchGrid(k, shape.H, shape.W, `${this.field}.patchSize`);
    const n = numPatches(shape.H, shape.W, k);
    if (tokens.rank !== 3 || tokens.shape[1] !== n || tokens.shape[2] !== dModel) {
      throw new ShapeError('UNetPatchDecoder tokens', `[B, ${n}, ${dModel}]`, tokens.shape);
    }
    return tf.tidy(() => {
      // Token n is grid cell (n div W/k, n mod W/k): the row-major order the encoder flattened in.
      const grid = this.projIn.forward(tokens).reshape([tokens.shape[0], shape.H / k, shape.W / k, this.top]);
      const h = this.up.forward(grid, temb, this.config.skip ? skips : []);
      return this.convOut.forward(silu(this.normOut.forward(h)));
    });
  }

  override describe(): string {
    const { latentChannels: c, patchSize: k, dModel } = this.geometry;
    return `UNetPatchDecoder(${dModel} -> ${k}x${k} patches of ${c} channels, timestep ${this.config.conditioning}${this.config.skip ? ', skips' : ''})`;
  }
}

patchKinds.define(
  'unet',
  {
    defaults: fieldsOf(DEFAULT_UNET_PATCH),
    validate: checkUNetPatch,
    encoder: (c, g, o) => new UNetPatchEncoder(c, g, o),
    decoder: (c, g, o) => new UNetPatchDecoder(c, g, o),
    // Charged per latent pixel: an upper bound, since the deeper levels run at a quarter of the positions each.
    flops: (_, { height, width, parameters }) => 6 * parameters * height * width,
    doc: 'U-Net down blocks before the transformer, up blocks after (paper §3.2, Tab 7)',
  },
  BUILT_IN,
);
