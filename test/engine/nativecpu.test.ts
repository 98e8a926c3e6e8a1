/**
 * Every kernel `nativecpu` replaces must agree with the cpu kernel it replaces: forward values and, through
 * tf.grads, the gradients that flow through it, on fixed edge shapes and on seeded random shapes. The same
 * cases run on every fast backend available here (nativecpu; wasm too, for the kernels it has), with the
 * pure-JS cpu backend as the reference. Each case also names the addon functions it must reach, so a
 * replacement that silently fell back to JavaScript fails too.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { NATIVECPU, NATIVE_KERNELS, registerNativeCpu } from '../../src/engine/nativecpu';
import { BUILD_HINT, NativeAddon, loadAddon } from '../../src/engine/nativecpuAddon';
import { BufferPool, type NativeCpuBackend } from '../../src/engine/nativecpuBackend';

type Fill = 'normal' | 'positive' | 'index';
interface Input {
  readonly shape: number[];
  readonly fill?: Fill;
  /** For 'index': values in [0, max). */
  readonly max?: number;
}
interface Case {
  readonly name: string;
  /** Addon functions the nativecpu run must call (checked by counting calls). */
  readonly native: ReadonlyArray<keyof NativeAddon>;
  readonly inputs: readonly Input[];
  readonly f: (...xs: tf.Tensor[]) => tf.Tensor;
  /** Also compare d(sum(f * w))/dx for the float inputs. */
  readonly grad?: boolean;
  readonly tol?: number;
  /** Why wasm is left out of this case (a wasm bug, not a nativecpu concern). */
  readonly notOnWasm?: string;
}

const status = registerNativeCpu();
const calls = new Map<string, number>();
const backends: string[] = [];

before(async () => {
  if (!status.ok) return;
  backends.push(NATIVECPU);
  const load = loadAddon();
  if (load.ok) {
    // Count the addon calls; kernels look the functions up on this object at call time.
    const addon = load.addon as unknown as Record<string, (...a: unknown[]) => unknown>;
    for (const name of Object.keys(addon)) {
      const fn = addon[name];
      addon[name] = (...a: unknown[]) => {
        calls.set(name, (calls.get(name) ?? 0) + 1);
        return fn(...a);
      };
    }
  }
  try {
    require('@tensorflow/tfjs-backend-wasm');
    if (await tf.setBackend('wasm')) backends.push('wasm');
  } catch {
    // wasm is only an extra comparison here; its absence is the engine test's business.
  }
});

after(async () => {
  await tf.setBackend('cpu');
});

function data(rng: Rng, input: Input): { values: Float32Array | Int32Array; dtype: 'float32' | 'int32' } {
  const n = input.shape.reduce((a, b) => a * b, 1);
  if (input.fill === 'index') return { values: Int32Array.from({ length: n }, () => rng.int(input.max!)), dtype: 'int32' };
  const positive = input.fill === 'positive';
  return { values: Float32Array.from({ length: n }, () => (positive ? rng.uniform(0.1, 3) : rng.normal())), dtype: 'float32' };
}

interface Result {
  readonly y: Float32Array;
  readonly shape: number[];
  readonly grads: Float32Array[];
}

async function run(c: Case, backend: string, seed: number): Promise<Result> {
  await tf.setBackend(backend);
  const rng = new Rng(seed);
  const xs = c.inputs.map((i) => {
    const d = data(rng, i);
    return tf.tensor(d.values, i.shape, d.dtype);
  });
  const before = tf.memory().numTensors;
  const y = tf.tidy(() => c.f(...xs));
  const out: Result = { y: Float32Array.from(y.dataSync()), shape: y.shape, grads: [] };
  y.dispose();
  if (c.grad) {
    const floats = xs.map((x, i) => (x.dtype === 'float32' ? i : -1)).filter((i) => i >= 0);
    const w = tf.tensor(data(rng, { shape: out.shape }).values, out.shape);
    const loss = (...fx: tf.Tensor[]) => {
      const all = xs.slice();
      floats.forEach((i, j) => (all[i] = fx[j]));
      return tf.sum(tf.mul(c.f(...all), w));
    };
    const grads = tf.grads(loss)(floats.map((i) => xs[i]));
    out.grads.push(...grads.map((g) => Float32Array.from(g.dataSync())));
    tf.dispose([...grads, w]);
  }
  assert.equal(tf.memory().numTensors, before, `${c.name} on ${backend} leaked tensors`);
  tf.dispose(xs);
  return out;
}

