import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { DEFAULT_TRANSFORMER, Transformer, TransformerConfig, makeTransformer, resolveTransformerConfig } from '../../src/blocks/transformer';
import { causal, transfusion } from '../../src/blocks/masks';
import { materializeMask } from '../../src/blocks/mask-materialize';
import { layoutFromRuns } from '../../src/blocks/layout';
import { sequentialPositions } from '../../src/blocks/rope';
import { ConfigError, DeepPartial } from '../../src/config';

const TINY: DeepPartial<TransformerConfig> = { dModel: 16, nLayers: 2, nHeads: 2, ffnHidden: 24, initStd: 0.2 };
const tiny = (seed: number, extra: DeepPartial<TransformerConfig> = {}) => new Transformer({ ...TINY, ...extra }, { rng: new Rng(seed) });

function close(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= tol, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
}

function run(model: Transformer, x: tf.Tensor, maskPred = causal): Float32Array {
  return tf.tidy(() => {
    const [b, l] = x.shape;
    const layouts = Array.from({ length: b }, () => layoutFromRuns([[['text', l]]]));
    const mask = materializeMask(maskPred, layouts, { form: 'boolean' });
    return model.forward(x, { positions: sequentialPositions(b, l), mask }).dataSync() as Float32Array;
  });
}

test('shapes, dotted parameter names and parameter count', () => {
  const model = tiny(1, { qkNorm: true });
  const names = model.namedParameters().map(([n]) => n);
  assert.deepEqual(names.slice(0, 10), [
    'layers.0.attn_norm.weight', 'layers.0.attn.wq.weight', 'layers.0.attn.wk.weight', 'layers.0.attn.wv.weight', 'layers.0.attn.wo.weight',
    'layers.0.attn.q_norm.weight', 'layers.0.attn.k_norm.weight', 'layers.0.ffn_norm.weight', 'layers.0.ffn.w1.weight', 'layers.0.ffn.w2.weight',
  ]);
  assert.equal(names[names.length - 1], 'norm.weight');
  const D = 16, F = 24, Dh = 8;
  assert.equal(model.numParameters(), 2 * (2 * D + 4 * D * D + 2 * Dh + 3 * D * F) + D);
  const x = new Rng(2).randomNormal([2, 5, D]);
  const positions = sequentialPositions(2, 5);
  const before = tf.memory().numTensors;
  const y = model.forward(x, { positions, mask: null });
  assert.deepEqual(y.shape, [2, 5, D]);
  y.dispose();
  assert.equal(tf.memory().numTensors, before, 'forward leaks nothing');
  const y2 = tf.tidy(() => model.forward(x, { positions: tf.zeros([2, 5, 2], 'int32'), mask: null }).shape);
  assert.deepEqual(y2, [2, 5, D], '2-D positions');
  assert.match(model.summary(), /layers\.1: TransformerBlock/);
  tf.dispose([x, positions]);
  model.dispose();
});

test('the config round-trips through JSON and rebuilds the same parameter names and shapes', () => {
  const model = tiny(1, { qkNorm: true, dropout: 0.1 });
  const json = JSON.parse(JSON.stringify(model.config)) as TransformerConfig;
  assert.deepEqual(json, { ...DEFAULT_TRANSFORMER, ...TINY, qkNorm: true, dropout: 0.1 });
  const rebuilt = new Transformer(json);
  const shapes = (m: Transformer) => m.namedParameters().map(([n, v]) => `${n} [${v.shape}]`);
  assert.deepEqual(shapes(rebuilt), shapes(model));
  model.dispose();
  rebuilt.dispose();
});

test('loading a state dict gives bit-identical outputs', () => {
  const a = tiny(1);
  const b = tiny(2);
  const x = new Rng(3).randomNormal([1, 4, 16]);
  assert.notDeepEqual(run(a, x), run(b, x));
  b.loadStateDict(a.stateDict());
  assert.deepEqual(run(b, x), run(a, x));
  tf.dispose(x);
  a.dispose();
  b.dispose();
});

