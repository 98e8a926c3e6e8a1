/**
 * The convolutional encoder and decoder of the VAE and the VQ autoencoder: the U-Net halves without timestep or
 * skips (Esser et al. 2021 "taming transformers" and LDM use this layout, with attention in the middle block,
 * left out here to stay cheap on a CPU). Parameter names follow theirs: conv_in, down/up levels, norm_out,
 * conv_out.
 */
import { tf } from '../engine/tf';
import { Rng } from '../engine/random';
import { ShapeError } from '../config';
import { Module } from './module';
import { Conv2d } from './conv';
import { GroupNorm } from './groupnorm';
import { silu } from './resblock';
import { UNetDown, UNetStackOptions, UNetUp } from './unet';
import { ConvAutoencoderShape } from './autoencoder-config';

function stack(shape: ConvAutoencoderShape, rng: Rng): UNetStackOptions {
  return {
    channels: shape.channels.slice(0, Math.log2(shape.downsample) + 1),
    blocksPerLevel: shape.blocksPerLevel,
    groups: shape.groups,
    conditioning: 'none',
    rng,
  };
}

/** Throw unless `images` is [B, H, W, channels] with H and W multiples of f. */
export function checkImages(images: tf.Tensor, channels: number, f: number, what: string): void {
  const [, h, w, c]: number[] = images.shape;
  if (images.rank !== 4 || c !== channels || h % f !== 0 || w % f !== 0) {
    throw new ShapeError(what, `[B, H, W, ${channels}] with H and W multiples of ${f}`, images.shape);
  }
}

/** images [B, H, W, Cimg] -> [B, H/f, W/f, outChannels]: conv_in, down levels, norm_out, SiLU, conv_out. */
export class ConvEncoder extends Module {
  readonly convIn: Conv2d;
  readonly down: UNetDown;
  readonly normOut: GroupNorm;
  readonly convOut: Conv2d;

  constructor(readonly shape: ConvAutoencoderShape, readonly outChannels: number, rng: Rng, field: string) {
    super();
    const s = stack(shape, rng);
    const top = s.channels[s.channels.length - 1];
    this.convIn = this.module('conv_in', new Conv2d(shape.imageChannels, s.channels[0], { rng }));
    this.down = this.module('down', new UNetDown(s.channels[0], s, field));
    this.normOut = this.module('norm_out', new GroupNorm(shape.groups, top));
    this.convOut = this.module('conv_out', new Conv2d(top, outChannels, { rng }));
  }

  forward(images: tf.Tensor): tf.Tensor {
    checkImages(images, this.shape.imageChannels, this.shape.downsample, 'ConvEncoder images');
    return tf.tidy(() => {
      const { h } = this.down.forward(this.convIn.forward(images), null);
      return this.convOut.forward(silu(this.normOut.forward(h)));
    });
  }
}

/** latents [B, h, w, inChannels] -> [B, h f, w f, Cimg]: conv_in, up levels, norm_out, SiLU, conv_out. */
export class ConvDecoder extends Module {
  readonly convIn: Conv2d;
  readonly up: UNetUp;
  readonly normOut: GroupNorm;
  readonly convOut: Conv2d;

  constructor(readonly shape: ConvAutoencoderShape, readonly inChannels: number, rng: Rng, field: string) {
    super();
    const s = stack(shape, rng);
    const top = s.channels[s.channels.length - 1];
    this.convIn = this.module('conv_in', new Conv2d(inChannels, top, { rng }));
    this.up = this.module('up', new UNetUp(top, { ...s, skip: false }, field));
    this.normOut = this.module('norm_out', new GroupNorm(shape.groups, s.channels[0]));
    this.convOut = this.module('conv_out', new Conv2d(s.channels[0], shape.imageChannels, { rng }));
  }

  forward(latents: tf.Tensor): tf.Tensor {
    if (latents.rank !== 4 || latents.shape[3] !== this.inChannels) throw new ShapeError('ConvDecoder latents', `[B, h, w, ${this.inChannels}]`, latents.shape);
    return tf.tidy(() => this.convOut.forward(silu(this.normOut.forward(this.up.forward(this.convIn.forward(latents), null)))));
  }
}
