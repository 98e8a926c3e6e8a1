/**
 * The two halves of a diffusion U-Net (Ronneberger et al. 2015; Ho et al. 2020; ADM), as stacks of levels:
 * level i runs at resolution H / 2^i with `channels[i]` channels and `blocksPerLevel` ResBlocks.
 *  - `UNetDown`: ResBlocks, then a stride-2 3x3 conv to the next level (ADM `Downsample` with use_conv).
 *  - `UNetUp`:   the mirror: ResBlocks, then nearest-neighbour x2 + 3x3 conv (ADM `Upsample` with use_conv).
 * Transfusion (§3.2, Tab 7) puts the down half before the transformer and the up half after it; the VAE and VQ
 * autoencoders reuse the same stacks without a timestep.
 *
 * Skips: one per level, the down stack's output at that level (after its ResBlocks, before downsampling); the up
 * stack concatenates it on the channel axis before that level's first ResBlock. ADM keeps one skip per block;
 * one per level is enough for the few levels a patch U-Net has (log2 k + 1) and keeps the wiring legible.
 */
import { tf } from '../engine/tf';
import { Rng, rng as globalRng } from '../engine/random';
import { check, ConfigError, ShapeError } from '../config';
import { Module } from './module';
import { Conv2d } from './conv';
import { Conditioning, ResBlock } from './resblock';

export interface UNetStackOptions {
  /** Width of each level; level i runs at H / 2^i, so `channels.length - 1` resolution changes. */
  readonly channels: readonly number[];
  /** ResBlocks per level (at least 1). */
  readonly blocksPerLevel: number;
  /** GroupNorm groups; must divide every entry of `channels`. */
  readonly groups: number;
  readonly conditioning: Conditioning;
  /** Timestep embedding width D; required unless conditioning is 'none'. */
  readonly tembDim?: number;
  readonly rng?: Rng;
}

function checkStack(options: UNetStackOptions, field: string): void {
  if (!Array.isArray(options.channels) || options.channels.length === 0) {
    throw new ConfigError(`${field}.channels`, options.channels, 'a non-empty list of channel widths, one per level');
  }
  check.positiveInt(`${field}.blocksPerLevel`, options.blocksPerLevel);
  const groups = check.positiveInt(`${field}.groups`, options.groups);
  options.channels.forEach((c, i) => {
    check.positiveInt(`${field}.channels.${i}`, c);
    if (c % groups !== 0) throw new ConfigError(`${field}.channels.${i}`, c, `a multiple of groups (${groups})`);
  });
}

/**
 * [B, H, W, C] -> [B, 2H, 2W, C], each pixel copied into a 2x2 block: exact, and differentiable because both tiles
 * stay at rank <= 4 (tfjs's Tile gradient stops there), first doubling columns, then whole rows.
 */
export function upsampleNearest2x(x: tf.Tensor): tf.Tensor {
  if (x.rank !== 4) throw new ShapeError('upsampleNearest2x input', '[B, H, W, C]', x.shape);
  const [b, h, w, c]: number[] = x.shape;
  return tf.tidy(() =>
    x
      .reshape([b * h, w, 1, c])
      .tile([1, 1, 2, 1])
      .reshape([b * h, 1, 2 * w * c])
      .tile([1, 2, 1])
      .reshape([b, 2 * h, 2 * w, c]),
  );
}

/** Nearest x2 then a 3x3 conv, which smooths the blocky copy (ADM `Upsample`, use_conv=True). */
export class Upsample extends Module {
  readonly conv: Conv2d;

  constructor(readonly channels: number, rng: Rng = globalRng()) {
    super();
    this.conv = this.module('conv', new Conv2d(channels, channels, { rng }));
  }

  /** [B, H, W, C] -> [B, 2H, 2W, C] */
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.conv.forward(upsampleNearest2x(x)));
  }
}

/** The contracting half: `levels.{i}.blocks.{j}` and `levels.{i}.downsample` (all levels but the last). */
export class UNetDown extends Module {
  readonly channels: readonly number[];
  private readonly blocks: ResBlock[][] = [];
  private readonly downsamples: Conv2d[] = [];

  constructor(readonly inChannels: number, options: UNetStackOptions, field = 'unet') {
    super();
    checkStack(options, field);
    check.positiveInt(`${field}.inChannels`, inChannels);
    this.channels = [...options.channels];
    const r = options.rng ?? globalRng();
    const block = { conditioning: options.conditioning, tembDim: options.tembDim, groups: options.groups, rng: r };
    let width = inChannels;
    this.channels.forEach((c, i) => {
      const level: ResBlock[] = [];
      for (let j = 0; j < options.blocksPerLevel; j++) {
        level.push(this.module(`levels.${i}.blocks.${j}`, new ResBlock(width, c, block)));
        width = c;
      }
      this.blocks.push(level);
      if (i < this.channels.length - 1) this.downsamples.push(this.module(`levels.${i}.downsample`, new Conv2d(c, c, { stride: 2, rng: r })));
    });
  }

