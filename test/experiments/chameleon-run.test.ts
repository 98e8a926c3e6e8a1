/**
 * The Chameleon baseline through the lab's run machinery (src/experiments/train-run.ts with `modelKind:
 * 'chameleon'`, src/baseline/session.ts): a recorded run with samples, an evaluation by src/eval's scorer, a
 * checkpoint that restores the same numbers, the reuse/resume table of train-run.ts, and a sweep with an arm of
 * each kind that compareRuns and writeReport show side by side.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { join } from 'node:path';
import { tf } from '../../src/engine/tf';
import { restore } from '../../src/checkpoint/checkpoint';
import { ChameleonBaseline } from '../../src/baseline/chameleon';
import { restoreChameleon } from '../../src/baseline/session';
import { evaluate, type DigitScorer } from '../../src/eval/evaluate';
import { resolveExperiment, specOf, type ExperimentConfig } from '../../src/experiments/experiment-config';
import { loadRun } from '../../src/experiments/load-run';
import { compareRuns } from '../../src/experiments/compare';
import { writeReport } from '../../src/experiments/report';
import { readRecord } from '../../src/experiments/run-record';
import { sweep } from '../../src/experiments/sweep';
import { runSamples, trainRun, type ChameleonRunOptions, type RunModel } from '../../src/experiments/train-run';
import { canonicalJson } from '../../src/experiments/atomic';
import { TINY_NET, useTempRoot } from '../helpers/experiments';

let root = '';
useTempRoot('tf-chameleon-run-', (dir) => {
  root = dir;
});

/** A tokenizer of 16 codes that trains for two steps: enough to give the baseline codes, in well under a second. */
const TINY_CHAMELEON = {
  tokenizer: { channels: [8, 8], codebookSize: 16, codeDim: 4 },
  tokenizerTrain: { steps: 2, batchSize: 4 },
} as const;

/** A stand-in for the reference classifier: the digit is read off the mean pixel, the features are two means. */
const scorer: DigitScorer = {
  predict: (images) => {
    const digits = tf.tidy(() => images.mean([1, 2, 3]).add(1).mul(4.5).round().clipByValue(0, 9));
    const out = Int32Array.from(digits.dataSync());
    digits.dispose();
    return out;
  },
  features: (images) => {
    const data = images.dataSync();
    return Array.from({ length: images.shape[0] }, (_, i) => {
      const row = Array.from(data.subarray(i * 256, (i + 1) * 256));
      return Float64Array.of(row.reduce((s, v) => s + v, 0) / 256, row.slice(0, 128).reduce((s, v) => s + v, 0) / 128);
    });
  },
};

/** src/eval's evaluate at a tiny size, scored by the stand-in: the same call for both kinds. */
const score = (model: RunModel) => evaluate(model, { n: 1, heldout: 4, batchSize: 10, ...(model instanceof ChameleonBaseline ? {} : { steps: 2, guidance: 1 }) }, { classifier: scorer });

const tiny = (name: string, more: Partial<ChameleonRunOptions> = {}): ChameleonRunOptions => ({
  name,
  root,
  modelKind: 'chameleon',
  chameleon: TINY_CHAMELEON,
  model: { net: TINY_NET },
  batchSize: 4,
  steps: 3,
  seed: 2,
  samples: { captions: ['the digit 1', 'the digit 7'] },
  progress: false,
  ...more,
});

