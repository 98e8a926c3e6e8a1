/**
 * The safetensors format (huggingface/safetensors, README "Format"), read and written here so a checkpoint
 * opens in PyTorch, JAX or any other safetensors reader (docs/ARCHITECTURE.md, 'Parameter names'):
 *
 *   8 bytes   N, the header length, unsigned little-endian 64-bit
 *   N bytes   UTF-8 JSON `{ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": { str: str } }`,
 *             starting with `{` and padded with spaces so the data starts 8-byte aligned
 *   the rest  the tensors' bytes, little-endian, C order; offsets are relative to this section, and the
 *             tensors cover it exactly (no gaps, no overlaps, nothing after the last one)
 *
 * Written here rather than taken from npm: the only package named for the format (`safetensors` 0.0.1) is a
 * single unmaintained release with no repository, and the format is one short page. The writer follows the
 * reference implementation's layout (tensors sorted by descending dtype alignment, then name; metadata first;
 * header padded with spaces) so the same tensors serialise to the same bytes as `safetensors.serialize`; the
 * reader applies the reference's checks (header limit, `{` start, contiguous offsets, byte counts).
 */
import { endianness } from 'node:os';
import { readFileSync } from 'node:fs';
import { tf } from '../engine/tf';
import { writeFileAtomic } from './atomic';

/** Every dtype the format defines, in the reference implementation's increasing-alignment order. */
export const SAFETENSORS_DTYPES = ['BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'F64', 'I64', 'U64'] as const;
export type SafetensorsDtype = (typeof SAFETENSORS_DTYPES)[number];

const DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
};

/** The reference reader refuses larger headers (safetensors MAX_HEADER_SIZE); so does this one. */
export const MAX_HEADER_BYTES = 100_000_000;

/** A tensor as the file holds it: dtype, shape and its raw little-endian bytes. */
export interface HostTensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

/** A tensor to write; `data` may be produced lazily so a large file is streamed one tensor at a time. */
export interface TensorSource {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly data: Uint8Array | (() => Uint8Array);
}

export interface SafetensorsContents {
  readonly tensors: Record<string, HostTensor>;
  /** The `__metadata__` map (empty when the file has none). */
  readonly metadata: Record<string, string>;
}

/** A file that is not valid safetensors: names the file (or buffer) and what is wrong with it. */
export class SafetensorsError extends Error {
  constructor(readonly source: string, readonly problem: string) {
    super(`${source}: ${problem}`);
    this.name = 'SafetensorsError';
  }
}

function checkLittleEndianHost(): void {
  // Data is copied byte for byte between typed arrays and the file, which is exact only on a little-endian host.
  if (endianness() !== 'LE') throw new Error('safetensors: this reader/writer needs a little-endian host (the format is little-endian)');
}

