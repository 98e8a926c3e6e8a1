/**
 * Checkpoints: one safetensors file (src/checkpoint/safetensors.ts) holding everything a run needs to go on.
 *
 * Tensors, by name:
 *   `<parameter>`              the model's weights under their dotted names (`transformer.layers.0.attn.wq.weight`),
 *                              so the file reads like a PyTorch state dict
 *   `optimizer.m.<parameter>`  AdamW's first moments    (only when a trainer is saved)
 *   `optimizer.v.<parameter>`  AdamW's second moments   (idem)
 *   `ema.<parameter>`          the EMA weights          (only when the trainer keeps an EMA)
 * One file rather than weights and optimizer apart: a single atomic rename then publishes a consistent state,
 * and a reader that wants only the weights filters out the two prefixes.
 *
 * `__metadata__` (strings only; JSON-encoded where structured):
 *   format, format_version, package_version, created   what wrote the file, and when (ISO 8601)
 *   layout          how weights are laid out (CHECKPOINT_LAYOUT: Linear [in, out], Conv2D [kh, kw, in, out]), so a
 *                   PyTorch reader is told before it loads a transposed matrix; files written before the field
 *                   existed have that same layout and are read as such (docs/CHECKPOINTS.md)
 *   config          the TransfusionConfig that rebuilds the architecture (docs/ARCHITECTURE.md, 'Configs')
 *   train_config    the TrainConfig; trainer  { step, optimizerStep }; history  StepReport[]
 *   rng             { global, modules: { <dropout path>: RngState }, named: { <name>: RngState } }
 *   session         what drives training, when saved by one (src/checkpoint/session.ts: data position)
 * plus any caller strings under their own keys.
 */
import { tf } from '../engine/tf';
import { ShapeError } from '../config';
import { Rng, rng as globalRng, type RngState } from '../engine/random';
import { Module } from '../blocks/module';
import { Dropout } from '../blocks/dropout';
import { Transfusion } from '../model/transfusion';
import { resolveConfig, type TransfusionConfig } from '../model/config';
import { Trainer, makeTrainConfig, type Parameterised, type StepReport, type TrainConfig } from '../train/trainer';
import { readSafetensors, tensorSource, toTensor, writeSafetensors, type HostTensor, type TensorSource } from './safetensors';
import { version as packageVersion } from '../../package.json';

export const CHECKPOINT_FORMAT = 'transfusion-lab/checkpoint';
/** Bumped when the layout changes in a way older readers would misread. */
export const CHECKPOINT_VERSION = 1;

/**
 * The weight layout every lab checkpoint has: tfjs's, not PyTorch's. Names look like a PyTorch state dict, so the
 * file says this in words; src/export/ converts to nn.Linear [out, in] and nn.Conv2d [out, in, kh, kw].
 */
export const CHECKPOINT_LAYOUT = 'tfjs: Linear weight [in, out], Conv2D [kh, kw, in, out]';

const RESERVED_KEYS = ['format', 'format_version', 'package_version', 'created', 'layout', 'config', 'train_config', 'trainer', 'history', 'rng', 'session'];
const OPTIMIZER_PREFIX = 'optimizer.';
const EMA_PREFIX = 'ema.';

/** A checkpoint that cannot be used: names the file and the problem. */
export class CheckpointError extends Error {
  constructor(readonly file: string, readonly problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'CheckpointError';
  }
}

