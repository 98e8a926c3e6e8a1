/**
 * The data-movement kernels of `nativecpu`: Transpose, Slice, SplitV, Concat, Pack, Unpack, Tile and PadV2
 * (all one strided copy in the addon), GatherV2 (embedding lookups) and UnsortedSegmentSum (GatherV2's
 * gradient). They move 4-byte words, so float32 and int32 tensors both take the native path; bool, string
 * and complex64 keep the cpu kernels.
 *
 * In a transformer these are the head split and merge (transposes; unstack of q, k, v and its gradient, a
 * stack), RoPE's half rotations (slices and concats, whose gradients are pads), and the token embedding.
 * The cpu kernels walk them index by index, and its UnsortedSegmentSum builds one mask per segment (one per
 * vocabulary entry for an embedding).
 */
import { tf } from './tf';
import { NativeAddon, Words } from './nativecpuAddon';
import {
  KernelArgs, KernelResult, KernelTable, TensorInfo, alloc, allocLike, attr, f32, input, listInputs, output, sizeOf, stridesOf, words,
} from './nativecpuKernel';

/** x[begin : begin + size] as a new tensor, or null when x is not 4-byte data. */
function slice(addon: NativeAddon, args: KernelArgs, x: TensorInfo, begin: readonly number[], size: readonly number[]): TensorInfo | null {
  const xv = words(args.backend, x);
  if (!xv) return null;
  const strides = stridesOf(x.shape);
  let offset = 0;
  for (let i = 0; i < begin.length; i++) offset += begin[i] * strides[i];
  const out = allocLike(args.backend, xv, sizeOf(size));
  addon.copyStrided(xv, offset, strides, out, 0, stridesOf(size), size);
  return output(args.backend, size, x.dtype, out);
}

function transpose(args: KernelArgs, addon: NativeAddon, cpu: () => KernelResult): KernelResult {
  const x = input(args, 'x');
  const xv = words(args.backend, x);
  if (!xv) return cpu();
  const perm = attr<number[]>(args, 'perm');
  const strides = stridesOf(x.shape);
  const shape = perm.map((p) => x.shape[p]);
  const out = allocLike(args.backend, xv, xv.length);
  addon.copyStrided(xv, 0, perm.map((p) => strides[p]), out, 0, stridesOf(shape), shape);
  return output(args.backend, shape, x.dtype, out);
}

function sliceKernel(args: KernelArgs, addon: NativeAddon, cpu: () => KernelResult): KernelResult {
  const x = input(args, 'x');
  const [begin, size] = tf.slice_util.parseSliceParams(x as tf.Tensor, attr<number | number[]>(args, 'begin'), attr<number | number[]>(args, 'size'));
  tf.slice_util.assertParamsValid(x as tf.Tensor, begin, size);
  // A contiguous slice is a view on the input's array in the cpu kernel: nothing to copy.
  if (tf.slice_util.isSliceContinous(x.shape, begin, size)) return cpu();
  return slice(addon, args, x, begin, size) ?? cpu();
}

function splitV(args: KernelArgs, addon: NativeAddon, cpu: () => KernelResult): KernelResult {
  const x = input(args, 'x');
  if (!words(args.backend, x)) return cpu();
  const axis = tf.util.parseAxisParam(attr<number>(args, 'axis'), x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, attr<number | number[]>(args, 'numOrSizeSplits'), axis);
  const begin = new Array<number>(x.shape.length).fill(0);
  return sizes.map((s) => {
    const size = x.shape.slice();
    size[axis] = s;
    const piece = tf.slice_util.isSliceContinous(x.shape, begin, size)
      ? sliceView(args, x, begin, size)
      : slice(addon, args, x, begin, size)!;
    begin[axis] += s;
    return piece;
  });
}

