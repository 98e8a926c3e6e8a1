/**
 * The fused kernels of `nativecpu` (native/src/fused.cc): RMSNorm, SwiGLU's gate, RoPE's rotation and attention
 * (with RoPE, and over a KV cache's past), each with its backward, as tfjs kernels of their own names with
 * registered gradients. They exist on this backend only;
 * src/engine/fused.ts calls them when `nativecpu` runs and the composed ops otherwise, so every other backend
 * computes the same functions.
 *
 * Why fuse: a training step of a small transformer calls about 2,500 kernels, and the engine's bookkeeping around
 * each (tape, tidy, output allocation) costs as much as a small kernel itself; RMSNorm alone is six kernels
 * forward and about a dozen backward, SwiGLU's gate three and six, RoPE nine and as many. One pass over memory
 * also replaces several (`npm run bench:profile` shows the kernels of a step).
 */
import { tf } from './tf';
import type { NativeAddon } from './nativecpuAddon';
import { KernelArgs, alloc, attr, f32, input, output, sizeOf } from './nativecpuKernel';

/** Kernel names (no underscore: tfjs splits kernel keys on '_'). */
export const FUSED = {
  rmsNorm: 'NativecpuRmsNorm',
  rmsNormGrad: 'NativecpuRmsNormGrad',
  swiglu: 'NativecpuSwiglu',
  swigluGrad: 'NativecpuSwigluGrad',
  rotary: 'NativecpuRotary',
  attention: 'NativecpuAttention',
  attentionGrad: 'NativecpuAttentionGrad',
  attentionCached: 'NativecpuAttentionCached',
} as const;

type FusedKernel = (args: KernelArgs, addon: NativeAddon) => tf.TensorInfo | tf.TensorInfo[];

function floats(args: KernelArgs, name: string): { info: tf.TensorInfo; values: Float32Array } {
  const info = input(args, name);
  const values = f32(args.backend, info);
  // src/engine/fused.ts only calls these kernels on float32 tensors; anything else is a bug there.
  if (!values) throw new Error(`nativecpu fused kernel: input '${name}' is ${info.dtype}, not float32`);
  return { info, values };
}

/** Whether `t` (RoPE tables, an additive mask) has one row per batch row, rather than one shared by all. */
const perRow = (t: tf.TensorInfo, batch: number): boolean => t.shape[0] === batch && batch > 1;

const KERNELS: Readonly<Record<string, FusedKernel>> = {
  [FUSED.rmsNorm]: (args, addon) => {
    const x = floats(args, 'x');
    const w = floats(args, 'weight');
    const d = w.values.length;
    const out = alloc(args.backend, x.values.length);
    addon.rmsNorm(x.values, w.values, out, d, attr<number>(args, 'eps'));
    return output(args.backend, x.info.shape, 'float32', out);
  },
  [FUSED.rmsNormGrad]: (args, addon) => {
    const dy = floats(args, 'dy');
    const x = floats(args, 'x');
    const w = floats(args, 'weight');
    const dx = alloc(args.backend, x.values.length);
    const dw = alloc(args.backend, w.values.length);
    addon.rmsNormBackward(dy.values, x.values, w.values, dx, dw, w.values.length, attr<number>(args, 'eps'));
    return [output(args.backend, x.info.shape, 'float32', dx), output(args.backend, w.info.shape, 'float32', dw)];
  },
  [FUSED.swiglu]: (args, addon) => {
    const a = floats(args, 'a');
    const b = floats(args, 'b');
    const out = alloc(args.backend, a.values.length);
    addon.swiglu(a.values, b.values, out);
    return output(args.backend, a.info.shape, 'float32', out);
  },
  [FUSED.swigluGrad]: (args, addon) => {
    const dy = floats(args, 'dy');
    const a = floats(args, 'a');
    const b = floats(args, 'b');
    const da = alloc(args.backend, a.values.length);
    const db = alloc(args.backend, b.values.length);
    addon.swigluBackward(dy.values, a.values, b.values, da, db);
    return [output(args.backend, a.info.shape, 'float32', da), output(args.backend, b.info.shape, 'float32', db)];
  },
  [FUSED.rotary]: (args, addon) => {
    const x = floats(args, 'x');
    const cos = floats(args, 'cos');
    const sin = floats(args, 'sin');
    const [batch, heads, length, width] = x.info.shape;
    const out = alloc(args.backend, sizeOf(x.info.shape));
    addon.rotary(x.values, cos.values, sin.values, out, batch, heads, length, width / 2, perRow(cos.info, batch), attr<boolean>(args, 'inverse'));
    return output(args.backend, x.info.shape, 'float32', out);
  },
  [FUSED.attention]: (args, addon) => {
    const q = floats(args, 'q');
    const k = floats(args, 'k');
    const v = floats(args, 'v');
    const cos = floats(args, 'cos');
    const sin = floats(args, 'sin');
    const bias = args.inputs.bias ? floats(args, 'bias') : null;
    const [batch, length, heads, width] = q.info.shape;
    const out = alloc(args.backend, q.values.length);
    const probs = alloc(args.backend, batch * heads * length * length);
    addon.attention(q.values, k.values, v.values, cos.values, sin.values, bias?.values ?? null, out, probs, batch, length, heads, width / 2,
      perRow(cos.info, batch), bias !== null && perRow(bias.info, batch));
    return [output(args.backend, q.info.shape, 'float32', out), output(args.backend, [batch, heads, length, length], 'float32', probs)];
  },
  [FUSED.attentionCached]: (args, addon) => {
    const q = floats(args, 'q');
    const k = floats(args, 'k');
    const v = floats(args, 'v');
    const pastK = floats(args, 'pastK');
    const pastV = floats(args, 'pastV');
    const cos = floats(args, 'cos');
    const sin = floats(args, 'sin');
    const bias = args.inputs.bias ? floats(args, 'bias') : null;
    const [batch, length, heads, width] = q.info.shape;
    const out = alloc(args.backend, q.values.length);
    addon.attentionCached(q.values, k.values, v.values, pastK.values, pastV.values, pastK.info.shape[2], cos.values, sin.values,
      bias?.values ?? null, out, batch, length, heads, width / 2, perRow(cos.info, batch), bias !== null && perRow(bias.info, batch));
    return output(args.backend, q.info.shape, 'float32', out);
  },
  [FUSED.attentionGrad]: (args, addon) => {
    const dy = floats(args, 'dy');
    const q = floats(args, 'q');
    const k = floats(args, 'k');
    const v = floats(args, 'v');
    const cos = floats(args, 'cos');
    const sin = floats(args, 'sin');
    const probs = floats(args, 'probs');
    const [batch, length, heads, width] = q.info.shape;
    const [dq, dk, dv] = [0, 1, 2].map(() => alloc(args.backend, q.values.length));
    addon.attentionBackward(dy.values, q.values, k.values, v.values, cos.values, sin.values, probs.values, dq, dk, dv,
      batch, length, heads, width / 2, perRow(cos.info, batch));
    return [dq, dk, dv].map((d) => output(args.backend, q.info.shape, 'float32', d));
  },
};