export interface SaveOptions {
  readonly model: Transfusion;
  /** Saves optimizer moments, EMA weights, step, history and the train config with the weights. */
  readonly trainer?: Trainer;
  /** Further streams to continue on restore, by name (e.g. the objective's noise source). */
  readonly rngs?: Readonly<Record<string, Rng>>;
  /** JSON-serialisable state of the loop that drives training (see session.ts). */
  readonly session?: unknown;
  /** Caller strings stored in `__metadata__` beside ours; may not reuse our keys. */
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface TrainerState {
  readonly train: TrainConfig;
  /** Optimiser steps the trainer had completed (the LR schedule's position). */
  readonly step: number;
  /** AdamW's own update count (bias correction). */
  readonly optimizerStep: number;
  readonly history: StepReport[];
}

export interface RngStates {
  /** The global stream (`rng()`) when the file was written. */
  readonly global: RngState;
  /** Streams held inside the model (its Dropout modules), by module path. */
  readonly modules: Record<string, RngState>;
  /** Streams passed in `SaveOptions.rngs`. */
  readonly named: Record<string, RngState>;
}

/** The `__metadata__` of a checkpoint; `C` is what its config entry rebuilds (the baseline's differs). */
export interface CheckpointMetadata<C = TransfusionConfig> {
  readonly formatVersion: number;
  readonly packageVersion: string;
  /** ISO 8601 time of writing. */
  readonly created: string;
  readonly config: C;
  readonly trainer: TrainerState | null;
  readonly rng: RngStates;
  readonly session: unknown;
  /** Every `__metadata__` string that is not one of ours. */
  readonly user: Record<string, string>;
}

export interface LoadedCheckpoint<C = TransfusionConfig> {
  readonly path: string;
  readonly config: C;
  /** Every tensor of the file by name, as tfjs tensors the caller owns (`tf.dispose(Object.values(tensors))`). */
  readonly tensors: Record<string, tf.Tensor>;
  readonly metadata: CheckpointMetadata<C>;
}

/**
 * How a kind of checkpoint reads its config entry: `read` resolves and checks it (throwing on a bad one), `what`
 * names it in the error, and `check` sees the raw metadata right after the format check (the baseline refuses a
 * file of another model kind there, src/baseline/session.ts).
 */
export interface CheckpointConfigReader<C> {
  readonly read: (saved: unknown) => C;
  readonly what: string;
  readonly check?: (raw: Readonly<Record<string, string>>, fail: (problem: string) => CheckpointError) => void;
}

const TRANSFUSION_READER: CheckpointConfigReader<TransfusionConfig> = { read: (saved) => resolveConfig(saved as TransfusionConfig), what: 'TransfusionConfig' };

export interface Restored {
  readonly model: Transfusion;
  /** Null when the checkpoint was saved without a trainer. */
  readonly trainer: Trainer | null;
  /** The streams saved under `SaveOptions.rngs`, continuing where they stopped. */
  readonly rngs: Record<string, Rng>;
  readonly metadata: CheckpointMetadata;
}

/** The random streams inside a module tree (Dropout masks), by dotted module path. */
export function moduleStreams(root: Module, prefix = ''): [string, Rng][] {
  const out: [string, Rng][] = [];
  for (const [name, child] of root.namedChildren()) {
    const path = prefix + name;
    // Dropout keeps its stream private; bracket access reads it without widening Dropout's public API.
    if (child instanceof Dropout) out.push([path, child['rng']]);
    out.push(...moduleStreams(child, `${path}.`));
  }
  return out;
}

/** Fails naming `field` unless `value` survives JSON unchanged (a built block in a config slot does not). */
function checkPlainJson(value: unknown, field: string): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`saveCheckpoint: ${field} is ${value}, which JSON cannot hold`);
    return;
  }
  if (Array.isArray(value)) return value.forEach((v, i) => checkPlainJson(v, `${field}[${i}]`));
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [k, v] of Object.entries(value)) if (v !== undefined) checkPlainJson(v, `${field}.${k}`);
    return;
  }
  throw new Error(`saveCheckpoint: ${field} is ${typeof value === 'object' ? `a ${value?.constructor?.name ?? 'non-plain'} instance` : typeof value}; ` +
    'a checkpoint stores plain-data configs only (pass the block\'s config rather than a built block)');
}

