import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng, setSeed } from '../../src/engine/random';
import { initEngine } from '../../src/engine/engine';
import { Transfusion } from '../../src/model/transfusion';
import { MnistDataset } from '../../src/data/mnist';
import { DataLoader } from '../../src/data/loader';
import { Trainer, makeTrainConfig } from '../../src/train/trainer';
import { caption, disposeResult, generate, textToImage } from '../../src/generate';

before(async () => {
  await initEngine();
});

function finite(x: tf.Tensor): boolean {
  return tf.tidy(() => tf.all(tf.isFinite(x)).dataSync()[0] === 1);
}

/** The `mnist` preset at the size test/model trains (d = 64, 2 layers), trained briefly: shapes and plumbing, not quality. */
async function briefMnistModel(steps: number): Promise<{ model: Transfusion; heldout: MnistDataset }> {
  setSeed(31);
  const model = Transfusion.create('mnist', { net: { transformer: { dModel: 64, nLayers: 2, nHeads: 4, ffnHidden: 172 } } }, new Rng(31));
  const loader = new DataLoader(new MnistDataset({ size: 16 }), { batchSize: 8, sequence: { length: 96, patchesPerImage: 64 } }, { rng: new Rng(31) });
  const trainer = new Trainer(model, makeTrainConfig({ optimizer: { lr: 2e-3 }, lrSchedule: { kind: 'warmup-cosine', warmupSteps: 5, totalSteps: steps, minRatio: 0.1 } }));
  const batches = loader.batches();
  const noise = new Rng(32);
  await trainer.run(() => model.loss(batches.next().value!, noise), { steps });
  trainer.dispose();
  return { model, heldout: new MnistDataset({ size: 16, split: 'heldout' }) };
}

test('a briefly trained MNIST model: generate, textToImage and caption give the right shapes, finite values, no leaks', async () => {
  const { model, heldout } = await briefMnistModel(30);
  const start = tf.memory().numTensors;
  const sampler = { kind: 'ddim' as const, steps: 10 };

  const r = generate(model, 'the digit 7', { forceImage: true, guidanceScale: 3, sampler, maxTokens: 8, returnTrajectory: true }, { rng: new Rng(1) });
  const image = r.parts[0];
  assert.ok(image.kind === 'image' && image.trajectory);
  assert.deepEqual(image.latent.shape, [16, 16, 1]);
  assert.ok(finite(image.latent));
  assert.equal(image.trajectory.xt.length, 11);
  assert.equal(image.trajectory.predX0.length, 10);
  assert.ok(image.trajectory.predX0.every((x) => x.shape.join() === '16,16,1' && finite(x)));
  assert.equal(r.tokens.length, 1 + 11 + 1 + 64 + 1 + r.parts.slice(1).reduce((n, p) => n + (p.kind === 'text' ? p.ids.length : 0), 0) + (r.stop === 'eos' ? 1 : 0));
  disposeResult(r);

  const text = generate(model, 'the digit', { maxTokens: 12, temperature: 0.7, topK: 20, topP: 0.9 }, { rng: new Rng(2) });
  assert.ok(text.parts.length >= 1 && text.tokens.length <= 2 + 9 + 12 + 66);
  disposeResult(text);

  const latents = textToImage(model, ['the digit 1', 'the digit 2', 'a handwritten eight'], { guidanceScale: 3, sampler }, { rng: new Rng(3) });
  assert.deepEqual(latents.shape, [3, 16, 16, 1]);
  assert.ok(finite(latents));
  latents.dispose();

  const images = tf.tensor4d(Float32Array.from([0, 1].flatMap((i) => Array.from(heldout.get(i, new Rng(0)).image))), [2, 16, 16, 1]);
  const captions = caption(model, images, { greedy: true, maxTokens: 16 });
  assert.equal(captions.length, 2);
  assert.ok(captions.every((c) => typeof c === 'string' && c.length <= 16 * 3));
  images.dispose();

  assert.equal(tf.memory().numTensors, start);
  model.dispose();
});
