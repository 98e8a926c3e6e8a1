/**
 * The ResNet block of diffusion U-Nets (Ho et al. 2020; Dhariwal & Nichol 2021 "ADM", `ResBlock` in
 * improved/guided-diffusion), with the timestep conditioning selectable so the U-Net ablation can vary it:
 *  - 'add':          h += Linear(SiLU(temb)) between the two convolutions (DDPM);
 *  - 'scale-shift':  GroupNorm(h) * (1 + scale) + shift, [scale, shift] = Linear(SiLU(temb)) ("AdaGN", ADM §3);
 *  - 'none':         no timestep input (the VAE and VQ autoencoders use this).
 * Parameter names follow diffusers' `ResnetBlock2D` (norm1, conv1, time_emb_proj, norm2, conv2, conv_shortcut).
 */
import { tf } from '../engine/tf';
import { Rng, rng as globalRng } from '../engine/random';
import { check, ConfigError, ShapeError } from '../config';
import { Module } from './module';
import { Linear } from './linear';
import { Conv2d } from './conv';
import { GroupNorm } from './groupnorm';

export const CONDITIONINGS = ['add', 'scale-shift', 'none'] as const;
export type Conditioning = (typeof CONDITIONINGS)[number];

/** SiLU(x) = x * sigmoid(x) (Elfwing et al. 2018; "Swish"), the activation of every diffusion U-Net. */
export function silu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => x.mul(x.sigmoid()));
}

export interface ResBlockOptions {
  /** How the timestep embedding enters (see the file comment). */
  readonly conditioning: Conditioning;
  /** Width D of the timestep embedding; required unless conditioning is 'none'. */
  readonly tembDim?: number;
  /** GroupNorm groups; must divide both channel counts. */
  readonly groups: number;
  readonly rng?: Rng;
}

export class ResBlock extends Module {
  readonly conditioning: Conditioning;
  readonly tembDim: number;
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly timeEmbProj: Linear | null;
  readonly norm2: GroupNorm;
  readonly conv2: Conv2d;
  readonly shortcut: Conv2d | null;

  constructor(readonly inChannels: number, readonly outChannels: number, options: ResBlockOptions) {
    super();
    this.conditioning = check.oneOf('ResBlock.conditioning', options.conditioning, CONDITIONINGS);
    this.tembDim = this.conditioning === 'none' ? 0 : check.positiveInt('ResBlock.tembDim', options.tembDim);
    const r = options.rng ?? globalRng();
    const groups = check.positiveInt('ResBlock.groups', options.groups);
    for (const [field, c] of [['inChannels', inChannels], ['outChannels', outChannels]] as const) {
      check.positiveInt(`ResBlock.${field}`, c);
      if (c % groups !== 0) throw new ConfigError('ResBlock.groups', groups, `a divisor of ${field} (${c})`);
    }
    this.norm1 = this.module('norm1', new GroupNorm(groups, inChannels));
    this.conv1 = this.module('conv1', new Conv2d(inChannels, outChannels, { rng: r }));
    const embOut = this.conditioning === 'scale-shift' ? 2 * outChannels : outChannels;
    this.timeEmbProj = this.conditioning === 'none' ? null : this.module('time_emb_proj', new Linear(this.tembDim, embOut, { rng: r }));
    this.norm2 = this.module('norm2', new GroupNorm(groups, outChannels));
    // Zero-initialised so every block starts as the identity (ADM's `zero_module`): a deep stack then trains
    // from the start like a shallow one.
    this.conv2 = this.module('conv2', new Conv2d(outChannels, outChannels, { std: 0, rng: r }));
    this.shortcut = inChannels === outChannels ? null : this.module('conv_shortcut', new Conv2d(inChannels, outChannels, { kernelSize: 1, rng: r }));
  }

  /** x [B, H, W, in], temb [B, D] (null only when conditioning is 'none') -> [B, H, W, out] */
  forward(x: tf.Tensor, temb: tf.Tensor | null): tf.Tensor {
    if (x.rank !== 4 || x.shape[3] !== this.inChannels) throw new ShapeError('ResBlock input', `[B, H, W, ${this.inChannels}]`, x.shape);
    const proj = this.timeEmbProj;
    if (proj && (temb === null || temb.rank !== 2 || temb.shape[0] !== x.shape[0] || temb.shape[1] !== this.tembDim)) {
      throw new ShapeError('ResBlock temb', `[${x.shape[0]}, ${this.tembDim}]`, temb?.shape ?? []);
    }
    return tf.tidy(() => {
      let h = this.conv1.forward(silu(this.norm1.forward(x)));
      const emb = proj && temb ? proj.forward(silu(temb)).reshape([x.shape[0], 1, 1, -1]) : null;
      if (emb && this.conditioning === 'add') h = h.add(emb);
      h = this.norm2.forward(h);
      if (emb && this.conditioning === 'scale-shift') {
        // ADM §3 (AdaGN): GroupNorm(h) * (1 + y_s) + y_b, with the "1 +" so a zero projection means no change.
        const [scale, shift] = tf.split(emb, 2, 3);
        h = h.mul(scale.add(1)).add(shift);
      }
      h = this.conv2.forward(silu(h));
      return (this.shortcut ? this.shortcut.forward(x) : x).add(h);
    });
  }

  override describe(): string {
    return `ResBlock(${this.inChannels} -> ${this.outChannels}, conditioning ${this.conditioning})`;
  }
}
