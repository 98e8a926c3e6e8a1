/**
 * The GEMM-shaped kernels of `nativecpu`: BatchMatMul and _FusedMatMul on OpenBLAS sgemm, and the NHWC 2-D
 * convolution with both of its gradients (im2col + sgemm), plain and fused.
 *
 * The cpu backend's fused kernels call its own batchMatMul / conv2D functions directly, not through the
 * kernel registry, so replacing BatchMatMul alone would leave tf.fused.matMul (used by tfjs-layers' Dense)
 * in JavaScript: the fused kernels are replaced here too, with their bias and activation done natively.
 */
import { tf } from './tf';
import { BINARY_OPS, NativeAddon, UNARY_OPS } from './nativecpuAddon';
import { KernelArgs, KernelTable, TensorInfo, alloc, attr, f32, input, output, sizeOf } from './nativecpuKernel';

/** For each output batch entry, the batch entry of an operand with outer shape `outer` (numpy broadcasting). */
function batchIndex(outer: readonly number[], out: readonly number[]): Int32Array {
  const strides = new Array<number>(out.length).fill(0);
  for (let i = outer.length - 1, acc = 1, d = out.length - 1; i >= 0; i--, d--) {
    if (outer[i] !== 1) strides[d] = acc;
    acc *= outer[i];
  }
  const index = new Int32Array(sizeOf(out));
  for (let b = 0; b < index.length; b++) {
    let rem = b;
    let at = 0;
    for (let d = out.length - 1; d >= 0; d--) {
      const k = rem % out[d];
      rem = (rem - k) / out[d];
      at += k * strides[d];
    }
    index[b] = at;
  }
  return index;
}

/** a [..., m, k] times b [..., k, n] (either transposed), batch dims broadcast; null unless both are float32. */
function matmul(addon: NativeAddon, args: KernelArgs, a: TensorInfo, b: TensorInfo, transA: boolean, transB: boolean): TensorInfo | null {
  const av = f32(args.backend, a);
  const bv = f32(args.backend, b);
  if (!av || !bv || a.shape.length < 2 || b.shape.length < 2) return null;
  const ra = a.shape.length;
  const rb = b.shape.length;
  const m = transA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = transB ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = transB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (k !== kb) {
    throw new Error(`Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${a.shape} and ` +
      `${b.shape} and transposeA=${transA} and transposeB=${transB} must match.`);
  }
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
  const out = alloc(args.backend, sizeOf(outer) * m * n);
  addon.matmul(av, bv, out, batchIndex(outerA, outer), batchIndex(outerB, outer), m, n, k, transA, transB);
  return output(args.backend, [...outer, m, n], 'float32', out);
}

type Activation = 'linear' | 'relu' | 'relu6' | 'elu' | 'leakyrelu' | 'prelu' | 'sigmoid';
const ACTIVATIONS: ReadonlySet<string> = new Set<Activation>(['linear', 'relu', 'relu6', 'elu', 'leakyrelu', 'prelu', 'sigmoid']);

/** True when `t` is float32 and broadcasting it against `shape` leaves `shape` unchanged (so it can be applied in place). */
function broadcastsInto(args: KernelArgs, t: TensorInfo | undefined, shape: readonly number[]): boolean {
  if (!t) return true;
  if (!f32(args.backend, t) || t.shape.length > shape.length) return false;
  return t.shape.every((d, i) => d === 1 || d === shape[shape.length - t.shape.length + i]);
}

/** Whether the fused epilogue (bias, then activation) of these arguments can run natively on `shape`. */
function epilogueSupported(args: KernelArgs, shape: readonly number[]): boolean {
  const activation = attr<string | undefined>(args, 'activation');
  return (activation === undefined || ACTIVATIONS.has(activation))
    && broadcastsInto(args, args.inputs.bias, shape)
    && (activation !== 'prelu' || (!!args.inputs.preluActivationWeights && broadcastsInto(args, args.inputs.preluActivationWeights, shape)));
}

/** Adds the bias and applies the activation in place on a fresh output, as the cpu fused kernels do in steps. */
function epilogue(addon: NativeAddon, args: KernelArgs, result: TensorInfo): TensorInfo {
  const values = f32(args.backend, result)!;
  const bias = args.inputs.bias;
  if (bias) addon.binary(BINARY_OPS.Add, values, result.shape, f32(args.backend, bias)!, bias.shape, values, result.shape);
  const activation = attr<Activation | undefined>(args, 'activation');
  switch (activation) {
    case undefined:
    case 'linear':
      break;
    case 'prelu': {
      const alpha = args.inputs.preluActivationWeights!;
      addon.binary(BINARY_OPS.Prelu, values, result.shape, f32(args.backend, alpha)!, alpha.shape, values, result.shape);
      break;
    }
    case 'relu': addon.unary(UNARY_OPS.Relu, values, values, 0, 0); break;
    case 'relu6': addon.unary(UNARY_OPS.Relu6, values, values, 0, 0); break;
    case 'elu': addon.unary(UNARY_OPS.Elu, values, values, 0, 0); break;
    case 'sigmoid': addon.unary(UNARY_OPS.Sigmoid, values, values, 0, 0); break;
    case 'leakyrelu': addon.unary(UNARY_OPS.LeakyRelu, values, values, attr<number>(args, 'leakyreluAlpha'), 0); break;
  }
  return result;
}