function assertClose(actual: Float32Array, expected: Float32Array, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e)) {
      assert.ok(Number.isNaN(a), `${what}[${i}]: ${a}, expected NaN`);
      continue;
    }
    if (a === e) continue;
    assert.ok(Math.abs(a - e) <= tol * (1 + Math.abs(e)), `${what}[${i}]: ${a}, expected ${e} (tol ${tol})`);
  }
}

async function check(c: Case, seed = 1): Promise<void> {
  const reference = await run(c, 'cpu', seed);
  for (const backend of backends) {
    if (backend === 'wasm' && (c.notOnWasm || wasmMissing.has(c.name))) continue;
    calls.clear();
    const got = await run(c, backend, seed);
    const what = `${c.name} on ${backend}`;
    assert.deepEqual(got.shape, reference.shape, `${what}: shape`);
    assertClose(got.y, reference.y, c.tol ?? 1e-5, what);
    got.grads.forEach((g, i) => assertClose(g, reference.grads[i], c.tol ?? 1e-5, `${what}: gradient ${i}`));
    if (backend === NATIVECPU) {
      for (const fn of c.native) assert.ok((calls.get(fn) ?? 0) > 0, `${what} never called the addon's ${fn}`);
    }
  }
}

/** wasm lacks some kernels and some gradients' kernels; try the case and skip wasm if it throws for that. */
const wasmMissing = new Set<string>();
async function probeWasm(c: Case): Promise<void> {
  if (!backends.includes('wasm') || c.notOnWasm) return;
  try {
    await run(c, 'wasm', 1);
  } catch (e) {
    if (/not registered|not yet supported|not implemented/i.test((e as Error).message)) wasmMissing.add(c.name);
    else throw e;
  }
}

async function checkAll(cases: Case[], seed = 1): Promise<void> {
  for (const c of cases) {
    await probeWasm(c);
    await check(c, seed);
  }
}

const skip = status.ok ? false : `nativecpu addon unavailable (${status.ok ? '' : status.why}); ${BUILD_HINT}`;

test('every replaced kernel exists on cpu and is registered for nativecpu', { skip }, () => {
  for (const name of Object.keys(NATIVE_KERNELS)) {
    const native = tf.getKernel(name, NATIVECPU);
    assert.ok(native, `${name} not registered for nativecpu`);
    assert.notEqual(native.kernelFunc, tf.getKernel(name, 'cpu').kernelFunc, `${name} is still the cpu kernel`);
  }
});

test('the addon refuses buffers too short for the shapes it is given, instead of writing past them', { skip }, () => {
  const load = loadAddon();
  assert.ok(load.ok);
  const { addon } = load;
  const f = (n: number) => new Float32Array(n);
  assert.throws(() => addon.binary(0, f(3), [4], f(4), [4], f(4), [4]), /nativecpu: a has 3 elements, needs 4/);
  assert.throws(() => addon.binary(0, f(4), [4], f(4), [4], f(4), [2, 4]), /out has 4 elements, needs 8/);
  assert.throws(() => addon.binary(0, f(4), [4], f(3), [3], f(4), [4]), /do not broadcast/);
  assert.throws(() => addon.matmul(f(6), f(6), f(3), Int32Array.of(0), Int32Array.of(0), 2, 2, 3, false, false), /out has 3 elements, needs 4/);
  assert.throws(() => addon.matmul(f(6), f(6), f(8), Int32Array.of(0, 1), Int32Array.of(0, 0), 2, 2, 3, false, false), /a has 6 elements, needs 12/);
  assert.throws(() => addon.copyStrided(f(4), 0, [1], f(5), 0, [1], [5]), /src has 4 elements, needs 5/);
  assert.throws(() => addon.copyStrided(f(8), 2, [2], f(8), 0, [1], [4]), /src has 8 elements, needs 9/);
  assert.throws(() => addon.unary(99, f(2), f(2), 0, 0), /unknown unary op/);
  assert.throws(() => addon.reduce(0, f(6), [2, 3], [2], f(2)), /axis out of range/);
  assert.throws(() => addon.gather(new Int32Array(6), 1, 3, 2, Int32Array.of(0, 1), f(3)), /out has 3 elements, needs 4/);
});