/** Write a checkpoint to `path` atomically: an interrupted save leaves the previous file intact. */
export function saveCheckpoint(path: string, options: SaveOptions): void {
  const { model, trainer } = options;
  const params = model.namedParameters();
  const tensors: Record<string, TensorSource> = {};
  for (const [name, v] of params) {
    if (name.startsWith(OPTIMIZER_PREFIX) || name.startsWith(EMA_PREFIX)) {
      throw new Error(`saveCheckpoint: parameter '${name}' starts with a prefix reserved for optimizer/EMA state ('${OPTIMIZER_PREFIX}', '${EMA_PREFIX}')`);
    }
    tensors[name] = tensorSource(v, name);
  }
  checkPlainJson(model.config, 'config');
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(options.metadata ?? {})) {
    if (RESERVED_KEYS.includes(k)) throw new Error(`saveCheckpoint: metadata key '${k}' is reserved; reserved keys: ${RESERVED_KEYS.join(', ')}`);
    metadata[k] = v;
  }
  metadata.format = CHECKPOINT_FORMAT;
  metadata.format_version = String(CHECKPOINT_VERSION);
  metadata.package_version = packageVersion;
  metadata.created = new Date().toISOString();
  metadata.layout = CHECKPOINT_LAYOUT;
  metadata.config = JSON.stringify(model.config);
  if (trainer) {
    checkPlainJson(trainer.config, 'train_config');
    const state = trainer.optimizer.stateDict();
    for (const [key, t] of Object.entries(state.tensors)) tensors[OPTIMIZER_PREFIX + key] = tensorSource(t, OPTIMIZER_PREFIX + key);
    for (const [key, t] of Object.entries(trainer.ema?.stateDict() ?? {})) tensors[EMA_PREFIX + key] = tensorSource(t, EMA_PREFIX + key);
    metadata.train_config = JSON.stringify(trainer.config);
    metadata.trainer = JSON.stringify({ step: trainer.step, optimizerStep: state.step });
    metadata.history = JSON.stringify(trainer.history);
  }
  const rng: RngStates = {
    global: globalRng().state(),
    modules: Object.fromEntries(moduleStreams(model.net).map(([p, r]) => [p, r.state()])),
    named: Object.fromEntries(Object.entries(options.rngs ?? {}).map(([n, r]) => [n, r.state()])),
  };
  metadata.rng = JSON.stringify(rng);
  if (options.session !== undefined) {
    checkPlainJson(options.session, 'session');
    metadata.session = JSON.stringify(options.session);
  }
  writeSafetensors(path, tensors, metadata);
}

function parseMetadata<C>(path: string, raw: Record<string, string>, reader: CheckpointConfigReader<C>): CheckpointMetadata<C> {
  const fail = (problem: string) => new CheckpointError(path, problem);
  if (raw.format !== CHECKPOINT_FORMAT) {
    throw fail(`not a transfusion-lab checkpoint (__metadata__.format is ${JSON.stringify(raw.format)}, expected '${CHECKPOINT_FORMAT}'); readSafetensors reads any safetensors file`);
  }
  reader.check?.(raw, fail);
  const formatVersion = Number(raw.format_version);
  if (!Number.isInteger(formatVersion) || formatVersion < 1) throw fail(`__metadata__.format_version is ${JSON.stringify(raw.format_version)}; expected an integer >= 1`);
  if (formatVersion > CHECKPOINT_VERSION) {
    throw fail(`written in checkpoint format ${formatVersion} by transfusion-lab ${raw.package_version}; this build (${packageVersion}) reads up to format ${CHECKPOINT_VERSION}`);
  }
  // Absent in files written before the field existed, which already had this layout.
  if (raw.layout !== undefined && raw.layout !== CHECKPOINT_LAYOUT) {
    throw fail(`__metadata__.layout is ${JSON.stringify(raw.layout)}; this build reads '${CHECKPOINT_LAYOUT}' ` +
      '(a PyTorch-layout state dict is transposed back first; docs/CHECKPOINTS.md)');
  }
  const json = <T>(key: string): T => {
    if (raw[key] === undefined) throw fail(`__metadata__.${key} is missing`);
    try {
      return JSON.parse(raw[key]) as T;
    } catch (e) {
      throw fail(`__metadata__.${key} is not valid JSON (${(e as Error).message})`);
    }
  };
  let config: C;
  try {
    config = reader.read(json<unknown>('config'));
  } catch (e) {
    throw e instanceof CheckpointError ? e : fail(`__metadata__.config is not a valid ${reader.what}: ${(e as Error).message}`);
  }
  let trainer: TrainerState | null = null;
  if (raw.trainer !== undefined) {
    const { step, optimizerStep } = json<{ step: number; optimizerStep: number }>('trainer');
    if (!Number.isInteger(step) || step < 0 || !Number.isInteger(optimizerStep) || optimizerStep < 0) {
      throw fail(`__metadata__.trainer is ${raw.trainer}; expected { step, optimizerStep } integers >= 0`);
    }
    let train: TrainConfig;
    try {
      train = makeTrainConfig(json<TrainConfig>('train_config'));
    } catch (e) {
      throw e instanceof CheckpointError ? e : fail(`__metadata__.train_config is not a valid TrainConfig: ${(e as Error).message}`);
    }
    const history = json<StepReport[]>('history');
    if (!Array.isArray(history)) throw fail('__metadata__.history is not an array of step reports');
    trainer = { train, step, optimizerStep, history };
  }
  const rng = json<RngStates>('rng');
  if (typeof rng !== 'object' || rng === null || typeof rng.modules !== 'object' || typeof rng.named !== 'object') {
    throw fail('__metadata__.rng is not { global, modules, named }');
  }
  const user = Object.fromEntries(Object.entries(raw).filter(([k]) => !RESERVED_KEYS.includes(k)));
  return {
    formatVersion,
    packageVersion: raw.package_version ?? 'unknown',
    created: raw.created ?? 'unknown',
    config,
    trainer,
    rng,
    session: raw.session === undefined ? null : json<unknown>('session'),
    user,
  };
}