/** A contiguous slice as a view, like the cpu kernel (a subarray shares the input's buffer). */
function sliceView(args: KernelArgs, x: TensorInfo, begin: readonly number[], size: readonly number[]): TensorInfo {
  const xv = words(args.backend, x)!;
  const strides = stridesOf(x.shape);
  let offset = 0;
  for (let i = 0; i < begin.length; i++) offset += begin[i] * strides[i];
  return output(args.backend, size, x.dtype, xv.subarray(offset, offset + sizeOf(size)));
}

function concat(args: KernelArgs, addon: NativeAddon, cpu: () => KernelResult): KernelResult {
  const all = listInputs(args);
  const tensors = all.filter((t) => sizeOf(t.shape) > 0);
  // One non-empty input (an identity in the cpu kernel) and empty results are bookkeeping, not copies.
  if (tensors.length < 2 || tensors.some((t) => t.dtype !== tensors[0].dtype)) return cpu();
  const values = tensors.map((t) => words(args.backend, t));
  if (values.some((v) => !v)) return cpu();
  const axis = tf.util.parseAxisParam(attr<number>(args, 'axis'), all[0].shape)[0];
  tf.backend_util.assertParamsConsistent(all.map((t) => t.shape), axis);
  const shape = tf.backend_util.computeOutShape(all.map((t) => t.shape), axis);
  const out = allocLike(args.backend, values[0]!, sizeOf(shape));
  joinColumns(addon, values as Words[], tensors.map((t) => sizeOf(t.shape.slice(axis))), sizeOf(shape.slice(0, axis)), out);
  return output(args.backend, shape, tensors[0].dtype, out);
}

/** Copies each [outer, inner_i] input into columns of the [outer, sum inner_i] output, in order. */
function joinColumns(addon: NativeAddon, values: Words[], inners: number[], outer: number, out: Words): void {
  const row = inners.reduce((a, b) => a + b, 0);
  let column = 0;
  values.forEach((v, i) => {
    addon.copyStrided(v, 0, [inners[i], 1], out, column, [row, 1], [outer, inners[i]]);
    column += inners[i];
  });
}

function pack(args: KernelArgs, addon: NativeAddon, cpu: () => KernelResult): KernelResult {
  const tensors = listInputs(args);
  const values = tensors.map((t) => words(args.backend, t));
  const first = tensors[0];
  // One input is an expandDims (a reshape); mismatched inputs get the cpu kernel's error messages.
  if (tensors.length < 2 || values.some((v) => !v) || tensors.some((t) => t.dtype !== first.dtype || t.shape.join() !== first.shape.join())) return cpu();
  const axis = tf.util.parseAxisParam(attr<number>(args, 'axis'), [...first.shape, tensors.length])[0];
  const shape = [...first.shape.slice(0, axis), tensors.length, ...first.shape.slice(axis)];
  const out = allocLike(args.backend, values[0]!, sizeOf(shape));
  const inner = sizeOf(first.shape.slice(axis));
  joinColumns(addon, values as Words[], tensors.map(() => inner), sizeOf(first.shape.slice(0, axis)), out);
  return output(args.backend, shape, first.dtype, out);
}

function unpack(args: KernelArgs, addon: NativeAddon, cpu: () => KernelResult): KernelResult {
  const x = input(args, 'value');
  const xv = words(args.backend, x);
  const axis = tf.util.parseAxisParam(attr<number>(args, 'axis'), x.shape)[0];
  const outer = sizeOf(x.shape.slice(0, axis));
  // Along the first axis every piece is contiguous: the cpu kernel hands out views, with no copy.
  if (!xv || outer === 1) return cpu();
  const count = x.shape[axis];
  const inner = sizeOf(x.shape.slice(axis + 1));
  const shape = [...x.shape.slice(0, axis), ...x.shape.slice(axis + 1)];
  return Array.from({ length: count }, (_, i) => {
    const out = allocLike(args.backend, xv, outer * inner);
    addon.copyStrided(xv, i * inner, [count * inner, 1], out, 0, [inner, 1], [outer, inner]);
    return output(args.backend, shape, x.dtype, out);
  });
}

