import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tf } from '../../src/engine/tf';
import { initEngine } from '../../src/engine/engine';
import { Rng } from '../../src/engine/random';
import { ShapeError } from '../../src/config';
import { version as packageVersion } from '../../package.json';
import { TrainingRun } from '../../src/checkpoint/session';
import { CheckpointError, loadCheckpoint, moduleStreams, restore, saveCheckpoint } from '../../src/checkpoint/checkpoint';
import { readSafetensors, writeSafetensors } from '../../src/checkpoint/safetensors';
import type { TransfusionConfig } from '../../src/model/config';
import { Transfusion } from '../../src/model/transfusion';
import { Trainer } from '../../src/train/trainer';
import { TINY_RUN, tempFolder, tenDigits, values } from './helpers';

before(async () => {
  await initEngine();
});

const dir = tempFolder('checkpoint');
const dataset = tenDigits();

/** A run trained two steps (so AdamW moments, EMA and history are non-trivial), saved to `name`. */
async function savedRun(name: string): Promise<{ run: TrainingRun; path: string }> {
  const run = TrainingRun.create(dataset, TINY_RUN);
  await run.train(2);
  const path = join(dir, name);
  saveCheckpoint(path, { model: run.model, trainer: run.trainer, metadata: { note: 'two steps' } });
  return { run, path };
}

/** Copy `src` to `dst`, letting `edit` change the tensors and metadata in between. */
function rewrite(src: string, dst: string, edit: (tensors: Record<string, unknown>, metadata: Record<string, string>) => void): string {
  const { tensors, metadata } = readSafetensors(src);
  edit(tensors, metadata);
  writeSafetensors(dst, tensors as never, metadata);
  return dst;
}

test('the file holds weights by dotted name, AdamW moments, EMA weights and the documented metadata', async () => {
  const { run, path } = await savedRun('layout.safetensors');
  const { tensors, metadata } = readSafetensors(path);
  const params = run.model.namedParameters().map(([n]) => n);
  assert.ok(params.includes('transformer.layers.0.attn.wq.weight'));
  const expected = [...params, ...params.flatMap((n) => [`optimizer.m.${n}`, `optimizer.v.${n}`, `ema.${n}`])];
  assert.deepEqual(Object.keys(tensors).sort(), expected.sort());
  assert.deepEqual(tensors['transformer.layers.0.attn.wq.weight'].shape, [16, 16]);
  assert.equal(metadata.format, 'transfusion-lab/checkpoint');
  assert.equal(metadata.format_version, '1');
  assert.equal(metadata.package_version, packageVersion);
  assert.ok(Math.abs(Date.parse(metadata.created) - Date.now()) < 60_000, metadata.created);
  assert.deepEqual(JSON.parse(metadata.config), run.model.config);
  assert.deepEqual(JSON.parse(metadata.train_config), run.trainer.config);
  assert.deepEqual(JSON.parse(metadata.trainer), { step: 2, optimizerStep: 2 });
  assert.deepEqual(JSON.parse(metadata.history), JSON.parse(JSON.stringify(run.trainer.history)));
  const rng = JSON.parse(metadata.rng);
  assert.deepEqual(Object.keys(rng.modules).sort(), moduleStreams(run.model.net).map(([p]) => p).sort());
  assert.ok('transformer.layers.0.attn.attn_dropout' in rng.modules);
  assert.equal(metadata.note, 'two steps');
  run.dispose();
});

test('restore: bit-identical weights, moments, EMA, step, history and streams; same outputs and next step', async () => {
  const { run, path } = await savedRun('restore.safetensors');
  const { model, trainer, metadata } = restore(path);
  assert.ok(trainer);
  for (const [[name, a], [nameB, b]] of run.model.namedParameters().map((p, i) => [p, model.namedParameters()[i]] as const)) {
    assert.equal(nameB, name);
    assert.deepEqual(values(b), values(a), name);
  }
  const [optA, optB] = [run.trainer.optimizer.stateDict(), trainer.optimizer.stateDict()];
  assert.equal(optB.step, optA.step);
  assert.deepEqual(Object.keys(optB.tensors).sort(), Object.keys(optA.tensors).sort());
  for (const k of Object.keys(optA.tensors)) assert.deepEqual(values(optB.tensors[k]), values(optA.tensors[k]), k);
  const [emaA, emaB] = [run.trainer.ema!.stateDict(), trainer.ema!.stateDict()];
  for (const k of Object.keys(emaA)) assert.deepEqual(values(emaB[k]), values(emaA[k]), `ema ${k}`);
  assert.equal(trainer.step, 2);
  assert.deepEqual(trainer.history, JSON.parse(JSON.stringify(run.trainer.history)));
  assert.deepEqual(moduleStreams(model.net).map(([p, r]) => [p, r.state()]), moduleStreams(run.model.net).map(([p, r]) => [p, r.state()]));
  assert.deepEqual(metadata.user, { note: 'two steps' });

  // Same outputs in eval mode, then the same next training step (dropout on, same batch, same noise).
  const batch = run.nextBatch();
  const evalLoss = (m: typeof model) => {
    m.eval();
    const out = m.loss(batch, new Rng('probe'));
    const v = [out.total, out.breakdown.lm, out.breakdown.diffusion].map((t) => t.dataSync()[0]);
    tf.dispose([out.total, ...Object.values(out.breakdown)]);
    m.train();
    return v;
  };
  assert.deepEqual(evalLoss(model), evalLoss(run.model));
  const stepA = run.trainer.trainStep(() => run.model.loss(batch, new Rng('noise')));
  const stepB = trainer.trainStep(() => model.loss(batch, new Rng('noise')));
  assert.deepEqual([stepB.loss, stepB.breakdown, stepB.lr, stepB.gradNorm], [stepA.loss, stepA.breakdown, stepA.lr, stepA.gradNorm]);
  assert.deepEqual(values(model.namedParameters()[0][1]), values(run.model.namedParameters()[0][1]));
  trainer.dispose();
  model.dispose();
  run.dispose();
});