function numel(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

function isDtype(v: unknown): v is SafetensorsDtype {
  return typeof v === 'string' && (SAFETENSORS_DTYPES as readonly string[]).includes(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * The file's bytes as a sequence of chunks: length, header, then each tensor's data (lazy sources are called
 * here, one at a time). Names and shapes are checked before the first chunk is produced.
 */
export function* serializeSafetensors(tensors: Readonly<Record<string, TensorSource>>, metadata?: Readonly<Record<string, string>>): Generator<Uint8Array> {
  checkLittleEndianHost();
  const names = Object.keys(tensors);
  for (const name of names) {
    const t = tensors[name];
    if (name === '__metadata__') throw new SafetensorsError('serializeSafetensors', `'__metadata__' is reserved and cannot name a tensor`);
    if (!isDtype(t.dtype)) throw new SafetensorsError('serializeSafetensors', `tensor '${name}' has dtype ${JSON.stringify(t.dtype)}; allowed: ${SAFETENSORS_DTYPES.join(', ')}`);
    if (!Array.isArray(t.shape) || !t.shape.every(isCount)) throw new SafetensorsError('serializeSafetensors', `tensor '${name}' has shape ${JSON.stringify(t.shape)}; allowed: an array of integers >= 0`);
  }
  for (const [k, v] of Object.entries(metadata ?? {})) {
    if (typeof v !== 'string') throw new SafetensorsError('serializeSafetensors', `__metadata__['${k}'] is ${typeof v}; the format allows only string values`);
  }
  const rank = (d: SafetensorsDtype) => SAFETENSORS_DTYPES.indexOf(d);
  // Reference order (safetensors `prepare`): descending dtype alignment, then name, so every tensor starts
  // aligned to its element size when the data section is.
  names.sort((a, b) => rank(tensors[b].dtype) - rank(tensors[a].dtype) || (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = { ...metadata };
  let offset = 0;
  for (const name of names) {
    const { dtype, shape } = tensors[name];
    const bytes = numel(shape) * DTYPE_BYTES[dtype];
    header[name] = { dtype, shape: [...shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
  padded.set(json);
  const length = new Uint8Array(8);
  new DataView(length.buffer).setBigUint64(0, BigInt(padded.length), true);
  yield length;
  yield padded;
  for (const name of names) {
    const { dtype, shape, data } = tensors[name];
    const bytes = typeof data === 'function' ? data() : data;
    const expected = numel(shape) * DTYPE_BYTES[dtype];
    if (bytes.byteLength !== expected) {
      throw new SafetensorsError('serializeSafetensors', `tensor '${name}' (${dtype} [${shape.join(', ')}]) needs ${expected} bytes, its data has ${bytes.byteLength}`);
    }
    yield bytes;
  }
}

/** One buffer holding the whole file. */
export function encodeSafetensors(tensors: Readonly<Record<string, TensorSource>>, metadata?: Readonly<Record<string, string>>): Uint8Array {
  const chunks = [...serializeSafetensors(tensors, metadata)];
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** Write `path` atomically (src/checkpoint/atomic.ts): a failed or interrupted write leaves the old file. */
export function writeSafetensors(path: string, tensors: Readonly<Record<string, TensorSource>>, metadata?: Readonly<Record<string, string>>): void {
  writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}

/** Parse a whole file held in memory; `source` names it in errors. Tensor data are views into `bytes`. */
export function decodeSafetensors(bytes: Uint8Array, source = '<buffer>'): SafetensorsContents {
  checkLittleEndianHost();
  function fail(problem: string): never {
    throw new SafetensorsError(source, problem);
  }
  if (bytes.byteLength < 8) fail(`file is ${bytes.byteLength} bytes, shorter than the 8-byte header length: truncated or not a safetensors file`);
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit: corrupt or not a safetensors file`);
  const n = Number(n64);
  if (8 + n > bytes.byteLength) fail(`header length ${n} runs past the end of the file (${bytes.byteLength} bytes): truncated or not a safetensors file`);
  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    fail('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail(`header must start with '{', starts with ${JSON.stringify(text.slice(0, 16))}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) fail('header is not a JSON object');
  const entries = parsed as Record<string, unknown>;

  const metadata: Record<string, string> = {};
  const rawMeta = entries.__metadata__;
  if (rawMeta !== undefined) {
    if (typeof rawMeta !== 'object' || rawMeta === null || Array.isArray(rawMeta)) fail('__metadata__ is not an object of strings');
    for (const [k, v] of Object.entries(rawMeta as Record<string, unknown>)) {
      if (typeof v !== 'string') fail(`__metadata__['${k}'] is ${JSON.stringify(v)}; the format allows only string values`);
      metadata[k] = v as string;
    }
  }

  const infos: Array<{ name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }> = [];
  for (const [name, raw] of Object.entries(entries)) {
    if (name === '__metadata__') continue;
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (typeof info !== 'object' || info === null) fail(`tensor '${name}' has no { dtype, shape, data_offsets } entry`);
    const { dtype, shape, data_offsets: offsets } = info;
    if (!isDtype(dtype)) fail(`tensor '${name}' has dtype ${JSON.stringify(dtype)}; allowed: ${SAFETENSORS_DTYPES.join(', ')}`);
    if (!Array.isArray(shape) || !shape.every(isCount)) fail(`tensor '${name}' has shape ${JSON.stringify(shape)}; allowed: an array of integers >= 0`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
      fail(`tensor '${name}' has data_offsets ${JSON.stringify(offsets)}; allowed: [begin, end] integers with 0 <= begin <= end`);
    }
    const [begin, end] = offsets as number[];
    infos.push({ name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end });
  }

  const dataStart = 8 + n;
  const dataLength = bytes.byteLength - dataStart;
  infos.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  const tensors: Record<string, HostTensor> = {};
  for (const { name, dtype, shape, begin, end } of infos) {
    if (end > dataLength) fail(`tensor '${name}' data_offsets [${begin}, ${end}] run past the end of the data (${dataLength} bytes): truncated file`);
    if (begin !== cursor) fail(`tensor '${name}' data_offsets [${begin}, ${end}] ${begin < cursor ? 'overlap the previous tensor' : 'leave a gap'} (expected to begin at ${cursor})`);
    const needed = numel(shape) * DTYPE_BYTES[dtype];
    if (end - begin !== needed) fail(`tensor '${name}' data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${dtype} [${shape.join(', ')}] needs ${needed}`);
    tensors[name] = { dtype, shape, data: bytes.subarray(dataStart + begin, dataStart + end) };
    cursor = end;
  }
  if (cursor !== dataLength) fail(`the tensors describe ${cursor} data bytes, the file holds ${dataLength} after the header`);
  return { tensors, metadata };
}

/** Read and check a file; errors name `path`. */
export function readSafetensors(path: string): SafetensorsContents {
  const file = readFileSync(path);
  // A plain Uint8Array view: Buffer's own slice() shares memory where Uint8Array's copies.
  return decodeSafetensors(new Uint8Array(file.buffer, file.byteOffset, file.byteLength), path);
}

const FROM_TF: Readonly<Partial<Record<tf.DataType, SafetensorsDtype>>> = { float32: 'F32', int32: 'I32', bool: 'BOOL' };
const TO_TF: Readonly<Partial<Record<SafetensorsDtype, 'float32' | 'int32' | 'bool'>>> = { F32: 'float32', I32: 'int32', BOOL: 'bool' };

/** A tfjs tensor as a lazy source: its values are read only when the writer reaches it. */
export function tensorSource(t: tf.Tensor, name: string): TensorSource {
  const dtype = FROM_TF[t.dtype];
  if (!dtype) throw new SafetensorsError('tensorSource', `tensor '${name}' has tfjs dtype ${t.dtype}; allowed: ${Object.keys(FROM_TF).join(', ')}`);
  return {
    dtype,
    shape: t.shape,
    data: () => {
      const values = t.dataSync();
      return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    },
  };
}

/** A tfjs tensor holding a copy of `host` (F32, I32 and BOOL: the dtypes tfjs has). */
export function toTensor(host: HostTensor, name: string, source = '<buffer>'): tf.Tensor {
  const dtype = TO_TF[host.dtype];
  if (!dtype) throw new SafetensorsError(source, `tensor '${name}' has dtype ${host.dtype}; tfjs can load ${Object.keys(TO_TF).join(', ')}`);
  // Copied into a fresh buffer, aligned and exactly this tensor's size: the file's data need not start at a
  // multiple of 4 in memory, and the tensor must not keep the whole file alive.
  const buffer = new Uint8Array(host.data).buffer;
  const values = dtype === 'float32' ? new Float32Array(buffer) : dtype === 'int32' ? new Int32Array(buffer) : new Uint8Array(buffer);
  return tf.tensor(values, [...host.shape], dtype);
}
