/**
 * The elementwise and reduction kernels of `nativecpu`: broadcast binary arithmetic, unary math, AddN,
 * Sum / Mean / Max / Min over any axes, Softmax, and the widening Cast to float32. All on float32; other dtypes
 * keep the cpu kernels.
 *
 * In a transformer step these are the many small ops between the matmuls (residual adds, norms, the
 * softmax and its gradient, optimizer updates) and, unlike the cpu kernels, they neither transpose the
 * input before reducing nor walk broadcast indices element by element.
 */
import { tf } from './tf';
import { BINARY_OPS, NativeAddon, REDUCE_OPS, UNARY_OPS } from './nativecpuAddon';
import { KernelArgs, KernelResult, KernelTable, NativeKernel, alloc, attr, f32, input, listInputs, output, sizeOf } from './nativecpuKernel';

function binaryKernel(name: keyof typeof BINARY_OPS, inputs: readonly [string, string]): NativeKernel {
  const op = BINARY_OPS[name];
  return (args, addon, cpu) => {
    const a = input(args, inputs[0]);
    const b = input(args, inputs[1]);
    const av = f32(args.backend, a);
    const bv = f32(args.backend, b);
    if (!av || !bv) return cpu();
    const shape = tf.broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const out = alloc(args.backend, sizeOf(shape));
    addon.binary(op, av, a.shape, bv, b.shape, out, shape);
    return output(args.backend, shape, 'float32', out);
  };
}

/**
 * `alphaAttr`, `betaAttr`: the attributes passed as the op's parameters (Step's value at x <= 0,
 * LeakyRelu's slope; ClipByValue's bounds).
 */
function unaryKernel(name: keyof typeof UNARY_OPS, alphaAttr?: string, betaAttr?: string): NativeKernel {
  const op = UNARY_OPS[name];
  return (args, addon, cpu) => {
    const x = input(args, 'x');
    const xv = f32(args.backend, x);
    if (!xv) return cpu();
    const out = alloc(args.backend, xv.length);
    addon.unary(op, xv, out, alphaAttr ? attr<number>(args, alphaAttr) : 0, betaAttr ? attr<number>(args, betaAttr) : 0);
    return output(args.backend, x.shape, 'float32', out);
  };
}

/** `axisAttr`: the attribute naming the axes (Max calls it reductionIndices, the others axis). */
function reduceKernel(name: keyof typeof REDUCE_OPS, axisAttr: string): NativeKernel {
  const op = REDUCE_OPS[name];
  return (args, addon, cpu) => {
    const x = input(args, 'x');
    const xv = f32(args.backend, x);
    if (!xv) return cpu();
    const axes = tf.util.parseAxisParam(attr<number | number[]>(args, axisAttr), x.shape);
    const [kept] = tf.backend_util.computeOutAndReduceShapes(x.shape, axes);
    const out = alloc(args.backend, sizeOf(kept));
    addon.reduce(op, xv, x.shape, axes, out);
    const shape = attr<boolean>(args, 'keepDims') ? tf.backend_util.expandShapeToKeepDim(kept, axes) : kept;
    return output(args.backend, shape, 'float32', out);
  };
}

function softmax(args: KernelArgs, addon: NativeAddon, cpu: () => KernelResult): KernelResult {
  const logits = input(args, 'logits');
  const xv = f32(args.backend, logits);
  const rank = logits.shape.length;
  const dim = attr<number>(args, 'dim');
  // The cpu kernel supports only the last axis (and throws otherwise): leave anything else to it.
  if (!xv || rank === 0 || (dim !== -1 && dim !== rank - 1) || xv.length === 0) return cpu();
  const out = alloc(args.backend, xv.length);
  addon.softmax(xv, out, logits.shape[rank - 1]);
  return output(args.backend, logits.shape, 'float32', out);
}

function addN(args: KernelArgs, addon: NativeAddon, cpu: () => KernelResult): KernelResult {
  const tensors = listInputs(args);
  const values = tensors.map((t) => f32(args.backend, t));
  if (tensors.length === 0 || values.some((v) => !v)) return cpu();
  const out = alloc(args.backend, sizeOf(tensors[0].shape));
  addon.addN(values as Float32Array[], out);
  return output(args.backend, tensors[0].shape, 'float32', out);
}

/**
 * Cast to float32 from int32 or bool. tfjs's cpu kernel widens by relabelling the same Int32Array or Uint8Array
 * as float32 (no precision is lost), so every float32 kernel after it finds non-float32 storage and falls back
 * to JavaScript: RoPE's angles from integer positions did, 3% of a training step's CPU in a profile. Here the
 * values are converted into a Float32Array (TypedArray.prototype.set, V8's own conversion loop). Other casts
 * keep the cpu kernel.
 */
function cast(args: KernelArgs, _addon: NativeAddon, cpu: () => KernelResult): KernelResult {
  const x = input(args, 'x');
  if (attr<tf.DataType>(args, 'dtype') !== 'float32' || (x.dtype !== 'int32' && x.dtype !== 'bool')) return cpu();
  const values = args.backend.data.get(x.dataId).values;
  if (!(values instanceof Int32Array || values instanceof Uint8Array)) return cpu();
  const out = alloc(args.backend, values.length);
  out.set(values);
  return output(args.backend, x.shape, 'float32', out);
}

export const ELEMENTWISE_KERNELS: KernelTable = {
  Add: binaryKernel('Add', ['a', 'b']),
  Sub: binaryKernel('Sub', ['a', 'b']),
  Multiply: binaryKernel('Multiply', ['a', 'b']),
  RealDiv: binaryKernel('RealDiv', ['a', 'b']),
  Maximum: binaryKernel('Maximum', ['a', 'b']),
  Minimum: binaryKernel('Minimum', ['a', 'b']),
  SquaredDifference: binaryKernel('SquaredDifference', ['a', 'b']),
  Pow: binaryKernel('Pow', ['a', 'b']),
  Prelu: binaryKernel('Prelu', ['x', 'alpha']),

  Abs: unaryKernel('Abs'),
  Neg: unaryKernel('Neg'),
  Exp: unaryKernel('Exp'),
  Log: unaryKernel('Log'),
  Log1p: unaryKernel('Log1p'),
  Sqrt: unaryKernel('Sqrt'),
  Rsqrt: unaryKernel('Rsqrt'),
  Square: unaryKernel('Square'),
  Reciprocal: unaryKernel('Reciprocal'),
  Sigmoid: unaryKernel('Sigmoid'),
  Tanh: unaryKernel('Tanh'),
  Relu: unaryKernel('Relu'),
  Relu6: unaryKernel('Relu6'),
  Elu: unaryKernel('Elu'),
  Softplus: unaryKernel('Softplus'),
  Erf: unaryKernel('Erf'),
  Sin: unaryKernel('Sin'),
  Cos: unaryKernel('Cos'),
  Step: unaryKernel('Step', 'alpha'),
  LeakyRelu: unaryKernel('LeakyRelu', 'alpha'),
  ClipByValue: unaryKernel('ClipByValue', 'clipValueMin', 'clipValueMax'),

  AddN: addN,

  Sum: reduceKernel('Sum', 'axis'),
  Mean: reduceKernel('Mean', 'axis'),
  Max: reduceKernel('Max', 'reductionIndices'),
  Min: reduceKernel('Min', 'axis'),

  Softmax: softmax,
  Cast: cast,
};