/**
 * Throw unless every value of a float tensor is finite. Training never applies a non-finite update, so a NaN
 * or Inf in a file is corruption (or a hand-edited state), and a model built on it would generate NaN images
 * and empty captions without a word.
 */
function checkFinite(path: string, name: string, host: HostTensor): void {
  if (host.dtype !== 'F32') return;
  // A view where the file's bytes happen to be 4-aligned in memory; a copy otherwise.
  const bytes = host.data.byteOffset % 4 === 0 ? host.data : new Uint8Array(host.data);
  const values = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  let bad = 0;
  let first = -1;
  for (let i = 0; i < values.length; i++) {
    if (Number.isFinite(values[i])) continue;
    if (bad++ === 0) first = i;
  }
  if (bad > 0) {
    throw new CheckpointError(path, `tensor '${name}' [${host.shape.join(', ')}] holds ${bad} non-finite value${bad === 1 ? '' : 's'} ` +
      `(first: ${values[first]} at flat index ${first}); a checkpoint must hold finite numbers: the file is corrupt or was written from a diverged state`);
  }
}

/**
 * Read a checkpoint: its config, every tensor (as tfjs tensors the caller disposes) and its metadata. A
 * non-finite value in any float tensor (weights, optimizer moments, EMA) is an error naming the tensor.
 */
export function loadCheckpoint(path: string): LoadedCheckpoint {
  return loadCheckpointOf(path, TRANSFUSION_READER);
}

/** `loadCheckpoint` for a checkpoint whose config entry `reader` reads (the baseline's, src/baseline/session.ts). */
export function loadCheckpointOf<C>(path: string, reader: CheckpointConfigReader<C>): LoadedCheckpoint<C> {
  const contents = readSafetensors(path);
  const metadata = parseMetadata(path, contents.metadata, reader);
  for (const [name, host] of Object.entries(contents.tensors)) checkFinite(path, name, host);
  const tensors: Record<string, tf.Tensor> = {};
  try {
    for (const [name, host] of Object.entries(contents.tensors)) tensors[name] = toTensor(host, name, path);
  } catch (e) {
    tf.dispose(Object.values(tensors));
    throw e;
  }
  return { path, config: metadata.config, tensors, metadata };
}

/**
 * `tensors[name]` with the shape and dtype of `like`, or an error naming the tensor, expected and received; the
 * name is added to `used`, so a restore can refuse the tensors it had no place for.
 */
export function takeTensor(path: string, tensors: Record<string, tf.Tensor>, name: string, like: tf.Tensor, used: Set<string>): tf.Tensor {
  const t = tensors[name];
  if (!t) throw new CheckpointError(path, `tensor '${name}' is missing (expected shape [${like.shape.join(', ')}])`);
  if (t.shape.length !== like.shape.length || t.shape.some((d, i) => d !== like.shape[i])) {
    throw new ShapeError(`${path}: tensor '${name}'`, `[${like.shape.join(', ')}]`, t.shape);
  }
  if (t.dtype !== like.dtype) throw new CheckpointError(path, `tensor '${name}' is ${t.dtype}, the model expects ${like.dtype}`);
  used.add(name);
  return t;
}

