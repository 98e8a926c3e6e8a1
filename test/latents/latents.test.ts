import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { initEngine } from '../../src/engine/engine';
import { ConfigError, ShapeError } from '../../src/config';
import { MnistDataset } from '../../src/data/mnist';
import { firstItems } from '../../src/data/image';
import { LatentCache } from '../../src/data/latent-cache';
import type { LoaderBatch } from '../../src/data/loader';
import { makeAutoencoder, VAE, VQAutoencoder, type Autoencoder, type AutoencoderConfigInput } from '../../src/blocks/autoencoder';
import { Transfusion } from '../../src/model/transfusion';
import { resolveConfig } from '../../src/model/config';
import {
  decodeLatents,
  encodeDataset,
  imageBatch,
  latentLoader,
  latentGridOf,
  stackCached,
  trainAutoencoder,
} from '../../src/latents';

before(async () => {
  await initEngine();
});

const VAE_16: AutoencoderConfigInput = { kind: 'vae', imageChannels: 1, downsample: 2, channels: [8, 16], groups: 4, latentChannels: 4, klWeight: 1e-4 };

/** Count the images an autoencoder's encode sees. */
function countEncodes(ae: Autoencoder): { images: number } {
  const seen = { images: 0 };
  const encode = ae.encode.bind(ae);
  ae.encode = (images, options) => {
    seen.images += images.shape[0];
    return encode(images, options);
  };
  return seen;
}

const train = new MnistDataset({ size: 16 });
const heldout = new MnistDataset({ size: 16, split: 'heldout' });

test('a VAE trained for 50 steps reconstructs held-out MNIST far better than the mean image; scale fitted; no leaks', async () => {
  const before = tf.memory().numTensors;
  const reports: number[] = [];
  const counts: number[] = [];
  const { autoencoder, history, stoppedBy } = await trainAutoencoder(VAE_16, train, {
    steps: 50, batchSize: 16, lr: 3e-3, scaleImages: 64, seed: 1,
    onStep: (r) => {
      reports.push(r.step);
      counts.push(tf.memory().numTensors);
    },
  });
  assert.equal(stoppedBy, 'done');
  assert.equal(history.length, 50);
  assert.deepEqual(reports, Array.from({ length: 50 }, (_, i) => i));
  assert.ok('recon' in history[0].breakdown && 'kl' in history[0].breakdown);
  // Each step's image batch is freed with its gradients: the count is flat once the optimiser state exists.
  assert.equal(counts[49], counts[1], `tensors after step 2: ${counts[1]}, after step 50: ${counts[49]}`);
  // The trainer and its optimiser state are gone: only the autoencoder's own parameters remain.
  assert.equal(tf.memory().numTensors, before + autoencoder.parameters().length);

  const x = imageBatch(heldout, Array.from({ length: 128 }, (_, i) => i));
  const [baseline, mse] = tf.tidy(() => {
    // The identity-to-mean baseline: every image replaced by the mean held-out image.
    const base = x.sub(x.mean(0, true)).square().mean().dataSync()[0];
    const recon = decodeLatents(autoencoder, autoencoder.encode(x));
    return [base, recon.sub(x).square().mean().dataSync()[0]];
  });
  assert.ok(mse < 0.6 * baseline, `reconstruction MSE ${mse.toFixed(4)} vs mean-image MSE ${baseline.toFixed(4)}`);
  const vae = autoencoder as VAE;
  assert.notEqual(vae.scalingFactor, 1);
  assert.equal(vae.config.scalingFactor, vae.scalingFactor);
  const std = tf.tidy(() => Math.sqrt(tf.moments(vae.encode(x)).variance.dataSync()[0]));
  assert.ok(std > 0.6 && std < 1.6, `latent std after scaling ${std}`);
  x.dispose();
  autoencoder.dispose();
});

