/**
 * The patch encoder/decoder interface the model calls (Transfusion §3.2), and the factories that build one from
 * its config through the kinds' registry (`patchKinds`, src/blocks/patch-config.ts; src/registry.ts). Encoder: noisy latent + timestep embedding -> image tokens for the transformer. Decoder: the
 * transformer's output at those positions -> a latent-shaped prediction (noise, velocity or x0: the objective
 * decides what it means, the decoder does not know).
 */
import type { tf } from '../engine/tf';
import { rng as globalRng } from '../engine/random';
import { ConfigError } from '../config';
import { Module } from './module';
import {
  patchKinds,
  PatchBuildOptions,
  PatchConfig,
  PatchConfigInput,
  PatchDecoderConfig,
  PatchEncoderConfig,
  PatchGeometry,
} from './patch-config';
// The built-in kinds, one file each; loading a file defines its kind (src/registry.ts).
export * from './patch-linear';
export * from './patch-unet';

export * from './patch-config';

/** The default of each built-in kind; a partial config is merged into the default of its kind. */
export const PATCH_DEFAULTS = patchKinds.defaultsTable();

/** Latent grid the decoder must produce: height, width, channels. */
export interface LatentShape {
  readonly H: number;
  readonly W: number;
  readonly C: number;
}

/** What an encoder returns; the caller owns every tensor (dispose skips after `decode`). */
export interface PatchEncoding {
  /** [B, N, D], patches row-major (left-to-right, top-to-bottom; paper §3). */
  readonly tokens: tf.Tensor;
  /** Features for the decoder's skip connections; [] when the pair has none. */
  readonly skips: tf.Tensor[];
}

export interface PatchEncoder extends Module {
  readonly config: PatchEncoderConfig;
  readonly geometry: PatchGeometry;
  /** latent [B, H, W, C], temb [B, D] (null allowed when the config has no timestep conditioning) */
  encode(latent: tf.Tensor, temb: tf.Tensor | null): PatchEncoding;
}

export interface PatchDecoder extends Module {
  readonly config: PatchDecoderConfig;
  readonly geometry: PatchGeometry;
  /** tokens [B, N, D], temb [B, D], skips from the paired encoder -> [B, H, W, C] */
  decode(tokens: tf.Tensor, temb: tf.Tensor | null, skips: readonly tf.Tensor[], shape: LatentShape): tf.Tensor;
}

function sameGeometry(a: PatchGeometry, b: PatchGeometry): boolean {
  return a.latentChannels === b.latentChannels && a.patchSize === b.patchSize && a.dModel === b.dModel;
}

function checkInstance<M extends PatchEncoder | PatchDecoder>(m: M, geometry: PatchGeometry, field: string): M {
  if (!sameGeometry(m.geometry, geometry)) {
    throw new ConfigError(field, { ...m.geometry }, `a module built for ${JSON.stringify(geometry)}`);
  }
  return m;
}

/**
 * A config (partial, merged into its kind's default) or a built encoder, for this geometry
 * (docs/ARCHITECTURE.md, 'Slots').
 */
export function makePatchEncoder(
  config: PatchConfigInput | PatchConfig | PatchEncoder,
  geometry: PatchGeometry,
  options: PatchBuildOptions = {},
): PatchEncoder {
  const field = options.field ?? 'patch';
  if (config instanceof Module) return checkInstance(config, geometry, field);
  return patchKinds.make(config, field, (definition, resolved) => definition.encoder(resolved, geometry, { rng: options.rng ?? globalRng(), field }));
}

/** The decoder for the same config: pass the encoder's config so the two halves mirror each other. */
export function makePatchDecoder(
  config: PatchConfigInput | PatchConfig | PatchDecoder,
  geometry: PatchGeometry,
  options: PatchBuildOptions = {},
): PatchDecoder {
  const field = options.field ?? 'patch';
  if (config instanceof Module) return checkInstance(config, geometry, field);
  return patchKinds.make(config, field, (definition, resolved) => definition.decoder(resolved, geometry, { rng: options.rng ?? globalRng(), field }));
}
