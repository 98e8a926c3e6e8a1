/**
 * Every option is checked when a spec is resolved, before a run writes anything: unknown and inherited keys at
 * every level, numbers finite and in range, sizes bounded, and options that depend on each other checked
 * together. Each case asserts the message a user sees: the field, the value and what is allowed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkKeys, mergeConfig } from '../../src/config';
import { makeRunConfig } from '../../src/checkpoint/session';
import { RUN_OPTION_KEYS, checkSpecKeys, resolveExperiment, type ExperimentSpec } from '../../src/experiments/experiment-config';
import { planSweep } from '../../src/experiments/sweep';
import { resolveConfig } from '../../src/model/config';

const TINY_NET = { transformer: { dModel: 16, nLayers: 1, nHeads: 2, ffnHidden: 32 } } as const;
const resolve = (spec: Record<string, unknown>) => () => resolveExperiment(spec as ExperimentSpec);

test('a misspelled top-level option fails naming it and the field it meant, instead of training with defaults', () => {
  assert.throws(resolve({ step: 300 }), /experiment\.step: got 300; allowed: did you mean 'steps'\? a field of the spec: preset, model, train, steps/);
  assert.throws(resolve({ batchsize: 4 }), /experiment\.batchsize: got 4; allowed: did you mean 'batchSize'\?/);
  assert.throws(resolve({ evalution: {} }), /experiment\.evalution: got \{\}; allowed: did you mean 'evaluation'\?/);
});

test("trainRun's and sweep's run options pass through resolveExperiment; a typo among them does not", () => {
  const options = { name: 'x', root: 'runs', dataset: undefined, arm: undefined, evaluate: () => ({}), progress: false, checkpointEvery: 2, resume: true, overwrite: false, whenHeld: 'wait', onStep: () => {}, shouldStop: () => false, seeds: [0], rescore: false };
  assert.deepEqual(Object.keys(options), [...RUN_OPTION_KEYS]);
  assert.equal(resolveExperiment({ ...options, steps: 3 } as ExperimentSpec).steps, 3);
  assert.throws(resolve({ name: 'x', seedss: [0, 1] }), /experiment\.seedss: got \[0,1\]; allowed: did you mean 'seeds'\?.*or an option: name, root/);
});

test('checkSpecKeys: callers check their own objects against the spec fields plus the extras they accept', () => {
  checkSpecKeys({ steps: 3, name: 'x' }, ['name'], 'trainRun');
  assert.throws(() => checkSpecKeys({ steps: 3, nmae: 'x' }, ['name'], 'trainRun'), /trainRun\.nmae: got "x"; allowed: did you mean 'name'\? a field of the spec: .*, or an option: name$/);
  assert.throws(() => checkSpecKeys({ name: 'x' }, [], 'sweep base'), /sweep base\.name: got "x"; allowed: a field of the spec: preset, model/);
});

test('a misspelled nested field suggests the field it meant and lists the fields there', () => {
  assert.throws(resolve({ model: { objective: { lamda: 2 } } }), /config\.objective\.lamda: got 2; allowed: did you mean 'lambda'\? one of the known fields: schedule, prediction/);
  assert.throws(resolve({ train: { optimizer: { LR: 1e-3 } } }), /train\.optimizer\.LR: got 0\.001; allowed: did you mean 'lr'\? one of the known fields: lr, beta1/);
  assert.throws(resolve({ evaluation: { heldOut: 10 } }), /experiment\.evaluation\.heldOut: got 10; allowed: did you mean 'heldout'\?/);
  assert.throws(() => makeRunConfig({ seeed: 1 } as never), /run\.seeed: got 1; allowed: did you mean 'seed'\? one of the known fields: preset, model, train, loader, seed/);
});

test('prototype names are not presets', () => {
  for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    assert.throws(() => resolveConfig(name as never), new RegExp(`preset: got "${name}"; allowed: 'tiny', 'mnist', 'mnist-fast', 'small'`));
  }
});

test('prototype names are not kinds, in any registry', () => {
  assert.throws(resolve({ model: { net: { mask: { kind: 'toString' } } } }), /net\.mask\.kind: got "toString"; allowed: 'transfusion', 'causal', 'full', 'prefix-lm'/);
  assert.throws(resolve({ model: { objective: { schedule: { kind: 'constructor' } } } }), /objective\.schedule\.kind: got "constructor"; allowed: 'linear', 'scaled-linear', 'cosine'/);
  assert.throws(resolve({ model: { objective: { weighting: { kind: 'valueOf' } } } }), /objective\.weighting\.kind: got "valueOf"; allowed: 'constant', 'min-snr'/);
  assert.throws(resolve({ data: { kind: 'constructor' } }), /experiment\.data\.kind: got "constructor"; allowed: 'mnist', 'shapes'/);
  assert.throws(resolve({ samples: { generate: { sampler: { kind: 'toString' } } } }), /generate\.sampler\.kind: got "toString"; allowed: 'ddpm', 'ddim', 'euler'/);
});

test('prototype names are not sweep paths, nor fields', () => {
  assert.throws(() => planSweep({ model: { net: TINY_NET } }, { 'model.constructor': [1] }), /sweep arm constructor=1: config\.constructor: got 1; allowed: one of the known fields: net, objective, sequence/);
  assert.throws(() => planSweep({}, { 'objective.toString': [1] }), /config\.objective\.toString: got 1; allowed: one of the known fields: schedule/);
  assert.throws(() => mergeConfig({ a: 1 }, JSON.parse('{"__proto__": {"a": 2}}')), /config\.__proto__: got \{"a":2\}; allowed: one of the known fields: a/);
});

test('inherited keys are refused: own properties only, at the top level and nested', () => {
  const inherited = Object.create({ steps: 5 }) as ExperimentSpec;
  assert.throws(() => resolveExperiment(inherited), /experiment\.steps: got 5; allowed: own fields only \(this one is inherited from the object's prototype\)/);
  const nested = { model: Object.create({ objective: { lambda: 2 } }) };
  assert.throws(resolve(nested), /config\.objective: got \{"lambda":2\}; allowed: own fields only/);
  assert.throws(() => checkKeys(Object.create({ x: 1 }), ['x'], 'thing'), /thing\.x: got 1; allowed: own fields only/);
});

test('a union kind takes its own fields only: another kind\'s field fails naming the kind', () => {
  assert.equal(resolveExperiment({ model: { net: { ...TINY_NET, mask: { kind: 'prefix-lm', prefixLength: 3 } } } }).model.net.mask.kind, 'prefix-lm');
  assert.throws(resolve({ model: { net: { mask: { kind: 'causal', prefixLength: 3 } } } }), /net\.mask\.prefixLength: got 3; allowed: a field of kind 'causal': kind$/);
  assert.equal(resolveExperiment({ train: { lrSchedule: { kind: 'constant' } } }).train.lrSchedule.kind, 'constant');
  assert.throws(resolve({ train: { lrSchedule: { kind: 'constant', warmupSteps: 3 } } }), /train\.lrSchedule\.warmupSteps: got 3; allowed: a field of kind 'constant': kind$/);
  assert.throws(resolve({ model: { net: { patch: { channels: [8, 8] } } } }), /config\.net\.patch\.channels: got \[8,8\]; allowed: one of the known fields: kind, conditioning/);
});

test('NaN and Infinity are printed as themselves, not as null', () => {
  assert.throws(resolve({ model: { objective: { lambda: Number.NaN } } }), /objective\.lambda: got NaN; allowed: a finite number >= 0/);
  assert.throws(resolve({ steps: Number.POSITIVE_INFINITY }), /experiment\.steps: got Infinity; allowed: an integer in \[1, 100000000\]/);
  assert.throws(resolve({ data: { kind: 'shapes', scale: [Number.NaN, 1] } }), /experiment\.data\.scale: got \[NaN,1\]; allowed: \[min, max\] with 0 < min <= max <= 1/);
});

test('sizes are bounded before anything is allocated, and the error names the bound', () => {
  assert.throws(resolve({ model: { net: { transformer: { dModel: 1e9 } } } }), /net\.transformer\.dModel: got 1000000000; allowed: an integer in \[1, 16384\] \(16384 is the bound LIMITS\.width\)/);
  assert.throws(resolve({ model: { net: { transformer: { nLayers: 1e9 } } } }), /net\.transformer\.nLayers: got 1000000000; allowed: an integer in \[1, 512\] \(512 is the bound LIMITS\.depth\)/);
  assert.throws(resolve({ model: { net: { maxPositions: 1e9 } } }), /net\.maxPositions: got 1000000000; allowed: an integer in \[1, 1048576\]/);
  assert.throws(resolve({ steps: 1e9 }), /experiment\.steps: got 1000000000; allowed: an integer in \[1, 100000000\] \(100000000 is the bound LIMITS\.steps\)/);
  assert.throws(resolve({ batchSize: 1e9 }), /experiment\.batchSize: got 1000000000; allowed: an integer in \[1, 65536\]/);
  assert.throws(resolve({ evaluation: { n: 1e9 } }), /experiment\.evaluation\.n: got 1000000000; allowed: an integer in \[1, 100000\] \(100000 is the bound LIMITS\.perDigit\)/);
  assert.throws(resolve({ model: { objective: { schedule: { kind: 'linear', T: 1e9 } } } }), /objective\.schedule\.T: got 1000000000; allowed: an integer in \[1, 1000000\]/);
});

test('a batch whose attention scores could not be allocated fails at resolve, naming the most that fits', () => {
  assert.throws(resolve({ batchSize: 60000 }), /experiment\.batchSize: got 60000; allowed: at most 58254: one layer's attention scores \(batchSize x nHeads 4 x sequence\.length 96\^2\)/);
});

test('a non-object where a section of fields belongs fails naming the section and its fields', () => {
  assert.throws(resolve({ model: { net: { latent: 16 } } }), /config\.net\.latent: got 16; allowed: an object with the fields channels, height, width/);
  assert.throws(resolve({ train: 5 }), /train: got 5; allowed: an object with the fields optimizer, lrSchedule/);
  assert.throws(resolve({ samples: { captions: ['a 7'], size: 2 } }), /experiment\.samples\.size: got 2; allowed: one of the known fields: captions, generate/);
});

test('a warmup the caller chose must end within the schedule', () => {
  assert.throws(resolve({ steps: 30, train: { lrSchedule: { warmupSteps: 50 } } }), /train\.lrSchedule\.warmupSteps: got 50; allowed: at most the run's steps \(30\): the learning rate would never finish warming up/);
  assert.throws(resolve({ steps: 300, train: { lrSchedule: { kind: 'warmup-cosine', warmupSteps: 40, totalSteps: 30, minRatio: 0 } } }),
    /train\.lrSchedule\.warmupSteps: got 40; allowed: at most train\.lrSchedule\.totalSteps \(30\)/);
  // The default warmup over a shorter run is the one exception, so a saved short run resolves again.
  assert.equal(resolveExperiment({ steps: 5 }).steps, 5);
});

test('prompts and training captions must fit a row of the sequence length beside the image', () => {
  assert.throws(resolve({ samples: { captions: ['a 7', 'x'.repeat(40)] } }),
    /experiment\.samples\.captions: got "x{40}"; allowed: a prompt of at most 28 bytes \(this one has 40\): sequence\.length 96 - 64 image positions - 4/);
  assert.throws(resolve({ data: { kind: 'mnist', size: 16, templates: ['a carefully handwritten digit {word}'] } }),
    /experiment\.data\.templates: got "a carefully handwritten digit zero"; allowed: a training caption of at most 28 bytes \(this one has 34\)/);
});

test('generation options are checked at resolve: the guidance range, and sampler steps against the schedule', () => {
  assert.throws(resolve({ samples: { generate: { guidanceScale: -2 } } }), /generate\.guidanceScale: got -2; allowed: a number in \[0, 100\]/);
  assert.throws(resolve({ evaluation: { guidance: 1e6 } }), /experiment\.evaluation\.guidance: got 1000000; allowed: a number in \[0, 100\]/);
  assert.throws(resolve({ samples: { generate: { sampler: { steps: 5000 } } } }), /experiment\.samples\.generate\.sampler\.steps: got 5000; allowed: an integer in \[1, T = 1000\]/);
  assert.throws(resolve({ evaluation: { steps: 2000 } }), /experiment\.evaluation\.steps: got 2000; allowed: an integer in \[1, T = 1000\]/);
});

test('evaluation needs held-out digits that exist and that training never sees', () => {
  assert.throws(resolve({ evaluation: { heldout: 5000 } }), /experiment\.evaluation\.heldout: got 5000; allowed: at most the 1000 held-out digits/);
  assert.throws(resolve({ evaluation: { heldout: 300 }, data: { kind: 'mnist', size: 16, heldout: 100 } }),
    /experiment\.data\.heldout: got 100; allowed: at least evaluation\.heldout \(300\): the evaluation captions the first 300 held-out digits/);
  assert.throws(resolve({ evaluation: {}, data: { kind: 'mnist', size: 16, split: 'all' } }), /experiment\.data: got \{"split":"all","splitSeed":0\}; allowed: split 'train' with splitSeed 0/);
});

test('data and patch fields are checked at resolve, not when the dataset or model is built', () => {
  assert.throws(resolve({ data: { kind: 'mnist', size: 0 } }), /experiment\.data\.size: got 0; allowed: an integer in \[1, 8192\]/);
  assert.throws(resolve({ data: { kind: 'shapes', count: 1e12 } }), /experiment\.data\.count: got 1000000000000; allowed: an integer in \[1, 100000000\]/);
  assert.throws(resolve({ model: { net: { patchSize: 3, latent: { height: 15, width: 15 } } } }), /net\.patchSize: got 3; allowed: 1, 2, 4, 8/);
});