test('the identity autoencoder comes back untrained; a VQ codebook starts at encoder outputs of the first batch', async () => {
  const id = await trainAutoencoder({ kind: 'identity', imageChannels: 1 }, train, { steps: 10 });
  assert.equal(id.history.length, 0);

  const four = firstItems(train, 4);
  const vqConfig: AutoencoderConfigInput = { kind: 'vq', imageChannels: 1, downsample: 4, channels: [8, 8, 8], groups: 4, codebookSize: 16, codeDim: 3 };
  const { autoencoder } = await trainAutoencoder(vqConfig, four, { steps: 0, batchSize: 4 });
  const vq = autoencoder as VQAutoencoder;
  // The batch is the whole 4-image dataset: 4 x 4 x 4 = 64 encoder vectors, 16 of them distinct picks.
  const vectors = tf.tidy(() => vq.encoder.forward(imageBatch(four, [0, 1, 2, 3])).reshape([-1, 3]).arraySync() as number[][]);
  const codes = vq.quantizer.codebook.arraySync() as number[][];
  const rowsOf = (m: number[][]) => new Set(m.map((r) => r.join(',')));
  const all = rowsOf(vectors);
  for (const c of codes) assert.ok(all.has(c.join(',')), `code ${c} is not an encoder output`);
  assert.equal(rowsOf(codes).size, 16, 'drawn without replacement');
  // 'uniform' keeps the quantizer's own init, inside (-1/K, 1/K).
  const uniform = (await trainAutoencoder(vqConfig, four, { steps: 0, codebookInit: 'uniform' })).autoencoder as VQAutoencoder;
  assert.ok((uniform.quantizer.codebook.arraySync() as number[][]).flat().every((v) => Math.abs(v) <= 1 / 16));
  vq.dispose();
  uniform.dispose();
});

test('encodeDataset caches ae.encode per item; a second call hits the cache; only missing items are encoded', async () => {
  const ae = makeAutoencoder({ ...VAE_16, scalingFactor: 0.5 }, { rng: new Rng(3) });
  const seen = countEncodes(ae);
  const items = firstItems(train, 20);
  const before = tf.memory().numTensors;
  const cache = await encodeDataset(ae, items, { batchSize: 8, indices: [...Array(12).keys()] });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(seen.images, 12);
  assert.deepEqual(cache.meta.shape, [8, 8, 4]);
  // Exact oracle: the posterior mean times the scaling factor, as encode gives it.
  const want = tf.tidy(() => ae.encode(imageBatch(items, [3, 7])).dataSync());
  const got = stackCached(cache, [3, 7], latentGridOf(ae, items)).dataSync();
  got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-5, `latent value ${i}: ${v} vs ${want[i]}`));
  seen.images = 0;
  await encodeDataset(ae, items, { cache, indices: [...Array(12).keys()] });
  assert.equal(seen.images, 0, 'the cache served all 12');
  seen.images = 0;
  await encodeDataset(ae, items, { cache });
  assert.equal(seen.images, 8, 'items 12..19 only');
  assert.equal(cache.size, 20);
  ae.dispose();
});

test('latentLoader yields batches of cached latents that a latent Transfusion trains on; a miss is encoded once', async () => {
  const ae = makeAutoencoder(VAE_16, { rng: new Rng(4) });
  const items = firstItems(train, 12);
  const model = Transfusion.create('mnist', {
    net: { transformer: { dModel: 32, nLayers: 1, nHeads: 2, ffnHidden: 64 }, latent: { channels: 4, height: 8, width: 8 } },
    sequence: { length: 48 },
  }, new Rng(5));
  const cache = await encodeDataset(ae, items);
  const seen = countEncodes(ae);
  const batch = latentLoader(model, ae, items, { cache, loader: { batchSize: 4 }, rng: new Rng(6) }).epoch(0).next().value as LoaderBatch;
  assert.equal(seen.images, 0, 'every latent came from the cache');
  assert.equal(batch.batchSize, 4);
  assert.equal(batch.length, 48);
  batch.images.forEach((latent, k) => assert.equal(latent, cache.get(batch.items[k])));
  const before = tf.memory().numTensors;
  const out = model.loss(batch, new Rng(7));
  assert.ok(Number.isFinite(out.total.dataSync()[0]) && out.breakdown.diffusion.dataSync()[0] > 0);
  tf.dispose([out.total, ...Object.values(out.breakdown)]);
  assert.equal(tf.memory().numTensors, before);

  // An empty cache is filled lazily, one encode per item drawn, with the values encodeDataset gives.
  const lazy = new LatentCache();
  const loader = latentLoader(model.config, ae, items, { cache: lazy, loader: { batchSize: 4 }, rng: new Rng(6) });
  for (const b of loader.epoch(0)) assert.equal(b.images.length, 4);
  assert.equal(seen.images, 12);
  assert.equal(lazy.size, 12);
  for (const b of loader.epoch(1)) assert.equal(b.images.length, 4);
  assert.equal(seen.images, 12, 'epoch 1 reads the cache only');
  for (let i = 0; i < 12; i++) lazy.get(i).forEach((v, j) => assert.ok(Math.abs(v - cache.get(i)[j]) < 1e-4));
  model.dispose();
  ae.dispose();
});

