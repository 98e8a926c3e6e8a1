import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { makeSampler, makeSchedule } from '../../src/schedules/index';
import { ConfigError } from '../../src/config';

test('clipX0 bounds the x0 estimate and keeps x_t = alpha x0 + sigma eps', () => {
  const schedule = makeSchedule({ kind: 'cosine' });
  const t = 1;
  const xt = tf.tensor1d([0.5, -2, 3]);
  const prediction = tf.tensor1d([0.4, -1.9, 3.2]); // an epsilon guess that is slightly off, as any model's is
  const plain = makeSampler({ kind: 'ddim', steps: 10 }, schedule).step({ prediction, kind: 'epsilon', xt, t, tPrev: 0.9 });
  const clipped = makeSampler({ kind: 'ddim', steps: 10, clipX0: 1 }, schedule).step({ prediction, kind: 'epsilon', xt, t, tPrev: 0.9 });
  assert.ok(Math.max(...Array.from(plain.predX0.abs().dataSync())) > 100, 'near t = 1 the unclipped estimate explodes');
  assert.deepEqual(Array.from(clipped.predX0.dataSync()).map((v) => Math.abs(v) <= 1), [true, true, true]);
  // eps re-derived from the clipped x0: the DDIM update stays on the line through x_t.
  const a = schedule.alpha(0.9), s = schedule.sigma(0.9), a1 = schedule.alpha(t), s1 = schedule.sigma(t);
  const x0 = clipped.predX0.dataSync(), xs = xt.dataSync(), prev = clipped.prev.dataSync();
  for (let i = 0; i < 3; i++) {
    const eps = (xs[i] - a1 * x0[i]) / s1;
    assert.ok(Math.abs(prev[i] - (a * x0[i] + s * eps)) < 1e-4, `element ${i}`);
  }
  assert.throws(() => makeSampler({ kind: 'ddim', steps: 10, clipX0: -1 }, schedule), (e: unknown) => e instanceof ConfigError && /sampler\.clipX0: got -1/.test((e as Error).message));
  tf.dispose([xt, prediction, plain.prev, plain.predX0, clipped.prev, clipped.predX0]);
});