test('matMul: transposes, batch dims, broadcasting, gradients', { skip }, async () => {
  const cases: Case[] = [];
  for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
    const a = ta ? [53, 37] : [37, 53];
    const b = tb ? [29, 53] : [53, 29];
    cases.push({ name: `matMul ta=${ta} tb=${tb}`, native: ['matmul'], inputs: [{ shape: a }, { shape: b }], f: (x, y) => tf.matMul(x, y, ta, tb), grad: true, tol: 1e-4 });
    const big = ta ? [70, 130] : [130, 70];
    const bigB = tb ? [90, 70] : [70, 90];
    cases.push({ name: `matMul split ta=${ta} tb=${tb}`, native: ['matmul'], inputs: [{ shape: big }, { shape: bigB }], f: (x, y) => tf.matMul(x, y, ta, tb), tol: 1e-4 });
  }
  cases.push(
    { name: 'batched', native: ['matmul'], inputs: [{ shape: [3, 17, 19] }, { shape: [3, 19, 23] }], f: (x, y) => tf.matMul(x, y), grad: true, tol: 1e-4 },
    // No gradient here: tfjs's BatchMatMul gradient does not sum a broadcast operand's gradient back.
    { name: 'rank 3 x rank 2', native: ['matmul'], inputs: [{ shape: [4, 10, 12] }, { shape: [12, 8] }], f: (x, y) => tf.matMul(x, y), tol: 1e-4 },
    { name: 'broadcast batch', native: ['matmul'], inputs: [{ shape: [2, 5, 7] }, { shape: [1, 7, 4] }], f: (x, y) => tf.matMul(x, y), tol: 1e-4 },
    { name: 'attention scores', native: ['matmul'], inputs: [{ shape: [2, 4, 33, 16] }, { shape: [2, 4, 33, 16] }], f: (q, k) => tf.matMul(q, k, false, true), grad: true, tol: 1e-4 },
  );
  await checkAll(cases);
  // The cpu kernel pairs batch entries modulo their counts and sizes its output by the larger count, which
  // is right only when one side has batch 1 or both match; [2, 1] x [1, 3] outer dims need real
  // broadcasting, checked here against an explicit tile instead.
  const a = tf.randomNormal([2, 1, 5, 7], 0, 1, 'float32', 3);
  const b = tf.randomNormal([1, 3, 7, 4], 0, 1, 'float32', 4);
  await tf.setBackend(NATIVECPU);
  const got = tf.matMul(a, b);
  const want = tf.matMul(tf.tile(a, [1, 3, 1, 1]), tf.tile(b, [2, 1, 1, 1]));
  assertClose(got.dataSync() as Float32Array, want.dataSync() as Float32Array, 1e-5, 'broadcast [2,1] x [1,3]');
  tf.dispose([a, b, got, want]);
});

test('fused matMul: bias and every activation', { skip }, async () => {
  const activations = ['linear', 'relu', 'relu6', 'elu', 'leakyrelu', 'sigmoid', 'prelu'] as const;
  await checkAll(activations.map((activation): Case => {
    const prelu = activation === 'prelu';
    return {
      name: `fused ${activation}`,
      native: ['matmul', 'binary'],
      inputs: [{ shape: [9, 12] }, { shape: [11, 12] }, { shape: [11] }, ...(prelu ? [{ shape: [11] }] : [])],
      f: (a, b, bias, alpha) => tf.fused.matMul({ a, b, transposeB: true, bias, activation, preluActivationWeights: alpha, leakyreluAlpha: 0.3 }),
      grad: activation === 'linear' || activation === 'relu' || activation === 'sigmoid',
      tol: 1e-4,
      notOnWasm: 'tfjs-backend-wasm 4.22 adds the bias to the wrong entries when transposeB is set',
    };
  }));
});

test('conv2d (NHWC): strides, padding, dilation, 1x1, gradients, fused', { skip }, async () => {
  const conv = (strides: number, pad: 'same' | 'valid' | number, dilations = 1) =>
    (x: tf.Tensor, w: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, strides, pad, 'NHWC', dilations);
  await checkAll([
    { name: 'conv same', native: ['conv2d', 'conv2dBackpropInput', 'conv2dBackpropFilter'], inputs: [{ shape: [2, 9, 11, 3] }, { shape: [3, 3, 3, 5] }], f: conv(1, 'same'), grad: true, tol: 1e-4 },
    { name: 'conv valid stride 2', native: ['conv2d', 'conv2dBackpropInput', 'conv2dBackpropFilter'], inputs: [{ shape: [3, 10, 9, 4] }, { shape: [3, 2, 4, 6] }], f: conv(2, 'valid'), grad: true, tol: 1e-4 },
    { name: 'conv explicit pad stride 2', native: ['conv2d', 'conv2dBackpropInput', 'conv2dBackpropFilter'], inputs: [{ shape: [2, 8, 8, 2] }, { shape: [4, 4, 2, 3] }], f: conv(2, 1), grad: true, tol: 1e-4 },
    { name: 'conv dilated', native: ['conv2d'], inputs: [{ shape: [1, 12, 12, 3] }, { shape: [3, 3, 3, 4] }], f: conv(1, 'same', 2), tol: 1e-4 },
    { name: 'conv 1x1', native: ['conv2d', 'conv2dBackpropInput', 'conv2dBackpropFilter'], inputs: [{ shape: [2, 5, 6, 7] }, { shape: [1, 1, 7, 3] }], f: conv(1, 'same'), grad: true, tol: 1e-4 },
    {
      name: 'fused conv bias relu', native: ['conv2d', 'binary', 'unary'], inputs: [{ shape: [2, 7, 7, 3] }, { shape: [3, 3, 3, 4] }, { shape: [4] }],
      f: (x, w, bias) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 1, pad: 'same', bias, activation: 'relu' }), grad: true, tol: 1e-4,
    },
  ]);
});

