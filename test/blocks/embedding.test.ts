import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { LMHead, TokenEmbedding } from '../../src/blocks/embedding';
import { ShapeError } from '../../src/config';

test('TokenEmbedding looks up rows of weight [vocab, D], keeps the ids shape, and rejects bad ids', () => {
  const emb = new TokenEmbedding(5, 3, { rng: new Rng(1) });
  assert.deepEqual(emb.namedParameters().map(([n, v]) => `${n} [${v.shape}]`), ['weight [5,3]']);
  const table = emb.weight.arraySync() as number[][];
  const ids = tf.tensor2d([[4, 0], [2, 2]], [2, 2], 'int32');
  const before = tf.memory().numTensors;
  const out = emb.forward(ids);
  assert.deepEqual(out.shape, [2, 2, 3]);
  assert.deepEqual(out.arraySync(), [[table[4], table[0]], [table[2], table[2]]]);
  out.dispose();
  assert.equal(tf.memory().numTensors, before);
  tf.tidy(() => {
    assert.throws(() => emb.forward(tf.tensor1d([0, 5], 'int32')), /\[0, 5\).*\[0, 5\]/);
    assert.throws(() => emb.forward(tf.tensor1d([-1], 'int32')), RangeError);
    assert.throws(() => emb.forward(tf.tensor1d([1])), /int32/);
  });
  ids.dispose();
  emb.dispose();
});

test('the embedding gradient adds the upstream gradient into each looked-up row (repeated ids sum)', () => {
  const emb = new TokenEmbedding(4, 2, { rng: new Rng(2) });
  const ids = tf.tensor1d([1, 3, 1], 'int32');
  const g = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
  const { value, grads } = tf.variableGrads(() => emb.forward(ids).mul(g).sum() as tf.Scalar, [emb.weight]);
  assert.deepEqual(grads[emb.weight.name].arraySync(), [[0, 0], [6, 8], [0, 0], [3, 4]]);
  tf.dispose([value, grads, ids, g]);
  emb.dispose();
});

test('LMHead: untied owns weight [vocab, D]; tied shares the embedding table and computes h E^T', () => {
  const emb = new TokenEmbedding(4, 3, { rng: new Rng(3) });
  const tied = new LMHead(3, 4, { tiedTo: emb });
  const untied = new LMHead(3, 4, { rng: new Rng(4) });
  assert.equal(tied.numParameters(), 0, 'a tied head adds no parameters to the state dict');
  assert.equal(tied.weight, emb.weight);
  assert.deepEqual(untied.namedParameters().map(([n, v]) => `${n} [${v.shape}]`), ['weight [4,3]']);
  const h = new Rng(5).randomNormal([2, 1, 3]);
  const hs = (h.arraySync() as number[][][]).map((r) => r[0]);
  for (const head of [tied, untied]) {
    const before = tf.memory().numTensors;
    const logits = head.forward(h);
    assert.deepEqual(logits.shape, [2, 1, 4]);
    const E = head.weight.arraySync() as number[][];
    const got = logits.arraySync() as number[][][];
    hs.forEach((row, b) => E.forEach((e, v) => {
      const want = row.reduce((s, x, i) => s + x * e[i], 0);
      assert.ok(Math.abs(got[b][0][v] - want) < 1e-6, `logit [${b}, ${v}]`);
    }));
    logits.dispose();
    assert.equal(tf.memory().numTensors, before);
  }
  // Training the tied head trains the embedding.
  const { value, grads } = tf.variableGrads(() => tied.forward(h).sum() as tf.Scalar);
  assert.deepEqual(Object.keys(grads), [emb.weight.name]);
  tf.dispose([value, grads]);
  assert.throws(() => new LMHead(3, 5, { tiedTo: emb }), (e: unknown) => e instanceof ShapeError && e.message.includes('[5, 3]') && e.message.includes('received [4, 3]'));
  h.dispose();
  untied.dispose();
  emb.dispose();
});
