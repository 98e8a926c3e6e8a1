/**
 * What every `nativecpu` kernel shares: the shape of a replacement kernel, and access to the typed arrays
 * the cpu backend keeps for each tensor (`backend.data.get(dataId).values`), which the addon reads and
 * writes in place.
 *
 * A replacement handles the common case natively (float32, or any 4-byte type for data movement) and hands
 * everything else (int32 arithmetic, complex64, NCHW convolutions, batched gathers) to the cpu kernel it
 * replaces, so the backend as a whole supports exactly what `cpu` supports.
 */
import { tf } from './tf';
import type { NativeAddon, Words } from './nativecpuAddon';
import type { NativeCpuBackend } from './nativecpuBackend';

export type TensorInfo = tf.TensorInfo;

/** The arguments tfjs passes a kernel, with the backend typed as ours. */
export interface KernelArgs {
  readonly inputs: tf.NamedTensorInfoMap;
  readonly backend: NativeCpuBackend;
  readonly attrs?: tf.NamedAttrMap;
}

export type KernelResult = TensorInfo | TensorInfo[];

/**
 * A replacement kernel. `cpu` runs the cpu backend's kernel of the same name on the same arguments; a
 * replacement returns `cpu()` for the cases it leaves to JavaScript.
 */
export type NativeKernel = (args: KernelArgs, addon: NativeAddon, cpu: () => KernelResult) => KernelResult;

/** The kernels a module replaces, by tfjs kernel name. */
export type KernelTable = Readonly<Record<string, NativeKernel>>;

/** The tensor's float32 values, or null when it is stored otherwise (int32, bool, complex64, string). */
export function f32(backend: NativeCpuBackend, t: TensorInfo): Float32Array | null {
  if (t.dtype !== 'float32') return null;
  const v = backend.data.get(t.dataId).values;
  return v instanceof Float32Array ? v : null;
}

/** The tensor's values when its elements are 4 bytes (float32, int32), for kernels that only move data. */
export function words(backend: NativeCpuBackend, t: TensorInfo): Words | null {
  if (t.dtype !== 'float32' && t.dtype !== 'int32') return null;
  const v = backend.data.get(t.dataId).values;
  return v instanceof Float32Array || v instanceof Int32Array ? v : null;
}

/**
 * An output array of `size` float32 elements from the backend's pool. Its contents are arbitrary: every
 * native kernel writes all of its output.
 */
export function alloc(backend: NativeCpuBackend, size: number): Float32Array {
  return backend.pool.float32(size);
}

/** An output array of `size` elements of the 4-byte type of `like`, from the pool. */
export function allocLike(backend: NativeCpuBackend, like: Words, size: number): Words {
  return like instanceof Float32Array ? backend.pool.float32(size) : backend.pool.int32(size);
}

/** Registers `values` with the backend as a new tensor. */
export function output(backend: NativeCpuBackend, shape: readonly number[], dtype: tf.DataType, values: Words): TensorInfo {
  return backend.makeTensorInfo(shape.slice(), dtype, values);
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides of a dense tensor of this shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** The positional inputs of list kernels (Concat, AddN), which tfjs passes as an array. */
export function listInputs(args: KernelArgs): TensorInfo[] {
  return args.inputs as unknown as TensorInfo[];
}

export function input(args: KernelArgs, name: string): TensorInfo {
  const t = args.inputs[name];
  if (!t) throw new Error(`nativecpu: kernel input '${name}' is missing`);
  return t;
}

export function attr<T>(args: KernelArgs, name: string): T {
  return args.attrs?.[name] as unknown as T;
}
