import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { initEngine } from '../../src/engine/engine';
import { ConfigError, ShapeError } from '../../src/config';
import { DigitClassifier, classifierConfig } from '../../src/eval/classifier';
import { classifierAccuracy, mnistHeldoutDigits, mnistTrainDigits, trainClassifier } from '../../src/eval/classifier-train';
import { cachedClassifier, loadClassifier, saveClassifier } from '../../src/eval/classifier-cache';
import { digitBatch } from '../../src/eval/digits';
import { MnistDataset } from '../../src/data/mnist';

before(async () => {
  await initEngine();
});

/** A narrower net than the default, so the test trains in seconds; the default reaches ~98%. */
const SMALL = { conv: [16, 32, 32], features: 64 };

test('the digit arrays hold the 16 x 16 splits exactly as the dataset gives them', () => {
  const train = mnistTrainDigits();
  const heldout = mnistHeldoutDigits();
  assert.equal(train.length, 9000);
  assert.equal(heldout.length, 1000);
  const ds = new MnistDataset({ size: 16, split: 'heldout' });
  for (const i of [0, 517, 999]) {
    assert.deepEqual(heldout.pixels.subarray(i * 256, (i + 1) * 256), ds.get(i, new Rng(0)).image);
    assert.equal(heldout.labels[i], ds.label(i));
  }
  const batch = digitBatch(heldout, [999, 0]);
  assert.deepEqual(batch.shape, [2, 16, 16, 1]);
  assert.deepEqual(batch.dataSync().subarray(0, 256), heldout.pixels.subarray(999 * 256, 1000 * 256));
  batch.dispose();
  assert.throws(() => digitBatch(heldout, [1000]), /index 1000 is outside \[0, 1000\)/);
});

test('classifier: shapes, features are the post-ReLU penultimate layer, config and shape errors', () => {
  const c = new DigitClassifier(SMALL, new Rng(0));
  const x = tf.randomUniform([3, 16, 16, 1], -1, 1);
  const before = tf.memory().numTensors;
  const out = c.forward(x);
  const rows = c.features(x);
  const predicted = c.predict(x);
  assert.equal(tf.memory().numTensors, before + 2, 'forward returns two tensors; features and predict leave none');
  assert.deepEqual(out.logits.shape, [3, 10]);
  assert.deepEqual(out.features.shape, [3, 64]);
  const logits = out.logits.arraySync() as number[][];
  const features = out.features.dataSync();
  assert.ok(features.every((v) => v >= 0), 'post-ReLU');
  // The logits are the last layer applied to the features, and predict is their argmax.
  const again = tf.tidy(() => c.out.forward(out.features).arraySync() as number[][]);
  again.forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - logits[i][j]) < 1e-5)));
  logits.forEach((row, i) => assert.equal(predicted[i], row.indexOf(Math.max(...row))));
  assert.equal(rows.length, 3);
  assert.ok(Math.abs(rows[2][5] - features[2 * 64 + 5]) < 1e-6);
  tf.dispose([out.logits, out.features]);
  assert.equal(tf.memory().numTensors, before);
  assert.throws(() => c.forward(tf.zeros([2, 28, 28, 1])), (e: unknown) => e instanceof ShapeError && /\[N, 16, 16, 1\]/.test((e as Error).message));
  assert.throws(() => classifierConfig({ size: 18 }), (e: unknown) => e instanceof ConfigError && /classifier\.size: got 18.*multiple of 4/.test((e as Error).message));
  assert.throws(() => classifierConfig({ conv: [] }), /classifier\.conv/);
  x.dispose();
  c.dispose();
});

test('trains above 95% held-out accuracy in seconds with the lab Trainer; no tensors left but the weights', async () => {
  await assert.rejects(trainClassifier({ steps: 0 }), /classifierTrain\.steps: got 0/);
  mnistTrainDigits();
  mnistHeldoutDigits();
  const before = tf.memory().numTensors;
  const trained = await trainClassifier({ steps: 600, batchSize: 128, seed: 0, classifier: SMALL });
  const params = trained.classifier.parameters().length;
  assert.equal(tf.memory().numTensors, before + params);
  assert.ok(trained.heldoutAccuracy > 0.95, `held-out accuracy ${trained.heldoutAccuracy}`);
  assert.equal(trained.heldoutAccuracy, classifierAccuracy(trained.classifier, mnistHeldoutDigits()));
  assert.equal(trained.history.length, 600);
  const first = trained.history.slice(0, 10).reduce((s, h) => s + h.loss, 0) / 10;
  assert.ok(Math.abs(first - Math.log(10)) < 0.5, `initial loss ${first} near ln 10`);
  trained.classifier.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('the cache: save/load round trip is exact; a matching file is used, another config retrains', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'classifier-'));
  const path = join(dir, 'nested', 'classifier.safetensors');
  try {
    const tiny = { steps: 3, batchSize: 16, seed: 5, classifier: { conv: [4, 4], features: 8 } };
    const trained = await trainClassifier(tiny);
    saveClassifier(path, { classifier: trained.classifier, train: trained.config, heldoutAccuracy: trained.heldoutAccuracy });
    const loaded = loadClassifier(path);
    assert.deepEqual(loaded.train, trained.config);
    assert.equal(loaded.heldoutAccuracy, trained.heldoutAccuracy);
    assert.equal(loaded.classifier.training, false);
    const x = digitBatch(mnistHeldoutDigits(), [0, 1, 2, 3]);
    assert.deepEqual(loaded.classifier.features(x), trained.classifier.features(x));
    loaded.classifier.dispose();

    // Mark the saved weights so a load is distinguishable from a retrain (training is deterministic).
    trained.classifier.out.bias!.assign(tf.fill([10], 7));
    saveClassifier(path, { classifier: trained.classifier, train: trained.config, heldoutAccuracy: 0.5 });
    const before = tf.memory().numTensors;
    const hit = await cachedClassifier(tiny, { path, verbose: false });
    assert.deepEqual(Array.from(hit.classifier.out.bias!.dataSync()), new Array(10).fill(7));
    assert.equal(hit.heldoutAccuracy, 0.5);
    hit.classifier.dispose();
    const miss = await cachedClassifier({ ...tiny, seed: 6 }, { path, verbose: false });
    assert.notDeepEqual(Array.from(miss.classifier.out.bias!.dataSync()), new Array(10).fill(7));
    const replaced = loadClassifier(path);
    assert.equal(replaced.train.seed, 6, 'the retrained classifier replaced the file');
    replaced.classifier.dispose();
    miss.classifier.dispose();
    assert.equal(tf.memory().numTensors, before);
    trained.classifier.dispose();
    x.dispose();
    assert.ok(!existsSync(`${path}.tmp-${process.pid}`), 'no temporary file left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