const BINARY: Array<[string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, Fill]> = [
  ['add', tf.add, 'normal'], ['sub', tf.sub, 'normal'], ['mul', tf.mul, 'normal'], ['div', tf.div, 'positive'],
  ['maximum', tf.maximum, 'normal'], ['minimum', tf.minimum, 'normal'], ['squaredDifference', tf.squaredDifference, 'normal'],
  ['pow', tf.pow, 'positive'], ['prelu', tf.prelu, 'normal'],
];

/** tfjs-backend-wasm 4.22's Prelu reads alpha as if it had x's shape (or were a scalar). */
function preluOnWasm(name: string, x: number[], alpha: number[]): string | undefined {
  const plain = alpha.length === 0 || alpha.join() === x.join();
  return name === 'prelu' && !plain ? 'tfjs-backend-wasm 4.22 ignores the broadcasting of prelu\'s alpha' : undefined;
}

test('binary arithmetic with broadcasting, and its gradients', { skip }, async () => {
  const shapes: Array<[number[], number[]]> = [[[4, 5], [4, 5]], [[3, 1, 5], [4, 5]], [[2, 3, 4], [3, 1]], [[6], []], [[], [2, 3]], [[100, 700], [700]], [[1, 70000], [1]]];
  const cases: Case[] = [];
  for (const [name, f, fill] of BINARY) {
    for (const [sa, sb] of shapes) {
      // prelu's alpha broadcasts into x; an x that is itself broadcast is outside its contract.
      if (name === 'prelu' && tf.broadcast_util.assertAndGetBroadcastShape(sa, sb).join() !== sa.join()) continue;
      const big = sa.reduce((x, y) => x * y, 1) > 10000;
      // tfjs's SquaredDifference and Prelu gradients do not reduce over broadcast axes, on any backend.
      const broadcast = sa.join() !== sb.join();
      const grad = !big && name !== 'maximum' && name !== 'minimum' && !((name === 'squaredDifference' || name === 'prelu') && broadcast);
      cases.push({ name: `${name} ${sa} ${sb}`, native: ['binary'], inputs: [{ shape: sa, fill }, { shape: sb, fill }], f, grad, notOnWasm: preluOnWasm(name, sa, sb) });
    }
  }
  await checkAll(cases);
});

test('binary arithmetic on random broadcast shapes', { skip }, async () => {
  const rng = new Rng(11);
  const cases: Case[] = [];
  for (let trial = 0; trial < 12; trial++) {
    const rank = 1 + rng.int(4);
    const out = Array.from({ length: rank }, () => 1 + rng.int(6));
    const pick = () => out.slice(rng.int(rank)).map((d) => (rng.bernoulli(0.3) ? 1 : d));
    const [name, f, fill] = BINARY[rng.int(BINARY.length)];
    const a = name === 'prelu' ? out : pick();
    const b = pick();
    cases.push({ name: `${name} ${a} ${trial}`, native: ['binary'], inputs: [{ shape: a, fill }, { shape: b, fill }], f, notOnWasm: preluOnWasm(name, a, b) });
  }
  await checkAll(cases, 5);
});

test('unary math, and its gradients', { skip }, async () => {
  const ops: Array<[string, (x: tf.Tensor) => tf.Tensor, Fill]> = [
    ['abs', tf.abs, 'normal'], ['neg', tf.neg, 'normal'], ['exp', tf.exp, 'normal'], ['log', tf.log, 'positive'],
    ['log1p', tf.log1p, 'positive'], ['sqrt', tf.sqrt, 'positive'], ['rsqrt', tf.rsqrt, 'positive'], ['square', tf.square, 'normal'],
    ['reciprocal', tf.reciprocal, 'positive'], ['sigmoid', tf.sigmoid, 'normal'], ['tanh', tf.tanh, 'normal'], ['relu', tf.relu, 'normal'],
    ['relu6', (x) => tf.relu6(x.mul(4)), 'normal'], ['elu', tf.elu, 'normal'], ['softplus', (x) => tf.softplus(x.mul(10)), 'normal'],
    ['erf', tf.erf, 'normal'], ['sin', tf.sin, 'normal'], ['cos', tf.cos, 'normal'], ['step', (x) => tf.step(x, 0.25), 'normal'],
    ['leakyRelu', (x) => tf.leakyRelu(x, 0.1), 'normal'], ['clipByValue', (x) => tf.clipByValue(x, -0.5, 0.7), 'normal'],
  ];
  await checkAll(ops.flatMap(([name, f, fill]): Case[] => [
    { name: `${name} small`, native: ['unary'], inputs: [{ shape: [3, 7], fill }], f, grad: name !== 'step' },
    { name: `${name} parallel`, native: ['unary'], inputs: [{ shape: [70001], fill }], f },
  ]));
});