/** The output shape of a product, without computing it: to check the epilogue before doing the work. */
function matmulShape(a: TensorInfo, b: TensorInfo, transA: boolean, transB: boolean): number[] {
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const m = transA ? a.shape[a.shape.length - 1] : a.shape[a.shape.length - 2];
  const n = transB ? b.shape[b.shape.length - 2] : b.shape[b.shape.length - 1];
  return [...outer, m, n];
}

/**
 * The geometry the addon's convolutions take, packed as 15 int32s (ConvGeometry in native/src/kernels.h).
 * Null for layouts the addon does not implement (NCHW), which stay on the cpu kernels.
 */
function convGeometry(info: tf.backend_util.Conv2DInfo): Int32Array | null {
  if (info.dataFormat !== 'channelsLast') return null;
  return Int32Array.of(info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth,
    info.outChannels, info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.dilationHeight,
    info.dilationWidth, info.padInfo.top, info.padInfo.left);
}

type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

function conv2dInfo(args: KernelArgs, xShape: number[], filterShape: number[], dilations: number | [number, number]): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape as [number, number, number, number],
    attr<number | [number, number]>(args, 'strides'), dilations, attr<Pad>(args, 'pad'), attr<Rounding>(args, 'dimRoundingMode'),
    false, tf.backend_util.convertConv2DDataFormat(attr<'NHWC' | 'NCHW'>(args, 'dataFormat')));
}

/** Forward convolution, or null when it is not NHWC float32. */
function conv2d(addon: NativeAddon, args: KernelArgs): TensorInfo | null {
  const x = input(args, 'x');
  const filter = input(args, 'filter');
  const xv = f32(args.backend, x);
  const wv = f32(args.backend, filter);
  if (!xv || !wv) return null;
  const info = conv2dInfo(args, x.shape, filter.shape, attr<number | [number, number]>(args, 'dilations'));
  const geometry = convGeometry(info);
  if (!geometry) return null;
  const out = alloc(args.backend, sizeOf(info.outShape));
  addon.conv2d(xv, wv, out, geometry);
  return output(args.backend, info.outShape, 'float32', out);
}

export const MATMUL_KERNELS: KernelTable = {
  BatchMatMul: (args, addon, cpu) =>
    matmul(addon, args, input(args, 'a'), input(args, 'b'), attr<boolean>(args, 'transposeA'), attr<boolean>(args, 'transposeB')) ?? cpu(),

  _FusedMatMul: (args, addon, cpu) => {
    const a = input(args, 'a');
    const b = input(args, 'b');
    const transA = attr<boolean>(args, 'transposeA');
    const transB = attr<boolean>(args, 'transposeB');
    if (!f32(args.backend, a) || !f32(args.backend, b) || !epilogueSupported(args, matmulShape(a, b, transA, transB))) return cpu();
    const result = matmul(addon, args, a, b, transA, transB);
    return result ? epilogue(addon, args, result) : cpu();
  },

  Conv2D: (args, addon, cpu) => conv2d(addon, args) ?? cpu(),

  FusedConv2D: (args, addon, cpu) => {
    // NCHW keeps the cpu kernel (conv2d returns null), so the epilogue only ever sees NHWC outputs.
    if (attr<string>(args, 'dataFormat') !== 'NHWC') return cpu();
    const x = input(args, 'x');
    const filter = input(args, 'filter');
    const info = conv2dInfo(args, x.shape, filter.shape, attr<number | [number, number]>(args, 'dilations'));
    if (!epilogueSupported(args, info.outShape)) return cpu();
    const result = conv2d(addon, args);
    return result ? epilogue(addon, args, result) : cpu();
  },

  Conv2DBackpropInput: (args, addon, cpu) => {
    const dy = input(args, 'dy');
    const filter = input(args, 'filter');
    const dyv = f32(args.backend, dy);
    const wv = f32(args.backend, filter);
    if (!dyv || !wv) return cpu();
    const info = conv2dInfo(args, attr<number[]>(args, 'inputShape'), filter.shape, 1);
    const geometry = convGeometry(info);
    if (!geometry) return cpu();
    const dx = alloc(args.backend, sizeOf(info.inShape));
    addon.conv2dBackpropInput(dyv, wv, dx, geometry);
    return output(args.backend, info.inShape, 'float32', dx);
  },

  Conv2DBackpropFilter: (args, addon, cpu) => {
    const x = input(args, 'x');
    const dy = input(args, 'dy');
    const xv = f32(args.backend, x);
    const dyv = f32(args.backend, dy);
    if (!xv || !dyv) return cpu();
    const filterShape = attr<number[]>(args, 'filterShape');
    const geometry = convGeometry(conv2dInfo(args, x.shape, filterShape, 1));
    if (!geometry) return cpu();
    const dw = alloc(args.backend, sizeOf(filterShape));
    addon.conv2dBackpropFilter(xv, dyv, dw, geometry);
    return output(args.backend, filterShape, 'float32', dw);
  },
};