test('a Chameleon spec resolves to the twin of its Transfusion model and back (specOf), and bad fields are named', () => {
  const config = resolveExperiment(tiny('x'));
  assert.equal(config.modelKind, 'chameleon');
  const setup = config.chameleon!;
  assert.deepEqual(setup.model.net.transformer, config.model.net.transformer);
  assert.deepEqual(setup.model.net.grid, { height: 8, width: 8 });
  assert.equal(setup.model.net.codebookSize, 16);
  assert.equal(setup.tokenizer.downsample, config.model.net.patchSize);
  assert.equal(setup.tokenizerTrain.seed, 2, "the tokenizer's seed is the run's");
  assert.equal(config.evaluation, null);
  assert.equal(canonicalJson(resolveExperiment(specOf(config))), canonicalJson(config));
  assert.equal(resolveExperiment({ ...tiny('x'), modelKind: undefined } as never).chameleon, null, 'a Transfusion run records no baseline setup');
  assert.throws(() => resolveExperiment(tiny('x', { chameleon: { tokenizer: { codebookSize: 16 }, model: { net: { codebookSize: 32 } } } })),
    /experiment\.chameleon\.model\.net\.codebookSize: got 32; allowed: 16, the tokenizer's codebookSize/);
  const coarse = resolveExperiment(tiny('x', { chameleon: { tokenizer: { downsample: 4 } } })).chameleon!;
  assert.deepEqual([coarse.tokenizer.channels, coarse.model.net.grid], [[16, 32, 64], { height: 4, width: 4 }], 'the widths and the code grid follow the downsampling');
  assert.throws(() => resolveExperiment(tiny('x', { chameleon: { tokenizer: { downsample: 4 }, model: { net: { grid: { height: 8 } } } } })),
    /experiment\.chameleon\.model\.net\.grid\.height: got 8; allowed: 4 \(the image height 16 \/ the tokenizer's downsample 4\)/);
  assert.throws(() => resolveExperiment(tiny('x', { chameleon: { tokenizerTrain: { steps: -1 } } })), /experiment\.chameleon\.tokenizerTrain\.steps: got -1/);
  assert.throws(() => resolveExperiment(tiny('x', { chameleon: { tokeniser: {} } as never })), /experiment\.chameleon\.tokeniser/);
  assert.throws(() => resolveExperiment(tiny('x', { evaluation: { guidance: 3 } })), /experiment\.evaluation\.guidance: got 3; allowed: 1: the Chameleon baseline has no classifier-free guidance/);
  assert.throws(() => resolveExperiment({ modelKind: 'discrete' } as never), /experiment\.modelKind: got "discrete"/);
});

test('a Chameleon trainRun records, samples, evaluates and checkpoints; the checkpoint restores the same numbers; no tensor leaks', async () => {
  const tensors = tf.memory().numTensors;
  const result = await trainRun(tiny('run', { evaluate: score }));
  const dir = join(root, 'run');
  assert.equal(result.status, 'finished');
  assert.ok(result.model instanceof ChameleonBaseline);
  assert.equal(result.model.vq, result.session.tokenizer);
  const record = readRecord<ExperimentConfig>(dir);
  assert.equal(record.status, 'finished');
  assert.equal(record.config.modelKind, 'chameleon');
  const history = result.trainer.history;
  assert.deepEqual(history.map((h) => h.step), [0, 1, 2]);
  assert.ok(history.every((h) => Number.isFinite(h.breakdown.text) && Number.isFinite(h.breakdown.image)));
  const loaded = loadRun(dir);
  assert.equal(loaded.modelKind, 'chameleon');
  assert.deepEqual(loaded.history.map((r) => r.loss), history.map((h) => h.loss));
  assert.equal(loaded.samples.length, 1);
  const row = loaded.evals[0] as Record<string, number>;
  for (const key of ['t2i_accuracy', 'fid', 'caption_accuracy']) assert.ok(Number.isFinite(row[key]), key);
  assert.equal(row.guidance, 1);
  assert.equal(row.steps, 64, 'the baseline draws 8 x 8 codes per image');
  assert.equal(row.diffusion_mse, undefined);

  // loadRun(dir).restore('chameleon'): the same weights (tokenizer included), trainer state and sample grid.
  const restored = loadRun(dir).restore('chameleon');
  for (const [name, v] of [...result.model.namedParameters(), ...result.session.tokenizer.namedParameters().map(([n, p]) => [`tokenizer.${n}`, p] as const)]) {
    const w = name.startsWith('tokenizer.')
      ? restored.tokenizer.namedParameters().find(([n]) => `tokenizer.${n}` === name)![1]
      : restored.model.namedParameters().find(([n]) => n === name)![1];
    assert.deepEqual(Array.from(w.dataSync()), Array.from(v.dataSync()), name);
  }
  assert.equal(restored.trainer!.step, 3);
  assert.deepEqual(restored.trainer!.history.map((h) => h.loss), history.map((h) => h.loss));
  restored.model.eval();
  const again = await runSamples(restored.model, result.config.samples!, result.config.seed);
  assert.ok(Buffer.from(again.png).equals(fs.readFileSync(loaded.samples[0])), 'the restored baseline draws the saved grid byte for byte');
  const rescored = await score(restored.model) as unknown as Record<string, number>;
  for (const key of ['t2i_accuracy', 'fid', 'caption_accuracy']) assert.equal(rescored[key], row[key], `${key} again from the checkpoint`);
  restored.dispose();

  // Asking for the other kind's model names the kind the run holds.
  assert.throws(() => loadRun(dir).restore(), /holds a chameleon run, not a transfusion one: restore\('chameleon'\)/);
  assert.throws(() => restore(join(dir, 'checkpoint.safetensors')), /not a valid TransfusionConfig/);
  result.dispose();
  assert.equal(tf.memory().numTensors, tensors, 'training, sampling, evaluating and restoring leave no tensors behind');
});

test('reuse and resume hold as for Transfusion: a finished run is reused, a stopped one goes on to the same losses', async () => {
  // Uninterrupted reference.
  const whole = await trainRun(tiny('whole', { steps: 4 }));
  const reference = whole.trainer.history.map((h) => h.loss);
  whole.dispose();

  // The same call again: reused, not trained (nothing runs; the tokenizer is not trained again).
  const reused = await trainRun(tiny('whole', { steps: 4 }));
  assert.equal(reused.reused, true);
  assert.equal(reused.status, 'finished');
  assert.ok(reused.model instanceof ChameleonBaseline);
  assert.ok(reused.model.vq, 'the reused baseline has its tokenizer');
  reused.dispose();
  await assert.rejects(trainRun(tiny('whole', { steps: 4, resume: false })), /holds this run finished/);
  await assert.rejects(trainRun(tiny('whole', { steps: 5 })), /another config: changed at steps \(4 -> 5\)/);

  // Stopped after two steps with a checkpoint every step, then resumed: the remaining losses are the reference's.
  // Counted by steps taken, not by polls: the tokenizer's training polls `shouldStop` too.
  let taken = 0;
  const stopped = await trainRun(tiny('halves', { steps: 4, checkpointEvery: 1, onStep: () => taken++, shouldStop: () => taken >= 2 }));
  assert.equal(stopped.status, 'interrupted');
  assert.equal(stopped.trainer.step, 2);
  stopped.dispose();
  const tensors = tf.memory().numTensors;
  const resumed = await trainRun(tiny('halves', { steps: 4, resume: true }));
  assert.equal(resumed.resumedFrom, 2);
  assert.equal(resumed.status, 'finished');
  assert.deepEqual(resumed.trainer.history.map((h) => h.loss), reference);
  resumed.dispose();
  assert.equal(tf.memory().numTensors, tensors, 'resuming and training on leave no tensors behind');

  // A changed config refuses to resume, naming the field.
  await assert.rejects(trainRun(tiny('halves', { steps: 4, resume: true, chameleon: { ...TINY_CHAMELEON, tokenizer: { ...TINY_CHAMELEON.tokenizer, codebookSize: 8 } } })),
    /cannot resume|another config/);
  // A Transfusion file is not a baseline checkpoint.
  const transfusion = await trainRun({ name: 'tf', root, model: { net: TINY_NET }, batchSize: 4, steps: 1, samples: null, progress: false });
  transfusion.dispose();
  assert.throws(() => restoreChameleon(join(root, 'tf', 'checkpoint.safetensors')), /model_kind is undefined, expected 'chameleon'/);
});

test('a sweep with one arm of each kind runs, and compareRuns and writeReport show both', async () => {
  const result = await sweep(
    { model: { net: TINY_NET }, chameleon: TINY_CHAMELEON, batchSize: 4, steps: 2, samples: { captions: ['the digit 3'], generate: { sampler: { steps: 2 } } } },
    { modelKind: ['transfusion', 'chameleon'] },
    { name: 'kinds', root, progress: false, evaluate: score },
  );
  assert.equal(result.status, 'finished');
  assert.deepEqual(result.ran, ['modelKind=transfusion', 'modelKind=chameleon']);
  const table = compareRuns(join(root, 'kinds'));
  const rows = table.objects() as Record<string, unknown>[];
  assert.deepEqual(rows.map((r) => r.model), ['transfusion', 'chameleon']);
  for (const r of rows) assert.ok(Number.isFinite(r['eval.t2i_accuracy']), `${r.run} has the shared scorer's t2i_accuracy`);
  assert.ok(Number.isFinite(rows[1].text) && Number.isFinite(rows[1].image) && rows[1].diffusion === null);
  const html = fs.readFileSync(writeReport(join(root, 'kinds')), 'utf8');
  assert.match(html, /modelKind=chameleon/);
  assert.match(html, /loss \(not comparable: modelKind differs\)/);
  // Started again: both arms are finished and skipped.
  const again = await sweep(
    { model: { net: TINY_NET }, chameleon: TINY_CHAMELEON, batchSize: 4, steps: 2, samples: { captions: ['the digit 3'], generate: { sampler: { steps: 2 } } } },
    { modelKind: ['transfusion', 'chameleon'] },
    { name: 'kinds', root, progress: false, evaluate: score },
  );
  assert.deepEqual(again.skipped, ['modelKind=transfusion', 'modelKind=chameleon']);
});
