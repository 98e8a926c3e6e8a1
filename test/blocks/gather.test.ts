import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { gatherRows } from '../../src/blocks/gather';

test('gatherRows equals tf.gather, and its gradient sums repeated rows like tf.gather', () => {
  const r = new Rng(0);
  const table = r.randomNormal([7, 3]);
  const index = Int32Array.from([3, 0, 3, 6, 3, 1]);
  const weights = r.randomNormal([6, 3]);
  const before = tf.memory().numTensors;
  const mine = tf.grad((x: tf.Tensor) => gatherRows(x, index).mul(weights).sum())(table);
  const ref = tf.grad((x: tf.Tensor) => tf.gather(x, tf.tensor1d(index, 'int32')).mul(weights).sum())(table);
  tf.tidy(() => assert.deepEqual(Array.from(gatherRows(table, index).dataSync()), Array.from(tf.gather(table, tf.tensor1d(index, 'int32')).dataSync())));
  const a = mine.dataSync();
  const b = ref.dataSync();
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-6, `grad ${i}: ${v} vs ${b[i]}`));
  tf.dispose([mine, ref]);
  assert.equal(tf.memory().numTensors, before);
  assert.throws(() => gatherRows(table, Int32Array.from([7])), /index 7 outside \[0, 7\)/);
  tf.dispose([table, weights]);
});