/**
 * Tile as one strided copy: output axis j, of extent reps[j] * d[j], is walked as the pair (repeat r, index
 * i) with source strides (0, stride_j), so every repeat reads the same input rows.
 */
function tile(args: KernelArgs, addon: NativeAddon, cpu: () => KernelResult): KernelResult {
  const x = input(args, 'x');
  const xv = words(args.backend, x);
  const reps = attr<number[]>(args, 'reps');
  if (!xv || reps.length !== x.shape.length) return cpu();
  const shape = x.shape.map((d, j) => d * reps[j]);
  const out = allocLike(args.backend, xv, sizeOf(shape));
  const xStrides = stridesOf(x.shape);
  const outStrides = stridesOf(shape);
  addon.copyStrided(xv, 0, x.shape.flatMap((_, j) => [0, xStrides[j]]), out, 0,
    x.shape.flatMap((d, j) => [d * outStrides[j], outStrides[j]]), x.shape.flatMap((d, j) => [reps[j], d]));
  return output(args.backend, shape, x.dtype, out);
}

function padV2(args: KernelArgs, addon: NativeAddon, cpu: () => KernelResult): KernelResult {
  const x = input(args, 'x');
  const xv = words(args.backend, x);
  if (!xv) return cpu();
  const paddings = attr<Array<[number, number]>>(args, 'paddings');
  const value = attr<number>(args, 'constantValue');
  const shape = paddings.map((p, i) => p[0] + x.shape[i] + p[1]);
  const out = allocLike(args.backend, xv, sizeOf(shape));
  out.fill(value);
  const strides = stridesOf(shape);
  let offset = 0;
  for (let i = 0; i < shape.length; i++) offset += paddings[i][0] * strides[i];
  addon.copyStrided(xv, 0, stridesOf(x.shape), out, offset, strides, x.shape);
  return output(args.backend, shape, x.dtype, out);
}

function gatherV2(args: KernelArgs, addon: NativeAddon, cpu: () => KernelResult): KernelResult {
  const x = input(args, 'x');
  const indices = input(args, 'indices');
  const xv = words(args.backend, x);
  const iv = args.backend.data.get(indices.dataId).values;
  if (!xv || !(iv instanceof Int32Array) || attr<number>(args, 'batchDims') !== 0) return cpu();
  const axis = tf.util.parseAxisParam(attr<number>(args, 'axis'), x.shape)[0];
  const outer = sizeOf(x.shape.slice(0, axis));
  const inner = sizeOf(x.shape.slice(axis + 1));
  const shape = [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)];
  const out = allocLike(args.backend, xv, sizeOf(shape));
  const bad = addon.gather(xv, outer, x.shape[axis], inner, iv, out);
  if (bad >= 0) throw new Error(`GatherV2: the index value ${iv[bad]} is not in [0, ${x.shape[axis] - 1}]`);
  return output(args.backend, shape, x.dtype, out);
}

function unsortedSegmentSum(args: KernelArgs, addon: NativeAddon, cpu: () => KernelResult): KernelResult {
  const x = input(args, 'x');
  const ids = input(args, 'segmentIds');
  const xv = f32(args.backend, x);
  const iv = args.backend.data.get(ids.dataId).values;
  if (!xv || !(iv instanceof Int32Array)) return cpu();
  const segments = attr<number>(args, 'numSegments');
  const innerShape = x.shape.slice(ids.shape.length);
  const inner = sizeOf(innerShape);
  const out = alloc(args.backend, segments * inner);
  addon.unsortedSegmentSum(xv, iv, inner, segments, out);
  return output(args.backend, [segments, ...innerShape], 'float32', out);
}

export const LAYOUT_KERNELS: KernelTable = {
  Transpose: transpose,
  Slice: sliceKernel,
  SplitV: splitV,
  Concat: concat,
  Pack: pack,
  Unpack: unpack,
  Tile: tile,
  PadV2: padV2,
  GatherV2: gatherV2,
  UnsortedSegmentSum: unsortedSegmentSum,
};
