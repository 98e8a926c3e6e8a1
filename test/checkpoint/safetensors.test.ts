import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../../src/engine/tf';
import {
  SafetensorsError,
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  tensorSource,
  toTensor,
  writeSafetensors,
  type TensorSource,
} from '../../src/checkpoint/safetensors';
import { tempFolder } from './helpers';

const dir = tempFolder('safetensors');

function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

// Expected bytes copied from the reference implementation's own unit tests (huggingface/safetensors,
// safetensors/src/tensor.rs: test_serialization, test_empty, test_serialization_forced_alignement), where
// they are the output of `safetensors::serialize` for the same inputs.
const REFERENCE = {
  attn0Dotted: [
    64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
    116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
    58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
    101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
    0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
  ],
  empty: [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32],
  emptyWithMetadata: [
    40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
    95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
    116, 34, 125, 125, 32, 32, 32, 32, 32,
  ],
  attn0Padded: [
    72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116,
    121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58,
    91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
    115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
    32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0,
    160, 64,
  ],
};

test('byte-identical to the reference implementation on its own test vectors', () => {
  const data = f32Bytes([0, 1, 2, 3, 4, 5]);
  assert.deepEqual(Array.from(encodeSafetensors({ 'attn.0': { dtype: 'F32', shape: [1, 2, 3], data } })), REFERENCE.attn0Dotted);
  assert.deepEqual(Array.from(encodeSafetensors({})), REFERENCE.empty);
  assert.deepEqual(Array.from(encodeSafetensors({}, { framework: 'pt' })), REFERENCE.emptyWithMetadata);
  assert.deepEqual(Array.from(encodeSafetensors({ attn0: { dtype: 'F32', shape: [1, 1, 2, 3], data } })), REFERENCE.attn0Padded);
  for (const bytes of Object.values(REFERENCE)) decodeSafetensors(Uint8Array.from(bytes));
});

/** A reader written from the format's description alone, sharing no code with src/checkpoint. */
function specReader(file: Buffer) {
  const n = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const { __metadata__: metadata, ...entries } = header as Record<string, unknown>;
  const data = file.subarray(8 + n);
  const tensors: Record<string, { dtype: string; shape: number[]; offsets: [number, number]; values: number[] }> = {};
  for (const [name, e] of Object.entries(entries as typeof header)) {
    const [b, end] = e.data_offsets;
    const values: number[] = [];
    const size = { F32: 4, I32: 4, U8: 1, BOOL: 1 }[e.dtype]!;
    for (let at = b; at < end; at += size) {
      values.push(e.dtype === 'F32' ? data.readFloatLE(at) : e.dtype === 'I32' ? data.readInt32LE(at) : data.readUInt8(at));
    }
    tensors[name] = { dtype: e.dtype, shape: e.shape, offsets: e.data_offsets, values };
  }
  return { headerLength: n, metadata, tensors, dataLength: data.length };
}

const MIXED: Record<string, TensorSource> = {
  'layers.1.b': { dtype: 'U8', shape: [3], data: Uint8Array.from([1, 2, 255]) },
  'layers.0.w': { dtype: 'F32', shape: [2, 2], data: f32Bytes([0.5, -1.25, 3e-39, 1e30]) },
  'step': { dtype: 'I32', shape: [], data: new Uint8Array(Int32Array.from([-7]).buffer) },
  'emb': { dtype: 'F32', shape: [1, 3], data: () => f32Bytes([1, 2, 3]) },
  'mask': { dtype: 'BOOL', shape: [2], data: Uint8Array.from([1, 0]) },
};

test('a file we write is read by an independent reader written from the spec', () => {
  const path = join(dir, 'mixed.safetensors');
  writeSafetensors(path, MIXED, { note: 'hello "world"', 'ünï': 'cödé' });
  const file = readFileSync(path);
  const read = specReader(file);
  assert.equal(read.headerLength % 8, 0, 'header padded to 8 bytes');
  assert.equal(file[8], 0x7b, "header starts with '{'");
  assert.deepEqual(read.metadata, { note: 'hello "world"', 'ünï': 'cödé' });
  // Reference order: descending dtype alignment (F32 > I32 > U8 = BOOL), then name; contiguous from 0.
  const order = Object.entries(read.tensors).sort((a, b) => a[1].offsets[0] - b[1].offsets[0]).map(([n]) => n);
  assert.deepEqual(order, ['emb', 'layers.0.w', 'step', 'layers.1.b', 'mask']);
  assert.deepEqual(read.tensors.emb.offsets, [0, 12]);
  assert.equal(read.dataLength, 12 + 16 + 4 + 3 + 2);
  assert.deepEqual(read.tensors['layers.0.w'].values, Array.from(Float32Array.from([0.5, -1.25, 3e-39, 1e30])));
  assert.deepEqual(read.tensors['layers.0.w'].shape, [2, 2]);
  assert.deepEqual(read.tensors.step, { dtype: 'I32', shape: [], offsets: [28, 32], values: [-7] });
  assert.deepEqual(read.tensors['layers.1.b'].values, [1, 2, 255]);
  assert.deepEqual(read.tensors.mask.values, [1, 0]);
  // And our reader returns the same.
  const ours = readSafetensors(path);
  assert.deepEqual(ours.metadata, read.metadata);
  for (const [name, t] of Object.entries(read.tensors)) {
    assert.equal(ours.tensors[name].dtype, t.dtype);
    assert.deepEqual(ours.tensors[name].shape, t.shape);
  }
});