test('exp, sigmoid, softmax, max and min keep inf, NaN and the float range edges', { skip }, async () => {
  const edges = [0, -0, 1e-30, -1e-30, 88.5, 88.8, 89, 100, -87, -100, -103.9, -104, -200, Infinity, -Infinity, NaN, 20, -20];
  for (const backend of backends.filter((b) => b === NATIVECPU)) {
    const rows = (x: tf.Tensor) => x.reshape([3, 6]);
    const long = (x: tf.Tensor) => tf.concat([x, x.neg(), x]); // 54 elements: the vector lanes, NaN inside
    const reductions = [(x: tf.Tensor) => tf.max(rows(x), 1), (x: tf.Tensor) => tf.min(rows(x), 1), (x: tf.Tensor) => tf.max(rows(x), 0),
      (x: tf.Tensor) => tf.max(long(x)), (x: tf.Tensor) => tf.min(long(x)), (x: tf.Tensor) => tf.max(long(x).slice(0, 15)).reshape([1])];
    for (const f of [tf.exp, tf.sigmoid, tf.elu, tf.relu, (x: tf.Tensor) => tf.softmax(rows(x)), ...reductions]) {
      await tf.setBackend('cpu');
      const want = tf.tidy(() => f(tf.tensor1d(edges)).dataSync() as Float32Array);
      await tf.setBackend(backend);
      const got = tf.tidy(() => f(tf.tensor1d(edges)).dataSync() as Float32Array);
      // Near the overflow edge exp differs from Math.exp by an ulp or two; relative tolerance covers that.
      assertClose(got, want, 2e-6, `${f.name || 'softmax'} edges`);
    }
  }
});

test('sum, mean, max, min over every axis set', { skip }, async () => {
  const reductions: Array<[string, (x: tf.Tensor, axis?: number[], keep?: boolean) => tf.Tensor]> = [
    ['sum', tf.sum], ['mean', tf.mean], ['max', tf.max], ['min', tf.min],
  ];
  const axisSets = [[0], [1], [2], [0, 1], [1, 2], [0, 2], [0, 1, 2], [-1]];
  const cases: Case[] = [];
  for (const [name, f] of reductions) {
    for (const axes of axisSets) {
      cases.push({ name: `${name} ${axes}`, native: ['reduce'], inputs: [{ shape: [5, 6, 7] }], f: (x) => f(x, axes, axes.length === 1), grad: name === 'sum' || name === 'mean' || name === 'max' });
      // Long sums: the JS kernels add in double, wasm in float, so the reference is only good to ~1e-5.
      cases.push({ name: `${name} ${axes} large`, native: ['reduce'], inputs: [{ shape: [40, 50, 60] }], f: (x) => f(x, axes), tol: 1e-4 });
    }
    cases.push({ name: `${name} all`, native: ['reduce'], inputs: [{ shape: [300, 400] }], f: (x) => f(x), tol: 1e-4 });
    cases.push({ name: `${name} bias gradient shape`, native: ['reduce'], inputs: [{ shape: [2000, 64] }], f: (x) => f(x, [0]), tol: 1e-4 });
    cases.push({ name: `${name} size-1 axes`, native: ['reduce'], inputs: [{ shape: [1, 4, 1, 5] }], f: (x) => f(x, [0, 2]) });
  }
  await checkAll(cases);
});

test('softmax and logSoftmax over the last axis, with gradients', { skip }, async () => {
  await checkAll([
    { name: 'softmax rows', native: ['softmax'], inputs: [{ shape: [8, 33] }], f: (x) => tf.softmax(x), grad: true },
    { name: 'softmax attention', native: ['softmax'], inputs: [{ shape: [2, 4, 65, 65] }], f: (x) => tf.softmax(x.mul(3)), grad: true },
    { name: 'logSoftmax', native: ['reduce', 'binary'], inputs: [{ shape: [6, 40] }], f: (x) => tf.logSoftmax(x), grad: true },
  ]);
});

