import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config';
import { resolveConfig } from '../../src/model/config';
import { DEFAULT_TRAIN } from '../../src/train/trainer';
import { DEFAULT_GENERATE } from '../../src/generate/options';
import { DEFAULT_EVAL } from '../../src/eval/evaluate';
import { canonicalJson } from '../../src/experiments/atomic';
import { canonicalPath, readPath, withField } from '../../src/experiments/dotted-path';
import { checkDataFitsModel, resolveExperiment, specOf } from '../../src/experiments/experiment-config';
import { planSweep } from '../../src/experiments/sweep';

const configError = (re: RegExp) => (e: unknown) => e instanceof ConfigError && re.test((e as Error).message);

test('the default experiment is the mnist preset on 16 x 16 MNIST, with the LR decaying over the run', () => {
  const c = resolveExperiment({ steps: 40 });
  assert.deepEqual(c.model, resolveConfig('mnist'));
  assert.equal(c.data.kind, 'mnist');
  assert.equal((c.data as { size: number }).size, 16);
  assert.deepEqual(c.train.lrSchedule, { ...DEFAULT_TRAIN.lrSchedule, totalSteps: 40 });
  assert.equal(c.batchSize, 8);
  assert.equal(c.seed, 0);
  assert.deepEqual(c.samples?.captions, Array.from({ length: 10 }, (_, d) => `the digit ${d}`));
  assert.deepEqual(c.samples?.generate, DEFAULT_GENERATE);
  // An explicit totalSteps is kept; a constant schedule has none to set.
  const explicit = resolveExperiment({ steps: 40, train: { lrSchedule: { kind: 'warmup-cosine', warmupSteps: 5, totalSteps: 1000, minRatio: 0 } } });
  assert.equal((explicit.train.lrSchedule as { totalSteps: number }).totalSteps, 1000);
  assert.deepEqual(resolveExperiment({ train: { lrSchedule: { kind: 'constant' } } }).train.lrSchedule, { kind: 'constant' });
  assert.equal(resolveExperiment({ samples: null }).samples, null);
  assert.equal(c.evaluation, null);
  assert.deepEqual(resolveExperiment({ evaluation: { n: 2 } }).evaluation, { ...DEFAULT_EVAL, n: 2 });
});

test('specOf(config) resolves back to the same config (a saved run rebuilds itself)', () => {
  const c = resolveExperiment({ steps: 7, seed: 3, model: { objective: { lambda: 2 } }, train: { optimizer: { lr: 1e-3 } }, samples: { captions: ['a 7'] } });
  assert.equal(canonicalJson(resolveExperiment(specOf(c))), canonicalJson(c));
  assert.equal(canonicalJson(resolveExperiment(JSON.parse(JSON.stringify(specOf(c))))), canonicalJson(c));
});

test('experiment fields are validated, naming the field', () => {
  assert.throws(() => resolveExperiment({ steps: 0 }), configError(/experiment\.steps: got 0/));
  assert.throws(() => resolveExperiment({ batchSize: 1.5 }), configError(/experiment\.batchSize/));
  assert.throws(() => resolveExperiment({ seed: 0.5 }), configError(/experiment\.seed/));
  assert.throws(() => resolveExperiment({ data: { kind: 'cifar' } as never }), configError(/experiment\.data\.kind: got "cifar"; allowed: 'mnist', 'shapes'/));
  assert.throws(() => resolveExperiment({ samples: { captions: [] } }), configError(/experiment\.samples\.captions/));
  assert.throws(() => resolveExperiment({ model: { objective: { lambda: -1 } } }), configError(/objective\.lambda: got -1/));
  const tiny = resolveExperiment({ preset: 'tiny' });
  assert.throws(() => resolveExperiment({ evaluation: {}, data: { kind: 'shapes', size: 16 } }), configError(/experiment\.evaluation: got "a 16x16x1 latent on shapes data"/));
  assert.throws(() => resolveExperiment({ evaluation: { m: 1 } as never }), configError(/experiment\.evaluation\.m/));
  assert.throws(() => checkDataFitsModel({ length: 1, height: 16, width: 16, channels: 1, get: () => { throw new Error(); } }, tiny),
    configError(/experiment\.data: got "16x16x1 images".*16x16x4/));
});