test('Python (struct + json + numpy, no safetensors package) reads our file', (t) => {
  const probe = spawnSync('/usr/bin/python3', ['-c', 'import numpy'], { encoding: 'utf8' });
  if (probe.status !== 0) return t.skip('no /usr/bin/python3 with numpy');
  const path = join(dir, 'python.safetensors');
  writeSafetensors(path, MIXED, { k: 'v' });
  const script = `
import json, struct, sys
import numpy as np
raw = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
header = json.loads(raw[8:8 + n])
meta = header.pop('__metadata__', {})
data = raw[8 + n:]
kinds = {'F32': '<f4', 'I32': '<i4', 'U8': 'u1', 'BOOL': '?'}
out = {'meta': meta, 'tensors': {}}
for name, info in header.items():
    b, e = info['data_offsets']
    a = np.frombuffer(data[b:e], dtype=kinds[info['dtype']]).reshape(info['shape'])
    out['tensors'][name] = {'shape': list(a.shape), 'values': [float(x) if a.dtype.kind == 'f' else int(x) for x in a.reshape(-1)]}
print(json.dumps(out))
`;
  const run = spawnSync('/usr/bin/python3', ['-c', script, path], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const py = JSON.parse(run.stdout);
  assert.deepEqual(py.meta, { k: 'v' });
  assert.deepEqual(py.tensors['layers.0.w'], { shape: [2, 2], values: Array.from(Float32Array.from([0.5, -1.25, 3e-39, 1e30])) });
  assert.deepEqual(py.tensors.step, { shape: [], values: [-7] });
  assert.deepEqual(py.tensors.mask, { shape: [2], values: [1, 0] });
  assert.deepEqual(py.tensors.emb, { shape: [1, 3], values: [1, 2, 3] });
});

test('tfjs tensors round-trip bit for bit (NaN payload, -0, Inf, subnormals), int32 and bool; no leaks', () => {
  const bits = Uint32Array.from([0x7fc00001, 0x80000000, 0x7f800000, 0x00000001, 0x3f800000, 0xff7fffff]);
  const before = tf.memory().numTensors;
  const f = tf.tensor(new Float32Array(bits.buffer), [2, 3]);
  const i = tf.tensor([-2147483648, 0, 2147483647], [3], 'int32');
  const b = tf.tensor([true, false, true], [3], 'bool');
  const bytes = encodeSafetensors({ f: tensorSource(f, 'f'), i: tensorSource(i, 'i'), b: tensorSource(b, 'b') });
  const { tensors } = decodeSafetensors(bytes);
  const [f2, i2, b2] = ['f', 'i', 'b'].map((n) => toTensor(tensors[n], n));
  assert.deepEqual(Array.from(new Uint32Array((f2.dataSync() as Float32Array).slice().buffer)), Array.from(bits));
  assert.deepEqual(f2.shape, [2, 3]);
  assert.equal(i2.dtype, 'int32');
  assert.deepEqual(Array.from(i2.dataSync()), [-2147483648, 0, 2147483647]);
  assert.equal(b2.dtype, 'bool');
  assert.deepEqual(Array.from(b2.dataSync()), [1, 0, 1]);
  tf.dispose([f, i, b, f2, i2, b2]);
  assert.equal(tf.memory().numTensors, before);
  assert.throws(() => toTensor({ dtype: 'F64', shape: [1], data: new Uint8Array(8) }, 'x', 'file.st'), /file\.st: tensor 'x' has dtype F64; tfjs can load F32, I32, BOOL/);
});

test('the writer refuses bad input, naming the tensor', () => {
  const cases: Array<[Record<string, TensorSource>, Record<string, string> | undefined, RegExp]> = [
    [{ w: { dtype: 'F32', shape: [3], data: new Uint8Array(8) } }, undefined, /tensor 'w' \(F32 \[3\]\) needs 12 bytes, its data has 8/],
    [{ w: { dtype: 'F128' as never, shape: [1], data: new Uint8Array(16) } }, undefined, /tensor 'w' has dtype "F128"/],
    [{ w: { dtype: 'F32', shape: [1.5], data: new Uint8Array(4) } }, undefined, /tensor 'w' has shape \[1.5\]/],
    [{ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }, undefined, /'__metadata__' is reserved/],
    [{}, { k: 1 as never }, /__metadata__\['k'\] is number/],
  ];
  for (const [tensors, meta, re] of cases) assert.throws(() => encodeSafetensors(tensors, meta), (e: unknown) => e instanceof SafetensorsError && re.test((e as Error).message), String(re));
});

/** A file from a hand-written header (padded per spec) and data section, bypassing our writer's checks. */
function craft(header: unknown, data: Uint8Array, headerText = JSON.stringify(header)): Uint8Array {
  const json = Buffer.from(headerText, 'utf8');
  const n = Math.ceil(json.length / 8) * 8;
  const out = Buffer.alloc(8 + n + data.length, 0x20);
  out.writeBigUInt64LE(BigInt(n), 0);
  json.copy(out, 8);
  Buffer.from(data).copy(out, 8 + n);
  return out;
}

test('truncated files are errors naming the file and the problem', () => {
  const good = encodeSafetensors({ w: { dtype: 'F32', shape: [2, 3], data: f32Bytes([1, 2, 3, 4, 5, 6]) } }, { k: 'v' });
  const cases: Array<[Uint8Array, RegExp]> = [
    [good.subarray(0, 5), /is 5 bytes, shorter than the 8-byte header length/],
    [good.subarray(0, 20), /header length \d+ runs past the end of the file \(20 bytes\)/],
    [good.subarray(0, good.length - 4), /tensor 'w' data_offsets \[0, 24\] run past the end of the data \(20 bytes\): truncated file/],
    [new Uint8Array(0), /is 0 bytes/],
  ];
  for (const [bytes, re] of cases) {
    const path = join(dir, 'truncated.safetensors');
    writeFileSync(path, bytes);
    assert.throws(() => readSafetensors(path), (e: unknown) => e instanceof SafetensorsError && e.message.startsWith(path + ': ') && re.test(e.message), String(re));
  }
});

test('corrupt headers and inconsistent offsets are errors naming the problem', () => {
  const w4 = f32Bytes([1]);
  const info = (dtype: string, shape: number[], offsets: number[]) => ({ dtype, shape, data_offsets: offsets });
  const huge = Buffer.alloc(16);
  huge.writeBigUInt64LE(2n ** 40n, 0);
  const cases: Array<[Uint8Array, RegExp]> = [
    [huge, /header length 1099511627776 exceeds the 100000000-byte limit/],
    [craft(null, new Uint8Array(0), '[1, 2]'), /header must start with '\{', starts with "\[1, 2\]/],
    [craft(null, w4, '{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]'), /header is not valid JSON/],
    [craft(null, new Uint8Array(0), '{"a": "xy"}').map((b, i) => (i === 8 + 8 ? 0xff : b)), /header is not valid UTF-8/],
    [craft({ __metadata__: { k: 1 } }, new Uint8Array(0)), /__metadata__\['k'\] is 1; the format allows only string values/],
    [craft({ w: info('F128', [1], [0, 4]) }, w4), /tensor 'w' has dtype "F128"; allowed: BOOL, U8/],
    [craft({ w: info('F32', [-1], [0, 4]) }, w4), /tensor 'w' has shape \[-1\]/],
    [craft({ w: info('F32', [1], [4, 0]) }, w4), /tensor 'w' has data_offsets \[4,0\]/],
    [craft({ w: 'x' }, w4), /tensor 'w' has no \{ dtype, shape, data_offsets \} entry/],
    [craft({ w: info('F32', [2], [0, 8]) }, w4), /tensor 'w' data_offsets \[0, 8\] run past the end of the data \(4 bytes\)/],
    [craft({ w: info('F32', [3], [0, 8]) }, new Uint8Array(8)), /tensor 'w' data_offsets \[0, 8\] hold 8 bytes, but F32 \[3\] needs 12/],
    [craft({ a: info('F32', [1], [0, 4]), b: info('F32', [1], [8, 12]) }, new Uint8Array(12)), /tensor 'b' data_offsets \[8, 12\] leave a gap \(expected to begin at 4\)/],
    [craft({ a: info('F32', [2], [0, 8]), b: info('F32', [1], [4, 8]) }, new Uint8Array(8)), /tensor 'b' data_offsets \[4, 8\] overlap the previous tensor \(expected to begin at 8\)/],
    [craft({ w: info('F32', [1], [0, 4]) }, new Uint8Array(8)), /the tensors describe 4 data bytes, the file holds 8 after the header/],
  ];
  for (const [bytes, re] of cases) {
    assert.throws(() => decodeSafetensors(bytes, 'bad.safetensors'), (e: unknown) => e instanceof SafetensorsError && e.message.startsWith('bad.safetensors: ') && re.test(e.message), String(re));
  }
  // Offsets listed in any order are fine, as the format allows.
  const shuffled = craft({ b: info('F32', [1], [4, 8]), a: info('F32', [1], [0, 4]) }, f32Bytes([1, 2]));
  const { tensors } = decodeSafetensors(shuffled);
  assert.deepEqual([...tensors.a.data, ...tensors.b.data], [...f32Bytes([1, 2])]);
});
