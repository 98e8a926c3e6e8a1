/** Shared by the export tests: whether PyTorch is there, running the Python fixtures, a lab batch to compare on. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tf } from '../../src/engine/tf';
import { Rng } from '../../src/engine/random';
import { packDocuments, type Document, type MixedBatch } from '../../src/data/sequence';
import type { Transfusion } from '../../src/model/transfusion';
import type { TensorSource } from '../../src/checkpoint/safetensors';
import { fixturePath } from '../helpers/fixtures';

export const PYTHON = '/usr/bin/python3';

/** Why the PyTorch checks cannot run here, or null when they can (CI installs python3-torch: .ci/run). */
export function torchMissing(): string | null {
  if (!existsSync(PYTHON)) return `${PYTHON} is missing`;
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  return probe.status === 0 ? null : `${PYTHON} has no torch (apt-get install python3-torch)`;
}

/**
 * torchrun's default stream settings ('0') fail on Debian's torch 1.13 under Python 3.11 (its Std enum lookup
 * misses the zero flag: AttributeError in to_map); logging rank output to files and echoing it avoids them.
 */
export const TORCHRUN_STREAMS = ['--redirects', '1', '--tee', '1'];

/** A Python fixture of the export tests, from the sources or the compiled tests (tsc copies no .py files). */
export function fixture(name: string): string {
  return fixturePath(__dirname, name);
}

/** Run /usr/bin/python3 with `args`; its output, or on failure an error holding it, so a test shows the traceback. */
export function python(args: readonly string[], timeoutMs = 120_000, cwd?: string): string {
  const r = spawnSync(PYTHON, args, { encoding: 'utf8', timeout: timeoutMs, cwd });
  if (r.status !== 0) throw new Error(`python3 ${args.join(' ')} exited ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/**
 * Rows that exercise every part of the mask and the sequence: caption-first and image-first pairs, an image
 * alone, and (with `pack`) two documents in one row, so document boundaries matter.
 */
export function labBatch(model: Transfusion, rng: Rng, pack: boolean): MixedBatch {
  const { channels: C, height: H, width: W } = model.config.net.latent;
  const P = model.net.patchesPerImage;
  const image = () => Float32Array.from(rng.randomUniform([H * W * C], -1, 1).dataSync());
  const docs: Document[] = [
    [{ kind: 'text', text: 'a 7' }, { kind: 'image', index: 0, caption: 'a 7' }],
    [{ kind: 'image', index: 1, caption: 'the digit 3', imageFirst: true }, { kind: 'text', text: 'the digit 3' }],
    [{ kind: 'image', index: 2 }],
  ];
  const longest = 2 + 11 + P + 2;
  const length = pack ? 2 * longest + 8 : longest + 3;
  return packDocuments(docs, [image(), image(), image()], { length, patchesPerImage: P, pack });
}

/** Int32 [rows, cols] as a safetensors source. */
export function ints(values: ArrayLike<number>, shape: number[]): TensorSource {
  const a = Int32Array.from(values);
  return { dtype: 'I32', shape, data: new Uint8Array(a.buffer) };
}

export function floats(t: tf.Tensor): TensorSource {
  const a = Float32Array.from(t.dataSync());
  return { dtype: 'F32', shape: t.shape, data: new Uint8Array(a.buffer) };
}

export function doubles(values: ArrayLike<number>): TensorSource {
  const a = Float64Array.from(values);
  return { dtype: 'F64', shape: [a.length], data: new Uint8Array(a.buffer) };
}

/** max |a - b| / max |b|: one number per output, comparable across outputs of any scale. */
export function relativeDeviation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`relativeDeviation: ${a.length} values against ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}
