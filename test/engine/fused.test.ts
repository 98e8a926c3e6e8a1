/**
 * The fused kernels (src/engine/fused.ts, native/src/fused.cc) against the composed ops on the pure-JS cpu
 * backend: values and gradients of RMSNorm, SwiGLU's gate and RoPE's rotation, the AdamW update over several
 * steps, and a whole training step of the transformer. Each case also checks the addon function ran, so a
 * fused path that silently fell back to the composed ops fails.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { NATIVECPU, registerNativeCpu } from '../../src/engine/nativecpu';
import { loadAddon } from '../../src/engine/nativecpuAddon';
import { fusedOn, setFusedKernels } from '../../src/engine/fused';
import { rmsNorm } from '../../src/blocks/rmsnorm';
import { SwiGLU } from '../../src/blocks/feedforward';
import { rotate, rotaryTables } from '../../src/blocks/rope';
import { AdamW } from '../../src/train/adamw';
import { Transformer } from '../../src/blocks/transformer';
import { MultiHeadAttention } from '../../src/blocks/attention';
import { KVCache } from '../../src/blocks/kvcache';

const status = registerNativeCpu();
const calls = new Map<string, number>();
const skip = status.ok ? false : `nativecpu is not available: ${status.ok ? '' : status.why}`;

before(() => {
  if (!status.ok) return;
  const load = loadAddon();
  if (!load.ok) return;
  const addon = load.addon as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const name of ['rmsNorm', 'rmsNormBackward', 'swiglu', 'swigluBackward', 'rotary', 'adamw', 'attention', 'attentionBackward', 'sumSquares', 'attentionCached']) {
    const fn = addon[name];
    addon[name] = (...a: unknown[]) => {
      calls.set(name, (calls.get(name) ?? 0) + 1);
      return fn(...a);
    };
  }
});

after(async () => {
  setFusedKernels(true);
  await tf.setBackend('cpu');
});

function randn(shape: number[], seed: string): Float32Array {
  const r = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n }, () => r.normal());
}

/** f's value and its gradients with respect to the float inputs (against a fixed random cotangent), as arrays. */
function valueAndGrads(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: { shape: number[]; data: Float32Array }[], gradOf: number[]): Float32Array[] {
  return tf.tidy(() => {
    const xs = inputs.map((i) => tf.tensor(i.data, i.shape));
    const y = f(...xs);
    const w = tf.tensor(randn(y.shape, 'cotangent'), y.shape);
    const grads = tf.grads((...g: tf.Tensor[]) => {
      const all = xs.map((x, k) => (gradOf.includes(k) ? g[gradOf.indexOf(k)] : x));
      return f(...all).mul(w).sum();
    })(gradOf.map((k) => xs[k]));
    return [y, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}

/** Runs `f` on nativecpu with the fused kernels, and on cpu; compares every array. */
async function compare(name: string, native: string[], run: () => Float32Array[], tol = 1e-5): Promise<void> {
  await tf.setBackend('cpu');
  const expected = run();
  await tf.setBackend(NATIVECPU);
  setFusedKernels(true);
  assert.ok(fusedOn());
  const before = new Map(calls);
  const before0 = tf.memory().numTensors;
  const got = run();
  assert.equal(tf.memory().numTensors, before0, `${name}: leaked tensors`);
  for (const fn of native) assert.ok((calls.get(fn) ?? 0) > (before.get(fn) ?? 0), `${name}: the addon's ${fn} never ran`);
  assert.equal(got.length, expected.length);
  got.forEach((g, k) => {
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < g.length; i++) {
      worst = Math.max(worst, Math.abs(g[i] - expected[k][i]));
      scale = Math.max(scale, Math.abs(expected[k][i]));
    }
    // Relative to the array's largest value (a gradient of 1e-3 is held to 1e-3 * tol, not to tol), down to 1e-3.
    assert.ok(scale > 0 && Number.isFinite(worst) && worst <= tol * Math.max(scale, 1e-3), `${name}, output ${k}: max deviation ${worst} exceeds ${tol} x the largest value ${scale}`);
  });
}

test('RMSNorm: the fused kernel gives the composed values and gradients (x and weight)', { skip }, async () => {
  for (const shape of [[3, 7, 16], [2, 4, 5, 8], [1, 3]]) {
    const d = shape[shape.length - 1];
    const inputs = [{ shape, data: randn(shape, `x${shape}`) }, { shape: [d], data: randn([d], `w${shape}`) }];
    await compare(`rmsNorm ${shape}`, ['rmsNorm', 'rmsNormBackward'], () => valueAndGrads((x, w) => rmsNorm(x, w, 1e-6), inputs, [0, 1]));
  }
});

test('SwiGLU: the fused gate gives the composed values and gradients', { skip }, async () => {
  const block = new SwiGLU(12, 20, { rng: new Rng('swiglu') });
  const shape = [2, 5, 12];
  await compare('swiglu', ['swiglu', 'swigluBackward'], () => valueAndGrads((x) => block.forward(x), [{ shape, data: randn(shape, 'sx') }], [0]));
  // The weights' gradients too.
  await compare('swiglu weights', ['swigluBackward'], () => tf.tidy(() => {
    const x = tf.tensor(randn(shape, 'sx2'), shape);
    const { grads, value } = tf.variableGrads(() => block.forward(x).square().mean() as tf.Scalar, [block.w1.weight, block.w3.weight] as tf.Variable[]);
    return [value, ...Object.values(grads)].map((t) => t.dataSync() as Float32Array);
  }));
  block.dispose();
});

test('RoPE: the fused rotation gives the composed values and gradients, 1-D and 2-D, tables batched or shared', { skip }, async () => {
  const shape = [2, 3, 6, 8];
  const cases: [string, () => tf.Tensor][] = [
    ['1-D shared', () => tf.range(0, 6, 1, 'int32').reshape([1, 6])],
    ['1-D batched', () => tf.tensor2d([[0, 1, 2, 3, 4, 5], [7, 3, 3, 3, 9, 1]], [2, 6], 'int32')],
    ['2-D batched', () => tf.tensor3d(Array.from({ length: 2 * 6 * 2 }, (_, i) => (i * 7) % 5), [2, 6, 2], 'int32')],
  ];
  for (const [name, positions] of cases) {
    await compare(`rope ${name}`, ['rotary'], () => valueAndGrads((x) => {
      const tables = rotaryTables(positions(), 8, 10000);
      return rotate(x, tables);
    }, [{ shape, data: randn(shape, `rx${name}`) }], [0]));
  }
});

test('attention: the fused kernel gives the composed values and gradients (mask per row or shared, QK-norm, 2-D RoPE, no mask)', { skip }, async () => {
  const [batch, length, d] = [2, 7, 24];
  // Row 0 causal; row 1 causal with positions 2-5 seeing each other (an image), as the Transfusion mask.
  const maskData = Array.from({ length: batch * length * length }, (_, i) => {
    const [b, r, c] = [Math.floor(i / (length * length)), Math.floor(i / length) % length, i % length];
    return c <= r || (b === 1 && r >= 2 && r <= 5 && c >= 2 && c <= 5);
  });
  const cases: { name: string; qkNorm: boolean; mask: () => tf.Tensor | null; positions: () => tf.Tensor }[] = [
    { name: 'mask per row', qkNorm: false, mask: () => tf.tensor3d(maskData, [batch, length, length], 'bool'), positions: () => tf.range(0, length, 1, 'int32').reshape([1, length]) },
    { name: 'shared mask, QK-norm, 2-D', qkNorm: true, mask: () => tf.linalg.bandPart(tf.ones([length, length]), -1, 0).cast('bool'), positions: () => tf.tensor3d(Array.from({ length: batch * length * 2 }, (_, i) => (i * 5) % 4), [batch, length, 2], 'int32') },
    { name: 'no mask', qkNorm: false, mask: () => null, positions: () => tf.tensor2d(Array.from({ length: batch * length }, (_, i) => i % 5), [batch, length], 'int32') },
  ];
  for (const c of cases) {
    const block = new MultiHeadAttention(d, 3, { qkNorm: c.qkNorm, rng: new Rng(`attn-${c.name}`) });
    const vars = block.namedParameters().map(([, v]) => v);
    await compare(`attention ${c.name}`, ['attention', 'attentionBackward'], () => tf.tidy(() => {
      const x = tf.tensor(randn([batch, length, d], `ax${c.name}`), [batch, length, d]);
      const inputs = { positions: c.positions(), mask: c.mask() };
      const w = tf.tensor(randn([batch, length, d], 'aw'), [batch, length, d]);
      const { value, grads } = tf.variableGrads(() => block.forward(x, inputs).mul(w).sum() as tf.Scalar, vars);
      const dx = tf.grad((xx: tf.Tensor) => block.forward(xx, inputs).mul(w).sum())(x);
      return [block.forward(x, inputs), value, dx, ...vars.map((v) => grads[v.name])].map((t) => t.dataSync() as Float32Array);
    }), 2e-5);
    block.dispose();
  }
});

test('attention over a KV cache being read (a frozen prefix, as diffusion sampling uses it): fused gives the composed values', { skip }, async () => {
  const model = new Transformer({ dModel: 24, nLayers: 2, nHeads: 2, ffnHidden: 40, initStd: 0.3 }, { rng: new Rng('cached') });
  const [batch, prefix, fresh] = [3, 5, 4];
  const run = (): Float32Array[] => {
    const cache = new KVCache(2);
    const out = tf.tidy(() => {
      const xp = tf.tensor(randn([batch, prefix, 24], 'cp'), [batch, prefix, 24]);
      model.forward(xp, { positions: tf.range(0, prefix, 1, 'int32').reshape([1, prefix]), mask: tf.linalg.bandPart(tf.ones([prefix, prefix]), -1, 0).cast('bool'), cache: { store: cache, mode: 'append' } });
      const xn = tf.tensor(randn([batch, fresh, 24], 'cn'), [batch, fresh, 24]);
      // The new block sees the whole prefix and itself (bidirectional inside, as an image); row 2 also masks key 0.
      const mask = tf.tensor3d(Array.from({ length: batch * fresh * (prefix + fresh) }, (_, i) => !(Math.floor(i / (fresh * (prefix + fresh))) === 2 && i % (prefix + fresh) === 0)), [batch, fresh, prefix + fresh], 'bool');
      const positions = tf.range(prefix, prefix + fresh, 1, 'int32').reshape([1, fresh]);
      const read = () => model.forward(xn, { positions, mask, cache: { store: cache, mode: 'read' } }).dataSync() as Float32Array;
      return [read(), read()];
    });
    cache.dispose();
    return out;
  };
  await compare('cached attention', ['attentionCached'], run, 2e-5);
  model.dispose();
});

test('AdamW: the fused update gives the composed parameters and moments over five steps, decayed or not, one step clipped', { skip }, async () => {
  const run = (): Float32Array[] => {
    const params: [string, tf.Variable][] = [
      ['w', tf.tidy(() => tf.variable(tf.tensor(randn([6, 4], 'pw'), [6, 4])))],
      ['g', tf.tidy(() => tf.variable(tf.tensor(randn([4], 'pg'), [4])))],
    ];
    const opt = new AdamW({ lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 });
    for (let s = 0; s < 5; s++) {
      const grads = { w: tf.tensor(randn([6, 4], `gw${s}`), [6, 4]), g: tf.tensor(randn([4], `gg${s}`), [4]) };
      opt.apply(params, grads, 1e-2 * (s + 1), s === 2 ? 0.37 : 1);
      tf.dispose(Object.values(grads));
    }
    const state = opt.stateDict().tensors;
    const out = [...params.map(([, p]) => p.dataSync() as Float32Array), ...Object.keys(state).sort().map((k) => state[k].dataSync() as Float32Array)];
    opt.dispose();
    params.forEach(([, p]) => p.dispose());
    return out;
  };
  await compare('adamw', ['adamw'], run, 1e-6);
});

test('a transformer training step: fused and composed agree on the loss and every gradient, with no leaks', { skip }, async () => {
  const run = (): Float32Array[] => {
    const model = new Transformer({ dModel: 32, nLayers: 2, nHeads: 4, ffnHidden: 48, initStd: 0.3 }, { rng: new Rng('fused-transformer') });
    const out = tf.tidy(() => {
      const x = tf.tensor(randn([2, 9, 32], 'tx'), [2, 9, 32]);
      const positions = tf.range(0, 9, 1, 'int32').reshape([1, 9]);
      const mask = tf.linalg.bandPart(tf.ones([9, 9]), -1, 0).cast('bool');
      const vars = model.namedParameters().map(([, v]) => v);
      const { value, grads } = tf.variableGrads(() => model.forward(x, { positions, mask }).square().mean() as tf.Scalar, vars);
      return [value, ...vars.map((v) => grads[v.name])].map((t) => t.dataSync() as Float32Array);
    });
    model.dispose();
    return out;
  };
  await compare('transformer', ['rmsNorm', 'rmsNormBackward', 'swiglu', 'swigluBackward', 'attention', 'attentionBackward'], run, 2e-5);
});

test('the global gradient norm: one native sum of squares gives the composed value', { skip }, async () => {
  const { fusedSumSquares } = await import('../../src/engine/fused');
  await compare('sumSquares', ['sumSquares'], () => tf.tidy(() => {
    const ts = [tf.tensor(randn([300, 70], 'n1'), [300, 70]), tf.tensor(randn([5], 'n2'), [5]), tf.scalar(3)];
    return [Float32Array.of(fusedOn() ? fusedSumSquares(ts) : tf.addN(ts.map((t) => t.square().sum())).dataSync()[0])];
  }), 1e-6);
});

test('TRANSFUSION_FUSED=0 is what setFusedKernels(false) does: the composed ops run on nativecpu', { skip }, async () => {
  await tf.setBackend(NATIVECPU);
  setFusedKernels(false);
  assert.equal(fusedOn(), false);
  const before = calls.get('rmsNorm') ?? 0;
  tf.tidy(() => rmsNorm(tf.ones([2, 4]), tf.ones([4]), 1e-6).dataSync());
  assert.equal(calls.get('rmsNorm') ?? 0, before);
  setFusedKernels(true);
  assert.throws(() => setFusedKernels('yes' as unknown as boolean), /expected true or false/);
});
