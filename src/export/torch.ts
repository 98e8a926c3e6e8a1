/**
 * Export a lab variant as a self-contained PyTorch project (issue 16, "Scale out"): the Python sources kept beside
 * this file in `python/` (model.py mirrors the lab's blocks with their parameter names, objective.py every
 * schedule, timestep sampler, target and weighting), the run's resolved config, and its weights converted to
 * PyTorch's layout (docs/CHECKPOINTS.md).
 *
 * The conversion is chosen by the module that owns each weight, never by its shape: the square attention
 * projections have the same shape in both layouts and would pass any shape test transposed.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../engine/tf';
import { Module } from '../blocks/module';
import { Linear } from '../blocks/linear';
import { Conv2d } from '../blocks/conv';
import { Transfusion } from '../model/transfusion';
import type { TransfusionConfig } from '../model/config';
import { writeSafetensors, type TensorSource } from '../checkpoint/safetensors';
import { loadRun } from '../experiments/load-run';

/** The layout of an exported `weights.safetensors` (model.py's TORCH_LAYOUT says the same). */
export const TORCH_LAYOUT = 'torch: Linear weight [out, in], Conv2d [out, in, kh, kw]';
export const TORCH_EXPORT_FORMAT = 'transfusion-lab/torch-export';

/** How a weight moves from the lab's layout to PyTorch's. */
export type TorchConversion = 'linear' | 'conv' | 'none';

/** The conversion of every parameter of `root`, by dotted name, from the type of the module that owns it. */
export function torchConversions(root: Module): Map<string, TorchConversion> {
  const out = new Map<string, TorchConversion>();
  const walk = (m: Module, prefix: string) => {
    const own = new Set(m.namedChildren().map(([n]) => n));
    for (const [name] of m.namedParameters(prefix)) {
      const local = name.slice(prefix.length);
      // Only the module's own parameters are decided here; its children decide theirs.
      if ([...own].some((c) => local.startsWith(`${c}.`))) continue;
      out.set(name, m instanceof Linear && local === 'weight' ? 'linear' : m instanceof Conv2d && local === 'weight' ? 'conv' : 'none');
    }
    for (const [n, c] of m.namedChildren()) walk(c, `${prefix}${n}.`);
  };
  walk(root, '');
  return out;
}

/** The axes of the lab's tensor in PyTorch's order: Linear [in, out] -> [out, in], Conv2d [kh, kw, in, out] -> [out, in, kh, kw]. */
function torchAxes(conversion: TorchConversion, rank: number): number[] {
  return conversion === 'linear' ? [1, 0] : conversion === 'conv' ? [3, 2, 0, 1] : Array.from({ length: rank }, (_, i) => i);
}

/** `tensor` moved into PyTorch's layout (see torchAxes). */
export function toTorchLayout(tensor: tf.Tensor, conversion: TorchConversion): tf.Tensor {
  return tf.tidy(() => tensor.transpose(torchAxes(conversion, tensor.rank)));
}

/**
 * The Python sources: beside this file when run from the sources, and in the source tree when run compiled
 * (tsc copies no .py files into dist/).
 */
export function pythonSourceDir(): string {
  const here = join(__dirname, 'python');
  if (existsSync(here)) return here;
  const fromDist = join(__dirname, '..', '..', '..', 'src', 'export', 'python');
  if (existsSync(fromDist)) return fromDist;
  throw new Error(`exportTorch: the Python sources are in neither ${here} nor ${fromDist}`);
}

/**
 * The model's config with every objective block complete: a saved config may hold a kind's spec with only the
 * fields it changes (`{ kind: 'linear' }`), and Python should not have to know the lab's defaults to read it.
 */
export function completeConfig(model: Transfusion): TransfusionConfig {
  const o = model.objective;
  return { ...model.config, objective: { ...model.config.objective, schedule: o.schedule.config, timesteps: o.timesteps.config, weighting: o.weighting.config } };
}

export interface TorchExport {
  readonly dir: string;
  /** The files written, relative to `dir`. */
  readonly files: readonly string[];
  /** How many weights each conversion touched. */
  readonly conversions: Readonly<Record<TorchConversion, number>>;
}

/**
 * Write a PyTorch project for this exact variant into `outDir`: model.py, objective.py, safetensors_io.py,
 * train.py, config.json (the resolved TransfusionConfig) and weights.safetensors (PyTorch layout; the EMA and
 * optimizer state stay in the lab's checkpoint). `source` is a run folder (its checkpoint's weights) or a model.
 */
export function exportTorch(source: string | Transfusion, outDir: string): TorchExport {
  const restored = typeof source === 'string' ? loadRun(source).restore() : null;
  const model = restored ? restored.model : (source as Transfusion);
  try {
    mkdirSync(outDir, { recursive: true });
    const files: string[] = [];
    const python = pythonSourceDir();
    for (const name of readdirSync(python).filter((n) => n.endsWith('.py')).sort()) {
      copyFileSync(join(python, name), join(outDir, name));
      files.push(name);
    }
    const config = completeConfig(model);
    writeFileSync(join(outDir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
    files.push('config.json');
    const conversions: Record<TorchConversion, number> = { linear: 0, conv: 0, none: 0 };
    const kinds = torchConversions(model.net);
    const tensors: Record<string, TensorSource> = {};
    for (const [name, v] of model.net.namedParameters()) {
      const conversion = kinds.get(name) ?? 'none';
      conversions[conversion]++;
      tensors[name] = {
        dtype: 'F32',
        shape: torchAxes(conversion, v.rank).map((axis) => v.shape[axis]),
        // Converted one tensor at a time as the writer reaches it, so a large model is never copied whole.
        data: () => {
          const t = toTorchLayout(v, conversion);
          const values = t.dataSync() as Float32Array;
          t.dispose();
          return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
        },
      };
    }
    writeSafetensors(join(outDir, 'weights.safetensors'), tensors, {
      format: TORCH_EXPORT_FORMAT,
      layout: TORCH_LAYOUT,
      config: JSON.stringify(config),
    });
    files.push('weights.safetensors');
    return { dir: outDir, files, conversions };
  } finally {
    if (restored) {
      restored.trainer?.dispose();
      restored.model.dispose();
    }
  }
}
