/**
 * Export a lab variant as a self-contained PyTorch project (issue 16, "Scale out"): the Python sources kept beside
 * this file in `python/` (model.py mirrors the lab's blocks with their parameter names, objective.py every
 * schedule, timestep sampler, target and weighting), the run's resolved config, and its weights converted to
 * PyTorch's layout (docs/CHECKPOINTS.md).
 *
 * The conversion is chosen by the module that owns each weight, never by its shape: the square attention
 * projections have the same shape in both layouts and would pass any shape test transposed.
 *
 * A run's trainer goes along (train_config.json, and state.safetensors with AdamW's moments and step and the EMA
 * weights, converted like the weights they belong to), so train.py goes on from where the lab stopped rather
 * than from fresh moments, a restarted warmup and an EMA begun anew.
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
import { makeTrainConfig, type Trainer } from '../train/trainer';

/** The layout of an exported `weights.safetensors` (model.py's TORCH_LAYOUT says the same). */
export const TORCH_LAYOUT = 'torch: Linear weight [out, in], Conv2d [out, in, kh, kw]';
export const TORCH_EXPORT_FORMAT = 'transfusion-lab/torch-export';
/** The format of an exported `state.safetensors` (train.py's STATE_FORMAT says the same). */
export const TORCH_STATE_FORMAT = 'transfusion-lab/torch-trainer-state';

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

/** What exportTorch exports: a run folder (its checkpoint), a model, or a model with the trainer that trains it. */
export type TorchSource = string | Transfusion | { readonly model: Transfusion; readonly trainer: Trainer | null };

/** `tensors` (by parameter name, in the lab's layout) as safetensors sources in PyTorch's layout under `prefix`. */
function torchTensors(named: Iterable<readonly [string, tf.Tensor]>, kinds: Map<string, TorchConversion>, prefix = '', counts?: Record<TorchConversion, number>): Record<string, TensorSource> {
  const out: Record<string, TensorSource> = {};
  for (const [name, v] of named) {
    const conversion = kinds.get(name);
    if (conversion === undefined) throw new Error(`exportTorch: '${prefix}${name}' names no parameter of the model, so its layout is unknown`);
    if (counts) counts[conversion]++;
    out[prefix + name] = {
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
  return out;
}

/**
 * Write a PyTorch project for this exact variant into `outDir`: model.py, objective.py, safetensors_io.py,
 * train.py, config.json (the resolved TransfusionConfig), train_config.json (the trainer's TrainConfig, or the
 * lab's defaults for a bare model), weights.safetensors (PyTorch layout) and, when there is a trainer,
 * state.safetensors: `optimizer.m.<param>`, `optimizer.v.<param>` and `ema.<param>` in PyTorch layout, with the
 * trainer's step, AdamW's step, its history and the checkpoint's random streams and session in `__metadata__`
 * (handed back unchanged by train.py). `source` is a run folder (its checkpoint), a model, or `{ model, trainer }`.
 */
export function exportTorch(source: TorchSource, outDir: string): TorchExport {
  const restored = typeof source === 'string' ? loadRun(source).restore() : null;
  const model = restored ? restored.model : source instanceof Transfusion ? source : (source as { model: Transfusion }).model;
  const trainer = restored ? restored.trainer : source instanceof Transfusion ? null : (source as { trainer: Trainer | null }).trainer;
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
    writeFileSync(join(outDir, 'train_config.json'), JSON.stringify(trainer?.config ?? makeTrainConfig(), null, 2) + '\n');
    files.push('train_config.json');
    const conversions: Record<TorchConversion, number> = { linear: 0, conv: 0, none: 0 };
    const kinds = torchConversions(model.net);
    writeSafetensors(join(outDir, 'weights.safetensors'), torchTensors(model.net.namedParameters(), kinds, '', conversions), {
      format: TORCH_EXPORT_FORMAT,
      layout: TORCH_LAYOUT,
      config: JSON.stringify(config),
    });
    files.push('weights.safetensors');
    if (trainer) {
      const optimizer = trainer.optimizer.stateDict();
      // AdamW.stateDict names them `m.<param>` and `v.<param>`; the checkpoint's `optimizer.` prefix goes before.
      const moments = (which: 'm.' | 'v.') => Object.entries(optimizer.tensors).filter(([k]) => k.startsWith(which)).map(([k, t]) => [k.slice(2), t] as const);
      const metadata: Record<string, string> = {
        format: TORCH_STATE_FORMAT,
        layout: TORCH_LAYOUT,
        trainer: JSON.stringify({ step: trainer.step, optimizerStep: optimizer.step }),
        history: JSON.stringify(trainer.history),
        rng: JSON.stringify(restored ? restored.metadata.rng : { global: null, modules: {}, named: {} }),
      };
      if (restored && restored.metadata.session !== null) metadata.session = JSON.stringify(restored.metadata.session);
      writeSafetensors(join(outDir, 'state.safetensors'), {
        ...torchTensors(moments('m.'), kinds, 'optimizer.m.'),
        ...torchTensors(moments('v.'), kinds, 'optimizer.v.'),
        ...torchTensors(Object.entries(trainer.ema?.stateDict() ?? {}), kinds, 'ema.'),
      }, metadata);
      files.push('state.safetensors');
    }
    return { dir: outDir, files, conversions };
  } finally {
    if (restored) {
      restored.trainer?.dispose();
      restored.model.dispose();
    }
  }
}