test('under a causal mask, outputs up to position i do not depend on later inputs', () => {
  const model = tiny(4);
  const L = 6, i = 2;
  const x = new Rng(5).randomNormal([1, L, 16]);
  const x2 = tf.tidy(() => tf.concat([tf.slice(x, [0, 0, 0], [1, i + 1, 16]), new Rng(6).randomNormal([1, L - i - 1, 16])], 1));
  const [y, y2] = [run(model, x), run(model, x2)];
  const upTo = (i + 1) * 16;
  close(y2.subarray(0, upTo), y.subarray(0, upTo), 1e-6, 'prefix outputs');
  assert.ok(Math.abs(y2[upTo] - y[upTo]) > 1e-4, 'position i + 1 does change');
  // Without the mask, later inputs leak backwards.
  const leaky = tf.tidy(() => [x, x2].map((t) => model.forward(t, { positions: sequentialPositions(1, L), mask: null }).dataSync()[0]));
  assert.ok(Math.abs(leaky[0] - leaky[1]) > 1e-5);
  tf.dispose([x, x2]);
  model.dispose();
});

test('cached equals uncached: token-by-token decoding, and a text prefix reused by several image forwards', () => {
  const model = tiny(7, { qkNorm: true });
  const before = tf.memory().numTensors;

  const L = 5;
  const x = new Rng(8).randomNormal([2, L, 16]);
  const full = run(model, x);
  const kv = model.newCache();
  for (let t = 0; t < L; t++) {
    const out = tf.tidy(() =>
      model.forward(tf.slice(x, [0, t, 0], [2, 1, 16]), { positions: sequentialPositions(2, 1, kv.length), mask: null, cache: { store: kv, mode: 'append' } }).arraySync() as number[][][]);
    for (let b = 0; b < 2; b++) close(out[b][0], full.subarray((b * L + t) * 16, (b * L + t + 1) * 16), 1e-5, `b${b} t${t}`);
  }
  assert.equal(kv.length, L);
  kv.dispose();
  x.dispose();

  // Text prefix (3) then an image (4 patches) whose patches all share position 3, as a caller may choose.
  const layout = layoutFromRuns([[['text', 3], ['image', 4]]]);
  const seq = new Rng(9).randomNormal([1, 7, 16]);
  const positions = tf.tensor2d([[0, 1, 2, 3, 3, 3, 3]], [1, 7], 'int32');
  const uncached = tf.tidy(() => {
    const mask = materializeMask(transfusion, [layout], { form: 'additive' });
    return tf.slice(model.forward(seq, { positions, mask }), [0, 3, 0], [1, 4, 16]).dataSync();
  });
  const prefix = model.newCache();
  tf.tidy(() => {
    const mask = materializeMask(transfusion, [layout], { form: 'boolean', queryEnd: 3 });
    model.forward(tf.slice(seq, [0, 0, 0], [1, 3, 16]), { positions: tf.slice(positions, [0, 0], [1, 3]), mask, cache: { store: prefix, mode: 'append' } });
  });
  for (let step = 0; step < 2; step++) {
    const cached = tf.tidy(() => {
      const mask = materializeMask(transfusion, [layout], { form: 'boolean', queryStart: 3 });
      return model.forward(tf.slice(seq, [0, 3, 0], [1, 4, 16]), { positions: tf.slice(positions, [0, 3], [1, 4]), mask, cache: { store: prefix, mode: 'read' } }).dataSync();
    });
    close(cached, uncached, 1e-5, `read step ${step}`);
    assert.equal(prefix.length, 3);
  }
  prefix.dispose();
  tf.dispose([seq, positions]);
  assert.equal(tf.memory().numTensors, before, 'no tensors leak once the caches are disposed');
  const deeper = tiny(1, { nLayers: 3 });
  assert.throws(() => tf.tidy(() => model.forward(tf.zeros([1, 1, 16]), { positions: tf.zeros([1, 1]), mask: null, cache: { store: deeper.newCache(), mode: 'read' } })), /3 layers/);
  deeper.dispose();
  model.dispose();
});

