/**
 * What the research notebooks (02, 04, 05, 06, 07) share besides their question: the problem size they run at
 * (`TRANSFUSION_SIZE`), and the spec every arm of their ablations starts from. At `full` size that is one named
 * recipe of RECIPES (recipes.ts), RESEARCH_RECIPE, so the notebooks ablate the lab's current best recipe and
 * switch with it in one place; at `ci` it is the same recipe shrunk to a smoke test that runs in minutes.
 * `npm run results` (scripts/results.ts) runs the notebooks at `full` and exports them to docs/results/.
 */
import { ConfigError, check } from '../config';
import type { TransformerConfig } from '../blocks/transformer';
import type { DeepPartial } from '../config';
import type { ExperimentSpec } from './experiment-config';
import { RECIPES, type RecipeName } from './recipes';

/** The environment variable the notebooks read their size from. */
export const SIZE_VARIABLE = 'TRANSFUSION_SIZE';

/** The size a notebook runs at when TRANSFUSION_SIZE is not set: the one whose numbers answer its question. */
export const DEFAULT_NOTEBOOK_SIZE = 'full';

/**
 * The problem size a notebook runs at: the entry of `sizes` that TRANSFUSION_SIZE names (default 'full'), with
 * its name as `size`. Any other value is an error naming the variable, the value and the sizes allowed:
 *
 *   const S = lab.notebookSize({ ci: { steps: 50, seeds: [0, 1] }, full: { steps: 3000, seeds: [0, 1, 2] } });
 *   S.size;   // 'ci' or 'full'
 */
export function notebookSize<K extends string, T extends object>(
  sizes: Readonly<Record<K, T>>,
  env: Readonly<Record<string, string | undefined>> = process.env,
): T & { readonly size: K } {
  const names = Object.keys(sizes);
  if (names.length === 0) throw new ConfigError('notebookSize.sizes', sizes, 'at least one size, e.g. { ci: {...}, full: {...} }');
  const value = env[SIZE_VARIABLE] ?? DEFAULT_NOTEBOOK_SIZE;
  if (!Object.hasOwn(sizes, value)) {
    const unset = env[SIZE_VARIABLE] === undefined ? ` (${SIZE_VARIABLE} is unset, so '${DEFAULT_NOTEBOOK_SIZE}')` : '';
    throw new ConfigError(SIZE_VARIABLE, value, `${names.map((n) => `'${n}'`).join(', ')}${unset}`);
  }
  const chosen = sizes[value as K];
  if (Object.hasOwn(chosen, 'size')) throw new ConfigError(`notebookSize.sizes.${value}.size`, (chosen as { size: unknown }).size, 'no field named size (notebookSize adds the size name there)');
  return { ...chosen, size: value as K };
}

/** The recipe the research notebooks' arms start from at full size (README, "Time to quality", row Z4). */
export const RESEARCH_RECIPE: RecipeName = 'mnist-speedrun';

/**
 * Steps between the checkpoints of a research notebook's runs (`checkpointEvery` of trainRun and sweep): a full-size
 * notebook trains for hours, usually over several calls of `npm run results`, and a call stopped midway (a closed
 * laptop, a session's end) then loses at most this many steps of the arm it was training, about 2 minutes on 2
 * cores, instead of the whole arm. A resumed run goes on exactly (src/checkpoint), so its numbers do not change.
 */
export const RESEARCH_CHECKPOINT_EVERY = 500;

/** The network of a ci smoke run: d = 64, 2 layers, a fraction of the `mnist` preset's cost per step. */
export const SMOKE_TRANSFORMER: DeepPartial<TransformerConfig> = { dModel: 64, nLayers: 2, nHeads: 4, ffnHidden: 172 };

/** How a ci smoke run shrinks the recipe. */
export interface SmokeSize {
  /** Optimiser steps. */
  readonly steps: number;
  /** Rows per batch (default: the recipe's). */
  readonly batchSize?: number;
  /** Transformer fields over the recipe's (default SMOKE_TRANSFORMER). */
  readonly transformer?: DeepPartial<TransformerConfig>;
  /** Sampler steps of the sample grid each run saves when it ends (default 20: a smoke run's grid is noise). */
  readonly sampleSteps?: number;
}

/**
 * The spec every arm of a research notebook starts from: `recipe` (default RESEARCH_RECIPE) as it is, or, given
 * `smoke`, the recipe with a smaller network, fewer steps, a cheaper sample grid and optionally another batch size:
 * a smoke test of the notebook's whole path, whose numbers answer nothing. An arm changes one field of it (a sweep grid).
 */
export function researchBase(smoke?: SmokeSize, recipe: RecipeName = RESEARCH_RECIPE): ExperimentSpec {
  if (!Object.hasOwn(RECIPES, recipe)) throw new ConfigError('researchBase.recipe', recipe, Object.keys(RECIPES).map((r) => `'${r}'`).join(', '));
  const spec: ExperimentSpec = RECIPES[recipe];
  if (smoke === undefined) return spec;
  check.positiveInt('researchBase.smoke.steps', smoke.steps);
  if (smoke.batchSize !== undefined) check.positiveInt('researchBase.smoke.batchSize', smoke.batchSize);
  if (smoke.sampleSteps !== undefined) check.positiveInt('researchBase.smoke.sampleSteps', smoke.sampleSteps);
  return {
    ...spec,
    steps: smoke.steps,
    batchSize: smoke.batchSize ?? spec.batchSize,
    samples: { ...spec.samples, generate: { ...spec.samples?.generate, sampler: { ...spec.samples?.generate?.sampler, steps: smoke.sampleSteps ?? 20 } } },
    model: { ...spec.model, net: { ...spec.model?.net, transformer: { ...spec.model?.net?.transformer, ...(smoke.transformer ?? SMOKE_TRANSFORMER) } } },
  };
}
