/**
 * The linear patch pair (Transfusion §3.2): "a simple linear layer" maps each k x k x C patch to a D-dimensional
 * token, with the timestep embedding added to every patch vector; a linear layer maps each output token back.
 * The cheapest encoding: k^2 C D parameters each way.
 */
import { tf } from '../engine/tf';
import { rng as globalRng } from '../engine/random';
import { ShapeError } from '../config';
import { Module } from './module';
import { Linear } from './linear';
import { checkPatchGrid, numPatches, patchify, unpatchify } from './patchify';
import { BUILT_IN, fieldsOf } from '../registry';
import { checkLinearPatch, checkPatchGeometry, DEFAULT_LINEAR_PATCH, LinearPatchConfig, PatchBuildOptions, PatchGeometry, patchKinds } from './patch-config';
import type { LatentShape, PatchDecoder, PatchEncoder, PatchEncoding } from './patch';

function checkTemb(temb: tf.Tensor | null, batch: number, dModel: number, what: string): tf.Tensor {
  if (temb === null || temb.rank !== 2 || temb.shape[0] !== batch || temb.shape[1] !== dModel) {
    throw new ShapeError(what, `[${batch}, ${dModel}]`, temb?.shape ?? []);
  }
  return temb;
}

export class LinearPatchEncoder extends Module implements PatchEncoder {
  readonly proj: Linear;
  private readonly field: string;

  constructor(readonly config: LinearPatchConfig, readonly geometry: PatchGeometry, options: PatchBuildOptions = {}) {
    super();
    this.field = options.field ?? 'patch';
    const { latentChannels: c, patchSize: k, dModel } = checkPatchGeometry(geometry, this.field);
    this.proj = this.module('proj', new Linear(k * k * c, dModel, { rng: options.rng ?? globalRng() }));
  }

  /** latent [B, H, W, C], temb [B, D] (may be null when conditioning is 'none') -> tokens [B, N, D], no skips */
  encode(latent: tf.Tensor, temb: tf.Tensor | null): PatchEncoding {
    const { latentChannels: c, patchSize: k, dModel } = this.geometry;
    const [b, h, w, channels]: number[] = latent.shape;
    if (latent.rank !== 4 || channels !== c) throw new ShapeError('LinearPatchEncoder latent', `[B, H, W, ${c}]`, latent.shape);
    checkPatchGrid(k, h, w, `${this.field}.patchSize`);
    const t = this.config.conditioning === 'add' ? checkTemb(temb, b, dModel, 'LinearPatchEncoder temb') : null;
    return tf.tidy(() => {
      const tokens = this.proj.forward(patchify(latent, k));
      // Paper §3.2: the timestep embedding is added to every patch vector.
      return { tokens: t ? tokens.add(t.expandDims(1)) : tokens, skips: [] };
    });
  }

  override describe(): string {
    const { latentChannels: c, patchSize: k, dModel } = this.geometry;
    return `LinearPatchEncoder(${k}x${k}x${c} -> ${dModel}, timestep ${this.config.conditioning})`;
  }
}

export class LinearPatchDecoder extends Module implements PatchDecoder {
  readonly proj: Linear;
  private readonly field: string;

  constructor(readonly config: LinearPatchConfig, readonly geometry: PatchGeometry, options: PatchBuildOptions = {}) {
    super();
    this.field = options.field ?? 'patch';
    const { latentChannels: c, patchSize: k, dModel } = checkPatchGeometry(geometry, this.field);
    this.proj = this.module('proj', new Linear(dModel, k * k * c, { rng: options.rng ?? globalRng() }));
  }

  /** tokens [B, N, D] -> [B, H, W, C]; temb and skips are unused (see LinearPatchConfig.conditioning). */
  decode(tokens: tf.Tensor, _temb: tf.Tensor | null, _skips: readonly tf.Tensor[], shape: LatentShape): tf.Tensor {
    const { latentChannels: c, patchSize: k, dModel } = this.geometry;
    if (shape.C !== c) throw new ShapeError('LinearPatchDecoder shape.C', `${c}`, [shape.C]);
    checkPatchGrid(k, shape.H, shape.W, `${this.field}.patchSize`);
    const n = numPatches(shape.H, shape.W, k);
    if (tokens.rank !== 3 || tokens.shape[1] !== n || tokens.shape[2] !== dModel) {
      throw new ShapeError('LinearPatchDecoder tokens', `[B, ${n}, ${dModel}]`, tokens.shape);
    }
    return tf.tidy(() => unpatchify(this.proj.forward(tokens), k, shape.H, shape.W, c));
  }

  override describe(): string {
    const { latentChannels: c, patchSize: k, dModel } = this.geometry;
    return `LinearPatchDecoder(${dModel} -> ${k}x${k}x${c})`;
  }
}

patchKinds.define(
  'linear',
  {
    defaults: fieldsOf(DEFAULT_LINEAR_PATCH),
    validate: checkLinearPatch,
    encoder: (c, g, o) => new LinearPatchEncoder(c, g, o),
    decoder: (c, g, o) => new LinearPatchDecoder(c, g, o),
    // Each weight is applied once per patch (and the encoder's timestep add is free): 6 FLOPs per weight and use.
    flops: (_, { geometry, height, width, parameters }) => 6 * parameters * numPatches(height, width, geometry.patchSize),
    doc: 'one Linear per patch each way (paper §3.2)',
  },
  BUILT_IN,
);
