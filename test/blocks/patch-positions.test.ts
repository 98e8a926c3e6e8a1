import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng, setSeed } from '../../src/engine/random';
import { initEngine } from '../../src/engine/engine';
import { ConfigError } from '../../src/config';
import { PatchPositionEmbedding, sincos2d } from '../../src/blocks/patch-positions';
import { Transfusion } from '../../src/model/transfusion';
import { resolveConfig } from '../../src/model/config';
import { MnistDataset } from '../../src/data/mnist';
import { DataLoader } from '../../src/data/loader';
import { Trainer, makeTrainConfig } from '../../src/train/trainer';

before(async () => {
  await initEngine();
});

test('sincos2d is DiT\'s table: row sines and cosines in the first half, column in the second, frequencies 1/10000^(i/(D/4))', () => {
  const D = 8; // a quarter of 2 frequencies: 1 and 1/100
  const table = sincos2d(3, 4, D);
  assert.equal(table.length, 12 * D);
  const at = (r: number, c: number) => Array.from(table.subarray((r * 4 + c) * D, (r * 4 + c + 1) * D));
  const expect = (r: number, c: number) => [Math.sin(r), Math.sin(r / 100), Math.cos(r), Math.cos(r / 100), Math.sin(c), Math.sin(c / 100), Math.cos(c), Math.cos(c / 100)];
  for (const [r, c] of [[0, 0], [1, 2], [2, 3]]) {
    at(r, c).forEach((v, i) => assert.ok(Math.abs(v - expect(r, c)[i]) < 1e-6, `(${r}, ${c})[${i}]: ${v} vs ${expect(r, c)[i]}`));
  }
  assert.throws(() => sincos2d(2, 2, 6), /multiple of 4, got 6/);
});

test('the block adds its table to every image, owns a parameter only when learned, and frees what it made', () => {
  const before = tf.memory().numTensors;
  const fixed = new PatchPositionEmbedding('sincos-2d', 2, 2, 4);
  const learned = new PatchPositionEmbedding('learned', 2, 2, 4, new Rng(3));
  assert.deepEqual(fixed.namedParameters(), []);
  assert.deepEqual(learned.namedParameters().map(([n, v]) => `${n} [${v.shape}]`), ['weight [4,4]']);
  const tokens = tf.ones([3, 4, 4]);
  const out = fixed.forward(tokens);
  const table = sincos2d(2, 2, 4);
  const got = out.arraySync() as number[][][];
  for (let s = 0; s < 3; s++) for (let j = 0; j < 4; j++) for (let k = 0; k < 4; k++) assert.ok(Math.abs(got[s][j][k] - 1 - table[j * 4 + k]) < 1e-6);
  tf.tidy(() => assert.throws(() => fixed.forward(tf.ones([3, 5, 4])), /\[S, 4, 4\]/));
  tf.dispose([tokens, out]);
  fixed.dispose();
  learned.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('net.patchPositions: an unknown kind, or sine-cosine on a width that is not a multiple of 4, names the field', () => {
  assert.throws(() => resolveConfig('mnist', { net: { patchPositions: 'absolute' as never } }), (e: unknown) => e instanceof ConfigError && /net\.patchPositions.*"absolute".*"none", "sincos-2d", "learned"/.test(e.message));
  assert.throws(
    () => resolveConfig('mnist', { net: { patchPositions: 'sincos-2d', transformer: { dModel: 66, nHeads: 3, ffnHidden: 176 } } }),
    (e: unknown) => e instanceof ConfigError && /net\.patchPositions.*dModel \(66\) is not a multiple of 4/.test(e.message),
  );
  assert.equal(resolveConfig('mnist').net.patchPositions, 'none');
});

test('a model with learned patch positions trains: the table is a saved parameter, it moves, both losses fall, no tensor leaks', async () => {
  setSeed(5);
  const model = Transfusion.create('mnist', { net: { patchPositions: 'learned', transformer: { dModel: 64, nLayers: 2, nHeads: 4, ffnHidden: 172 } } }, new Rng(5));
  const none = Transfusion.create('mnist', { net: { transformer: { dModel: 64, nLayers: 2, nHeads: 4, ffnHidden: 172 } } }, new Rng(5));
  assert.equal(model.net.numParameters() - none.net.numParameters(), 64 * 64, 'an [N = 64 patches, D = 64] table');
  none.dispose();
  const table = model.net.stateDict()['patch_pos.weight'];
  assert.deepEqual(table.shape, [64, 64]);
  const start = table.dataSync().slice();
  const steps = 120;
  const trainer = new Trainer(model, makeTrainConfig({ optimizer: { lr: 2e-3 }, lrSchedule: { kind: 'warmup-cosine', warmupSteps: 10, totalSteps: steps, minRatio: 0.1 } }));
  const loader = new DataLoader(new MnistDataset({ size: 16 }), { batchSize: 8, sequence: { length: 96, patchesPerImage: 64 } }, { rng: new Rng(5) });
  const batches = loader.batches();
  const noise = new Rng(6);
  const counts: number[] = [];
  await trainer.run(() => model.loss(batches.next().value!, noise), { steps, onStep: () => counts.push(tf.memory().numTensors) });
  assert.equal(counts[9], counts[1], `tensors after step 2: ${counts[1]}, after step 10: ${counts[9]}`);
  const moved = model.net.stateDict()['patch_pos.weight'].dataSync();
  assert.ok(moved.some((v, i) => Math.abs(v - start[i]) > 1e-4), 'the table trains');
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const curve = trainer.history.map((h) => h.breakdown);
  for (const k of ['lm', 'diffusion']) {
    const first = mean(curve.slice(0, 5).map((c) => c[k]));
    const last = mean(curve.slice(-20).map((c) => c[k]));
    assert.ok(last < 0.8 * first, `${k} ${first} -> ${last}`);
  }
  trainer.dispose();
  model.dispose();
});