  /** Number of stride-2 steps: the output grid is H / 2^levels. */
  get resolutionSteps(): number {
    return this.channels.length - 1;
  }

  /**
   * x [B, H, W, in], temb [B, D] | null -> h [B, H/2^L, W/2^L, channels[L]] and skips[i] [B, H/2^i, W/2^i, channels[i]]
   * for every level i = 0..L (L = resolutionSteps); the caller owns and disposes the skips.
   */
  forward(x: tf.Tensor, temb: tf.Tensor | null): { h: tf.Tensor; skips: tf.Tensor[] } {
    const steps = this.resolutionSteps;
    const [, h0, w0, c0]: number[] = x.shape;
    if (x.rank !== 4 || c0 !== this.inChannels || h0 % 2 ** steps !== 0 || w0 % 2 ** steps !== 0) {
      throw new ShapeError('UNetDown input', `[B, H, W, ${this.inChannels}] with H and W multiples of ${2 ** steps}`, x.shape);
    }
    return tf.tidy(() => {
      const skips: tf.Tensor[] = [];
      let h = x;
      this.blocks.forEach((level, i) => {
        for (const block of level) h = block.forward(h, temb);
        skips.push(h);
        if (i < steps) h = this.downsamples[i].forward(h);
      });
      return { h, skips };
    });
  }

  override describe(): string {
    return `UNetDown(${this.inChannels} -> [${this.channels.join(', ')}], ${this.blocks[0].length} blocks/level)`;
  }
}

export interface UNetUpOptions extends UNetStackOptions {
  /** Concatenate the down stack's skip of each level before that level's first ResBlock. */
  readonly skip: boolean;
}

/** The expanding half: `levels.{i}.blocks.{j}` for i = L..0 and `levels.{i}.upsample` for i > 0. */
export class UNetUp extends Module {
  readonly channels: readonly number[];
  readonly skip: boolean;
  private readonly blocks: ResBlock[][] = [];
  private readonly upsamples: Upsample[] = [];

  constructor(readonly inChannels: number, options: UNetUpOptions, field = 'unet') {
    super();
    checkStack(options, field);
    check.positiveInt(`${field}.inChannels`, inChannels);
    this.channels = [...options.channels];
    this.skip = options.skip;
    const r = options.rng ?? globalRng();
    const block = { conditioning: options.conditioning, tembDim: options.tembDim, groups: options.groups, rng: r };
    let width = inChannels;
    for (let i = this.channels.length - 1; i >= 0; i--) {
      const c = this.channels[i];
      const level: ResBlock[] = [];
      for (let j = 0; j < options.blocksPerLevel; j++) {
        const extra = j === 0 && this.skip ? c : 0;
        level.push(this.module(`levels.${i}.blocks.${j}`, new ResBlock(width + extra, c, block)));
        width = c;
      }
      this.blocks.push(level);
      if (i > 0) this.upsamples.push(this.module(`levels.${i}.upsample`, new Upsample(c, r)));
    }
  }

  get resolutionSteps(): number {
    return this.channels.length - 1;
  }

  /**
   * h [B, h, w, in], temb [B, D] | null, skips[i] [B, h 2^(L-i), w 2^(L-i), channels[i]] (i = 0..L, only when
   * `skip`) -> [B, h 2^L, w 2^L, channels[0]]
   */
  forward(h: tf.Tensor, temb: tf.Tensor | null, skips: readonly tf.Tensor[] = []): tf.Tensor {
    const steps = this.resolutionSteps;
    if (h.rank !== 4 || h.shape[3] !== this.inChannels) throw new ShapeError('UNetUp input', `[B, h, w, ${this.inChannels}]`, h.shape);
    if (this.skip) {
      if (skips.length !== steps + 1) {
        throw new ShapeError('UNetUp skips (one per level, from a down stack with skip: true)', `a list of ${steps + 1}`, [skips.length]);
      }
      skips.forEach((s, i) => {
        const [b, gh, gw]: number[] = h.shape;
        const [hh, ww] = [gh * 2 ** (steps - i), gw * 2 ** (steps - i)];
        if (s.rank !== 4 || s.shape[0] !== b || s.shape[1] !== hh || s.shape[2] !== ww || s.shape[3] !== this.channels[i]) {
          throw new ShapeError(`UNetUp skip ${i}`, `[${b}, ${hh}, ${ww}, ${this.channels[i]}]`, s.shape);
        }
      });
    }
    return tf.tidy(() => {
      let x = h;
      this.blocks.forEach((level, n) => {
        const i = steps - n;
        if (this.skip) x = tf.concat([x, skips[i]], 3);
        for (const block of level) x = block.forward(x, temb);
        if (i > 0) x = this.upsamples[n].forward(x);
      });
      return x;
    });
  }

  override describe(): string {
    return `UNetUp(${this.inChannels} -> [${[...this.channels].reverse().join(', ')}], ${this.blocks[0].length} blocks/level${this.skip ? ', skips' : ''})`;
  }
}
