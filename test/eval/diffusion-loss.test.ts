import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { initEngine } from '../../src/engine/engine';
import { ConfigError } from '../../src/config';
import { MnistDataset } from '../../src/data/mnist';
import { Transfusion } from '../../src/model/transfusion';
import type { TransfusionNet } from '../../src/model/network';
import { makeSchedule } from '../../src/schedules/make-schedule';
import { heldOutDiffusionLoss, timeAtLogSnr } from '../../src/eval/diffusion-loss';

before(async () => {
  await initEngine();
});

const SMALL = { net: { transformer: { dModel: 32, nLayers: 1, nHeads: 2, ffnHidden: 64 } } };

/** Make the network's image prediction exactly zero, so the error is known in closed form. */
function predictZeros(net: TransfusionNet): void {
  const forward = net.forward.bind(net);
  net.forward = (input) => {
    const out = forward(input);
    return { ...out, prediction: out.prediction ? tf.zerosLike(out.prediction) : null };
  };
}

test('timeAtLogSnr inverts each schedule and names the field when the target is out of range', () => {
  for (const spec of [{ kind: 'cosine' }, { kind: 'linear' }, { kind: 'flow' }, { kind: 'sigmoid' }] as const) {
    const schedule = makeSchedule(spec as never, 'schedule');
    for (const target of [-6, -1.5, 0, 3, 6]) {
      const t = timeAtLogSnr(schedule, target);
      assert.ok(t > 0 && t < 1, `${spec.kind} ${target}: t ${t}`);
      assert.ok(Math.abs(schedule.logSnr(t) - target) < 1e-6, `${spec.kind}: logSnr(${t}) = ${schedule.logSnr(t)}, wanted ${target}`);
    }
  }
  const linear = makeSchedule({ kind: 'linear' } as never, 'schedule');
  assert.throws(() => timeAtLogSnr(linear, 40, 'grid[2]'), (e: unknown) => e instanceof ConfigError && /grid\[2\]/.test(e.message) && /40/.test(e.message) && /range/.test(e.message));
  assert.throws(() => timeAtLogSnr(linear, Number.NaN, 'grid[0]'), /grid\[0\]/);
});

test('an x0 model that predicts zeros scores exactly SNR * mean(x0^2) at each grid point, whatever the noise', async () => {
  const model = Transfusion.create('mnist', { ...SMALL, objective: { prediction: 'x0' } }, new Rng(0));
  predictZeros(model.net);
  const n = 24;
  const grid = [-4, 0, 2];
  const result = heldOutDiffusionLoss(model, { n, batchSize: 10, logSnr: grid, seed: 3 });
  // eps_hat = x_t / sigma, so eps_hat - eps = (alpha / sigma) x0 and its mean square is SNR * mean(x0^2).
  const data = new MnistDataset({ split: 'heldout', size: 16 });
  let sq = 0;
  for (let i = 0; i < n; i++) {
    const image = data.get(i, new Rng(0)).image;
    sq += image.reduce((s, v) => s + v * v, 0) / image.length;
  }
  const meanSq = sq / n;
  assert.equal(result.documents, n);
  assert.deepEqual(result.points.map((p) => p.logSnr), grid);
  result.points.forEach((p) => {
    const expected = Math.exp(p.logSnr) * meanSq;
    assert.ok(Math.abs(p.mse - expected) < 1e-4 * expected, `logSnr ${p.logSnr}: ${p.mse} vs ${expected}`);
    assert.ok(Math.abs(model.objective.schedule.logSnr(p.t) - p.logSnr) < 1e-6);
  });
  assert.ok(Math.abs(result.mse - result.points.reduce((s, p) => s + p.mse, 0) / grid.length) < 1e-12);
  model.dispose();
});

test('an epsilon model that predicts zeros scores the noise variance, 1, at every point', async () => {
  const model = Transfusion.create('mnist', SMALL, new Rng(1));
  predictZeros(model.net);
  const result = heldOutDiffusionLoss(model, { n: 40, logSnr: [-5, 5] });
  // 40 images x 256 pixels of unit normals: the mean square is 1 within a few hundredths.
  result.points.forEach((p) => assert.ok(Math.abs(p.mse - 1) < 0.05, `logSnr ${p.logSnr}: ${p.mse}`));
  model.dispose();
});

test('the same seed gives the same numbers at any batch size; eval mode is restored; no tensor leaks', async () => {
  const model = Transfusion.create('mnist', SMALL, new Rng(2));
  model.net.train();
  const before = tf.memory().numTensors;
  const a = heldOutDiffusionLoss(model, { n: 20, batchSize: 16, logSnr: [-2, 2], seed: 5 });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(model.net.training, true);
  const b = heldOutDiffusionLoss(model, { n: 20, batchSize: 7, logSnr: [-2, 2], seed: 5 });
  a.points.forEach((p, k) => assert.ok(Math.abs(p.mse - b.points[k].mse) < 1e-5 * p.mse, `${p.mse} vs ${b.points[k].mse}`));
  const c = heldOutDiffusionLoss(model, { n: 20, batchSize: 16, logSnr: [-2, 2], seed: 6 });
  assert.notEqual(c.points[0].mse, a.points[0].mse, 'another seed draws other noise');
  assert.ok(a.points.every((p) => Number.isFinite(p.mse) && p.mse > 0));
  model.dispose();
});

test('config errors name the field, the value and what is allowed', () => {
  const model = Transfusion.create('mnist', SMALL, new Rng(3));
  assert.throws(() => heldOutDiffusionLoss(model, { n: 5000 }), /diffusionLoss\.n.*5000.*held-out/s);
  assert.throws(() => heldOutDiffusionLoss(model, { n: 0 }), /diffusionLoss\.n/);
  assert.throws(() => heldOutDiffusionLoss(model, { logSnr: [] }), /diffusionLoss\.logSnr/);
  assert.throws(() => heldOutDiffusionLoss(model, { logSnr: [0, 99] }), /diffusionLoss\.logSnr\[1\].*99/s);
  model.dispose();
});
