import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { SwiGLU } from '../../src/blocks/feedforward';
import { ShapeError } from '../../src/config';

test('SwiGLU equals w2(silu(x w1) * (x w3)) written out with loops', () => {
  const ffn = new SwiGLU(3, 5, { initStd: 0.5, rng: new Rng(1) });
  assert.deepEqual(ffn.namedParameters().map(([n, v]) => `${n} [${v.shape}]`), ['w1.weight [3,5]', 'w2.weight [5,3]', 'w3.weight [3,5]']);
  const x = new Rng(2).randomNormal([2, 3]);
  const before = tf.memory().numTensors;
  const y = ffn.forward(x);
  const [w1, w2, w3] = [ffn.w1.weight, ffn.w2.weight, ffn.w3.weight].map((w) => w.dataSync());
  const xs = x.arraySync() as number[][];
  const got = y.arraySync() as number[][];
  xs.forEach((row, b) => {
    const hidden = Array.from({ length: 5 }, (_, j) => {
      const a = row.reduce((s, xi, i) => s + xi * w1[i * 5 + j], 0);
      const g = row.reduce((s, xi, i) => s + xi * w3[i * 5 + j], 0);
      return (a / (1 + Math.exp(-a))) * g;
    });
    for (let o = 0; o < 3; o++) {
      const want = hidden.reduce((s, h, j) => s + h * w2[j * 3 + o], 0);
      assert.ok(Math.abs(got[b][o] - want) < 1e-5, `[${b}, ${o}]: ${got[b][o]} vs ${want}`);
    }
  });
  y.dispose();
  assert.equal(tf.memory().numTensors, before);
  assert.throws(() => ffn.forward(tf.zeros([2, 4])), (e: unknown) => e instanceof ShapeError && e.message.includes('received [2, 4]'));
  x.dispose();
  ffn.dispose();
});