/** Runs a fused kernel on the current backend: one output, or the list of a several-output kernel. */
export const runFused = (name: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap = {}): tf.Tensor | tf.Tensor[] =>
  tf.engine().runKernel(name, inputs, attrs) as tf.Tensor | tf.Tensor[];

/** The gradient closure of an input that is never trained (RoPE's tables, the mask): asked for, it says so. */
const untrained = (what: string) => (): tf.Tensor => {
  throw new Error(`${what} have no gradient here (positions and masks are not trained)`);
};

/** The gradients, registered once per process (gradients are per kernel name, not per backend). */
function registerGradients(): void {
  tf.registerGradient({
    kernelName: FUSED.rmsNorm,
    inputsToSave: ['x', 'weight'],
    gradFunc: (dy, saved, attrs) => {
      const [x, weight] = saved;
      // Both gradients in one pass, computed here rather than in the per-input closures: tfjs runs each closure
      // in its own tidy, which would dispose the output the other closure returns.
      const [dx, dw] = runFused(FUSED.rmsNormGrad, { dy: dy as tf.Tensor, x, weight }, { eps: attrs.eps }) as tf.Tensor[];
      return { x: () => dx, weight: () => dw };
    },
  });
  tf.registerGradient({
    kernelName: FUSED.swiglu,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved) => {
      const [a, b] = saved;
      const [da, db] = runFused(FUSED.swigluGrad, { dy: dy as tf.Tensor, a, b }) as tf.Tensor[];
      return { a: () => da, b: () => db };
    },
  });
  tf.registerGradient({
    kernelName: FUSED.rotary,
    inputsToSave: ['cos', 'sin'],
    gradFunc: (dy, saved, attrs) => {
      const [cos, sin] = saved;
      const tables = untrained("RoPE's angle tables");
      return { x: () => runFused(FUSED.rotary, { x: dy as tf.Tensor, cos, sin }, { inverse: !attrs.inverse }) as tf.Tensor, cos: tables, sin: tables };
    },
  });
  tf.registerGradient({
    kernelName: FUSED.attention,
    inputsToSave: ['q', 'k', 'v', 'cos', 'sin'],
    outputsToSave: [false, true],
    gradFunc: (dys, saved) => {
      const [q, k, v, cos, sin, probs] = saved;
      // Only the attention's output carries a gradient; the probabilities are returned for the backward alone.
      const dy = Array.isArray(dys) ? dys[0] : dys;
      const [dq, dk, dv] = runFused(FUSED.attentionGrad, { dy, q, k, v, cos, sin, probs }) as tf.Tensor[];
      const none = untrained("fused attention's RoPE tables and mask");
      return { q: () => dq, k: () => dk, v: () => dv, cos: none, sin: none, bias: none };
    },
  });
}

/** Registers the fused kernels on `backendName` (nativecpu.ts calls it with the backend). */
export function registerFusedKernels(backendName: string, addon: NativeAddon): void {
  for (const [name, kernel] of Object.entries(KERNELS)) {
    tf.registerKernel({ kernelName: name, backendName, kernelFunc: (params) => kernel(params as unknown as KernelArgs, addon) });
  }
  registerGradients();
}
