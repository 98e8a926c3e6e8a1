import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { MultiHeadAttention } from '../../src/blocks/attention';
import { LayerKVCache } from '../../src/blocks/kvcache';
import { causal, transfusion } from '../../src/blocks/masks';
import { materializeMask } from '../../src/blocks/mask-materialize';
import { layoutFromRuns } from '../../src/blocks/layout';
import { sequentialPositions } from '../../src/blocks/rope';
import { ShapeError } from '../../src/config';

function close(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= tol, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
}

const attn = new MultiHeadAttention(8, 2, { initStd: 0.4, qkNorm: true, rng: new Rng(1) });

test('append mode, one token at a time, equals one causal forward over the whole sequence', () => {
  const L = 5;
  const x = new Rng(2).randomNormal([2, L, 8]);
  const before = tf.memory().numTensors;
  const layouts = [layoutFromRuns([[['text', L]]]), layoutFromRuns([[['text', L]]])];
  const full = tf.tidy(() => {
    const mask = materializeMask(causal, layouts, { form: 'boolean' });
    return attn.forward(x, { positions: sequentialPositions(2, L), mask }).arraySync() as number[][][];
  });
  const cache = new LayerKVCache();
  for (let t = 0; t < L; t++) {
    const step = tf.tidy(() => {
      const xt = tf.slice(x, [0, t, 0], [2, 1, 8]);
      // Row t of the causal mask: every cached key and itself.
      const mask = materializeMask(causal, layouts, { form: 'boolean', queryStart: t, queryEnd: t + 1 });
      return attn.forward(xt, { positions: sequentialPositions(2, 1, cache.length), mask, cache: { store: cache, mode: 'append' } }).arraySync() as number[][][];
    });
    assert.equal(cache.length, t + 1);
    for (let b = 0; b < 2; b++) close(step[b][0], full[b][t], 1e-5, `b${b} t${t}`);
  }
  cache.dispose();
  assert.equal(tf.memory().numTensors, before, 'cache.dispose() frees everything it kept');
  x.dispose();
});

test('read mode: a cached prefix serves several image forwards, unchanged, and matches the full forward', () => {
  // text 3 (cached prefix), image 2 (the part recomputed at every denoising step).
  const layout = layoutFromRuns([[['text', 3], ['image', 2]]]);
  const x = new Rng(3).randomNormal([1, 5, 8]);
  const before = tf.memory().numTensors;
  const full = tf.tidy(() => {
    const mask = materializeMask(transfusion, [layout], { form: 'additive' });
    return Array.from(tf.slice(attn.forward(x, { positions: sequentialPositions(1, 5), mask }), [0, 3, 0], [1, 2, 8]).dataSync());
  });
  const cache = new LayerKVCache();
  tf.tidy(() => {
    const prefixMask = materializeMask(transfusion, [layout], { form: 'boolean', queryEnd: 3 });
    attn.forward(tf.slice(x, [0, 0, 0], [1, 3, 8]), { positions: sequentialPositions(1, 3), mask: prefixMask, cache: { store: cache, mode: 'append' } });
  });
  assert.equal(cache.length, 3);
  const afterPrefix = tf.memory().numTensors;
  const image = tf.slice(x, [0, 3, 0], [1, 2, 8]);
  const reads = [0, 1].map(() =>
    tf.tidy(() => {
      const mask = materializeMask(transfusion, [layout], { form: 'boolean', queryStart: 3 });
      return Array.from(attn.forward(image, { positions: sequentialPositions(1, 2, 3), mask, cache: { store: cache, mode: 'read' } }).dataSync());
    }),
  );
  image.dispose();
  assert.equal(cache.length, 3, 'read mode leaves the cache as it was');
  assert.equal(tf.memory().numTensors, afterPrefix, 'read mode keeps nothing');
  close(reads[0], full, 1e-5, 'cached vs uncached');
  assert.deepEqual(reads[1], reads[0]);
  cache.dispose();
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
});

test('a bad mask leaves an append cache untouched; a batch mismatch is a shape error', () => {
  const cache = new LayerKVCache();
  tf.tidy(() => {
    const x = new Rng(4).randomNormal([1, 2, 8]);
    attn.forward(x, { positions: sequentialPositions(1, 2), mask: null, cache: { store: cache, mode: 'append' } });
    assert.throws(() => attn.forward(x, { positions: sequentialPositions(1, 2, 2), mask: tf.ones([2, 2], 'bool'), cache: { store: cache, mode: 'append' } }),
      (e: unknown) => e instanceof ShapeError && e.message.includes('[2, 4]') && e.message.includes('received [2, 2]'));
    assert.equal(cache.length, 2);
    const x3 = tf.zeros([3, 1, 8]);
    assert.throws(() => attn.forward(x3, { positions: sequentialPositions(3, 1, 2), mask: null, cache: { store: cache, mode: 'read' } }),
      (e: unknown) => e instanceof ShapeError && /KV cache/.test(e.message) && e.message.includes('[1, 2, Lnew, 4]'));
  });
  cache.dispose();
});
