/**
 * Training data for the exported PyTorch project's train.py: batches built by the lab's own loader (caption order,
 * caption dropout, packing, the LM targets), written as safetensors shards. Python then needs no tokenizer or
 * sequence builder of its own, and trains on exactly the rows the lab would have.
 *
 * Each batch is one global batch of train.py: every rank reads it and trains on its slice of the rows, so a step
 * is the same whatever the number of ranks (train.py's doc comment says how). Shard k holds batches k, k + shards,
 * k + 2 shards, ..., each under its index: `<i>.tokens`, `<i>.targets`,
 * `<i>.positions`, `<i>.image`, `<i>.document` [B, L] int32; `<i>.slots` [S, 2] int32 (row, first patch position);
 * `<i>.image_first` [S] uint8; `<i>.latents` [S, C, H, W] float32 (NCHW, PyTorch's convention).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../engine/tf';
import { check } from '../config';
import { Rng } from '../engine/random';
import { DataLoader } from '../data/loader';
import type { ImageDataset } from '../data/image';
import type { MixedBatch } from '../data/sequence';
import { stackLatents } from '../model/objective';
import type { Transfusion } from '../model/transfusion';
import { writeSafetensors, type TensorSource } from '../checkpoint/safetensors';

export interface ShardOptions {
  /** Batches to write in all (default 64). */
  readonly batches?: number;
  /** Files to spread them over (default 4); train.py reads them in order, one in memory at a time. */
  readonly shards?: number;
  /** Rows per batch (default 16). */
  readonly batchSize?: number;
  /** The loader's seed: the data order and each pair's layout (default 0). */
  readonly seed?: number;
}

function bytes(a: Int32Array | Float32Array | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** One batch's tensors under `prefix`. */
export function batchTensors(batch: MixedBatch, model: Transfusion, prefix = ''): Record<string, TensorSource> {
  const { batchSize: B, length: L } = batch;
  const S = batch.slots.length;
  const { channels: C, height: H, width: W } = model.config.net.latent;
  const ints = (a: ArrayLike<number>, shape: number[]): TensorSource => ({ dtype: 'I32', shape, data: bytes(Int32Array.from(a)) });
  const latents = S > 0 ? tf.tidy(() => stackLatents(batch, model.config.net.latent).transpose([0, 3, 1, 2]).dataSync() as Float32Array) : new Float32Array(0);
  return {
    [`${prefix}tokens`]: ints(batch.tokens, [B, L]),
    [`${prefix}targets`]: ints(batch.targets, [B, L]),
    [`${prefix}positions`]: ints(batch.positions, [B, L]),
    [`${prefix}image`]: ints(batch.layouts.flatMap((l) => [...l.image]), [B, L]),
    [`${prefix}document`]: ints(batch.layouts.flatMap((l) => [...l.document]), [B, L]),
    [`${prefix}slots`]: ints(batch.slots.flatMap((s) => [s.row, s.start]), [S, 2]),
    [`${prefix}image_first`]: { dtype: 'U8', shape: [S], data: Uint8Array.from(batch.slots, (s) => (s.imageFirst ? 1 : 0)) },
    [`${prefix}latents`]: { dtype: 'F32', shape: [S, C, H, W], data: bytes(latents) },
  };
}

/**
 * Write `batches` of `dataset` as the model's sequences into `outDir/shard-<k>.safetensors`; returns the paths.
 * The dataset's images must be the model's latents (pixel space: the identity autoencoder, as trainRun trains).
 */
export function exportShards(model: Transfusion, dataset: ImageDataset, outDir: string, options: ShardOptions = {}): string[] {
  const batches = check.positiveInt('exportShards.batches', options.batches ?? 64);
  const shards = check.positiveInt('exportShards.shards', options.shards ?? 4);
  const loader = new DataLoader(dataset, { batchSize: options.batchSize ?? 16, sequence: model.config.sequence }, { rng: new Rng(options.seed ?? 0) });
  const files: Record<string, TensorSource>[] = Array.from({ length: shards }, () => ({}));
  const source = loader.batches();
  for (let i = 0; i < batches; i++) Object.assign(files[i % shards], batchTensors(source.next().value as MixedBatch, model, `${i}.`));
  mkdirSync(outDir, { recursive: true });
  return files.map((tensors, k) => {
    const path = join(outDir, `shard-${k}.safetensors`);
    writeSafetensors(path, tensors, { format: 'transfusion-lab/batches', latent_layout: 'NCHW' });
    return path;
  });
}
