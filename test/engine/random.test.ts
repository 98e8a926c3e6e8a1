import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, setSeed, rng } from '../../src/engine/random';
import { tf } from '../../src/engine/tf';

test('the same seed gives the same draws, tensors included', () => {
  const draw = () => {
    setSeed(123);
    const r = rng();
    return { js: [r.next(), r.int(10), r.normal()], t: Array.from(r.randomNormal([4]).dataSync()) };
  };
  assert.deepEqual(draw(), draw());
  setSeed(124);
  assert.notDeepEqual(rng().next(), (setSeed(123), rng().next()));
});

test('forked streams are independent of draws on the parent after the fork', () => {
  const a = new Rng(7);
  const fa = a.fork('data');
  const b = new Rng(7);
  const fb = b.fork('data');
  b.next();
  assert.equal(fa.next(), fb.next());
});

test('normal draws have mean 0 and variance 1', () => {
  const r = new Rng(1);
  const xs = Array.from({ length: 20000 }, () => r.normal());
  const mean = xs.reduce((a, b) => a + b) / xs.length;
  const v = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
  assert.ok(Math.abs(mean) < 0.03, `mean ${mean}`);
  assert.ok(Math.abs(v - 1) < 0.05, `variance ${v}`);
  assert.equal(tf.memory().numTensors >= 0, true);
});
