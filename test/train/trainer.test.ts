import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { Linear } from '../../src/blocks/linear';
import { Trainer, makeTrainConfig, NonFiniteLossError, type LossFn } from '../../src/train/trainer';
import { learningRate } from '../../src/train/lr-schedule';
import { AdamW } from '../../src/train/adamw';
import { Ema } from '../../src/train/ema';

/** y = x W* + noise: a problem whose loss must fall under any sane optimiser. */
function problem(seed: number) {
  const r = new Rng(seed);
  const x = r.randomNormal([64, 8]);
  const wTrue = r.randomNormal([8, 2]);
  const y = tf.matMul(x, wTrue);
  return { x, y, dispose: () => tf.dispose([x, wTrue, y]) };
}

function mse(model: Linear, x: tf.Tensor, y: tf.Tensor): LossFn {
  return () => {
    const total = tf.tidy(() => model.forward(x).sub(y).square().mean()) as tf.Scalar;
    return { total, breakdown: { mse: total.clone() }, tokens: x.shape[0] };
  };
}

test('loss falls, the same seed gives the same curve, and no tensors leak', async () => {
  const curve = async () => {
    const p = problem(1);
    const model = new Linear(8, 2, { rng: new Rng(2) });
    const trainer = new Trainer(model, makeTrainConfig({ optimizer: { lr: 3e-2, weightDecay: 0 }, lrSchedule: { kind: 'constant' } }));
    const counts: number[] = [];
    await trainer.run(mse(model, p.x, p.y), { steps: 60, onStep: () => counts.push(tf.memory().numTensors) });
    assert.equal(counts[9], counts[1], `tensor count drifted: ${counts[1]} after step 2, ${counts[9]} after step 10`);
    assert.equal(counts[59], counts[1]);
    const losses = trainer.history.map((h) => h.loss);
    trainer.dispose();
    model.dispose();
    p.dispose();
    return losses;
  };
  const a = await curve();
  const b = await curve();
  assert.deepEqual(a, b);
  assert.ok(a[59] < 0.2 * a[0], `loss ${a[0]} -> ${a[59]}`);
});

test('gradient accumulation over two halves equals one full batch', () => {
  const p = problem(3);
  const updated = (accum: number) => {
    const model = new Linear(8, 2, { rng: new Rng(4) });
    const trainer = new Trainer(model, makeTrainConfig({ gradAccumulation: accum, gradClip: 0, lrSchedule: { kind: 'constant' } }));
    const halves = [tf.slice(p.x, [0, 0], [32, 8]), tf.slice(p.x, [32, 0], [32, 8])];
    const ys = [tf.slice(p.y, [0, 0], [32, 2]), tf.slice(p.y, [32, 0], [32, 2])];
    trainer.trainStep(accum === 1 ? mse(model, p.x, p.y) : (_s, micro) => mse(model, halves[micro], ys[micro])(0, 0));
    const w = Array.from(model.weight.dataSync());
    tf.dispose([...halves, ...ys]);
    trainer.dispose();
    model.dispose();
    return w;
  };
  const one = updated(1);
  const two = updated(2);
  one.forEach((v, i) => assert.ok(Math.abs(v - two[i]) < 1e-5, `weight ${i}: ${v} vs ${two[i]}`));
  p.dispose();
});

test('a non-finite loss stops training, names the step and term, and keeps the last good weights', async () => {
  const p = problem(5);
  const model = new Linear(8, 2, { rng: new Rng(6) });
  const trainer = new Trainer(model, makeTrainConfig({ lrSchedule: { kind: 'constant' } }));
  const good = mse(model, p.x, p.y);
  await trainer.run(good, { steps: 3 });
  const before = Array.from(model.weight.dataSync());
  const poisoned: LossFn = (s, m) => {
    const out = good(s, m);
    const nan = tf.tidy(() => out.total.mul(NaN)) as tf.Scalar;
    return { total: nan, breakdown: { diffusion: nan.clone(), lm: out.total } };
  };
  await assert.rejects(trainer.run(poisoned, { steps: 2 }), (e: unknown) => {
    assert.ok(e instanceof NonFiniteLossError);
    assert.equal(e.report.step, 3);
    assert.match(e.message, /step 3/);
    assert.match(e.likelyCause, /diffusion/);
    return true;
  });
  assert.deepEqual(Array.from(model.weight.dataSync()), before);
  trainer.dispose();
  model.dispose();
  p.dispose();
});

