/**
 * Finding and loading the `nativecpu` Node addon (native/, built by `npm run build:native`), and its typed
 * surface. Loading never throws: a missing or broken build is reported as one clause saying why (callers
 * add BUILD_HINT), so the engine can fall back to another backend and say so.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A typed array of 4-byte elements: the layout kernels move float32 and int32 tensors alike. */
export type Words = Float32Array | Int32Array;

/**
 * The addon's functions (native/src/addon.cc). Every buffer is a tensor's own typed array, read or written
 * in place; shapes are plain arrays; the addon checks each buffer is long enough and throws if not.
 */
export interface NativeAddon {
  /** out[i] = op(a[aIndex[i]]) op(b[bIndex[i]]): a [*, m, k] ([*, k, m] transposed), b [*, k, n], out [batch, m, n]. */
  matmul(a: Float32Array, b: Float32Array, out: Float32Array, aIndex: Int32Array, bIndex: Int32Array,
    m: number, n: number, k: number, transA: boolean, transB: boolean): void;
  /** NHWC input, HWIO filter; `geometry` as packed by `convGeometry` (nativecpuMatmul.ts). */
  conv2d(x: Float32Array, filter: Float32Array, out: Float32Array, geometry: Int32Array): void;
  conv2dBackpropInput(dy: Float32Array, filter: Float32Array, dx: Float32Array, geometry: Int32Array): void;
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, geometry: Int32Array): void;
  /** out = a op b, numpy broadcasting; op from BINARY_OPS. `out` may be `a` (in place). */
  binary(op: number, a: Float32Array, aShape: readonly number[], b: Float32Array, bShape: readonly number[],
    out: Float32Array, outShape: readonly number[]): void;
  /**
   * out = op(x) elementwise; op from UNARY_OPS; alpha is Step's and LeakyRelu's attribute and ClipByValue's
   * minimum, beta ClipByValue's maximum (0 for the others). In place allowed.
   */
  unary(op: number, x: Float32Array, out: Float32Array, alpha: number, beta: number): void;
  addN(xs: Float32Array[], out: Float32Array): void;
  /** Reduces over `axes` (any set); out holds the kept axes in order. op from REDUCE_OPS. */
  reduce(op: number, x: Float32Array, shape: readonly number[], axes: readonly number[], out: Float32Array): void;
  /** Softmax over rows of n. */
  softmax(x: Float32Array, out: Float32Array, n: number): void;
  /** dst[dstOffset + i . dstStrides] = src[srcOffset + i . srcStrides] for every index i in `shape`. */
  copyStrided(src: Words, srcOffset: number, srcStrides: readonly number[], dst: Words, dstOffset: number,
    dstStrides: readonly number[], shape: readonly number[]): void;
  /** out[o, j, i] = x[o, indices[j], i] for x [outer, axis, inner]; returns the first bad position or -1. */
  gather(x: Words, outer: number, axis: number, inner: number, indices: Int32Array, out: Words): number;
  /** out[s, :] = sum of x[j, :] over j with ids[j] == s; x [ids.length, inner], out [segments, inner]. */
  unsortedSegmentSum(x: Float32Array, ids: Int32Array, inner: number, segments: number, out: Float32Array): void;
  /** out = x / sqrt(mean(x^2) + eps) * w over rows of d (native/src/fused.cc, as every fused kernel below). */
  rmsNorm(x: Float32Array, w: Float32Array, out: Float32Array, d: number, eps: number): void;
  /** rmsNorm's gradients dx and dw, given dy. */
  rmsNormBackward(dy: Float32Array, x: Float32Array, w: Float32Array, dx: Float32Array, dw: Float32Array, d: number, eps: number): void;
  /** out = a * sigmoid(a) * b. */
  swiglu(a: Float32Array, b: Float32Array, out: Float32Array): void;
  swigluBackward(dy: Float32Array, a: Float32Array, b: Float32Array, da: Float32Array, db: Float32Array): void;
  /** RoPE's rotate-half rotation of x [batch, heads, length, 2 half] by tables [batch or 1, length, half]. */
  rotary(x: Float32Array, cos: Float32Array, sin: Float32Array, out: Float32Array, batch: number, heads: number,
    length: number, half: number, tableBatched: boolean, inverse: boolean): void;
  /**
   * Self-attention with RoPE: q, k, v, out [batch, length, heads, 2 half]; tables [batch or 1, length, half]; bias
   * (additive mask) [batch or 1, length, length] or null; probs [batch, heads, length, length] (kept for the backward).
   */
  attention(q: Float32Array, k: Float32Array, v: Float32Array, cos: Float32Array, sin: Float32Array, bias: Float32Array | null,
    out: Float32Array, probs: Float32Array, batch: number, length: number, heads: number, half: number, tablesBatched: boolean,
    biasBatched: boolean): void;
  /** `attention` after a cached past (inference only): pastK, pastV [batch, heads, past, 2 half]; bias [batch or 1, length, past + length] or null. */
  attentionCached(q: Float32Array, k: Float32Array, v: Float32Array, pastK: Float32Array, pastV: Float32Array, past: number,
    cos: Float32Array, sin: Float32Array, bias: Float32Array | null, out: Float32Array, batch: number, length: number, heads: number,
    half: number, tablesBatched: boolean, biasBatched: boolean): void;
  attentionBackward(dout: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, cos: Float32Array, sin: Float32Array,
    probs: Float32Array, dq: Float32Array, dk: Float32Array, dv: Float32Array, batch: number, length: number, heads: number,
    half: number, tablesBatched: boolean): void;
  /**
   * AdamW over every tensor in one call: each entry [p, g, m, v, pOut, mOut, vOut]; decay[i] = 1 where tensor i
   * decays; hyper = [lr, beta1, beta2, eps, lr * weightDecay, bc1, bc2, gradScale] (each gradient is multiplied
   * by gradScale first: global-norm clipping).
   */
  adamw(tensors: Float32Array[][], decay: Uint8Array, hyper: Float32Array): void;
  /** The sum of squares of every element of every array, accumulated in double. */
  sumSquares(arrays: Float32Array[]): number;
  threads(): number;
  setThreads(n: number): void;
}

