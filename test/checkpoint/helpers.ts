/** Shared fixtures for the checkpoint tests: a temp folder, a tiny MNIST model and a ten-item dataset. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { tf } from '../../src/engine/tf';
import { MnistDataset } from '../../src/data/mnist';
import type { ImageDataset } from '../../src/data/image';
import type { RunOverrides } from '../../src/checkpoint/session';

/** A fresh folder removed when the test file ends. */
export function tempFolder(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `tl-${label}-`));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The first ten 16x16 MNIST training digits: with 4 rows a batch and dropLast, 2 batches an epoch. */
export function tenDigits(): ImageDataset {
  const base = new MnistDataset({ size: 16 });
  return { length: 10, height: base.height, width: base.width, channels: base.channels, get: (i, rng) => base.get(i, rng) };
}

/** The `mnist` preset shrunk to d=16, one layer: a few ms a step. Dropout on, so its streams matter. */
export const TINY_RUN: RunOverrides = {
  preset: 'mnist',
  model: { net: { transformer: { dModel: 16, nLayers: 1, nHeads: 2, ffnHidden: 32, dropout: 0.1, attentionDropout: 0.1 } } },
  train: { optimizer: { lr: 3e-3 }, lrSchedule: { kind: 'warmup-cosine', warmupSteps: 2, totalSteps: 8, minRatio: 0.1 }, emaDecay: 0.9 },
  loader: { batchSize: 4 },
  seed: 7,
};

/** The values of a tensor as a plain array (bit-exact comparison with deepEqual). */
export function values(t: tf.Tensor): number[] {
  return Array.from(t.dataSync());
}
