/**
 * The `nativecpu` backend class: the cpu backend (its storage, reads and every kernel not replaced) plus a
 * pool that recycles the output buffers of the native kernels.
 *
 * Why a pool: a training step allocates its activations and gradients afresh each time (about 1 GB per
 * step for the shared `tiny` config). As fresh ArrayBuffers that memory is zero-filled by the allocator
 * and, being external memory to V8, it triggers a full garbage collection every ~64 MB; measured on a
 * small transformer, GC took ~25% of a native step. Recycled buffers cost neither.
 *
 * Why the oldest idle buffers make room: the pool is capped, and a model that both trains and samples uses two
 * sets of sizes. If a full pool refused new buffers, one sampling pass (a probe during training) would fill it
 * with sizes training never asks for again, and every training step after it would allocate afresh: measured
 * on the mnist-speedrun recipe, the pool sat at its 1 GiB cap after the first probe and a step went from 240
 * to 300-340 ms. Evicting the least recently released buffers keeps the pool holding the sizes in use now.
 *
 * Why it is safe: a buffer goes back to the pool only when no tensor uses it. Tensors are counted per
 * ArrayBuffer, not per tensor, so the views the cpu kernels hand out (a contiguous slice is a subarray of
 * its input) keep the buffer alive; and reads (`dataSync`, `data`, `arraySync`) of pooled memory return a
 * copy, so an array a caller keeps after disposing its tensor is never overwritten later.
 */
import * as os from 'node:os';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { tf } from './tf';

type DataId = object;
type BackendValues = ReturnType<MathBackendCPU['readSync']>;

/** Buffers below this size are left to V8: they are cheap to allocate and few bytes in all. */
const MIN_POOLED_BYTES = 16 * 1024;

/** Free buffers by byte length, capped in total; each pooled buffer counts the tensors that use it. */
export class BufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  /** Every idle buffer, oldest release first (a Set iterates in insertion order): the eviction order. */
  private readonly idle = new Set<ArrayBuffer>();
  /** Buffers this pool handed out, with the number of live tensors on each (0 until one registers). */
  private readonly users = new WeakMap<ArrayBuffer, number>();
  private pooledBytes = 0;

  /** @param capBytes the most idle memory the pool may hold; 0 turns pooling off. */
  constructor(readonly capBytes: number) {}

  /** `n` float32 elements, recycled when a buffer of that size is free; contents are arbitrary. */
  float32(n: number): Float32Array {
    return new Float32Array(this.take(n * 4), 0, n);
  }

  int32(n: number): Int32Array {
    return new Int32Array(this.take(n * 4), 0, n);
  }

  owns(buffer: ArrayBufferLike): boolean {
    return this.users.has(buffer as ArrayBuffer);
  }

  /** A tensor now stores a view on `buffer`. */
  retain(buffer: ArrayBufferLike): void {
    const n = this.users.get(buffer as ArrayBuffer);
    if (n !== undefined) this.users.set(buffer as ArrayBuffer, n + 1);
  }

  /** A tensor that stored a view on `buffer` is gone; the last one returns the buffer to the pool. */
  release(buffer: ArrayBufferLike): void {
    const b = buffer as ArrayBuffer;
    const n = this.users.get(b);
    if (n === undefined) return;
    if (n > 1) {
      this.users.set(b, n - 1);
      return;
    }
    this.users.set(b, 0);
    if (b.byteLength > this.capBytes) return;
    while (this.pooledBytes + b.byteLength > this.capBytes) this.evictOldest();
    this.idle.add(b);
    const list = this.free.get(b.byteLength);
    if (list) list.push(b);
    else this.free.set(b.byteLength, [b]);
    this.pooledBytes += b.byteLength;
  }

  /** Idle bytes held. */
  get idleBytes(): number {
    return this.pooledBytes;
  }

  /** Drops every idle buffer (the garbage collector reclaims them); buffers in use are unaffected. */
  clear(): void {
    this.free.clear();
    this.idle.clear();
    this.pooledBytes = 0;
  }

  private take(bytes: number): ArrayBuffer {
    if (this.capBytes === 0 || bytes < MIN_POOLED_BYTES) return new ArrayBuffer(bytes);
    const recycled = this.free.get(bytes)?.pop();
    if (recycled) {
      this.idle.delete(recycled);
      this.pooledBytes -= bytes;
      return recycled;
    }
    const fresh = new ArrayBuffer(bytes);
    this.users.set(fresh, 0);
    return fresh;
  }

  /**
   * Drops the idle buffer released longest ago (the garbage collector reclaims it). Each size's list is in
   * release order too (pushed on release, popped from the end on reuse), so that buffer is its list's first.
   */
  private evictOldest(): void {
    const oldest: ArrayBuffer = this.idle.values().next().value!;
    this.idle.delete(oldest);
    const list = this.free.get(oldest.byteLength)!;
    list.shift();
    if (list.length === 0) this.free.delete(oldest.byteLength);
    this.pooledBytes -= oldest.byteLength;
  }
}

/**
 * Idle memory the pool may keep: TRANSFUSION_NATIVECPU_POOL_MB when set (0 disables pooling), else an
 * eighth of the machine's memory, at most 1 GiB (a step's working set of distinct sizes, for small models).
 */
function poolCap(): number {
  const mb = process.env.TRANSFUSION_NATIVECPU_POOL_MB;
  if (mb !== undefined && mb !== '') {
    const v = Number(mb);
    if (!Number.isFinite(v) || v < 0) throw new Error(`TRANSFUSION_NATIVECPU_POOL_MB=${JSON.stringify(mb)} must be a number of MiB >= 0`);
    return v * 2 ** 20;
  }
  return Math.min(2 ** 30, os.totalmem() / 8);
}

export class NativeCpuBackend extends MathBackendCPU {
  readonly pool = new BufferPool(poolCap());

  override write(values: BackendValues, shape: number[], dtype: tf.DataType): DataId {
    if (ArrayBuffer.isView(values)) this.pool.retain(values.buffer);
    return super.write(values, shape, dtype);
  }

  override move(dataId: DataId, values: BackendValues, shape: number[], dtype: tf.DataType, refCount: number): void {
    if (ArrayBuffer.isView(values)) this.pool.retain(values.buffer);
    super.move(dataId, values, shape, dtype, refCount);
  }

  override disposeData(dataId: DataId, force = false): boolean {
    const values = this.data.has(dataId) ? this.data.get(dataId).values : undefined;
    const freed = super.disposeData(dataId, force);
    if (freed && values && ArrayBuffer.isView(values)) this.pool.release(values.buffer);
    return freed;
  }

  override dispose(): void {
    this.pool.clear();
    super.dispose();
  }

  override readSync(dataId: DataId): BackendValues {
    const values = super.readSync(dataId);
    return ArrayBuffer.isView(values) && this.pool.owns(values.buffer) ? (values as Float32Array).slice() : values;
  }
}