test('a latent shape mismatch fails naming the field, the value and what would fit', async () => {
  const ae = makeAutoencoder(VAE_16, { rng: new Rng(8) });
  const config = (latent: { channels: number; height: number; width: number }) => resolveConfig('mnist', { net: { latent } });
  const cases: Array<[() => unknown, RegExp]> = [
    [() => latentLoader(config({ channels: 3, height: 8, width: 8 }), ae, train), /net\.latent\.channels: got 3; allowed: 4 \(the autoencoder's latent channels\)/],
    [() => latentLoader(config({ channels: 4, height: 16, width: 8 }), ae, train), /net\.latent\.height: got 16; allowed: 8/],
    [() => latentLoader(config({ channels: 4, height: 8, width: 4 }), ae, train), /net\.latent\.width: got 4; allowed: 8/],
    [() => latentLoader(config({ channels: 4, height: 8, width: 8 }), ae, train, { loader: { sequence: { patchesPerImage: 64 } } }), /loader\.sequence\.patchesPerImage: got 64; allowed: 16/],
    [() => latentLoader(config({ channels: 4, height: 8, width: 8 }), ae, new MnistDataset({ size: 16, channels: 3 })), /autoencoder\.imageChannels: got 1; allowed: 3/],
    [() => latentLoader(config({ channels: 4, height: 8, width: 8 }), ae, train, { cache: new LatentCache(null, { meta: { shape: [4, 4, 4] } }) }), /cache\.meta\.shape: got \[4,4,4\]; allowed: \[8, 8, 4\]/],
    [() => latentLoader(config({ channels: 4, height: 8, width: 8 }), ae, new MnistDataset({ size: 15 })), /autoencoder\.downsample: got 2/],
  ];
  for (const [f, re] of cases) assert.throws(f, (e: unknown) => e instanceof ConfigError && re.test((e as Error).message), String(re));
  await assert.rejects(encodeDataset(ae, new MnistDataset({ size: 16, channels: 3 })), ConfigError);
  ae.dispose();
});

test('decodeLatents: [N, h, w, c] -> [N, H, W, C] in chunks equal to one decode; bad channels are a shape error; no leaks', () => {
  const ae = makeAutoencoder(VAE_16, { rng: new Rng(9) });
  const z = new Rng(10).randomNormal([7, 8, 8, 4]);
  const before = tf.memory().numTensors;
  const whole = ae.decode(z);
  const chunked = decodeLatents(ae, z, { batchSize: 3 });
  assert.deepEqual(chunked.shape, [7, 16, 16, 1]);
  const [a, b] = [whole.dataSync(), chunked.dataSync()];
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-5));
  tf.dispose([whole, chunked]);
  assert.equal(tf.memory().numTensors, before);
  const bad = tf.zeros([2, 8, 8, 3]);
  assert.throws(() => decodeLatents(ae, bad), (e: unknown) => e instanceof ShapeError && /\[N, h, w, 4\]/.test((e as Error).message));
  tf.dispose([z, bad]);
  ae.dispose();
});