test('loadCheckpoint returns config, tensors and parsed metadata; nothing leaks through save, load and restore', async () => {
  const { run, path } = await savedRun('leaks.safetensors');
  let before = tf.memory().numTensors;
  saveCheckpoint(path, { model: run.model, trainer: run.trainer });
  const loaded = loadCheckpoint(path);
  assert.deepEqual(loaded.config, run.model.config);
  assert.equal(loaded.metadata.trainer?.step, 2);
  assert.deepEqual(values(loaded.tensors['head.weight']), values(run.model.net.stateDict()['head.weight']));
  tf.dispose(Object.values(loaded.tensors));
  assert.equal(tf.memory().numTensors, before);

  // Building a Trainer with EMA and loading AdamW state leave tensors behind on their own (src/train: the
  // initial values given to tf.variable are never disposed), so restore is held to exactly that and no more.
  before = tf.memory().numTensors;
  const model = new Transfusion(run.model.config, new Rng(0));
  const trainer = new Trainer(model, run.trainer.config);
  trainer.optimizer.loadStateDict(run.trainer.optimizer.stateDict());
  trainer.dispose();
  model.dispose();
  const inherent = tf.memory().numTensors - before;
  before = tf.memory().numTensors;
  const restored = restore(path);
  restored.trainer!.dispose();
  restored.model.dispose();
  assert.equal(tf.memory().numTensors - before, inherent);
  run.dispose();
});

test('a model saved without a trainer restores with trainer null and no optimizer tensors', () => {
  const run = TrainingRun.create(dataset, TINY_RUN);
  const path = join(dir, 'weights-only.safetensors');
  saveCheckpoint(path, { model: run.model });
  assert.ok(Object.keys(readSafetensors(path).tensors).every((n) => !n.startsWith('optimizer.') && !n.startsWith('ema.')));
  const { model, trainer, metadata } = restore(path);
  assert.equal(trainer, null);
  assert.equal(metadata.trainer, null);
  assert.deepEqual(values(model.namedParameters()[3][1]), values(run.model.namedParameters()[3][1]));
  model.dispose();
  run.dispose();
});

test('tensors that do not fit the saved config: errors name the tensor, expected and received; no leaks', async () => {
  const { run, path } = await savedRun('source.safetensors');
  const before = tf.memory().numTensors;
  const wider = rewrite(path, join(dir, 'wider.safetensors'), (_, meta) => {
    const config = JSON.parse(meta.config) as TransfusionConfig;
    meta.config = JSON.stringify({ ...config, net: { ...config.net, transformer: { ...config.net.transformer, ffnHidden: 48 } } });
  });
  assert.throws(() => restore(wider), (e: unknown) =>
    e instanceof ShapeError && e.message === `${wider}: tensor 'transformer.layers.0.ffn.w1.weight': expected shape [16, 48], received [16, 32]`);
  const missing = rewrite(path, join(dir, 'missing.safetensors'), (t) => delete t['head.weight']);
  assert.throws(() => restore(missing), (e: unknown) => e instanceof CheckpointError && e.message === `${missing}: tensor 'head.weight' is missing (expected shape [262, 16])`);
  const extra = rewrite(path, join(dir, 'extra.safetensors'), (t) => (t['stray.weight'] = { dtype: 'F32', shape: [1], data: new Uint8Array(4) }));
  assert.throws(() => restore(extra), /extra\.safetensors: tensors this config has no place for: stray\.weight/);
  const intWeights = rewrite(path, join(dir, 'int.safetensors'), (t) => (t['head.weight'] = { ...(t['head.weight'] as object), dtype: 'I32' }));
  assert.throws(() => restore(intWeights), /int\.safetensors: tensor 'head\.weight' is int32, the model expects float32/);
  assert.equal(tf.memory().numTensors, before);
  run.dispose();
});

test('metadata problems are errors naming the file and the key', async () => {
  const { run, path } = await savedRun('meta.safetensors');
  const edit = (name: string, change: (m: Record<string, string>) => void) => rewrite(path, join(dir, name), (_, m) => change(m));
  const cases: Array<[string, RegExp]> = [
    [edit('foreign.safetensors', (m) => delete m.format), /not a transfusion-lab checkpoint \(__metadata__\.format is undefined/],
    [edit('newer.safetensors', (m) => (m.format_version = '2')), /written in checkpoint format 2 by transfusion-lab .*reads up to format 1/],
    [edit('badjson.safetensors', (m) => (m.history = '[{')), /__metadata__\.history is not valid JSON/],
    [edit('badconfig.safetensors', (m) => (m.config = m.config.replace('"nHeads":2', '"nHeads":3'))), /__metadata__\.config is not a valid TransfusionConfig: .*nHeads/],
    [edit('badstep.safetensors', (m) => (m.trainer = '{"step":-1,"optimizerStep":0}')), /__metadata__\.trainer is .*expected \{ step, optimizerStep \}/],
  ];
  for (const [file, re] of cases) {
    assert.throws(() => loadCheckpoint(file), (e: unknown) => e instanceof CheckpointError && e.message.startsWith(`${file}: `) && re.test(e.message), String(re));
  }
  assert.throws(() => saveCheckpoint(join(dir, 'x.safetensors'), { model: run.model, metadata: { config: 'mine' } }), /metadata key 'config' is reserved/);
  assert.throws(() => saveCheckpoint(join(dir, 'x.safetensors'), { model: run.model, session: { when: new Date() } }), /session\.when is a Date instance/);
  run.dispose();
});