/** Binary op codes, by tfjs kernel name (the order of `Binary` in native/src/kernels.h). */
export const BINARY_OPS = {
  Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, Maximum: 4, Minimum: 5, SquaredDifference: 6, Pow: 7, Prelu: 8,
} as const;

/** Unary op codes, by tfjs kernel name (the order of `Unary` in native/src/kernels.h). */
export const UNARY_OPS = {
  Abs: 0, Neg: 1, Exp: 2, Log: 3, Log1p: 4, Sqrt: 5, Rsqrt: 6, Square: 7, Reciprocal: 8, Sigmoid: 9, Tanh: 10,
  Relu: 11, Relu6: 12, Elu: 13, Softplus: 14, Erf: 15, Sin: 16, Cos: 17, Step: 18, LeakyRelu: 19, ClipByValue: 20,
} as const;

/** Reduction op codes, by tfjs kernel name (the order of `Reduce` in native/src/kernels.h). */
export const REDUCE_OPS = { Sum: 0, Mean: 1, Max: 2, Min: 3 } as const;

/** How to get the addon, for messages that report it missing. */
export const BUILD_HINT = 'build it with `npm run build:native`, which needs g++, make and OpenBLAS: apt-get install g++ make libopenblas-dev';

const ADDON_FILE = path.join('native', 'build', 'Release', 'nativecpu.node');

/**
 * The built addon: TRANSFUSION_NATIVECPU_ADDON when set (a build kept elsewhere), else native/build/Release
 * looked for above this file (src/engine under ts-node, dist/src/engine once compiled). Null if not found.
 */
export function addonPath(): string | null {
  const explicit = process.env.TRANSFUSION_NATIVECPU_ADDON;
  if (explicit) return fs.existsSync(explicit) ? path.resolve(explicit) : null;
  for (let dir = __dirname, i = 0; i < 5; dir = path.dirname(dir), i++) {
    const candidate = path.join(dir, ADDON_FILE);
    if (fs.existsSync(candidate)) return candidate;
  }
  return null;
}

export type AddonLoad =
  | { readonly ok: true; readonly addon: NativeAddon; readonly path: string; readonly blasCore: string }
  | { readonly ok: false; readonly why: string };

let loaded: AddonLoad | null = null;

/** Loads the addon once per process; later calls return the first outcome. */
export function loadAddon(): AddonLoad {
  if (loaded) return loaded;
  const file = addonPath();
  if (!file) {
    const where = process.env.TRANSFUSION_NATIVECPU_ADDON || ADDON_FILE;
    loaded = { ok: false, why: `the nativecpu addon is not built (no ${where})` };
    return loaded;
  }
  const core = blasCoreOverride();
  const before = process.env.OPENBLAS_CORETYPE;
  if (core) process.env.OPENBLAS_CORETYPE = core;
  try {
    // dlopen rather than require: the file is always taken as a native addon, whatever its name.
    const module = { exports: {} as NativeAddon };
    process.dlopen(module, file);
    const addon = module.exports;
    if (typeof addon.matmul !== 'function') throw new Error(`${file} is not the nativecpu addon`);
    loaded = { ok: true, addon, path: file, blasCore: core ?? before ?? 'auto' };
  } catch (e) {
    loaded = { ok: false, why: `the nativecpu addon failed to load: ${(e as Error).message.split('\n')[0]}` };
  } finally {
    // OpenBLAS reads the variable once, when the library loads; child processes should not inherit it.
    if (core) {
      if (before === undefined) delete process.env.OPENBLAS_CORETYPE;
      else process.env.OPENBLAS_CORETYPE = before;
    }
  }
  return loaded;
}

/**
 * OpenBLAS 0.3.21 (Debian 12) does not recognise AMD's AVX-512 cores (Zen 4 and later) and falls back to
 * its Haswell kernels there; its SkylakeX kernels, which need only the AVX-512 subsets checked here, are
 * about twice as fast on them (measured on an EPYC Zen 5: 203 vs 98 GFLOP/s for a 512^3 sgemm on one
 * thread). Nothing is overridden when the user set OPENBLAS_CORETYPE.
 */
function blasCoreOverride(): string | null {
  if (process.env.OPENBLAS_CORETYPE || process.platform !== 'linux') return null;
  let info: string;
  try {
    info = fs.readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return null;
  }
  const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(info)?.[1] ?? '').split(/\s+/));
  const amd = /^vendor_id\s*:\s*AuthenticAMD/m.test(info);
  return amd && ['avx512f', 'avx512dq', 'avx512bw', 'avx512vl'].every((f) => flags.has(f)) ? 'SkylakeX' : null;
}