test('transpose, slice, split, concat, stack, unstack, tile, pad: float32 and int32', { skip }, async () => {
  await checkAll([
    { name: 'transpose 4d', native: ['copyStrided'], inputs: [{ shape: [3, 4, 5, 6] }], f: (x) => tf.transpose(x, [2, 0, 3, 1]), grad: true },
    { name: 'transpose heads', native: ['copyStrided'], inputs: [{ shape: [2, 33, 4, 16] }], f: (x) => tf.transpose(x, [0, 2, 1, 3]), grad: true },
    { name: 'transpose 2d tiled', native: ['copyStrided'], inputs: [{ shape: [67, 45] }], f: (x) => tf.transpose(x), grad: true },
    { name: 'transpose batched 2d', native: ['copyStrided'], inputs: [{ shape: [5, 40, 70] }], f: (x) => tf.transpose(x, [0, 2, 1]) },
    { name: 'transpose int32', native: ['copyStrided'], inputs: [{ shape: [4, 5, 6], fill: 'index', max: 1000 }], f: (x) => tf.transpose(x, [1, 2, 0]) },
    { name: 'slice', native: ['copyStrided'], inputs: [{ shape: [4, 5, 6] }], f: (x) => tf.slice(x, [1, 0, 2], [2, 5, 3]), grad: true },
    { name: 'slice last axis', native: ['copyStrided'], inputs: [{ shape: [2, 3, 8, 16] }], f: (x) => tf.slice(x, [0, 0, 0, 8], [-1, -1, -1, 8]), grad: true },
    { name: 'split', native: ['copyStrided'], inputs: [{ shape: [3, 4, 10] }], f: (x) => { const [a, b, c] = tf.split(x, [2, 5, 3], 2); return tf.concat([c, a.mul(2), b], 2); }, grad: true },
    { name: 'concat axis 0', native: ['copyStrided'], inputs: [{ shape: [2, 3] }, { shape: [4, 3] }], f: (a, b) => tf.concat([a, b], 0), grad: true },
    { name: 'concat axis 1', native: ['copyStrided'], inputs: [{ shape: [2, 3, 4] }, { shape: [2, 5, 4] }, { shape: [2, 1, 4] }], f: (a, b, c) => tf.concat([a, b, c], 1), grad: true },
    { name: 'concat int32', native: ['copyStrided'], inputs: [{ shape: [3, 2], fill: 'index', max: 9 }, { shape: [3, 4], fill: 'index', max: 9 }], f: (a, b) => tf.concat([a, b], 1) },
    { name: 'pad', native: ['copyStrided'], inputs: [{ shape: [3, 4, 5] }], f: (x) => tf.pad(x, [[1, 0], [0, 2], [3, 1]], 0.5), grad: true },
    { name: 'pad int32', native: ['copyStrided'], inputs: [{ shape: [3, 4], fill: 'index', max: 50 }], f: (x) => tf.pad(x, [[2, 1], [0, 3]], 7) },
    { name: 'stack axis 0', native: ['copyStrided'], inputs: [{ shape: [3, 4] }, { shape: [3, 4] }], f: (a, b) => tf.stack([a, b]), grad: true },
    { name: 'stack axis 1', native: ['copyStrided'], inputs: [{ shape: [3, 4] }, { shape: [3, 4] }, { shape: [3, 4] }], f: (a, b, c) => tf.stack([a, b, c], 1), grad: true },
    { name: 'stack axis -1 int32', native: ['copyStrided'], inputs: [{ shape: [2, 5], fill: 'index', max: 9 }, { shape: [2, 5], fill: 'index', max: 9 }], f: (a, b) => tf.stack([a, b], -1) },
    { name: 'unstack axis 1', native: ['copyStrided'], inputs: [{ shape: [3, 4, 5] }], f: (x) => { const [a, b, , d] = tf.unstack(x, 1); return a.add(b.mul(2)).sub(d); }, grad: true },
    { name: 'unstack axis 2', native: ['copyStrided'], inputs: [{ shape: [2, 3, 4] }], f: (x) => tf.concat(tf.unstack(x, 2).reverse(), 1), grad: true },
    { name: 'tile', native: ['copyStrided'], inputs: [{ shape: [2, 3, 4] }], f: (x) => tf.tile(x, [2, 1, 3]), grad: true },
    { name: 'tile 1-d int32', native: ['copyStrided'], inputs: [{ shape: [5], fill: 'index', max: 9 }], f: (x) => tf.tile(x, [4]) },
    { name: 'tile broadcast row', native: ['copyStrided'], inputs: [{ shape: [1, 6] }], f: (x) => tf.tile(x, [5, 2]) },
  ]);
});