test('dotted paths: model fields drop their prefix; lists take indices; a bad path names itself and what exists', () => {
  const base = resolveExperiment({});
  assert.equal(canonicalPath('objective.lambda'), 'model.objective.lambda');
  assert.equal(canonicalPath('train.optimizer.lr'), 'train.optimizer.lr');
  assert.equal(readPath(base, 'objective.lambda'), 5);
  assert.equal(readPath(base, 'data.templates.1'), 'the digit {digit}');

  const spec = withField({ steps: 9 }, base, 'objective.lambda', 2);
  assert.deepEqual(spec, { steps: 9, model: { objective: { lambda: 2 } } });
  assert.equal(resolveExperiment(spec).model.objective.lambda, 2);
  assert.equal(resolveExperiment(withField({}, base, 'train.optimizer.lr', 1e-3)).train.optimizer.lr, 1e-3);
  // The data spec is copied whole before a field of it changes, so its kind stays.
  const data = resolveExperiment(withField({}, base, 'data.templates.0', 'digit {digit}')).data;
  assert.ok(data.kind === 'mnist' && base.data.kind === 'mnist');
  assert.deepEqual(data.templates, ['digit {digit}', ...base.data.templates.slice(1)]);
  // The input spec is not modified.
  const given = { model: { objective: { lambda: 1 } } };
  withField(given, resolveExperiment(given), 'objective.noiseLimit', false);
  assert.deepEqual(given, { model: { objective: { lambda: 1 } } });

  assert.throws(() => readPath(base, 'objective.lamda'), configError(/^objective\.lamda: got "lamda"; allowed: a field of model\.objective: schedule, prediction.*lambda/));
  assert.throws(() => readPath(base, 'optimizer.lr'), configError(/optimizer\.lr: got "optimizer"; allowed: a field of \(top level\): model, train, steps.*net, objective, sequence/));
  assert.throws(() => readPath(base, 'data.templates.9'), configError(/data\.templates\.9: got "9"; allowed: an index 0\.\.5/));
  assert.throws(() => readPath(base, 'steps.x'), configError(/steps\.x: got "x"; allowed: nothing below steps/));
});

test('planSweep: the cartesian product in order, seeds innermost, labels from the values; bad values fail before training', () => {
  const arms = planSweep({ steps: 3 }, { 'objective.lambda': [1, 5], 'net.mask': [{ kind: 'causal' }, { kind: 'transfusion' }] }, [0, 1]);
  assert.deepEqual(arms.map((a) => a.name), [
    'lambda=1,mask=causal,seed=0', 'lambda=1,mask=causal,seed=1', 'lambda=1,mask=transfusion,seed=0', 'lambda=1,mask=transfusion,seed=1',
    'lambda=5,mask=causal,seed=0', 'lambda=5,mask=causal,seed=1', 'lambda=5,mask=transfusion,seed=0', 'lambda=5,mask=transfusion,seed=1',
  ]);
  assert.deepEqual(arms.map((a) => a.arm), arms.map((a) => a.name.replace(/,seed=\d$/, '')));
  assert.deepEqual(arms.map((a) => [a.config.model.objective.lambda, a.config.model.net.mask.kind, a.config.seed]), [
    [1, 'causal', 0], [1, 'causal', 1], [1, 'transfusion', 0], [1, 'transfusion', 1],
    [5, 'causal', 0], [5, 'causal', 1], [5, 'transfusion', 0], [5, 'transfusion', 1],
  ]);
  assert.ok(arms.every((a) => a.config.steps === 3));

  // Without seeds the base seed is used and not named; two fields with one last segment keep their paths.
  const plain = planSweep({ seed: 4 }, { 'train.optimizer.lr': [1e-3], 'net.transformer.dropout': [0.1], 'train.gradClip': [0.5] });
  assert.deepEqual(plain.map((a) => [a.name, a.seed]), [['lr=0.001,dropout=0.1,gradClip=0.5', 4]]);
  assert.deepEqual(planSweep({}, {}, [0, 1]).map((a) => a.name), ['base,seed=0', 'base,seed=1']);

  assert.throws(() => planSweep({}, { 'objective.lamda': [1] }), configError(/objective\.lamda/));
  assert.throws(() => planSweep({}, { 'objective.lambda': [1, -2] }), configError(/sweep arm lambda=-2: objective\.lambda: got -2/));
  assert.throws(() => planSweep({}, { 'objective.lambda': [] }), configError(/sweep\.grid\['objective\.lambda'\]/));
  assert.throws(() => planSweep({}, { 'objective.lambda': [1], 'model.objective.lambda': [2] }), configError(/already in the grid/));
  assert.throws(() => planSweep({}, {}, []), configError(/sweep\.seeds/));
});