test('stop() ends the loop at a step boundary and training can continue', async () => {
  const p = problem(7);
  const model = new Linear(8, 2, { rng: new Rng(8) });
  const trainer = new Trainer(model);
  const result = await trainer.run(mse(model, p.x, p.y), { steps: 50, onStep: (r) => r.step === 4 && trainer.stop() });
  assert.deepEqual(result, { stoppedBy: 'stop', stepsRun: 5 });
  await trainer.run(mse(model, p.x, p.y), { steps: 2 });
  assert.equal(trainer.step, 7);
  trainer.dispose();
  model.dispose();
  p.dispose();
});

test('warmup then cosine decay hits its end points', () => {
  const c = { kind: 'warmup-cosine', warmupSteps: 10, totalSteps: 110, minRatio: 0.1 } as const;
  assert.equal(learningRate(c, 1, 0), 0.1);
  assert.equal(learningRate(c, 1, 9), 1);
  assert.ok(Math.abs(learningRate(c, 1, 60) - 0.55) < 1e-12);
  assert.ok(Math.abs(learningRate(c, 1, 110) - 0.1) < 1e-12);
});

test('AdamW state round trip continues identically; bad config names the field', () => {
  assert.throws(() => new AdamW({ lr: -1, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 }), /optimizer\.lr: got -1/);
  const p = problem(9);
  const run = (resume: boolean) => {
    const model = new Linear(8, 2, { rng: new Rng(10) });
    let trainer = new Trainer(model, makeTrainConfig({ lrSchedule: { kind: 'constant' } }));
    const f = mse(model, p.x, p.y);
    for (let i = 0; i < 3; i++) trainer.trainStep(f);
    if (resume) {
      const state = trainer.optimizer.stateDict();
      const copy = { step: state.step, tensors: Object.fromEntries(Object.entries(state.tensors).map(([k, t]) => [k, t.clone()])) };
      trainer.dispose();
      trainer = new Trainer(model, makeTrainConfig({ lrSchedule: { kind: 'constant' } }));
      trainer.optimizer.loadStateDict(copy);
      trainer.step = 3;
      tf.dispose(Object.values(copy.tensors));
    }
    for (let i = 0; i < 3; i++) trainer.trainStep(f);
    const w = Array.from(model.weight.dataSync());
    trainer.dispose();
    model.dispose();
    return w;
  };
  assert.deepEqual(run(true), run(false));
  p.dispose();
});

test('a trainer with EMA frees every tensor it made when disposed', () => {
  const p = problem(11);
  const model = new Linear(8, 2, { rng: new Rng(12) });
  const before = tf.memory().numTensors;
  const trainer = new Trainer(model, makeTrainConfig({ emaDecay: 0.9 }));
  trainer.trainStep(mse(model, p.x, p.y));
  const state = trainer.optimizer.stateDict();
  const copies = Object.fromEntries(Object.entries(state.tensors).map(([k, t]) => [k, t.clone()]));
  trainer.optimizer.loadStateDict({ step: state.step, tensors: copies });
  tf.dispose(Object.values(copies));
  trainer.dispose();
  assert.equal(tf.memory().numTensors, before);
  model.dispose();
  p.dispose();
});

test('EMA warmup: the decay ramps as (1 + step) / (10 + step) up to emaDecay, and the average follows the weights early', () => {
  const model = new Linear(2, 1, { rng: new Rng(3) });
  const ema = new Ema(model.namedParameters(), 0.999);
  assert.equal(ema.decayAt(0), 0.1);
  assert.equal(ema.decayAt(90), 0.91);
  assert.equal(ema.decayAt(1e6), 0.999);
  assert.equal(new Ema(model.namedParameters(), 0.999, false).decayAt(0), 0.999);
  // One update at step 0 moves the average 90% of the way to the new weights (0.1% without warmup).
  const [[, w]] = model.namedParameters();
  const start = w.dataSync()[0];
  w.assign(w.add(1));
  ema.update(model.namedParameters(), 0);
  const averaged = (ema.stateDict()[model.namedParameters()[0][0]] as tf.Tensor).dataSync()[0];
  assert.ok(Math.abs(averaged - (start + 0.9)) < 1e-5, `average ${averaged}, expected ${start + 0.9}`);
  ema.dispose();
  model.dispose();
});