test('gather (embedding lookup) and its gradient, unsortedSegmentSum', { skip }, async () => {
  await checkAll([
    { name: 'embedding', native: ['gather', 'unsortedSegmentSum'], inputs: [{ shape: [50, 8] }, { shape: [3, 7], fill: 'index', max: 50 }], f: (e, i) => tf.gather(e, i), grad: true },
    { name: 'gather axis 1', native: ['gather'], inputs: [{ shape: [4, 9, 5] }, { shape: [6], fill: 'index', max: 9 }], f: (x, i) => tf.gather(x, i, 1), grad: true },
    { name: 'gather int32', native: ['gather'], inputs: [{ shape: [20, 3], fill: 'index', max: 99 }, { shape: [5], fill: 'index', max: 20 }], f: (x, i) => tf.gather(x, i) },
    { name: 'unsortedSegmentSum', native: ['unsortedSegmentSum'], inputs: [{ shape: [30, 6] }, { shape: [30], fill: 'index', max: 7 }], f: (x, i) => tf.unsortedSegmentSum(x, i as tf.Tensor1D, 7), grad: true },
    { name: 'addN', native: ['addN'], inputs: [{ shape: [4, 5] }, { shape: [4, 5] }, { shape: [4, 5] }], f: (a, b, c) => tf.addN([a, b, c]), grad: true },
  ]);
  await tf.setBackend(NATIVECPU);
  const e = tf.ones([5, 2]);
  assert.throws(() => tf.gather(e, tf.tensor1d([1, 5], 'int32')), /GatherV2: the index value 5 is not in \[0, 4\]/);
  e.dispose();
});

test('a transformer block: forward and every parameter gradient agree, with no leaked tensors', { skip }, async () => {
  const [B, L, D, H, V] = [2, 9, 16, 2, 30];
  const block = (emb: tf.Tensor, wqkv: tf.Tensor, wo: tf.Tensor, w1: tf.Tensor, w2: tf.Tensor, ids: tf.Tensor): tf.Tensor => {
    const x = tf.gather(emb, ids.flatten()).reshape([B, L, D]);
    const norm = (t: tf.Tensor) => t.mul(t.square().mean(-1, true).add(1e-6).rsqrt());
    const qkv = tf.matMul(norm(x).reshape([B * L, D]), wqkv).reshape([B, L, 3, H, D / H]).transpose([2, 0, 3, 1, 4]);
    const [q, k, v] = tf.unstack(qkv);
    const half = (t: tf.Tensor) => tf.concat([t.slice([0, 0, 0, D / H / 2], [-1, -1, -1, D / H / 2]).neg(), t.slice([0, 0, 0, 0], [-1, -1, -1, D / H / 2])], -1);
    const mask = tf.linalg.bandPart(tf.ones([L, L]), -1, 0).sub(1).mul(1e9);
    const att = tf.softmax(tf.matMul(q.add(half(q)), k, false, true).div(Math.sqrt(D / H)).add(mask));
    const h = x.add(tf.matMul(att, v).transpose([0, 2, 1, 3]).reshape([B * L, D]).matMul(wo).reshape([B, L, D]));
    const a = tf.matMul(norm(h).reshape([B * L, D]), w1);
    return h.add(a.mul(tf.sigmoid(a)).matMul(w2).reshape([B, L, D]));
  };
  await checkAll([{
    name: 'transformer block',
    native: ['gather', 'matmul', 'softmax', 'copyStrided', 'reduce', 'binary', 'unary', 'unsortedSegmentSum'],
    inputs: [{ shape: [V, D] }, { shape: [D, 3 * D] }, { shape: [D, D] }, { shape: [D, 4 * D] }, { shape: [4 * D, D] }, { shape: [B, L], fill: 'index', max: V }],
    f: block, grad: true, tol: 1e-4,
  }]);
});

