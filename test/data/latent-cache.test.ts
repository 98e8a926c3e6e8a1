import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '../../src/config';
import { Rng, rng, setSeed } from '../../src/engine/random';
import { LatentCache } from '../../src/data/latent-cache';
import { DataLoader } from '../../src/data/loader';
import { ShapesDataset } from '../../src/data/shapes';

/** A stand-in autoencoder: the per-channel mean of the image, plus its first value. */
function fakeEncode(images: Float32Array[]): Float32Array[] {
  return images.map((im) => {
    const m = [0, 0, 0];
    for (let i = 0; i < im.length; i++) m[i % 3] += im[i] / (im.length / 3);
    return new Float32Array([...m, im[0]]);
  });
}

const ds = new ShapesDataset({ count: 10, size: 8, grid: 1, maxShapes: 1 });

test('fill encodes each item once, batchSize at a time, and only what is missing', async () => {
  const calls: number[] = [];
  const cache = new LatentCache((images) => {
    calls.push(images.length);
    return fakeEncode(images);
  }, { batchSize: 4 });
  await cache.fill(ds, [2, 5, 5, 7]);
  assert.deepEqual(calls, [3]);
  assert.deepEqual(cache.indices(), [2, 5, 7]);
  await cache.fill(ds);
  assert.deepEqual(calls, [3, 4, 3]);
  assert.equal(cache.size, 10);
  await cache.fill(ds);
  assert.deepEqual(calls, [3, 4, 3], 'nothing re-encoded');
  for (let i = 0; i < 10; i++) assert.deepEqual(cache.get(i), fakeEncode([ds.get(i).image])[0]);
});

test('an async encoder works; filling does not advance the global stream', async () => {
  // A dataset that, like MNIST's caption templates, draws from the stream it is given (the global one by default).
  const drawing = { ...ds, length: ds.length, get: (i: number, r: Rng = rng()) => (r.next(), ds.get(i)) };
  setSeed(11);
  const expected = rng().next();
  setSeed(11);
  const cache = new LatentCache(async (images) => fakeEncode(images));
  await cache.fill(drawing);
  assert.equal(rng().next(), expected);
  assert.equal(cache.size, 10);
});

test('save and load round-trip the latents and meta through a raw float32 file and a JSON index', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tl-cache-'));
  try {
    const cache = new LatentCache(fakeEncode, { meta: { autoencoder: 'fake', shape: [1, 1, 4] } });
    await cache.fill(ds, [9, 0, 4]);
    cache.set(3, new Float32Array([1.5, -2.25]));
    const base = path.join(dir, 'shapes');
    cache.save(base);
    const loaded = LatentCache.load(base);
    assert.deepEqual(loaded.indices(), [0, 3, 4, 9]);
    for (const i of loaded.indices()) assert.deepEqual(loaded.get(i), cache.get(i));
    assert.deepEqual(loaded.meta, { autoencoder: 'fake', shape: [1, 1, 4] });
    await assert.rejects(loaded.fill(ds), (e: unknown) => e instanceof ConfigError && e.field === 'latentCache.encode');
    writeFileSync(`${base}.f32`, Buffer.alloc(8));
    assert.throws(() => LatentCache.load(base), /has 8 bytes, the index describes 56/);
    assert.throws(() => LatentCache.load(path.join(dir, 'none')), /none\.json not found/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing entry and a wrong-sized encoder answer fail clearly', async () => {
  const cache = new LatentCache((images) => fakeEncode(images).slice(1));
  assert.throws(() => cache.get(3), /item 3 is not cached/);
  await assert.rejects(cache.fill(ds, [0, 1]), (e: unknown) => e instanceof ConfigError && e.field === 'latentCache.encode' && /one latent per image \(2\)/.test(e.message));
  assert.throws(() => cache.set(-1, new Float32Array(1)), ConfigError);
});

test('a loader fed from the cache puts each item\'s latent in the batch', async () => {
  const cache = new LatentCache(fakeEncode);
  await cache.fill(ds);
  const loader = new DataLoader(ds, { batchSize: 5, sequence: { length: 80, patchesPerImage: 4 } }, { rng: new Rng(0), images: (i) => cache.get(i) });
  for (const batch of loader.epoch(0)) batch.images.forEach((latent, k) => assert.equal(latent, cache.get(batch.items[k])));
});