test('a gradient step leaks no tensors and changes every parameter', () => {
  const model = tiny(10);
  const x = new Rng(11).randomNormal([2, 4, 16]);
  const target = new Rng(12).randomNormal([2, 4, 16]);
  const positions = sequentialPositions(2, 4);
  const mask = tf.tidy(() => materializeMask(causal, [layoutFromRuns([[['text', 4]]]), layoutFromRuns([[['text', 4]]])], { form: 'boolean' }));
  const opt = tf.train.sgd(0.1);
  const snapshot = model.namedParameters().map(([, v]) => v.clone());
  const before = tf.memory().numTensors;
  const loss = () => tf.tidy(() => model.forward(x, { positions, mask }).sub(target).square().mean() as tf.Scalar);
  const { value, grads } = tf.variableGrads(loss, model.trainableParameters());
  opt.applyGradients(grads);
  tf.dispose([value, grads]);
  assert.equal(tf.memory().numTensors, before);
  model.namedParameters().forEach(([name, v], i) => {
    const moved = tf.tidy(() => v.sub(snapshot[i]).abs().max().dataSync()[0]);
    assert.ok(moved > 0, `${name} received a gradient`);
  });
  tf.dispose([x, target, positions, mask, ...snapshot]);
  opt.dispose();
  model.dispose();
});

test('residual dropout acts in train mode only, reproducibly from the seed', () => {
  const x = new Rng(13).randomNormal([1, 4, 16]);
  const out = (dropout: number, train: boolean) => {
    const m = tiny(14, { dropout, attentionDropout: dropout }).train(train);
    const y = Array.from(run(m, x));
    m.dispose();
    return y;
  };
  assert.deepEqual(out(0.3, false), out(0, true), 'eval mode: dropout off');
  assert.deepEqual(out(0.3, true), out(0.3, true), 'same seed, same masks');
  assert.notDeepEqual(out(0.3, true), out(0, true));
  x.dispose();
});

test('bad configs fail naming the field, the value and what is allowed', () => {
  const fails = (overrides: DeepPartial<TransformerConfig>, field: string, value: unknown) =>
    assert.throws(() => resolveTransformerConfig({ ...TINY, ...overrides }), (e: unknown) => e instanceof ConfigError && e.field === field && Object.is(e.value, value), field);
  fails({ nHeads: 3 }, 'transformer.nHeads', 3);
  fails({ dModel: 6, nHeads: 2 }, 'transformer.nHeads', 2);
  fails({ dropout: -0.1 }, 'transformer.dropout', -0.1);
  fails({ dropout: 1 }, 'transformer.dropout', 1);
  fails({ attentionDropout: 2 }, 'transformer.attentionDropout', 2);
  fails({ nLayers: 0 }, 'transformer.nLayers', 0);
  fails({ ffnHidden: 2.5 }, 'transformer.ffnHidden', 2.5);
  fails({ normEps: 0 }, 'transformer.normEps', 0);
  fails({ ropeBase: 1 }, 'transformer.ropeBase', 1);
  fails({ initStd: -1 }, 'transformer.initStd', -1);
  fails({ qkNorm: 'yes' as never }, 'transformer.qkNorm', 'yes');
  assert.throws(() => new Transformer({ nLayer: 2 } as never), (e: unknown) => e instanceof ConfigError && e.field === 'transformer.nLayer');
  assert.throws(() => resolveTransformerConfig({ nHeads: 3 }), /a divisor of transformer\.dModel \(256\)/);
});

test('makeTransformer accepts a config or a built instance', () => {
  const built = tiny(1);
  assert.equal(makeTransformer(built), built);
  const fromConfig = makeTransformer({ ...TINY, nLayers: 1 }, { rng: new Rng(1) });
  assert.equal(fromConfig.layers.length, 1);
  assert.equal(fromConfig.dModel, 16);
  built.dispose();
  fromConfig.dispose();
});