test('recycled output buffers never change what a caller still holds', { skip }, async () => {
  await tf.setBackend(NATIVECPU);
  const backend = tf.backend() as NativeCpuBackend;
  const n = 64 * 1024; // 256 KiB: above the pool's minimum size
  const a = tf.randomNormal([n], 0, 1, 'float32', 1);
  const b = tf.randomNormal([n], 0, 1, 'float32', 2);
  const bufferOf = (t: tf.Tensor) => (backend.data.get(t.dataId).values as Float32Array).buffer;

  // The pool does recycle: a disposed output's buffer is the next same-size output's.
  const first = tf.add(a, b);
  const firstBuffer = bufferOf(first);
  first.dispose();
  const second = tf.mul(a, b);
  assert.equal(bufferOf(second), firstBuffer, 'the buffer was recycled');

  // An array read out of a tensor is a copy when the tensor lives in pooled memory.
  const read = second.dataSync();
  const expected = Float32Array.from(read);
  second.dispose();
  tf.dispose([tf.sub(a, b), tf.sub(b, a)]);
  assert.deepEqual(read, expected, 'dataSync result kept after dispose');

  // A contiguous slice is a view on its input's buffer (cpu Slice kernel): the buffer stays in use after
  // the input is disposed, until the view itself is.
  const parent = tf.add(a, b);
  const view = tf.slice(parent, [0], [n / 2]);
  assert.equal(bufferOf(view), bufferOf(parent), 'the slice is a view');
  const viewValues = Float32Array.from(view.dataSync());
  parent.dispose();
  const others = [tf.mul(a, a), tf.mul(b, b), tf.add(b, b)];
  assert.ok(others.every((t) => bufferOf(t) !== bufferOf(view)), 'a buffer in use by a view is not handed out');
  assert.deepEqual(view.dataSync(), viewValues);
  tf.dispose([view, ...others, a, b]);
});

test('a full pool makes room by dropping the buffers released longest ago, so sizes in use now stay pooled', () => {
  const KIB = 1024;
  const pool = new BufferPool(3 * 64 * KIB);
  /** A buffer of `bytes` handed out, used by one tensor, then released. */
  const cycle = (bytes: number) => {
    const b = pool.float32(bytes / 4).buffer;
    pool.retain(b);
    return b;
  };
  // Sampling's sizes fill the pool to its cap.
  const sampling = [cycle(64 * KIB), cycle(64 * KIB), cycle(64 * KIB)];
  sampling.forEach((b) => pool.release(b));
  assert.equal(pool.idleBytes, 3 * 64 * KIB);
  // Training's size comes back: it is pooled, and the oldest sampling buffer makes room for it.
  const training = cycle(128 * KIB);
  pool.release(training);
  assert.equal(pool.idleBytes, 64 * KIB + 128 * KIB, 'two sampling buffers dropped, the training one kept');
  assert.equal(pool.float32(32 * KIB).buffer, training, 'the training size is recycled');
  // The newest sampling buffer survived; the two released first did not.
  assert.equal(pool.float32(16 * KIB).buffer, sampling[2]);
  assert.notEqual(pool.float32(16 * KIB).buffer, sampling[1]);
  assert.equal(pool.idleBytes, 0);
  // A buffer bigger than the whole cap is never pooled, and evicts nothing.
  const small = cycle(64 * KIB);
  pool.release(small);
  const huge = cycle(4 * 64 * KIB);
  pool.release(huge);
  assert.equal(pool.idleBytes, 64 * KIB);
  assert.equal(pool.float32(16 * KIB).buffer, small);
});

test('a cast from int32 or bool to float32 stores float32 values, so the float32 kernels after it run natively', { skip }, async () => {
  await tf.setBackend(NATIVECPU);
  const backend = tf.backend() as NativeCpuBackend;
  const before = tf.memory().numTensors;
  const positions = tf.tensor2d([[0, 1, 2], [3, -4, 70000]], [2, 3], 'int32');
  const flags = tf.tensor1d([true, false, true], 'bool');
  const [fromInt, fromBool] = [positions.toFloat(), flags.toFloat()];
  assert.equal(fromInt.dtype, 'float32');
  assert.ok(backend.data.get(fromInt.dataId).values instanceof Float32Array, 'int32 -> float32 is stored as a Float32Array');
  assert.ok(backend.data.get(fromBool.dataId).values instanceof Float32Array, 'bool -> float32 is stored as a Float32Array');
  assert.deepEqual(Array.from(fromInt.dataSync()), [0, 1, 2, 3, -4, 70000]);
  assert.deepEqual(Array.from(fromBool.dataSync()), [1, 0, 1]);
  calls.clear();
  const half = tf.scalar(0.5);
  const scaled = fromInt.mul(half);
  assert.ok((calls.get('binary') ?? 0) > 0, 'the multiply after the cast ran in the addon');
  assert.deepEqual(Array.from(scaled.dataSync()), [0, 0.5, 1, 1.5, -2, 35000]);
  // Other casts keep the cpu kernel's results.
  tf.tidy(() => {
    assert.deepEqual(Array.from(tf.tensor1d([1.7, -2.2, 0]).cast('int32').dataSync()), [1, -2, 0]);
    assert.deepEqual(Array.from(tf.tensor1d([1.7, 0]).cast('bool').dataSync()), [1, 0]);
  });
  tf.dispose([positions, flags, fromInt, fromBool, half, scaled]);
  assert.equal(tf.memory().numTensors, before, 'no tensors leak');
});
