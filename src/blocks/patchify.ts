/**
 * Cutting a latent into k x k patches and back (Transfusion §3: "patches ... ordered left-to-right,
 * top-to-bottom"; ViT, Dosovitskiy et al. 2021). Only reshape and transpose, so gradients pass straight through
 * and the round trip is exact.
 *
 * A patch vector is ordered (row in patch, column in patch, channel), the order DiT's `unpatchify` uses, so a
 * linear patch layer trained there reads the same here.
 */
import { tf } from '../engine/tf';
import { ConfigError, ShapeError } from '../config';

/** Patch sizes the paper ablates (Tab 6): each halves the sequence length of the one before it twice over. */
export const PATCH_SIZES = [1, 2, 4, 8] as const;
export type PatchSize = (typeof PATCH_SIZES)[number];

/** Throw unless k is one of PATCH_SIZES; `field` names the config slot in the error. */
export function checkPatchSize(k: unknown, field = 'patchSize'): PatchSize {
  if (!PATCH_SIZES.includes(k as PatchSize)) throw new ConfigError(field, k, PATCH_SIZES.join(', '));
  return k as PatchSize;
}

/** Throw unless k divides both sides of the latent grid, naming the side that it does not divide. */
export function checkPatchGrid(k: number, height: number, width: number, field = 'patchSize'): void {
  if (height % k !== 0) throw new ConfigError(field, k, `a divisor of the latent height H = ${height}`);
  if (width % k !== 0) throw new ConfigError(field, k, `a divisor of the latent width W = ${width}`);
}

/** Number of patches N = (H / k) * (W / k). */
export function numPatches(height: number, width: number, k: number): number {
  return (height / k) * (width / k);
}

/**
 * [B, H, W, C] -> [B, N, k*k*C], N = (H/k)(W/k); patch n covers rows (n div W/k)*k.. and columns
 * (n mod W/k)*k.., i.e. row-major over the patch grid.
 */
export function patchify(latent: tf.Tensor, k: number, field = 'patchSize'): tf.Tensor {
  checkPatchSize(k, field);
  if (latent.rank !== 4) throw new ShapeError('patchify latent', '[B, H, W, C]', latent.shape);
  const [b, h, w, c] = latent.shape;
  checkPatchGrid(k, h, w, field);
  return tf.tidy(() =>
    latent
      .reshape([b, h / k, k, w / k, k, c])
      .transpose([0, 1, 3, 2, 4, 5])
      .reshape([b, numPatches(h, w, k), k * k * c]),
  );
}

/** [B, N, k*k*C] -> [B, H, W, C]: the exact inverse of `patchify`. */
export function unpatchify(tokens: tf.Tensor, k: number, height: number, width: number, channels: number, field = 'patchSize'): tf.Tensor {
  checkPatchSize(k, field);
  checkPatchGrid(k, height, width, field);
  const n = numPatches(height, width, k);
  if (tokens.rank !== 3 || tokens.shape[1] !== n || tokens.shape[2] !== k * k * channels) {
    throw new ShapeError('unpatchify tokens', `[B, ${n}, ${k * k * channels}]`, tokens.shape);
  }
  const b = tokens.shape[0];
  return tf.tidy(() =>
    tokens
      .reshape([b, height / k, width / k, k, k, channels])
      .transpose([0, 1, 3, 2, 4, 5])
      .reshape([b, height, width, channels]),
  );
}
