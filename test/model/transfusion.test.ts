import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng, setSeed } from '../../src/engine/random';
import { ConfigError } from '../../src/config';
import { Transfusion } from '../../src/model/transfusion';
import { resolveConfig } from '../../src/model/config';
import { buildBatch } from '../../src/data/sequence';
import { MnistDataset } from '../../src/data/mnist';
import { DataLoader } from '../../src/data/loader';
import { Trainer, makeTrainConfig } from '../../src/train/trainer';
import { initEngine } from '../../src/engine/engine';

// The fastest backend available (nativecpu where the addon built): the training test runs hundreds of steps.
before(async () => {
  await initEngine();
});

test('tiny has exactly the parameter count of the PyTorch reference (3,423,248)', () => {
  const model = Transfusion.create('tiny', {}, new Rng(0));
  assert.equal(model.numParameters(), 3423248);
  assert.match(model.summary(), /transformer\.layers\.0|layers\.0/);
  assert.ok('text/html' in model.toMimeBundle().data);
  model.dispose();
});

test('config errors name the field, the value and what is allowed', () => {
  const cases: Array<[() => unknown, RegExp]> = [
    [() => resolveConfig('tiny', { net: { patchSize: 3 } }), /net\.patchSize/],
    [() => resolveConfig('tiny', { net: { latent: { height: 15 } } }), /net\.patchSize: got 2/],
    [() => resolveConfig('tiny', { objective: { lambda: -1 } }), /objective\.lambda: got -1/],
    [() => resolveConfig('tiny', { net: { mask: { kind: 'sideways' } as never } }), /net\.mask\.kind: got "sideways"/],
    [() => resolveConfig('tiny', { objective: { schedule: { kind: 'bogus' } as never } }), /objective\.schedule\.kind/],
    [() => resolveConfig('tiny', { sequence: { length: 5000 } }), /sequence\.length: got 5000; allowed: at most net\.maxPositions/],
    [() => resolveConfig('tiny', { net: { transformer: { nHeads: 3 } } }), /nHeads/],
    [() => resolveConfig('nope' as never), /preset: got "nope"/],
    [() => resolveConfig('tiny', { net: { widht: 3 } as never }), /config\.net\.widht/],
  ];
  for (const [f, re] of cases) assert.throws(f, (e: unknown) => e instanceof ConfigError && re.test((e as Error).message), String(re));
});

function mnistLoader(batchSize: number, seed: number) {
  const dataset = new MnistDataset({ size: 16 });
  return new DataLoader(dataset, { batchSize, sequence: { length: 96, patchesPerImage: 64 } }, { rng: new Rng(seed) });
}

test('the loss has an LM part near ln(262) at init and a finite diffusion part; no tensors leak', () => {
  setSeed(1);
  const model = Transfusion.create('mnist', {}, new Rng(1));
  const batch = mnistLoader(4, 1).epoch(0).next().value!;
  const before = tf.memory().numTensors;
  const out = model.loss(batch, new Rng(2));
  const lm = out.breakdown.lm.dataSync()[0];
  const diffusion = out.breakdown.diffusion.dataSync()[0];
  const total = out.total.dataSync()[0];
  tf.dispose([out.total, out.breakdown.lm, out.breakdown.diffusion]);
  assert.equal(tf.memory().numTensors, before);
  assert.ok(Math.abs(lm - Math.log(262)) < 0.5, `lm ${lm}`);
  assert.ok(diffusion > 0.2 && diffusion < 5, `diffusion ${diffusion}`);
  assert.ok(Math.abs(total - (lm + 5 * diffusion)) < 1e-3);
  model.dispose();
});

test('pixel images given to a latent model are a shape error naming the sizes', () => {
  const model = Transfusion.create('tiny', {}, new Rng(0));
  const batch = buildBatch([{ image: new Float32Array(28 * 28), caption: 'a 7' }], { length: 129, patchesPerImage: 64 }, new Rng(0));
  assert.throws(() => model.loss(batch), /batch\.images\[0\].*1024 values = latent 16x16x4.*received \[784\]/);
  model.dispose();
});

test('only text targets carry LM loss: changing image-position targets cannot change it', () => {
  const model = Transfusion.create('mnist', { objective: { lambda: 0 } }, new Rng(3));
  const batch = mnistLoader(2, 3).epoch(0).next().value!;
  const a = model.loss(batch, new Rng(4));
  const tokens = Int32Array.from(batch.tokens);
  for (const s of batch.slots) for (let j = 0; j < s.length; j++) tokens[s.row * batch.length + s.start + j] = 65;
  const b = model.loss({ ...batch, tokens }, new Rng(4));
  assert.equal(a.total.dataSync()[0], b.total.dataSync()[0]);
  tf.dispose([a.total, b.total, a.breakdown.lm, a.breakdown.diffusion, b.breakdown.lm, b.breakdown.diffusion]);
  model.dispose();
});

async function trainCurve(steps: number, seed: number) {
  setSeed(seed);
  const model = Transfusion.create('mnist', { net: { transformer: { dModel: 64, nLayers: 2, nHeads: 4, ffnHidden: 172 } } }, new Rng(seed));
  const trainer = new Trainer(model, makeTrainConfig({ optimizer: { lr: 2e-3 }, lrSchedule: { kind: 'warmup-cosine', warmupSteps: 10, totalSteps: steps, minRatio: 0.1 } }));
  const batches = mnistLoader(8, seed).batches();
  const noise = new Rng(seed + 1);
  const counts: number[] = [];
  await trainer.run(() => model.loss(batches.next().value!, noise), { steps, onStep: () => counts.push(tf.memory().numTensors) });
  const curve = trainer.history.map((h) => h.breakdown);
  trainer.dispose();
  model.dispose();
  return { curve, counts };
}

test('training on MNIST captions: both losses fall clearly; tensor count flat from step 2 to step 10', async () => {
  const steps = 200;
  const { curve, counts } = await trainCurve(steps, 11);
  assert.equal(counts[9], counts[1], `tensors after step 2: ${counts[1]}, after step 10: ${counts[9]}`);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const first = (k: string) => mean(curve.slice(0, 5).map((c) => c[k]));
  const last = (k: string) => mean(curve.slice(-20).map((c) => c[k]));
  assert.ok(last('lm') < 0.6 * first('lm'), `lm ${first('lm')} -> ${last('lm')}`);
  assert.ok(last('diffusion') < 0.7 * first('diffusion'), `diffusion ${first('diffusion')} -> ${last('diffusion')}`);
});

test('the same seed gives the same loss curve twice', async () => {
  const a = await trainCurve(6, 21);
  const b = await trainCurve(6, 21);
  assert.deepEqual(a.curve, b.curve);
});
