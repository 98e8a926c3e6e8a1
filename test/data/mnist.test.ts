import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config';
import { Rng } from '../../src/engine/random';
import { DIGIT_WORDS, MNIST_COUNT, MnistDataset, canonicalCaption, loadMnistPixels } from '../../src/data/mnist';
import { resizeArea } from '../../src/data/image';

test('the package ships 10,000 real digits with the documented per-digit counts and MNIST pixel statistics', () => {
  const { pixels, labels } = loadMnistPixels();
  assert.equal(labels.length, MNIST_COUNT);
  assert.equal(pixels.length, MNIST_COUNT * 784);
  const counts = Array(10).fill(0);
  const ink = Array(10).fill(0);
  let sum = 0;
  let sq = 0;
  for (let i = 0; i < MNIST_COUNT; i++) {
    counts[labels[i]]++;
    for (let k = 0; k < 784; k++) {
      const v = pixels[i * 784 + k];
      sum += v;
      sq += v * v;
      ink[labels[i]] += v;
    }
  }
  assert.deepEqual(counts, [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
  // MNIST's well-known normalisation constants are mean 0.1307, std 0.3081 (training set); these 10k agree.
  const mean = sum / pixels.length;
  const std = Math.sqrt(sq / pixels.length - mean * mean);
  assert.ok(Math.abs(mean - 0.1307) < 0.003, `mean ${mean}`);
  assert.ok(Math.abs(std - 0.3081) < 0.003, `std ${std}`);
  // Ones carry the least ink and zeros the most: a sanity check that labels match pixels.
  const perDigit = ink.map((v, d) => v / counts[d]);
  assert.equal(perDigit.indexOf(Math.min(...perDigit)), 1);
  assert.equal(perDigit.indexOf(Math.max(...perDigit)), 0);
});

test('a nearest-class-mean classifier fit on train labels the held-out digits (labels are real)', () => {
  const train = new MnistDataset({ padding: 0, size: 28 });
  const heldout = new MnistDataset({ split: 'heldout', padding: 0, size: 28 });
  const r = new Rng(0);
  const means = Array.from({ length: 10 }, () => new Float64Array(784));
  const n = Array(10).fill(0);
  for (let i = 0; i < train.length; i++) {
    const s = train.get(i, r);
    n[s.label as number]++;
    for (let k = 0; k < 784; k++) means[s.label as number][k] += s.image[k];
  }
  means.forEach((m, d) => m.forEach((_, k) => (m[k] /= n[d])));
  let correct = 0;
  for (let i = 0; i < heldout.length; i++) {
    const x = heldout.get(i, r).image;
    const dist = means.map((m) => m.reduce((acc, v, k) => acc + (v - x[k]) ** 2, 0));
    if (dist.indexOf(Math.min(...dist)) === heldout.label(i)) correct++;
  }
  // Nearest class mean reaches about 80% on MNIST; chance is 10%.
  assert.ok(correct / heldout.length > 0.75, `accuracy ${correct / heldout.length}`);
});

test('the split is 9,000 / 1,000, disjoint, fixed by splitSeed and independent of the global seed', () => {
  const train = new MnistDataset();
  const heldout = new MnistDataset({ split: 'heldout' });
  assert.equal(train.length, 9000);
  assert.equal(heldout.length, 1000);
  const seen = new Set<number>();
  for (let i = 0; i < train.length; i++) seen.add(train.sourceIndex(i));
  for (let i = 0; i < heldout.length; i++) seen.add(heldout.sourceIndex(i));
  assert.equal(seen.size, MNIST_COUNT);
  assert.equal(new MnistDataset({ split: 'heldout' }).sourceIndex(17), heldout.sourceIndex(17));
  assert.notEqual(new MnistDataset({ split: 'heldout', splitSeed: 1 }).sourceIndex(0), heldout.sourceIndex(0));
  assert.equal(new MnistDataset({ split: 'all' }).length, MNIST_COUNT);
});

test('pixels: [-1, 1] with ink = 1, padded 28 -> 32 with background, 16 is the exact 2x2 mean, 3 channels copy grey', () => {
  const { pixels } = loadMnistPixels();
  const ds = new MnistDataset({ split: 'all' });
  const s = ds.get(5, new Rng(0));
  const src = ds.sourceIndex(5);
  assert.deepEqual([s.height, s.width, s.channels, s.image.length], [32, 32, 1, 1024]);
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      const inside = y >= 2 && y < 30 && x >= 2 && x < 30;
      const want = inside ? 2 * pixels[src * 784 + (y - 2) * 28 + (x - 2)] - 1 : -1;
      assert.ok(Math.abs(s.image[y * 32 + x] - want) < 1e-6);
    }
  }
  const small = new MnistDataset({ split: 'all', size: 16 }).get(5, new Rng(0));
  assert.equal(small.image.length, 256);
  const q = (y: number, x: number): number => s.image[y * 32 + x];
  assert.ok(Math.abs(small.image[7 * 16 + 9] - (q(14, 18) + q(14, 19) + q(15, 18) + q(15, 19)) / 4) < 1e-6);
  assert.deepEqual(small.image, resizeArea(s.image, 32, 32, 1, 16, 16));
  const rgb = new MnistDataset({ split: 'all', channels: 3 }).get(5, new Rng(0));
  assert.equal(rgb.channels, 3);
  for (let p = 0; p < 1024; p++) for (let c = 0; c < 3; c++) assert.equal(rgb.image[p * 3 + c], s.image[p]);
});

test('captions come from the templates via the Rng; the canonical caption names the digit', () => {
  const ds = new MnistDataset();
  const draw = (seed: number): string[] => {
    const r = new Rng(seed);
    return Array.from({ length: 50 }, (_, i) => ds.get(i, r).caption);
  };
  const captions = draw(1);
  assert.deepEqual(captions, draw(1));
  assert.ok(new Set(captions).size > 10);
  captions.forEach((c, i) => {
    const d = ds.label(i);
    assert.ok(c.includes(DIGIT_WORDS[d]) || c.includes(String(d)), `${c} for ${d}`);
  });
  assert.equal(canonicalCaption(7), 'the digit 7');
  const fixed = new MnistDataset({ templates: ['{word} ({digit})'] });
  assert.equal(fixed.get(0, new Rng(0)).caption, `${DIGIT_WORDS[fixed.label(0)]} (${fixed.label(0)})`);
});

test('bad configs and indices fail naming the field or index', () => {
  assert.throws(() => new MnistDataset({ split: 'test' as 'train' }), (e: unknown) => e instanceof ConfigError && e.field === 'mnist.split');
  assert.throws(() => new MnistDataset({ heldout: 10001 }), (e: unknown) => e instanceof ConfigError && e.field === 'mnist.heldout');
  assert.throws(() => new MnistDataset({ templates: [] }), (e: unknown) => e instanceof ConfigError && e.field === 'mnist.templates');
  assert.throws(() => new MnistDataset({ channels: 2 as 1 }), (e: unknown) => e instanceof ConfigError && e.field === 'mnist.channels');
  assert.throws(() => new MnistDataset().get(9000), /index 9000 is outside \[0, 8999\]/);
});