/** A trainer's saved tensors for `params`: AdamW's moments (a parameter never updated has none) and the EMA weights. */
export function trainerTensors(
  path: string,
  tensors: Record<string, tf.Tensor>,
  params: ReadonlyArray<[string, tf.Variable]>,
  trainer: TrainerState,
  used: Set<string>,
): { readonly moments: Record<string, tf.Tensor>; readonly ema: Record<string, tf.Tensor> } {
  const moments: Record<string, tf.Tensor> = {};
  for (const [name, v] of params) {
    // AdamW makes a parameter's moments at its first update, so a parameter never updated has none.
    if (!v.trainable || !(`${OPTIMIZER_PREFIX}m.${name}` in tensors)) continue;
    for (const m of ['m', 'v']) moments[`${m}.${name}`] = takeTensor(path, tensors, `${OPTIMIZER_PREFIX}${m}.${name}`, v, used);
  }
  const ema = trainer.train.emaDecay > 0 ? Object.fromEntries(params.map(([name, v]) => [name, takeTensor(path, tensors, EMA_PREFIX + name, v, used)])) : {};
  return { moments, ema };
}

/** A Trainer of `model` at the saved step, with its moments, EMA and history (from `trainerTensors`). */
export function restoredTrainer(model: Parameterised, saved: TrainerState, state: ReturnType<typeof trainerTensors>): Trainer {
  const trainer = new Trainer(model, saved.train);
  trainer.optimizer.loadStateDict({ step: saved.optimizerStep, tensors: state.moments });
  trainer.ema?.loadStateDict(state.ema);
  trainer.step = saved.step;
  trainer.history.push(...saved.history);
  return trainer;
}

/** An error naming the tensors of the file that no parameter, moment or EMA weight took. */
export function refuseUnused(path: string, tensors: Record<string, tf.Tensor>, used: ReadonlySet<string>): void {
  const unexpected = Object.keys(tensors).filter((n) => !used.has(n));
  if (unexpected.length) {
    const more = unexpected.length > 5 ? ` and ${unexpected.length - 5} more` : '';
    throw new CheckpointError(path, `tensors this config has no place for: ${unexpected.slice(0, 5).join(', ')}${more}`);
  }
}

/** Each Dropout stream of `net` continues where the saved run's stopped. */
export function restoreModuleStreams(path: string, net: Module, rng: RngStates): void {
  const streams = new Map(moduleStreams(net));
  for (const [p, state] of Object.entries(rng.modules)) {
    const stream = streams.get(p);
    if (!stream) throw new CheckpointError(path, `__metadata__.rng.modules has a stream for '${p}', which is not a Dropout module of this model`);
    stream.setState(state, `rng.modules.${p}`);
  }
}

/**
 * A fresh Transfusion built from the saved config with the saved weights, and (when one was saved) a Trainer
 * with its optimizer moments, EMA weights, step and history; Dropout streams continue where they stopped.
 * The global stream is left alone (a load has no hidden effect on other code); TrainingRun.resume restores it.
 */
export function restore(path: string): Restored {
  const { metadata, tensors } = loadCheckpoint(path);
  let model: Transfusion | null = null;
  let trainer: Trainer | null = null;
  try {
    // The initial weights are overwritten at once; a private stream keeps building them from advancing rng().
    model = new Transfusion(metadata.config, new Rng('checkpoint/restore'));
    const used = new Set<string>();
    const params = model.namedParameters();
    const weights = Object.fromEntries(params.map(([name, v]) => [name, takeTensor(path, tensors, name, v, used)]));
    const state = metadata.trainer ? trainerTensors(path, tensors, params, metadata.trainer, used) : null;
    refuseUnused(path, tensors, used);
    model.net.loadStateDict(weights);
    if (metadata.trainer && state) trainer = restoredTrainer(model, metadata.trainer, state);
    restoreModuleStreams(path, model.net, metadata.rng);
  } catch (e) {
    trainer?.dispose();
    model?.dispose();
    throw e;
  } finally {
    tf.dispose(Object.values(tensors));
  }
  const rngs = Object.fromEntries(Object.entries(metadata.rng.named).map(([n, s]) => [n, Rng.fromState(s, `rng.named.${n}`)]));
  return { model, trainer, rngs, metadata };
}
