import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { ConfigError, ShapeError } from '../../src/config';
import { timestepEmbedding, TimestepMLP } from '../../src/blocks/timestep';

/**
 * Key `timestep_embedding_dim8_t500` of the project's shared reference values (shared/reference/schedules.json),
 * made in float64 NumPy by improved-diffusion's formula: half = 4, f = exp(-ln(10000) * arange(half) / half),
 * [cos(500 f), sin(500 f)]. Copied here so the test needs no file outside the repository.
 */
const reference = {
  timestep_embedding_dim8_t500: [
    -0.883849273431478, 0.9649660284921096, 0.2836621854632237, 0.8775825618903729,
    -0.46777180532247614, -0.2623748537039425, -0.9589242746631392, 0.47942553860420273,
  ],
};

test('timestepEmbedding(500, dim 8) matches the ADM reference values to 1e-5 relative', () => {
  const want: number[] = reference.timestep_embedding_dim8_t500;
  const emb = timestepEmbedding(tf.tensor1d([500, 0]), 8);
  assert.deepEqual(emb.shape, [2, 8]);
  const got = emb.arraySync() as number[][];
  want.forEach((w, i) => assert.ok(Math.abs(got[0][i] - w) <= 1e-5 * Math.abs(w), `index ${i}: ${got[0][i]} vs ${w}`));
  // t = 0: cos parts are 1, sin parts 0.
  assert.deepEqual(got[1], [1, 1, 1, 1, 0, 0, 0, 0]);
  emb.dispose();
});

test('an odd width gets a zero last column, as ADM pads it', () => {
  const emb = timestepEmbedding(tf.tensor1d([500]), 9);
  const row = (emb.arraySync() as number[][])[0];
  assert.equal(row.length, 9);
  assert.equal(row[8], 0);
  assert.ok(Math.abs(row[0] - reference.timestep_embedding_dim8_t500[0]) < 1e-5);
  emb.dispose();
  assert.throws(() => timestepEmbedding(tf.tensor2d([[1]]), 8), ShapeError);
  assert.throws(() => timestepEmbedding(tf.tensor1d([1]), 0), ConfigError);
});

test('TimestepMLP: [B] -> [B, dModel] = Linear(SiLU(Linear(sinusoid))) with DiT parameter names, no leaks', () => {
  const mlp = new TimestepMLP(6, { freqDim: 8, rng: new Rng(3) });
  assert.deepEqual(mlp.namedParameters().map(([n, v]) => [n, v.shape]), [
    ['mlp.0.weight', [8, 6]], ['mlp.0.bias', [6]], ['mlp.2.weight', [6, 6]], ['mlp.2.bias', [6]],
  ]);
  const t = tf.tensor1d([500, 20]);
  const before = tf.memory().numTensors;
  const out = mlp.forward(t);
  assert.equal(tf.memory().numTensors, before + 1);
  const want = tf.tidy(() => {
    const h = tf.matMul(timestepEmbedding(t, 8), mlp.fc1.weight).add(mlp.fc1.bias!);
    return tf.matMul(h.mul(h.sigmoid()), mlp.fc2.weight).add(mlp.fc2.bias!);
  });
  assert.deepEqual(out.shape, [2, 6]);
  const [a, b] = [out.dataSync(), want.dataSync()];
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-6));
  tf.dispose([t, out, want]);
  mlp.dispose();
});
