/**
 * What the research notebooks share (src/experiments/research.ts): the size switch on TRANSFUSION_SIZE, and the
 * base spec of their arms, the research recipe at full size and a shrunk copy of it at ci size.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config';
import { resolveExperiment } from '../../src/experiments/experiment-config';
import { RECIPES, type RecipeName } from '../../src/experiments/recipes';
import { RESEARCH_RECIPE, SMOKE_TRANSFORMER, notebookSize, researchBase } from '../../src/experiments/research';

const SIZES = { ci: { steps: 50, seeds: [0, 1] }, full: { steps: 3000, seeds: [0, 1, 2] } };

test('notebookSize: the size TRANSFUSION_SIZE names, full when it is unset, with its name', () => {
  assert.deepEqual(notebookSize(SIZES, { TRANSFUSION_SIZE: 'ci' }), { steps: 50, seeds: [0, 1], size: 'ci' });
  assert.deepEqual(notebookSize(SIZES, {}), { steps: 3000, seeds: [0, 1, 2], size: 'full' });
  assert.equal(SIZES.ci.steps, 50, 'the table is not changed');
});

test('notebookSize: another value is an error naming the variable, the value and the sizes allowed', () => {
  const error = (f: () => unknown, message: string) => assert.throws(f, (e: unknown) => e instanceof ConfigError && (e as Error).message === message);
  error(() => notebookSize(SIZES, { TRANSFUSION_SIZE: 'medium' }), `TRANSFUSION_SIZE: got "medium"; allowed: 'ci', 'full'`);
  error(() => notebookSize(SIZES, { TRANSFUSION_SIZE: '' }), `TRANSFUSION_SIZE: got ""; allowed: 'ci', 'full'`);
  error(() => notebookSize(SIZES, { TRANSFUSION_SIZE: 'toString' }), `TRANSFUSION_SIZE: got "toString"; allowed: 'ci', 'full'`);
  error(() => notebookSize({ ci: {}, small: {} }, {}), `TRANSFUSION_SIZE: got "full"; allowed: 'ci', 'small' (TRANSFUSION_SIZE is unset, so 'full')`);
  error(() => notebookSize({ full: { size: 3 } }, {}), 'notebookSize.sizes.full.size: got 3; allowed: no field named size (notebookSize adds the size name there)');
});

test('researchBase: the research recipe as it is, or shrunk to a smoke run that still resolves', () => {
  assert.ok(Object.hasOwn(RECIPES, RESEARCH_RECIPE));
  assert.equal(researchBase(), RECIPES[RESEARCH_RECIPE]);
  const full = resolveExperiment(researchBase());
  const smoke = resolveExperiment(researchBase({ steps: 50, batchSize: 8 }));
  assert.equal(smoke.steps, 50);
  assert.equal(smoke.batchSize, 8);
  assert.equal(smoke.model.net.transformer.dModel, SMOKE_TRANSFORMER.dModel);
  assert.equal(smoke.model.net.transformer.nLayers, SMOKE_TRANSFORMER.nLayers);
  assert.equal(smoke.samples!.generate.sampler.steps, 20);
  // Everything else is the recipe's: its sequence (the reading warm-up), objective, optimiser and data.
  assert.deepEqual(smoke.model.sequence, full.model.sequence);
  assert.deepEqual(smoke.model.objective, full.model.objective);
  assert.deepEqual(smoke.train.optimizer, full.train.optimizer);
  assert.deepEqual(smoke.data, full.data);
  assert.equal(smoke.model.sequence.plainCaptionEpochs, 'all', "today's recipe, mnist-speedrun, captions image-first pairs in the plain form throughout");
  const other = resolveExperiment(researchBase({ steps: 10, transformer: { nLayers: 1 }, sampleSteps: 5 }, 'mnist-fast'));
  assert.equal(other.model.net.patchSize, 4, "the mnist-fast recipe's preset");
  assert.equal(other.model.net.transformer.nLayers, 1);
  assert.equal(other.samples!.generate.sampler.steps, 5);
  assert.throws(() => researchBase({ steps: 0 }), /researchBase\.smoke\.steps: got 0/);
  const recipes = Object.keys(RECIPES).map((r) => `'${r}'`).join(', ');
  assert.throws(() => researchBase(undefined, 'mnist-slow' as RecipeName), (e: unknown) => (e as Error).message === `researchBase.recipe: got "mnist-slow"; allowed: ${recipes}`);
});
